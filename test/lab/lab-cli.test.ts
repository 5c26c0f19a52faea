// `overlay-lb lab up|status|fault|down` end to end through the compiled CLI (real kernel, root):
// afterwards no namespace, link, process or file is left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stopLab } from '../../src/lab/lab.js';
import { leftovers as machine } from '../helpers/lab-leftovers.js';

const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
const isRoot = process.getuid?.() === 0;

function cli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [MAIN, ...args], { timeout: 90_000 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stdout, stderr });
    });
  });
}

void test('overlay-lb lab up, status, fault, down leave the machine as it was', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'olbc-lab-'));
  const prefix = `olbc${process.pid}`.slice(0, 12);
  const common = ['--prefix', prefix, '--state-dir', stateDir];
  t.after(async () => {
    await stopLab(join(stateDir, `${prefix}state.json`), { signal: AbortSignal.timeout(60_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  const before = await machine(prefix, stateDir);

  const up = await cli(['lab', 'up', '--spec', SPEC, '--no-nodes', ...common]);
  assert.equal(up.code, 0, up.stderr);
  assert.match(up.stdout, /EC2 API \(host\): http:\/\/127\.0\.0\.1:\d+\//);
  assert.match(up.stdout, /VIP 192\.168\.100\.10/);

  // A second lab with the same prefix is refused and points at `lab down`.
  const again = await cli(['lab', 'up', '--spec', SPEC, '--no-nodes', ...common]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /lab down.*\[LAB_EXISTS\]/);

  const status = await cli(['lab', 'status', '--json', ...common]);
  assert.equal(status.code, 0, status.stderr);
  const report = JSON.parse(status.stdout) as {
    controller: { alive: boolean }; processes: { label: string; alive: boolean }[]; namespaces: { exists: boolean }[];
    routeTables: { kernel: string | null; api: string | null; agree: boolean }[];
  };
  assert.equal(report.controller.alive, true);
  assert.ok(report.processes.every((p) => p.alive), JSON.stringify(report.processes));
  assert.ok(report.namespaces.every((n) => n.exists));
  assert.ok(report.routeTables.length > 0 && report.routeTables.every((r) => r.kernel === 'lb-a' && r.api === 'lb-a' && r.agree));

  const fault = await cli(['lab', 'fault', 'api-latency', '--action', 'ReplaceRoute', '--ms', '200', ...common]);
  assert.equal(fault.code, 0, fault.stderr);
  const blackhole = await cli(['lab', 'fault', 'az-blackhole', 'az-b', ...common]);
  assert.equal(blackhole.code, 0, blackhole.stderr);
  const bad = await cli(['lab', 'fault', 'az-blackhole', 'az-x', ...common]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /az-x.*known are az-a, az-b.*\[LAB_UNKNOWN_NAME\]/);
  const withFaults = JSON.parse((await cli(['lab', 'status', '--json', ...common])).stdout) as { faults: unknown[] };
  assert.deepEqual(withFaults.faults, [{ kind: 'api-latency', action: 'ReplaceRoute', ms: 200 }, { kind: 'az-blackhole', az: 'az-b' }]);
  const cleared = await cli(['lab', 'fault', 'az-blackhole', 'az-b', '--clear', ...common]);
  assert.equal(cleared.code, 0, cleared.stderr);
  assert.deepEqual((JSON.parse((await cli(['lab', 'status', '--json', ...common])).stdout) as { faults: unknown[] }).faults, [{ kind: 'api-latency', action: 'ReplaceRoute', ms: 200 }]);
  // The S3 faults are declared and cleared like the others.
  for (const args of [['s3-unreachable', '--mode', 'hang'], ['s3-latency', '--ms', '300']]) {
    const injected = await cli(['lab', 'fault', ...args, ...common]);
    assert.equal(injected.code, 0, injected.stderr);
  }
  const badMode = await cli(['lab', 'fault', 's3-unreachable', '--mode', 'slow', ...common]);
  assert.notEqual(badMode.code, 0);
  assert.match(badMode.stderr, /--mode "slow" is not allowed: use drop or hang/);
  assert.deepEqual((JSON.parse((await cli(['lab', 'status', '--json', ...common])).stdout) as { faults: unknown[] }).faults, [
    { kind: 'api-latency', action: 'ReplaceRoute', ms: 200 }, { kind: 's3-unreachable', mode: 'hang' }, { kind: 's3-latency', ms: 300 },
  ]);
  for (const kind of ['s3-unreachable', 's3-latency']) assert.equal((await cli(['lab', 'fault', kind, '--clear', ...common])).code, 0);
  // IAM propagation delay: a knob in milliseconds, shown with the others, cleared like them.
  const iam = await cli(['lab', 'fault', 'iam-propagation', '--ms', '5000', ...common]);
  assert.equal(iam.code, 0, iam.stderr);
  assert.deepEqual((JSON.parse((await cli(['lab', 'status', '--json', ...common])).stdout) as { faults: unknown[] }).faults,
    [{ kind: 'api-latency', action: 'ReplaceRoute', ms: 200 }, { kind: 'iam-propagation', ms: 5000 }]);
  const iamBad = await cli(['lab', 'fault', 'iam-propagation', '--ms', 'soon', ...common]);
  assert.notEqual(iamBad.code, 0);
  assert.match(iamBad.stderr, /lab fault iam-propagation: --ms "soon" is not allowed: give a number of milliseconds/);
  assert.equal((await cli(['lab', 'fault', 'iam-propagation', '--clear', ...common])).code, 0);
  assert.deepEqual((JSON.parse((await cli(['lab', 'status', '--json', ...common])).stdout) as { faults: unknown[] }).faults, [{ kind: 'api-latency', action: 'ReplaceRoute', ms: 200 }]);

  const exec = await cli(['lab', 'exec', 'lb-a', ...common, '--', 'ip', '-o', 'addr', 'show', 'dev', 'lo']);
  assert.equal(exec.code, 0, exec.stderr);
  assert.match(exec.stdout, /192\.168\.100\.10\/32/);

  const down = await cli(['lab', 'down', ...common]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(await machine(prefix, stateDir), before);
  const downAgain = await cli(['lab', 'down', ...common]);
  assert.equal(downAgain.code, 0, downAgain.stderr);
  assert.match(downAgain.stdout, /nothing to do/);
});
