import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32 } from '../../src/util/crc32.js';
import { parseSpec, specHash } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import type { Spec } from '../../src/model/spec.js';

const DEMO = new URL('../../../examples/demo.yaml', import.meta.url);

async function demo(): Promise<{ text: string; spec: Spec; hash: string }> {
  const text = await readFile(DEMO, 'utf8');
  const r = parseSpec(text, { file: 'examples/demo.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  return { text, spec: r.spec, hash: r.hash };
}

void test('the example spec parses with the derived defaults', async () => {
  const { spec } = await demo();
  assert.deepEqual(spec.cluster.nodes.map((n) => [n.name, n.priority, n.interface]), [['lb-a', 200, 'eth0'], ['lb-b', 190, 'eth0']]);
  assert.deepEqual(spec.cluster.vrrp, { virtualRouterId: 51, advertIntervalMs: 100, preempt: true, preemptDelayMs: 10_000, markerAddress: '169.254.240.51' });
  assert.deepEqual(spec.cluster.cloud.routeTables, { kind: 'all', exclude: [] });
  assert.equal(spec.cluster.cloud.recheckIntervalMs, 10_000);
  assert.deepEqual(spec.admin.stats, { enabled: true, bind: 'localhost', port: 8404 });
  assert.deepEqual(spec.admin.health, { bind: 'localhost', port: 8405, path: '/healthz' });
  assert.deepEqual(spec.admin.agent, { bind: 'localhost', port: 8406 });
  assert.equal(spec.admin.runtimeSocket, '/run/overlay-lb/haproxy.sock');
  const web = spec.frontends[0]!;
  assert.equal(web.mode, 'http');
  assert.deepEqual(web.timeouts, { clientMs: 30_000, httpRequestMs: 10_000, httpKeepAliveMs: 5_000 });
  assert.deepEqual(web.requestId, { header: 'x-request-id' });
  assert.deepEqual(web.accessLog, { enabled: true, format: 'default' });
  assert.deepEqual(web.routes[0], { name: 'canary-header', conditions: [{ kind: 'header', name: 'x-canary', match: { type: 'exact', value: '1' } }], action: { kind: 'backend', backend: 'app-canary' } });
  assert.deepEqual(web.routes[1]!.conditions, [{ kind: 'path', match: { type: 'prefix', value: '/api/v2/' } }, { kind: 'method', methods: ['GET', 'HEAD'] }]);
  assert.deepEqual(web.routes[2]!.conditions, [{ kind: 'host', match: { type: 'exact', value: 'admin.demo.internal' } }, { kind: 'source', cidrs: ['10.0.0.0/16'] }]);
  assert.deepEqual(web.routes[3]!.action, { kind: 'switch', switch: 'checkout' });
  assert.deepEqual(web.routes[4]!.action, { kind: 'split', sides: [{ backend: 'app-stable', weight: 95 }, { backend: 'app-canary', weight: 5 }], sticky: { kind: 'cookie', name: 'session' } });
  assert.deepEqual(spec.switches, [{ name: 'checkout', sides: [{ name: 'blue', backend: 'checkout-blue' }, { name: 'green', backend: 'checkout-green' }], active: 'blue' }]);
  const stable = spec.backends[0]!;
  assert.deepEqual(stable.healthCheck, { type: 'http', path: '/healthz', expectStatus: [[200, 399]], intervalMs: 2000, rise: 2, fall: 3 });
  assert.equal(stable.spareSlots, 4);
  const canary = spec.backends[1]!;
  assert.deepEqual(canary.healthCheck, { type: 'tcp', intervalMs: 2000, rise: 2, fall: 3 });
  assert.deepEqual([canary.spareSlots, canary.retries, canary.redispatch, canary.balance], [0, 3, true, { kind: 'roundrobin' }]);
  assert.deepEqual(canary.timeouts, { connectMs: 5000, serverMs: 30_000, queueMs: 10_000 });
  assert.deepEqual(spec.backends[2]!.servers[1], { name: 'a2', address: '10.0.12.31', port: 8080, weight: 100, backup: true });
});

void test('the parsed spec is deep-frozen', async () => {
  const { spec } = await demo();
  assert.ok(Object.isFrozen(spec) && Object.isFrozen(spec.frontends[0]!.routes[0]!.conditions[0]));
  assert.throws(() => {
    (spec.backends as Spec['backends'][number][]).push(spec.backends[0]!);
  }, TypeError);
});

void test('the hash ignores formatting and comments and follows content', async () => {
  const { text, spec, hash } = await demo();
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(hash, specHash(spec));
  const reformatted = text.replace(/#.*$/gm, '').replace('advertInterval: 100ms', 'advertInterval: "100ms"').replace('vpcCidrs: [10.0.0.0/16]', 'vpcCidrs:\n    - 10.0.0.0/16');
  const same = parseSpec(reformatted, { file: 'x.yaml' });
  assert.ok(same.ok);
  assert.equal(same.hash, hash);
  const changed = parseSpec(text.replace('weight: 95', 'weight: 94').replace('weight: 5 }', 'weight: 6 }'), { file: 'x.yaml' });
  assert.ok(changed.ok);
  assert.notEqual(changed.hash, hash);
});

void test('derived virtual router id is crc32(cluster name) mod 255 + 1 and priorities follow position', async () => {
  const { text } = await demo();
  const r = parseSpec(text.replace('    virtualRouterId: 51\n', '').replace('zone: az-b }', 'zone: az-b, priority: 250 }'), { file: 'x.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  const expected = (zlibCrc32('demo') % 255) + 1;
  assert.equal(crc32('demo'), zlibCrc32('demo'));
  assert.equal(r.spec.cluster.vrrp.virtualRouterId, expected);
  assert.equal(r.spec.cluster.vrrp.markerAddress, `169.254.240.${expected}`);
  assert.deepEqual(r.spec.cluster.nodes.map((n) => n.priority), [200, 250]);
});

void test('several independent errors in one file are all reported, in position order', async () => {
  const { text } = await demo();
  const broken = text
    .replace('vip: 192.168.100.10', 'vip: 10.0.9.9')
    .replace('advertInterval: 100ms', 'advertInterval: 100')
    .replace('backend: app-canary\n      - name: api-v2', 'backend: app-canry\n      - name: api-v2')
    .replace('{ backend: app-canary, weight: 5 }', '{ backend: app-canary, weight: 15 }')
    .replace('balance: leastconn', 'balance: leastconns')
    .replace('active: blue', 'active: purple');
  const r = parseSpec(broken, { file: 'demo.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    'demo.yaml:9:8: cluster.vip: VIP 10.0.9.9 lies inside VPC CIDR 10.0.0.0/16 (cluster.vpcCidrs[0]); the VIP must be outside every VPC and peer CIDR so that its /32 route can point at any node: choose an address outside them',
    'demo.yaml:17:21: cluster.vrrp.advertInterval: expected a string, got the number 100; quote it: "100"',
    'demo.yaml:46:18: frontends[0].routes[0].backend: unknown backend "app-canry"; defined backends: api-v2, app-canary, app-stable, checkout-blue, checkout-green. Did you mean "app-canary"?',
    'demo.yaml:65:11: frontends[0].routes[4].split: the weights add up to 110 (95 + 15); they must add up to 100',
    'demo.yaml:72:13: switches[0].active: unknown side "purple"; sides of switch "checkout": blue, green.',
    'demo.yaml:86:14: backends[2].balance: "leastconns" is not allowed; allowed: roundrobin, leastconn, source, uri. Did you mean "leastconn"?',
  ]);
  assert.deepEqual(r.diagnostics.map((d) => d.code), ['SPEC_VIP_IN_CIDR', 'SPEC_TYPE', 'SPEC_REFERENCE', 'SPEC_SPLIT_WEIGHTS', 'SPEC_REFERENCE', 'SPEC_ENUM']);
});

void test('a reference to a backend whose definition is broken is not reported as unknown', () => {
  const yaml = `cluster:
  name: t
  vip: 192.168.100.10
  nodes: [{ name: lb-a, address: 10.0.1.10, zone: az-a }]
frontends:
  - { name: web, binds: [{ address: vip, port: 80 }], defaultBackend: app }
backends:
  - { name: app, servers: [{ name: s1, address: 10.0.11.999, port: 8080 }] }
`;
  const r = parseSpec(yaml, { file: 'b.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), ['b.yaml:8:49: backends[0].servers[0].address: "10.0.11.999" is not an IPv4 address, for example "10.0.1.10"']);
});

void test('a single node is allowed with provider none; discovery backends get 32 spare slots', () => {
  const yaml = `cluster:
  name: solo
  vip: 192.168.100.10
  nodes: [{ name: lb-a, address: 10.0.1.10, zone: az-a }]
frontends:
  - { name: web, binds: [{ address: vip, port: 80 }], defaultBackend: dyn, accessLog: json }
backends:
  - { name: dyn, discovery: { source: svc }, healthCheck: { type: http, path: /ok, expectStatus: [200, "300-302"] } }
discovery:
  - { name: svc, type: dns, query: app.internal, recordType: SRV }
`;
  const r = parseSpec(yaml, { file: 's.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  assert.equal(r.spec.cluster.cloud.provider, 'none');
  assert.equal(r.spec.backends[0]!.spareSlots, 32);
  assert.deepEqual(r.spec.backends[0]!.healthCheck, { type: 'http', path: '/ok', expectStatus: [[200, 200], [300, 302]], intervalMs: 2000, rise: 2, fall: 3 });
  assert.deepEqual(r.spec.frontends[0]!.accessLog, { enabled: true, format: 'json' });
  assert.deepEqual(r.spec.discovery, [{ name: 'svc', type: 'dns', query: 'app.internal', recordType: 'SRV' }]);
});

void test('every examples/*.yaml validates; the EIP example fails with the EIP bind rule once bound to the VIP', async () => {
  const { readdir } = await import('node:fs/promises');
  const dir = new URL('../../../examples/', import.meta.url);
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(files.includes('demo.yaml') && files.includes('eip.yaml'), files.join(', '));
  for (const f of files) {
    const r = parseSpec(await readFile(new URL(f, dir), 'utf8'), { file: `examples/${f}` });
    assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  }
  const eip = (await readFile(new URL('eip.yaml', dir), 'utf8')).replace('{ address: node, port: 80 }', '{ address: vip, port: 80 }');
  const r = parseSpec(eip, { file: 'examples/eip.yaml' });
  assert.equal(r.ok, false);
  if (!r.ok) {
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
      "examples/eip.yaml:42:7: frontends[0].binds: frontend \"public\" binds only the VIP (192.168.100.10), but with failover: eip the Elastic IP's traffic arrives at the active node's private address, so this frontend would never receive it: bind the node's address instead (address: node, or 0.0.0.0 for every address), for example binds: [{ address: node, port: 80 }]",
    ]);
  }
});
