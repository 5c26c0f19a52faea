/** Which subnet each node is launched in (src/provision/subnets.ts): given by zone, or found; every wrong case named. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import type { Spec } from '../../src/model/spec.js';
import { nodeSubnets, type SubnetInfo } from '../../src/provision/subnets.js';
import { formatDiagnostic } from '../../src/util/errors.js';

function specWith(subnets: string): Spec {
  const r = parseSpec(`cluster:
  name: shop
  vip: 192.168.100.10
  nodes:
    - { name: lb-a, address: 10.0.1.10, zone: az-a }
    - { name: lb-b, address: 10.0.2.10, zone: az-b }
  cloud: { provider: lab, region: us-east-1, vpcId: vpc-0000000000000000a }
frontends:
  - { name: web, binds: [{ address: vip, port: 80 }], defaultBackend: app }
backends:
  - { name: app, servers: [{ name: s1, address: 10.0.11.11, port: 8080 }] }
provision:
  imageId: ami-0123456789abcdef0
  clients: { web: [10.0.0.0/16] }
  bucket: shop-releases
${subnets}
`, { file: 's.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  return r.spec;
}

const VPC = 'vpc-0000000000000000a';
const SUBNETS: SubnetInfo[] = [
  { subnetId: 'subnet-00000000000000a01', vpcId: VPC, availabilityZone: 'az-a', cidr: '10.0.1.0/24' },
  { subnetId: 'subnet-00000000000000a11', vpcId: VPC, availabilityZone: 'az-a', cidr: '10.0.11.0/24' },
  { subnetId: 'subnet-00000000000000b02', vpcId: VPC, availabilityZone: 'az-b', cidr: '10.0.2.0/24' },
  { subnetId: 'subnet-00000000000000c01', vpcId: 'vpc-0000000000000000c', availabilityZone: 'az-a', cidr: '10.0.1.0/24' },
  { subnetId: 'subnet-00000000000000a99', vpcId: VPC, availabilityZone: 'az-a', cidr: '10.0.99.0/24' },
];

void test('by zone: the VPC subnet of the node\'s zone holding its address (another VPC\'s same CIDR is ignored)', () => {
  assert.deepEqual([...nodeSubnets(specWith(''), SUBNETS)], [['lb-a', 'subnet-00000000000000a01'], ['lb-b', 'subnet-00000000000000b02']]);
});

void test('given subnets are used when they fit, and each way they do not is named with the fix', () => {
  assert.deepEqual(nodeSubnets(specWith('  subnets: { az-b: subnet-00000000000000b02 }'), SUBNETS).get('lb-b'), 'subnet-00000000000000b02');
  const cases: [string, SubnetInfo[], RegExp][] = [
    ['  subnets: { az-a: subnet-00000000000000fff }', SUBNETS, /^node lb-a \(10\.0\.1\.10, zone az-a\): provision\.subnets\.az-a: subnet subnet-00000000000000fff does not exist; give a subnet of the VPC in zone az-a whose CIDR holds the node's address, or remove the entry to let up find it$/],
    ['  subnets: { az-a: subnet-00000000000000c01 }', SUBNETS, /subnet subnet-00000000000000c01 is in vpc-0000000000000000c, not in cluster\.cloud\.vpcId vpc-0000000000000000a;/],
    ['  subnets: { az-a: subnet-00000000000000a99 }', SUBNETS, /subnet subnet-00000000000000a99 \(10\.0\.99\.0\/24\) does not hold 10\.0\.1\.10;/],
    ['  subnets: { az-b: subnet-00000000000000a01 }', SUBNETS, /^node lb-b .*subnet subnet-00000000000000a01 is in zone az-a;/],
    ['', SUBNETS.filter((s) => s.availabilityZone !== 'az-b'), /^node lb-b \(10\.0\.2\.10, zone az-b\): no subnet of vpc-0000000000000000a in zone az-b holds 10\.0\.2\.10 \(the zone's subnets: none\); change the node's address or zone, or name its subnet in provision\.subnets\.az-b$/],
    ['', SUBNETS.filter((s) => s.subnetId !== 'subnet-00000000000000a01'), /no subnet of vpc-0000000000000000a in zone az-a holds 10\.0\.1\.10 \(the zone's subnets: subnet-00000000000000a11 10\.0\.11\.0\/24, subnet-00000000000000a99 10\.0\.99\.0\/24\)/],
  ];
  for (const [yaml, subnets, message] of cases) {
    assert.throws(() => nodeSubnets(specWith(yaml), subnets), (err: Error & { code?: string }) => err.code === 'SPEC_CONFLICT' && message.test(err.message), `${yaml} ${message}`);
  }
});
