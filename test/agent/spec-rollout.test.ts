// The agent's spec rollout on a real spec file: what it refuses (the node left the spec, the
// cluster or admin section changed, the file does not parse) is recorded (status, problem, metric)
// and changes nothing; the accepted path goes through the apply pipeline and is covered by the
// agent tests (test/agent/agent-netns.test.ts) and the lab's end-to-end tests.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type { SpecRolloutStatus } from '../../src/agent-api/contract.js';
import { ProblemBoard } from '../../src/agent/problems.js';
import { withRunDir } from '../../src/agent/run-dir.js';
import { SpecRollout } from '../../src/agent/spec-rollout.js';
import { createApplyPipeline } from '../../src/apply/pipeline.js';
import { RuntimeApi } from '../../src/haproxy/runtime-api.js';
import { loadSpecFile } from '../../src/ops/load-spec.js';
import { findNode } from '../../src/speclang/nodes.js';
import { silentLogger } from '../../src/util/log.js';
import { Registry } from '../../src/util/metrics.js';

const DEMO_SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

void test('a spec change that cannot roll out from a file watch is refused and recorded; nothing changes', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-thin-rollout-'));
  const stop = new AbortController();
  try {
    const specFile = join(dir, 'spec.yaml');
    const original = await readFile(DEMO_SPEC, 'utf8');
    await writeFile(specFile, original);
    const loaded = await loadSpecFile(specFile, { signal: AbortSignal.timeout(10_000) });
    const spec = withRunDir(loaded.spec, dir);
    const node = findNode(spec.cluster, 'lb-b');
    const rollouts = new Registry().counter('rollouts_total', 'test');
    const problems = new ProblemBoard();
    // A real pipeline that never runs: a refused change never reaches it.
    const pipeline = createApplyPipeline({ spec, specHash: loaded.hash, node: node.name, runDir: dir, haproxy: { runtime: new RuntimeApi({ socketPath: join(dir, 'none.sock') }), reloader: null }, log: silentLogger });
    const rollout = new SpecRollout({ specFile, runDir: dir, node, spec, hash: loaded.hash, pipeline, keepalivedConfig: join(dir, 'keepalived.conf'), rollouts, problems, log: silentLogger });
    const watching = rollout.watch(stop.signal);
    const last = (): SpecRolloutStatus | null => rollout.last;
    assert.equal(last(), null);
    assert.equal(rollout.current.generation, 1);
    const seen = async (result: string, code: string): Promise<void> => {
      const deadline = Date.now() + 20_000;
      while (!(last()?.result === result && last()?.error?.code === code)) {
        assert.ok(Date.now() < deadline, `no ${result} ${code} rollout; last: ${JSON.stringify(last())}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    const problem = (): unknown => problems.list(pipeline.status()).find((p) => p.component === 'spec')?.code;

    await writeFile(specFile, original.replace('    - { name: lb-b, address: 10.0.2.10, zone: az-b }   # priority 190\n', '    - { name: lb-c, address: 10.0.2.11, zone: az-b }\n'));
    await seen('rejected', 'SPEC_NODE');
    assert.match(last()?.error?.message ?? '', /node lb-b is no longer in the spec/);
    assert.equal(problem(), 'SPEC_NODE');

    await writeFile(specFile, original.replace('vip: 192.168.100.10 ', 'vip: 192.168.100.11 '));
    await seen('rejected', 'SPEC_CONFLICT');
    assert.match(last()?.error?.message ?? '', /the spec's cluster section changed: restart the agent/);
    assert.equal(problem(), 'SPEC_CONFLICT');

    await writeFile(specFile, `${original}\nthisIsNotAField: 1\n`);
    await seen('invalid', 'SPEC_UNKNOWN_FIELD');
    assert.equal(last()?.specHash, null);

    assert.equal(rollout.current.hash, loaded.hash, 'the spec in force is the one the agent started with');
    assert.equal(rollout.current.generation, 1);
    assert.equal(rollouts.get({ result: 'rejected' }), 2);
    assert.equal(rollouts.get({ result: 'invalid' }), 1);
    assert.equal(pipeline.status().lastApply, undefined, 'nothing reached the pipeline');
    stop.abort();
    await watching;
  } finally {
    stop.abort();
    await rm(dir, { recursive: true, force: true });
  }
});
