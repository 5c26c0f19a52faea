/**
 * keepalived renderer: golden files (each checked by keepalived 2.2.7's --config-test inside a
 * throwaway network namespace that has the configured interface), contract helpers, errors, and
 * hostile models that must never reach the file.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import type { ClusterNode, Spec } from '../../src/model/spec.js';
import {
  KEEPALIVED_FIFO_LINE_RE,
  keepalivedFifoPath,
  keepalivedInstanceName,
  keepalivedTrackPath,
  keepalivedAlivePath,
  renderKeepalived,
} from '../../src/render/keepalived.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { OverlayError, formatDiagnostic } from '../../src/util/errors.js';
import { FIXTURE_HASH, fixtureSpec } from '../golden/keepalived/fixtures.js';
import { createSandbox, type Sandbox } from '../helpers/netns.js';

const GOLDEN_DIR = fileURLToPath(new URL('../../../test/golden/keepalived/', import.meta.url));
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';

interface GoldenCase {
  readonly name: string;
  readonly spec: Spec;
  readonly hash: string;
}

/** Every `<case>/spec.yaml` under test/golden/keepalived, parsed by the real spec parser. */
async function loadGoldenCases(): Promise<GoldenCase[]> {
  const cases: GoldenCase[] = [];
  for (const entry of (await readdir(GOLDEN_DIR, { withFileTypes: true })).filter((e) => e.isDirectory()).sort((x, y) => (x.name < y.name ? -1 : 1))) {
    const file = join(GOLDEN_DIR, entry.name, 'spec.yaml');
    const result = parseSpec(await readFile(file, 'utf8'), { file });
    if (!result.ok) throw new Error(`${file} is invalid:\n${result.diagnostics.map(formatDiagnostic).join('\n')}`);
    cases.push({ name: entry.name, spec: result.spec, hash: result.hash });
  }
  return cases;
}
const GOLDEN_CASES = await loadGoldenCases();

interface ConfigTestResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
}

void describe('renderKeepalived golden files', () => {
  let sb: Sandbox;
  let ns = '';
  let work = '';

  before(async () => {
    const signal = AbortSignal.timeout(30_000);
    sb = createSandbox();
    work = await mkdtemp(join(tmpdir(), 'olb-keepalived-golden-'));
    // keepalived --config-test fails when the instance's interface does not exist: create each.
    ns = await sb.addNamespace('ct', { signal });
    const peer = await sb.addNamespace('cp', { signal });
    const ifnames = new Set(GOLDEN_CASES.flatMap((c) => c.spec.cluster.nodes.map((n) => n.interface)));
    for (const ifname of [...ifnames].sort()) await sb.addVeth({ ns, ifname }, { ns: peer, ifname }, { signal });
  });
  after(async () => {
    await sb.cleanup();
    await rm(work, { recursive: true, force: true });
  });

  async function configTest(name: string, text: string): Promise<ConfigTestResult> {
    const dir = join(work, name);
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'keepalived.conf');
    await writeFile(file, text);
    // Own pid files: the defaults under /run/keepalived belong to the host's keepalived.
    const r = await sb.exec(
      ns,
      ['keepalived', '--config-test', '-f', file, '-p', join(dir, 'k.pid'), '-r', join(dir, 'v.pid'), '-c', join(dir, 'c.pid')],
      { signal: AbortSignal.timeout(15_000), check: false },
    );
    return { code: r.code, signal: r.signal, stderr: r.stderr };
  }

  void test('there are golden cases', () => assert.ok(GOLDEN_CASES.length >= 4));
  for (const { name: caseName, spec, hash } of GOLDEN_CASES) {
    for (const node of spec.cluster.nodes) {
      void test(`${caseName}/${node.name}`, async () => {
        const text = renderKeepalived(spec, { node: node.name, specHash: hash });
        const goldenFile = join(GOLDEN_DIR, caseName, `${node.name}.keepalived.conf`);
        if (UPDATE) {
          await mkdir(join(GOLDEN_DIR, caseName), { recursive: true });
          await writeFile(goldenFile, text);
        }
        assert.equal(text, await readFile(goldenFile, 'utf8'), `${goldenFile} differs (UPDATE_GOLDEN=1 rewrites it)`);

        // Strict: the same config without the agent check must pass with exit 0 and no output.
        const strict = await configTest(`${caseName}-${node.name}-strict`, renderKeepalived(spec, { node: node.name, specHash: hash, agentCheck: false }));
        assert.deepEqual(strict, { code: 0, signal: null, stderr: '' });

        // The exact file: keepalived 2.2.7 kills itself with SIGTERM in --config-test as soon as a
        // script runs as a non-root script_user (acassen/keepalived#2587 and #2617, fixed in 2.2.8),
        // after printing every parse error. So: no diagnostics, and exit 0 or that SIGTERM...
        const exact = await configTest(`${caseName}-${node.name}`, text);
        assert.equal(exact.stderr, '');
        assert.ok(exact.code === 0 || exact.signal === 'SIGTERM', `unexpected result ${JSON.stringify(exact)}`);
        // ...and without the script_user line (the only trigger of the bug) exit 0.
        const noUser = text.replace(/^ {4}script_user .*\n/m, '');
        assert.notEqual(noUser, text);
        assert.deepEqual(await configTest(`${caseName}-${node.name}-nouser`, noUser), { code: 0, signal: null, stderr: '' });
      });
    }
  }

  void test('a broken config really fails the config test (the check can fail)', async () => {
    const text = renderKeepalived(fixtureSpec(), { node: 'lb-a', specHash: FIXTURE_HASH, agentCheck: false }).replace('priority 200', 'priority 999');
    const r = await configTest('broken', text);
    assert.match(r.stderr, /number '999' outside range/);
  });
});

void describe('renderKeepalived', () => {
  const spec = fixtureSpec();

  void test('header names the spec hash, cluster and node; output is deterministic', () => {
    const a = renderKeepalived(spec, { node: 'lb-b', specHash: FIXTURE_HASH });
    assert.equal(
      a.split('\n')[0],
      `# Generated by overlay-lb from spec sha256:${FIXTURE_HASH} cluster demo node lb-b.`,
    );
    assert.equal(renderKeepalived(fixtureSpec(), { node: 'lb-b', specHash: FIXTURE_HASH }), a);
  });

  void test('each node peers with the others and keeps its own priority', () => {
    const b = renderKeepalived(spec, { node: 'lb-b', specHash: FIXTURE_HASH });
    assert.match(b, /\n {4}unicast_src_ip 10\.0\.2\.10\n {4}unicast_peer \{\n {8}10\.0\.1\.10\n {4}\}\n/);
    assert.match(b, /\n {4}priority 190\n/);
    assert.match(b, /\n {4}state BACKUP\n/);
    assert.match(b, /\n {4}router_id lb-b\n/);
  });

  void test('keepalived manages the marker address on lo, never the VIP', () => {
    const a = renderKeepalived(spec, { node: 'lb-a', specHash: FIXTURE_HASH });
    assert.match(a, /virtual_ipaddress \{\n {8}169\.254\.240\.51\/32 dev lo\n {4}\}/);
    assert.ok(!a.includes(spec.cluster.vip), 'the VIP must not appear in keepalived.conf');
  });

  void test('advert interval in decimal seconds, VRRPv3', () => {
    const render = (ms: number): string => renderKeepalived(fixtureSpec({ advertIntervalMs: ms }), { node: 'lb-a', specHash: FIXTURE_HASH });
    assert.match(render(100), /\n {4}advert_int 0\.1\n/);
    assert.match(render(1000), /\n {4}advert_int 1\n/);
    assert.match(render(1250), /\n {4}advert_int 1\.25\n/);
    assert.match(render(10), /\n {4}advert_int 0\.01\n/);
    assert.match(render(100), /\n {4}vrrp_version 3\n/);
  });

  void test('preemption: delay in seconds, nopreempt when off, nothing for a zero delay', () => {
    const r = (preempt: boolean, preemptDelayMs: number): string =>
      renderKeepalived(fixtureSpec({ preempt, preemptDelayMs }), { node: 'lb-a', specHash: FIXTURE_HASH });
    assert.match(r(true, 1500), /\n {4}preempt_delay 1\.5\n/);
    assert.doesNotMatch(r(true, 1500), /nopreempt/);
    const off = r(false, 1500);
    assert.match(off, /\n {4}nopreempt\n/);
    assert.doesNotMatch(off, /preempt_delay/);
    assert.doesNotMatch(r(true, 0), /preempt_delay|nopreempt/);
  });

  void test('notify FIFO and track file under stateDir; agent check optional', () => {
    const a = renderKeepalived(fixtureSpec({ stateDir: '/var/lib/olb', agentPort: 9100 }), { node: 'lb-a', specHash: FIXTURE_HASH });
    assert.match(a, /\n {4}vrrp_notify_fifo \/var\/lib\/olb\/keepalived\.fifo\n/);
    assert.match(a, /\n {4}file "\/var\/lib\/olb\/track"\n {4}weight 0\n {4}init_file 1\n/);
    assert.match(a, /script "\/usr\/bin\/find \/var\/lib\/olb\/alive -mmin \+0\.1667 -exec \/bin\/false \{\} \+"\n {4}interval 1\n {4}timeout 2\n {4}fall 2\n {4}rise 1\n {4}weight 0\n {4}user root\n/);
    assert.match(a, /track_script \{\n {8}olb_agent\n/);
    assert.doesNotMatch(a, /^ *notify(_[a-z_]+)? /m);
    const off = renderKeepalived(fixtureSpec(), { node: 'lb-a', specHash: FIXTURE_HASH, agentCheck: false });
    assert.doesNotMatch(off, /vrrp_script|track_script|find/);
    assert.match(off, /track_file \{\n {8}olb_health\n/);
  });

  void test('derived names and paths', () => {
    assert.equal(keepalivedFifoPath('/run/overlay-lb'), '/run/overlay-lb/keepalived.fifo');
    assert.equal(keepalivedTrackPath('/run/overlay-lb'), '/run/overlay-lb/track');
    assert.equal(keepalivedAlivePath('/run/overlay-lb'), '/run/overlay-lb/alive');
    assert.equal(keepalivedInstanceName('demo'), 'OLB_DEMO');
    assert.equal(keepalivedInstanceName('edge-eu-1'), 'OLB_EDGE_EU_1');
  });

  void test('FIFO line pattern', () => {
    const m = KEEPALIVED_FIFO_LINE_RE.exec('INSTANCE "OLB_DEMO" MASTER_RX_LOWER_PRI 200');
    assert.deepEqual(m?.slice(1), ['INSTANCE', 'OLB_DEMO', 'MASTER_RX_LOWER_PRI', '200']);
    assert.equal(KEEPALIVED_FIFO_LINE_RE.test('INSTANCE "OLB_DEMO" MASTER 200 extra'), false);
  });

  void test('unknown node: SPEC_NODE listing the known nodes', () => {
    assert.throws(
      () => renderKeepalived(spec, { node: 'lb-z', specHash: FIXTURE_HASH }),
      (e: unknown) =>
        e instanceof OverlayError &&
        e.code === 'SPEC_NODE' &&
        e.fault === 'user' &&
        e.message === 'node "lb-z" is not in the spec of cluster "demo"; known nodes: lb-a, lb-b. Pass one of them with --node.',
    );
  });
});

void describe('renderKeepalived refuses values that are not validated names, numbers, addresses or paths', () => {
  const base = fixtureSpec();
  const withNode = (patch: Partial<ClusterNode>): Spec => {
    const [first, ...rest] = base.cluster.nodes;
    return { ...base, cluster: { ...base.cluster, nodes: [{ ...first!, ...patch }, ...rest] } };
  };
  const withVrrp = (patch: Partial<Spec['cluster']['vrrp']>): Spec => ({
    ...base,
    cluster: { ...base.cluster, vrrp: { ...base.cluster.vrrp, ...patch } },
  });
  const cases: readonly (readonly [string, Spec, string?])[] = [
    ['newline in a node name', withNode({ name: 'lb-a\n}\nvrrp_script x {' }), 'lb-a\n}\nvrrp_script x {'],
    ['} in an interface name', withNode({ interface: 'eth0}' })],
    ['space in an interface name', withNode({ interface: 'eth0 lo' })],
    ['interface name too long', withNode({ interface: 'abcdefghijklmnop' })],
    ['address with a suffix', withNode({ address: '10.0.1.10\n' })],
    ['not an address', withNode({ address: '10.0.1.256' })],
    ['priority 255 (address owner)', withNode({ priority: 255 })],
    ['fractional priority', withNode({ priority: 100.5 })],
    ['marker address with a newline', withVrrp({ markerAddress: '169.254.240.51/32 dev eth0\n' })],
    ['advert not a multiple of 10 ms', withVrrp({ advertIntervalMs: 105 })],
    ['virtual router id 0', withVrrp({ virtualRouterId: 0 })],
    ['cluster name with a quote', { ...base, cluster: { ...base.cluster, name: 'demo"' } }],
    ['relative stateDir', { ...base, admin: { ...base.admin, stateDir: 'run/olb' } }],
    ['stateDir with a space', { ...base, admin: { ...base.admin, stateDir: '/run/o lb' } }],
    ['stateDir with a comment character', { ...base, admin: { ...base.admin, stateDir: '/run/olb#x' } }],
    ['stateDir with ..', { ...base, admin: { ...base.admin, stateDir: '/run/../etc' } }],
    ['stateDir with a variable', { ...base, admin: { ...base.admin, stateDir: '/run/${X}' } }],
  ];
  for (const [name, spec, nodeName] of cases) {
    void test(name, () => {
      assert.throws(
        () => renderKeepalived(spec, { node: nodeName ?? 'lb-a', specHash: FIXTURE_HASH }),
        (e: unknown) => e instanceof OverlayError && e.code === 'INTERNAL' && e.fault === 'system' && !/\n/.test(e.message),
      );
    });
  }
  void test('a hash that is not hex sha256', () => {
    assert.throws(
      () => renderKeepalived(base, { node: 'lb-a', specHash: 'abc\n' }),
      (e: unknown) => e instanceof OverlayError && e.code === 'INTERNAL',
    );
  });
  void test('a peer address is checked too', () => {
    const [first, second] = base.cluster.nodes;
    const spec: Spec = { ...base, cluster: { ...base.cluster, nodes: [first!, { ...second!, address: '10.0.2.10 }' }] } };
    assert.throws(
      () => renderKeepalived(spec, { node: 'lb-a', specHash: FIXTURE_HASH }),
      (e: unknown) => e instanceof OverlayError && e.code === 'INTERNAL',
    );
  });
});
