import assert from 'node:assert/strict';
import test from 'node:test';
import type { AgentStatus, Problem, PublishedNodeStatus, SpecRolloutStatus } from '../../src/agent-api/contract.js';
import { parsePointer } from '../../src/agent/spec-follow.js';
import type { ClusterFacts, NodeInstanceFact, SecurityRule } from '../../src/cloud/doctor-facts.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { gateDoctorChecks, gateNode, isStale, previousVersion, rolloutOrder, type GateCode, type OrderRefusal } from '../../src/provision/rollout-gate.js';

const HASH_OLD = 'a'.repeat(64);
const HASH_NEW = 'b'.repeat(64);
const NOW = 1_000_000;

/** A published status with the fields the decisions read; the rest as a healthy backup has them. */
function published(o: {
  readonly vrrp?: string; readonly at?: number; readonly intervalMs?: number; readonly version?: string | null; readonly hash?: string;
  readonly healthy?: boolean; readonly alive?: boolean; readonly rollout?: SpecRolloutStatus | null; readonly problems?: readonly Problem[];
} = {}): PublishedNodeStatus {
  const status = {
    node: 'n', address: '10.0.0.1', cluster: 'c', specHash: o.hash ?? HASH_OLD, configHash: null, specGeneration: 1,
    vrrp: { vrrp: o.vrrp ?? 'BACKUP' },
    haproxy: { pid: 1, alive: o.alive ?? true, healthy: o.healthy ?? true },
    specRollout: o.rollout ?? null,
    problems: o.problems ?? [],
  } as unknown as AgentStatus;
  return { format: 1, publishedAt: o.at ?? NOW, intervalMs: o.intervalMs ?? 10_000, specVersion: o.version === undefined ? 'v1' : o.version, status, traffic: { currentSessions: 0, totalSessions: 0 } };
}

void test('stale: older than three of its own intervals', () => {
  assert.equal(isStale(published({ at: NOW - 30_000 }), NOW), false);
  assert.equal(isStale(published({ at: NOW - 30_001 }), NOW), true);
  assert.equal(isStale(published({ at: NOW - 30_001, intervalMs: 20_000 }), NOW), false);
});

void test('order: backups first in spec order, the master last; refused untouched when a node cannot be gated', () => {
  const nodes = ['lb-a', 'lb-b', 'lb-c'];
  const ok: [string, Record<string, PublishedNodeStatus | null>, readonly string[]][] = [
    ['master first in the spec goes last', { 'lb-a': published({ vrrp: 'MASTER' }), 'lb-b': published(), 'lb-c': published() }, ['lb-b', 'lb-c', 'lb-a']],
    ['master in the middle goes last', { 'lb-a': published(), 'lb-b': published({ vrrp: 'MASTER' }), 'lb-c': published() }, ['lb-a', 'lb-c', 'lb-b']],
    ['a FAULT node is not the master', { 'lb-a': published({ vrrp: 'FAULT' }), 'lb-b': published(), 'lb-c': published({ vrrp: 'MASTER' }) }, ['lb-a', 'lb-b', 'lb-c']],
  ];
  for (const [name, statuses, order] of ok) {
    const r = rolloutOrder(nodes, new Map(Object.entries(statuses)), NOW);
    assert.equal(r.kind, 'ok', name);
    assert.deepEqual(r.kind === 'ok' ? r.order : null, order, name);
  }
  const refused: [string, Record<string, PublishedNodeStatus | null>, OrderRefusal][] = [
    ['a node never published', { 'lb-a': published({ vrrp: 'MASTER' }), 'lb-b': null, 'lb-c': published() }, 'no-status'],
    ['a node is stale (agent stopped)', { 'lb-a': published({ vrrp: 'MASTER' }), 'lb-b': published(), 'lb-c': published({ at: NOW - 60_000 }) }, 'stale'],
    ['two masters (split brain)', { 'lb-a': published({ vrrp: 'MASTER' }), 'lb-b': published({ vrrp: 'MASTER' }), 'lb-c': published() }, 'two-masters'],
    ['no master', { 'lb-a': published(), 'lb-b': published(), 'lb-c': published() }, 'no-master'],
  ];
  for (const [name, statuses, code] of refused) {
    const r = rolloutOrder(nodes, new Map(Object.entries(statuses)), NOW);
    assert.equal(r.kind === 'refuse' ? r.code : r.kind, code, name);
  }
});

void test('gate: pass only on the version, healthy, VRRP settled, no problems, in a status written after the pointer', () => {
  const target = { specVersion: 'v2', specHash: HASH_NEW };
  const since = NOW - 5_000;
  const applied: SpecRolloutStatus = { result: 'applied', at: NOW - 1000, specHash: HASH_NEW };
  const on = { version: 'v2', hash: HASH_NEW, rollout: applied };
  const cases: [string, PublishedNodeStatus | null, 'pass' | 'wait' | 'fail', GateCode][] = [
    ['no status at all', null, 'wait', 'no-status-yet'],
    ['a status from before the pointer', published({ ...on, at: since - 1 }), 'wait', 'no-status-yet'],
    ['still on the old version', published({ version: 'v1', hash: HASH_OLD }), 'wait', 'not-on-version'],
    ['version id moved but the hash did not', published({ version: 'v2', hash: HASH_OLD }), 'wait', 'not-on-version'],
    ['on it, healthy, backup', published(on), 'pass', 'passed'],
    ['on it, healthy, master', published({ ...on, vrrp: 'MASTER' }), 'pass', 'passed'],
    ['on it, haproxy unhealthy', published({ ...on, healthy: false }), 'wait', 'haproxy-unhealthy'],
    ['on it, haproxy dead', published({ ...on, alive: false }), 'wait', 'haproxy-unhealthy'],
    ['on it, VRRP FAULT', published({ ...on, vrrp: 'FAULT' }), 'wait', 'vrrp-unsettled'],
    ['on it, a discovery problem', published({ ...on, problems: [{ component: 'discovery:dns', code: 'DISCOVERY_UNAVAILABLE', message: 'x', at: NOW }] }), 'wait', 'problems'],
    ['the node failed this version (a missing cert)', published({ rollout: { result: 'failed', at: NOW - 1000, specHash: HASH_NEW, error: { code: 'HAPROXY_CONFIG_INVALID', message: 'cert missing' } } }), 'fail', 'rollout-failed'],
    ['the node needs a restart for it', published({ rollout: { result: 'rejected', at: NOW - 1000, specHash: HASH_NEW, error: { code: 'SPEC_CONFLICT', message: 'cluster changed' } } }), 'fail', 'rollout-failed'],
    ['an old failure of this hash, before the pointer', published({ version: 'v1', hash: HASH_OLD, rollout: { result: 'failed', at: since - 1, specHash: HASH_NEW } }), 'wait', 'not-on-version'],
    ['a failure of another spec', published({ version: 'v1', hash: HASH_OLD, rollout: { result: 'failed', at: NOW, specHash: HASH_OLD } }), 'wait', 'not-on-version'],
    ['the node found the version invalid', published({ version: 'v1', hash: HASH_OLD, problems: [{ component: 'spec-version', code: 'SPEC_VERSION_INVALID', message: 'bad', at: NOW }] }), 'fail', 'version-invalid'],
  ];
  for (const [name, status, verdict, code] of cases) {
    const v = gateNode(target, status, since);
    assert.deepEqual([v.verdict, v.code], [verdict, code], name);
    assert.ok(v.reason.length > 0, name);
  }
});

void test('gate, doctor checks: the node\'s instance running, source/dest check off, VRRP and the handoff passing to and from it, one master; each failure names the check and its fix', () => {
  const parsed = parseSpec(`cluster:
  name: shop
  vip: 192.168.100.10
  vpcCidrs: [10.0.0.0/16]
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }
    - { name: lb-c, address: 10.0.3.10, zone: az-c }
  cloud: { provider: lab, region: us-east-1, vpcId: vpc-0000000000000000a }
frontends:
  - { name: web, binds: [{ address: vip, port: 80 }], defaultBackend: app }
backends:
  - { name: app, servers: [{ name: s1, address: 10.0.11.11, port: 8080 }] }
`, { file: 's.yaml' });
  assert.ok(parsed.ok);
  const spec = parsed.spec;
  const SG = 'sg-00000000000000001';
  const inst = (id: string, over: Partial<NodeInstanceFact> = {}): NodeInstanceFact => ({ instanceId: id, state: 'running', networkInterfaceId: id.replace('i-', 'eni-'), sourceDestCheck: false, groupIds: [SG], ownerTag: 'shop', metadata: null, ...over });
  const vrrp: SecurityRule = { protocol: '112', cidrs: [], groupIds: [SG] };
  const handoff: SecurityRule = { protocol: 'udp', fromPort: 4789, toPort: 4789, cidrs: [], groupIds: [SG] };
  const allOut: SecurityRule = { protocol: '-1', cidrs: ['0.0.0.0/0'], groupIds: [] };
  const facts = (o: { a?: NodeInstanceFact[]; b?: NodeInstanceFact[]; c?: NodeInstanceFact[]; ingress?: SecurityRule[] } = {}): Pick<ClusterFacts, 'instances' | 'groups'> => ({
    instances: new Map([['lb-a', o.a ?? [inst('i-0000000000000000a')]], ['lb-b', o.b ?? [inst('i-0000000000000000b')]], ['lb-c', o.c ?? [inst('i-0000000000000000c')]]]),
    groups: [{ groupId: SG, ingress: o.ingress ?? [vrrp, handoff], egress: [allOut] }],
  });
  const statuses = (o: Record<string, PublishedNodeStatus | null> = {}): Map<string, PublishedNodeStatus | null> =>
    new Map(Object.entries({ 'lb-a': published(), 'lb-b': published(), 'lb-c': published({ vrrp: 'MASTER' }), ...o }));
  const cases: [string, Pick<ClusterFacts, 'instances' | 'groups'>, Map<string, PublishedNodeStatus | null>, 'pass' | 'wait' | 'fail', GateCode, RegExp][] = [
    ['everything as up makes it', facts(), statuses(), 'pass', 'passed', /doctor checks pass \(instance, source-dest-check, sg-vrrp, sg-handoff\), one VRRP MASTER \(lb-c\)/],
    ['its instance is gone', facts({ b: [] }), statuses(), 'fail', 'doctor-check', /doctor check instance \(lb-b\) fails: no instance .* holds node lb-b's address 10\.0\.2\.10; fix: run overlay-lb up SPEC --yes/],
    ['its instance is stopping', facts({ b: [inst('i-0000000000000000b', { state: 'stopping' })] }), statuses(), 'fail', 'doctor-check', /doctor check instance \(lb-b\) fails: instance i-0000000000000000b .* is stopping, not running; fix: start it/],
    ['its source/dest check is on', facts({ b: [inst('i-0000000000000000b', { sourceDestCheck: true })] }), statuses(), 'fail', 'doctor-check', /doctor check source-dest-check \(lb-b\) fails: .*; fix: aws ec2 modify-instance-attribute --instance-id i-0000000000000000b --no-source-dest-check/],
    ['VRRP blocked (the group lost its 112 rule)', facts({ ingress: [handoff] }), statuses(), 'fail', 'doctor-check', /doctor check sg-vrrp \(lb-a -> lb-b\) fails: VRRP \(IP protocol 112\) is blocked: .*; fix: aws ec2 authorize-security-group-ingress --group-id sg-00000000000000001/],
    ['the handoff blocked', facts({ ingress: [vrrp] }), statuses(), 'fail', 'doctor-check', /doctor check sg-handoff \(lb-a -> lb-b\) fails/],
    ['another node\'s source/dest check is not this node\'s gate', facts({ a: [inst('i-0000000000000000a', { sourceDestCheck: true })] }), statuses(), 'pass', 'passed', /doctor checks pass/],
    ['two masters: an election settling, or a split brain', facts(), statuses({ 'lb-b': published({ vrrp: 'MASTER' }) }), 'wait', 'vrrp-split', /nodes lb-b and lb-c both report VRRP MASTER/],
    ['a stale MASTER is not counted', facts(), statuses({ 'lb-a': published({ vrrp: 'MASTER', at: NOW - 60_000 }) }), 'pass', 'passed', /one VRRP MASTER \(lb-c\)/],
  ];
  for (const [name, f, s, verdict, code, reason] of cases) {
    const v = gateDoctorChecks(spec, 'lb-b', f, s, NOW);
    assert.deepEqual([v.verdict, v.code], [verdict, code], `${name}: ${v.reason}`);
    assert.match(v.reason, reason, name);
  }
});

void test('rollback: the version stored just before the newest one any node is asked to run', () => {
  const versions = [{ versionId: 'v3' }, { versionId: 'v2' }, { versionId: 'v1' }];
  assert.deepEqual(previousVersion(versions, ['v3', 'v2']), { current: 'v3', previous: 'v2' });
  assert.deepEqual(previousVersion(versions, ['v2']), { current: 'v2', previous: 'v1' });
  assert.equal(previousVersion(versions, ['v1']), null);
  assert.equal(previousVersion(versions, []), null);
  assert.equal(previousVersion(versions, ['gone']), null);
});

void test('pointer: format 1 with a version and a 64-hex hash, else why not', () => {
  assert.deepEqual(parsePointer(JSON.stringify({ format: 1, specVersion: 'v2', specHash: HASH_NEW, writtenAt: 5 })), { format: 1, specVersion: 'v2', specHash: HASH_NEW, writtenAt: 5 });
  const bad: [string, string][] = [
    ['{', 'not JSON'], ['[]', 'format undefined'], ['{"format":2}', 'format 2'], [JSON.stringify({ format: 1, specHash: HASH_NEW }), 'no specVersion'],
    [JSON.stringify({ format: 1, specVersion: 'v', specHash: 'xyz' }), 'no specHash'], ['null', 'not a JSON object'],
  ];
  for (const [body, why] of bad) {
    const r = parsePointer(body);
    assert.ok(typeof r === 'string' && r.includes(why), `${body}: ${JSON.stringify(r)}`);
  }
});
