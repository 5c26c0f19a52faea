/** doctor's decisions (src/provision/doctor-checks.ts) as tables: the facts in, each check's status, subject, message and fix out. Pure. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import type { Spec } from '../../src/model/spec.js';
import type { ClusterFacts, NodeFacts, NodeInstanceFact, PublishedStatusFact, SecurityGroupFact, SecurityRule } from '../../src/cloud/doctor-facts.js';
import {
  checkFrontendPorts, checkImdsOptions, checkInstances, checkNodeTraffic, checkRoutePermissions, checkSourceDestCheck, checkSpecHashes, checkVip,
  decideClusterChecks, decideNodeChecks, groupsAllow, type CheckResult,
} from '../../src/provision/doctor-checks.js';
import { resultsForNode } from '../../src/provision/doctor.js';
import { formatDiagnostic } from '../../src/util/errors.js';

const VPC = 'vpc-0000000000000000a';
const SG = 'sg-00000000000000001';

function makeSpecText(extra = ''): Spec {
  const r = parseSpec(`cluster:
  name: shop
  vip: 192.168.100.10
  vpcCidrs: [10.0.0.0/16]
  peerCidrs: [10.1.0.0/16]
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }
  cloud: { provider: lab, region: us-east-1, vpcId: ${VPC}${extra} }
frontends:
  - { name: web, binds: [{ address: vip, port: 80 }, { address: vip, port: 8080 }], defaultBackend: app }
backends:
  - { name: app, servers: [{ name: s1, address: 10.0.11.11, port: 8080 }] }
provision:
  imageId: ami-0123456789abcdef0
  clients: { web: [10.0.0.0/16, 10.1.0.0/16] }
  bucket: shop-releases
`, { file: 's.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.spec;
}
const spec = makeSpecText();

function inst(id: string, over: Partial<NodeInstanceFact> = {}): NodeInstanceFact {
  return { instanceId: id, state: 'running', networkInterfaceId: id.replace('i-', 'eni-'), sourceDestCheck: false, groupIds: [SG], ownerTag: 'shop', metadata: { httpTokens: 'required', hopLimit: 1, endpoint: 'enabled' }, ...over };
}
const A = inst('i-0000000000000000a');
const B = inst('i-0000000000000000b');
const ALL_OUT: SecurityRule = { protocol: '-1', cidrs: ['0.0.0.0/0'], groupIds: [] };
const GOOD_INGRESS: SecurityRule[] = [
  { protocol: '112', cidrs: [], groupIds: [SG] },
  { protocol: 'udp', fromPort: 4789, toPort: 4789, cidrs: [], groupIds: [SG] },
  { protocol: 'tcp', fromPort: 80, toPort: 80, cidrs: ['10.0.0.0/16', '10.1.0.0/16'], groupIds: [] },
  { protocol: 'tcp', fromPort: 8080, toPort: 8080, cidrs: ['10.0.0.0/8'], groupIds: [] },
];
const group = (ingress: SecurityRule[], egress: SecurityRule[] = [ALL_OUT], groupId = SG): SecurityGroupFact => ({ groupId, ingress, egress });

function facts(over: Partial<ClusterFacts> = {}): ClusterFacts {
  return {
    vpc: { id: VPC, cidrs: ['10.0.0.0/16'] },
    instances: new Map([['lb-a', [A]], ['lb-b', [B]]]),
    groups: [group(GOOD_INGRESS)],
    routeTables: [{ id: 'rtb-1', tags: {}, hasVipRoute: true }, { id: 'rtb-2', tags: {}, hasVipRoute: false }],
    peeredNetworks: [],
    routePermissions: [{ routeTableId: 'rtb-1', action: 'ec2:ReplaceRoute', dryRun: { outcome: 'allowed' } }, { routeTableId: 'rtb-2', action: 'ec2:CreateRoute', dryRun: { outcome: 'allowed' } }],
    statuses: new Map<string, PublishedStatusFact>([['lb-a', present('h1')], ['lb-b', present('h1')]]),
    now: 1_000_000,
    ...over,
  };
}
function present(specHash: string, publishedAt = 990_000): PublishedStatusFact {
  return { state: 'present', specHash, specVersion: 'v1', publishedAt, intervalMs: 10_000 };
}
const brief = (rs: readonly CheckResult[]): string[] => rs.map((r) => `${r.status} ${r.id} ${r.subject}`);

void test('a cluster where everything is right passes every check', () => {
  const rs = decideClusterChecks(spec, facts(), { selected: ['rtb-1', 'rtb-2'], specHash: 'h1' });
  assert.deepEqual(rs.filter((r) => r.status !== 'pass'), []);
  assert.deepEqual(brief(rs), [
    'pass vpc vpc-0000000000000000a',
    'pass instance lb-a', 'pass instance lb-b',
    'pass source-dest-check lb-a', 'pass source-dest-check lb-b',
    'pass sg-vrrp lb-a -> lb-b', 'pass sg-vrrp lb-b -> lb-a',
    'pass sg-handoff lb-a -> lb-b', 'pass sg-handoff lb-b -> lb-a',
    'pass sg-frontend lb-a web:80', 'pass sg-frontend lb-a web:8080', 'pass sg-frontend lb-b web:80', 'pass sg-frontend lb-b web:8080',
    'pass vip-outside 192.168.100.10',
    'pass route-permission rtb-1', 'pass route-permission rtb-2',
    'pass imds-options lb-a', 'pass imds-options lb-b',
    'pass spec-hash cluster',
  ]);
  assert.ok(rs.every((r) => r.fix === null));
});

void test('a VPC that does not exist is the only result', () => {
  assert.deepEqual(decideClusterChecks(spec, facts({ vpc: null }), { selected: [], specHash: 'h1' }), [{
    id: 'vpc', status: 'fail', subject: VPC, message: `VPC ${VPC} was not found in region us-east-1`,
    fix: 'set cluster.cloud.vpcId and cluster.cloud.region to the VPC of the LB nodes (aws ec2 describe-vpcs)',
  }]);
});

void test('instances: none, several, not running', () => {
  const rs = checkInstances(spec, facts({ instances: new Map([['lb-a', []], ['lb-b', [B, inst('i-0000000000000000c')]]]) }));
  assert.deepEqual(rs.map((r) => [r.status, r.message, r.fix]), [
    ['fail', `no instance in VPC ${VPC} holds node lb-a's address 10.0.1.10`, "run overlay-lb up SPEC --yes, or correct cluster.nodes[lb-a].address to the instance's private address"],
    ['fail', 'several instances hold 10.0.2.10: i-0000000000000000b, i-0000000000000000c', 'terminate the instances that are not the node (each address belongs to one network interface)'],
  ]);
  const stopped = checkInstances(spec, facts({ instances: new Map([['lb-a', [inst('i-0000000000000000a', { state: 'stopped' })]], ['lb-b', [B]]]) }));
  assert.equal(stopped[0]?.status, 'fail');
  assert.equal(stopped[0]?.fix, 'start it (aws ec2 start-instances --instance-ids i-0000000000000000a) or run overlay-lb up to replace it');
  // Later checks skip a node that was not found (one finding, not a cascade).
  assert.deepEqual(brief(checkSourceDestCheck(spec, facts({ instances: new Map([['lb-a', []], ['lb-b', [B]]]) }))), ['pass source-dest-check lb-b']);
});

void test('source/destination check on: the fix is the exact command', () => {
  const rs = checkSourceDestCheck(spec, facts({ instances: new Map([['lb-a', [A]], ['lb-b', [inst('i-0000000000000000b', { sourceDestCheck: true })]]]) }));
  assert.deepEqual(rs[1], {
    id: 'source-dest-check', status: 'fail', subject: 'lb-b',
    message: 'source/destination check is on for i-0000000000000000b: it drops the packets addressed to the VIP, which is not its own address',
    fix: 'aws ec2 modify-instance-attribute --instance-id i-0000000000000000b --no-source-dest-check',
  });
});

void test('security-group rules: protocol, port and peer matching', () => {
  const peer = { address: 0x0a00010a, groupIds: [SG] }; // 10.0.1.10
  const table: [SecurityRule, string, number | null, boolean][] = [
    [{ protocol: '-1', cidrs: [], groupIds: [SG] }, '112', null, true],
    [{ protocol: 'all', cidrs: ['10.0.1.10/32'], groupIds: [] }, 'udp', 4789, true],
    [{ protocol: '112', cidrs: ['10.0.0.0/16'], groupIds: [] }, '112', null, true],
    [{ protocol: '112', cidrs: ['10.0.2.0/24'], groupIds: [] }, '112', null, false],
    [{ protocol: '112', cidrs: [], groupIds: ['sg-other'] }, '112', null, false],
    [{ protocol: 'tcp', fromPort: 0, toPort: 65535, cidrs: ['0.0.0.0/0'], groupIds: [] }, '112', null, false],
    [{ protocol: 'udp', fromPort: 4000, toPort: 5000, cidrs: [], groupIds: [SG] }, 'udp', 4789, true],
    [{ protocol: 'udp', fromPort: 4790, toPort: 5000, cidrs: [], groupIds: [SG] }, 'udp', 4789, false],
    [{ protocol: '17', fromPort: 4789, toPort: 4789, cidrs: [], groupIds: [SG] }, 'udp', 4789, true],
    [{ protocol: 'tcp', fromPort: 4789, toPort: 4789, cidrs: [], groupIds: [SG] }, 'udp', 4789, false],
  ];
  for (const [rule, protocol, port, allowed] of table) {
    assert.equal(groupsAllow([group([rule])], [SG], { direction: 'ingress', protocol, port, peer }), allowed, JSON.stringify({ rule, protocol, port }));
  }
  // Only the groups named count; egress is its own list.
  assert.equal(groupsAllow([group([{ protocol: '-1', cidrs: ['0.0.0.0/0'], groupIds: [] }])], ['sg-x'], { direction: 'ingress', protocol: '112', port: null, peer }), false);
  assert.equal(groupsAllow([group([], [])], [SG], { direction: 'egress', protocol: '112', port: null, peer }), false);
  // A client range must be held whole by one rule's range.
  const clients = { cidr: { network: 0x0a000000, length: 16, canonical: '10.0.0.0/16' } };
  assert.equal(groupsAllow([group([{ protocol: 'tcp', fromPort: 80, toPort: 80, cidrs: ['10.0.0.0/8'], groupIds: [] }])], [SG], { direction: 'ingress', protocol: 'tcp', port: 80, peer: clients }), true);
  assert.equal(groupsAllow([group([{ protocol: 'tcp', fromPort: 80, toPort: 80, cidrs: ['10.0.1.0/24'], groupIds: [] }])], [SG], { direction: 'ingress', protocol: 'tcp', port: 80, peer: clients }), false);
  assert.equal(groupsAllow([group([{ protocol: 'tcp', fromPort: 80, toPort: 80, cidrs: [], groupIds: [SG] }])], [SG], { direction: 'ingress', protocol: 'tcp', port: 80, peer: clients }), false);
});

void test('VRRP revoked: both directions fail, each naming the group and the authorize command', () => {
  const rs = checkNodeTraffic(spec, facts({ groups: [group(GOOD_INGRESS.filter((r) => r.protocol !== '112'))] }));
  assert.deepEqual(brief(rs), ['fail sg-vrrp lb-a -> lb-b', 'fail sg-vrrp lb-b -> lb-a', 'pass sg-handoff lb-a -> lb-b', 'pass sg-handoff lb-b -> lb-a']);
  assert.equal(rs[0]?.message, `VRRP (IP protocol 112) is blocked: lb-b's security groups (${SG}) do not let it in from lb-a (10.0.1.10): without it both nodes become master`);
  assert.equal(rs[0]?.fix, `aws ec2 authorize-security-group-ingress --group-id ${SG} --ip-permissions 'IpProtocol=112,UserIdGroupPairs=[{GroupId=${SG}}]' (or run overlay-lb up, whose group has it)`);
});

void test('the handoff port revoked, and an egress list without it', () => {
  const noUdp = checkNodeTraffic(spec, facts({ groups: [group(GOOD_INGRESS.filter((r) => r.protocol !== 'udp'))] }));
  assert.deepEqual(brief(noUdp).filter((l) => l.startsWith('fail')), ['fail sg-handoff lb-a -> lb-b', 'fail sg-handoff lb-b -> lb-a']);
  assert.match(noUdp[2]?.message ?? '', /^the handoff link \(UDP 4789\) is blocked: .*: a planned switchover or failback cannot hand connections over$/);
  assert.equal(noUdp[2]?.fix, `aws ec2 authorize-security-group-ingress --group-id ${SG} --ip-permissions 'IpProtocol=udp,FromPort=4789,ToPort=4789,UserIdGroupPairs=[{GroupId=${SG}}]' (or run overlay-lb up, whose group has it)`);
  // Egress restricted to TCP: nothing of VRRP or VXLAN leaves either node.
  const tcpOut = checkNodeTraffic(spec, facts({ groups: [group(GOOD_INGRESS, [{ protocol: 'tcp', fromPort: 0, toPort: 65535, cidrs: ['0.0.0.0/0'], groupIds: [] }])] }));
  assert.equal(tcpOut.filter((r) => r.status === 'fail').length, 4);
  assert.match(tcpOut[0]?.message ?? '', /lb-a's security groups \(sg-00000000000000001\) do not let it out to lb-b \(10\.0\.2\.10\)/);
  assert.match(tcpOut[0]?.fix ?? '', /^aws ec2 authorize-security-group-egress --group-id sg-00000000000000001 /);
});

void test('nodes in different groups: a rule by address works; without one the fix names the peer\'s group', () => {
  const SG2 = 'sg-00000000000000002';
  const b2 = inst('i-0000000000000000b', { groupIds: [SG2] });
  const byAddress = facts({ instances: new Map([['lb-a', [A]], ['lb-b', [b2]]]), groups: [group([{ protocol: '112', cidrs: ['10.0.2.10/32'], groupIds: [] }]), group([{ protocol: '112', cidrs: ['10.0.1.0/24'], groupIds: [] }], [ALL_OUT], SG2)] });
  assert.deepEqual(brief(checkNodeTraffic(spec, byAddress)).slice(0, 2), ['pass sg-vrrp lb-a -> lb-b', 'pass sg-vrrp lb-b -> lb-a']);
  const none = checkNodeTraffic(spec, facts({ instances: new Map([['lb-a', [A]], ['lb-b', [b2]]]), groups: [group([]), group([], [ALL_OUT], SG2)] }));
  assert.equal(none[0]?.fix, `aws ec2 authorize-security-group-ingress --group-id ${SG2} --ip-permissions 'IpProtocol=112,UserIdGroupPairs=[{GroupId=${SG}}]' (or run overlay-lb up, whose group has it)`);
});

void test('a frontend port closed to one of its client CIDRs', () => {
  const rs = checkFrontendPorts(spec, facts({ groups: [group(GOOD_INGRESS.map((r) => (r.fromPort === 80 ? { ...r, cidrs: ['10.0.0.0/16'] } : r)))] }));
  assert.deepEqual(brief(rs), ['fail sg-frontend lb-a web:80', 'pass sg-frontend lb-a web:8080', 'fail sg-frontend lb-b web:80', 'pass sg-frontend lb-b web:8080']);
  assert.equal(rs[0]?.message, `frontend web's TCP port 80 is closed to 10.1.0.0/16 on lb-a (groups ${SG})`);
  assert.equal(rs[0]?.fix, `aws ec2 authorize-security-group-ingress --group-id ${SG} --ip-permissions 'IpProtocol=tcp,FromPort=80,ToPort=80,IpRanges=[{CidrIp=10.1.0.0/16}]' (or run overlay-lb up)`);
});

void test('the VIP inside an associated VPC block or a peered network fails; a block the spec omits warns', () => {
  const vipSpec = makeSpecText();
  const assoc = checkVip(vipSpec, facts({ vpc: { id: VPC, cidrs: ['10.0.0.0/16', '192.168.0.0/16'] } }));
  assert.deepEqual(brief(assoc), ['fail vip-outside 192.168.100.10', `warn vpc-cidrs ${VPC}`]);
  assert.equal(assoc[0]?.message, `the VIP 192.168.100.10 lies inside 192.168.0.0/16 (a CIDR block of VPC ${VPC}): that network's own route wins over the VIP's /32, so traffic for the VIP never reaches the active node`);
  assert.equal(assoc[1]?.fix, 'add 192.168.0.0/16 to cluster.vpcCidrs (validate then keeps the VIP out of them)');
  const peered = checkVip(vipSpec, facts({ peeredNetworks: [{ cidr: '192.168.96.0/20', via: 'pcx-0123456789abcdef0', routeTableId: 'rtb-1' }] }));
  assert.deepEqual(brief(peered), ['fail vip-outside 192.168.100.10']);
  assert.match(peered[0]?.message ?? '', /inside 192\.168\.96\.0\/20 \(a network reached through pcx-0123456789abcdef0 \(route table rtb-1\)\)/);
  assert.deepEqual(brief(checkVip(vipSpec, facts({ peeredNetworks: [{ cidr: '172.16.0.0/12', via: 'tgw-0123456789abcdef0', routeTableId: 'rtb-1' }] }))), ['pass vip-outside 192.168.100.10']);
});

void test('route permissions: refused names the action and table; nothing selected; an id outside the VPC', () => {
  const denied = checkRoutePermissions(spec, facts({ routePermissions: [{ routeTableId: 'rtb-1', action: 'ec2:ReplaceRoute', dryRun: { outcome: 'denied', message: 'ec2:ReplaceRoute: UnauthorizedOperation: You are not authorized to perform this operation.' } }] }), { selected: ['rtb-1'] });
  assert.deepEqual(denied, [{
    id: 'route-permission', status: 'fail', subject: 'rtb-1',
    message: 'DryRun ec2:ReplaceRoute was refused: ec2:ReplaceRoute: UnauthorizedOperation: You are not authorized to perform this operation.',
    fix: "grant ec2:ReplaceRoute on arn:aws:ec2:*:*:route-table/rtb-1 (the nodes' role: docs/install.md's policy allows ec2:ReplaceRoute and ec2:CreateRoute on the VPC's route tables)",
  }]);
  assert.deepEqual(brief(checkRoutePermissions(spec, facts({ routePermissions: [] }), { selected: [] })), [`fail route-tables ${VPC}`]);
  assert.deepEqual(brief(checkRoutePermissions(spec, facts({ routePermissions: [] }), { selected: ['rtb-9'] })), ['fail route-tables rtb-9']);
  // Failover by Elastic IP writes no route: no route check.
  const eip = parseSpec(`cluster:
  name: shop
  vip: 192.168.100.10
  nodes: [{ name: lb-a, address: 10.0.1.10, zone: az-a }, { name: lb-b, address: 10.0.2.10, zone: az-b }]
  cloud: { provider: lab, region: us-east-1, vpcId: ${VPC}, failover: eip, eipAllocationId: eipalloc-0123456789abcdef0 }
frontends: [{ name: web, binds: [{ address: node, port: 80 }], defaultBackend: app }]
backends: [{ name: app, servers: [{ name: s1, address: 10.0.11.11, port: 8080 }] }]
`, { file: 'e.yaml' });
  assert.ok(eip.ok, eip.ok ? '' : eip.diagnostics.map(formatDiagnostic).join('\n'));
  assert.deepEqual(checkRoutePermissions(eip.spec, facts({ routePermissions: [] }), { selected: [] }), []);
});

void test('IMDS options: optional tokens, endpoint off, none shown', () => {
  const rs = checkImdsOptions(spec, facts({
    instances: new Map([
      ['lb-a', [inst('i-0000000000000000a', { metadata: { httpTokens: 'optional', hopLimit: 1, endpoint: 'enabled' } })]],
      ['lb-b', [inst('i-0000000000000000b', { metadata: { httpTokens: 'required', hopLimit: 2, endpoint: 'disabled' } })]],
    ]),
  }));
  assert.deepEqual(rs.map((r) => [r.status, r.subject, r.fix]), [
    ['fail', 'lb-a', 'aws ec2 modify-instance-metadata-options --instance-id i-0000000000000000a --http-tokens required'],
    ['fail', 'lb-b', 'aws ec2 modify-instance-metadata-options --instance-id i-0000000000000000b --http-endpoint enabled --http-tokens required'],
  ]);
  assert.equal(rs[0]?.message, "i-0000000000000000a accepts IMDSv1 (HttpTokens optional): anything that can make the node send a GET can read its role's credentials");
  assert.deepEqual(brief(checkImdsOptions(spec, facts({ instances: new Map([['lb-a', [inst('i-0000000000000000a', { metadata: null })]]]) }))), ['warn imds-options lb-a']);
});

void test('spec hashes: different fails naming both; missing and stale warn; agreeing on another spec warns', () => {
  const diff = checkSpecHashes(spec, facts({ statuses: new Map([['lb-a', present('aaaaaaaaaaaaaaaa')], ['lb-b', present('bbbbbbbbbbbbbbbb')]]) }), { specHash: 'aaaaaaaaaaaaaaaa' });
  assert.deepEqual(diff, [{
    id: 'spec-hash', status: 'fail', subject: 'cluster', message: 'the nodes run different specs: lb-a aaaaaaaaaaaa, lb-b bbbbbbbbbbbb',
    fix: "roll one spec out to every node (overlay-lb apply SPEC --cluster) and check the lagging node's spec rollout problems (overlay-lb status)",
  }]);
  const missing = checkSpecHashes(spec, facts({ statuses: new Map([['lb-a', present('h1')]]) }), { specHash: 'h1' });
  assert.deepEqual(brief(missing), ['warn spec-hash lb-b', 'pass spec-hash cluster']);
  const stale = checkSpecHashes(spec, facts({ statuses: new Map([['lb-a', present('h1', 1_000_000 - 31_000)], ['lb-b', present('h1')]]) }), { specHash: 'h1' });
  assert.deepEqual(brief(stale), ['warn spec-hash lb-a', 'pass spec-hash cluster']);
  assert.equal(stale[0]?.message, "node lb-a's status is stale (published 31 s ago, every 10 s)");
  assert.deepEqual(brief(checkSpecHashes(spec, facts(), { specHash: 'other' })), ['warn spec-hash cluster']);
  assert.deepEqual(checkSpecHashes(spec, facts({ statuses: null }), { specHash: 'h1' }), []);
  assert.deepEqual(brief(checkSpecHashes(spec, facts({ statuses: new Map([['lb-a', { state: 'unreadable', message: 'AccessDenied' }], ['lb-b', { state: 'missing' }]]) }), { specHash: 'h1' })), ['warn spec-hash lb-a', 'warn spec-hash lb-b']);
});

void test('--node keeps that node\'s results and the cluster-wide ones', () => {
  const rs = decideClusterChecks(spec, facts({ instances: new Map([['lb-a', [inst('i-0000000000000000a', { sourceDestCheck: true })]], ['lb-b', [B]]]) }), { selected: ['rtb-1', 'rtb-2'], specHash: 'h1' });
  const b = brief(resultsForNode(spec, rs, 'lb-b'));
  assert.ok(b.includes('pass instance lb-b') && b.includes('pass sg-vrrp lb-a -> lb-b') && b.includes('pass route-permission rtb-1') && b.includes('pass sg-frontend lb-b web:80'));
  assert.ok(!b.some((l) => / (instance|source-dest-check|imds-options) lb-a$/.test(l) || l.includes('lb-a web')), b.join('\n'));
  assert.equal(b.length, 14);
});

void test('on a node: IMDS, the API, the clock and the iptables time match', () => {
  const good: NodeFacts = { imds: { ok: true, instanceId: 'i-0000000000000000a', address: '10.0.1.10' }, api: { ok: true, endpoint: 'https://ec2.us-east-1.amazonaws.com' }, clockSkewMs: 400, timeMatch: { ok: true } };
  const node = (f: Partial<NodeFacts>) => decideNodeChecks({ ...good, ...f }, { node: 'lb-a', region: 'us-east-1' });
  assert.deepEqual(brief(node({})), ['pass imds-reachable lb-a', 'pass api-reachable lb-a', 'pass clock lb-a', 'pass iptables-time lb-a']);
  const down = node({ imds: { ok: false, message: 'IMDS answered 403' }, api: { ok: false, endpoint: 'https://ec2.us-east-1.amazonaws.com', cause: 'unreachable', message: 'ec2:DescribeRouteTables: no answer from the EC2 API (timed out after 5000 ms)' }, clockSkewMs: null });
  assert.deepEqual(brief(down), ['fail imds-reachable lb-a', 'fail api-reachable lb-a', 'pass iptables-time lb-a']);
  assert.equal(down[1]?.message, 'the EC2 API at https://ec2.us-east-1.amazonaws.com does not answer from this node: ec2:DescribeRouteTables: no answer from the EC2 API (timed out after 5000 ms); a failover could not move the VIP route');
  assert.equal(down[1]?.fix, "give this node's subnet a way to the EC2 API: an interface VPC endpoint for com.amazonaws.us-east-1.ec2 with private DNS, or a route to a NAT gateway");
  // No credentials (the SDK's chain found none: nothing was sent): not an unreachable API, so not its fix.
  const unsigned = node({ imds: { ok: false, message: 'IMDS: connection reset' }, api: { ok: false, endpoint: 'https://ec2.us-east-1.amazonaws.com', cause: 'credentials', message: 'ec2:DescribeRouteTables: CredentialsProviderError: Could not load credentials from any providers' }, clockSkewMs: null });
  assert.deepEqual(brief(unsigned), ['fail imds-reachable lb-a', 'fail api-reachable lb-a', 'pass iptables-time lb-a']);
  assert.equal(unsigned[1]?.message, 'no call to the EC2 API at https://ec2.us-east-1.amazonaws.com could be signed: ec2:DescribeRouteTables: CredentialsProviderError: Could not load credentials from any providers; a failover could not move the VIP route');
  assert.match(unsigned[1]?.fix ?? '', /^give the node its instance profile/);
  // The clock: within 5 s passes, minutes off warns, beyond what SigV4 accepts fails.
  const table: [number, string][] = [[-5_000, 'pass'], [5_001, 'warn'], [-60_000, 'warn'], [240_000, 'fail'], [-3_600_000, 'fail']];
  for (const [skew, status] of table) assert.equal(node({ clockSkewMs: skew }).find((r) => r.id === 'clock')?.status, status, String(skew));
  assert.equal(node({ clockSkewMs: 60_000 }).find((r) => r.id === 'clock')?.message, "the clock is 60 s behind the API's clock: published statuses look stale or fresh by mistake");
  const noTime = node({ timeMatch: { ok: false, cause: 'missing', message: "iptables v1.8.9 (nf_tables): Couldn't load match `time':No such file or directory" } });
  assert.equal(noTime[3]?.status, 'fail');
  assert.match(noTime[3]?.fix ?? '', /^install a kernel with the xt_time module/);
  assert.equal(node({ timeMatch: { ok: false, cause: 'not-root', message: 'unshare: unshare failed: Operation not permitted' } })[3]?.status, 'warn');
});
