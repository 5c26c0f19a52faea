// The lab's cloud model and policy evaluator, without HTTP.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import { Ec2ApiError } from '../../src/lab/ec2/errors.js';
import { isAllowed, wildcardMatch, type PolicyDocument } from '../../src/lab/ec2/policy.js';
import { QueryParams } from '../../src/lab/ec2/query.js';
import { LabCloud, effectiveRouteTable, type LabCloudEvent } from '../../src/lab/ec2/state.js';
import { lbNodePolicy } from '../../src/lab/controller.js';
import { desiredKey, releaseKeys, statusKey } from '../../src/cloud/aws/provision/names.js';

function code(fn: () => unknown): string {
  try {
    fn();
    return 'ok';
  } catch (error) {
    assert.ok(error instanceof Ec2ApiError, String(error));
    return error.code;
  }
}

void test('building a VPC emits the events the kernel side mirrors', () => {
  const cloud = new LabCloud({ region: 'eu-west-1' });
  const events: LabCloudEvent[] = [];
  const off = cloud.on((e) => events.push(e));
  const { vpcId, mainRouteTableId } = cloud.createVpc({ cidr: '10.0.0.0/16' });
  const { subnetId } = cloud.createSubnet({ vpcId, cidr: '10.0.1.0/24', availabilityZone: 'eu-west-1a' });
  const { routeTableId } = cloud.createRouteTable({ vpcId });
  const { associationId } = cloud.associateRouteTable({ routeTableId, subnetId });
  const node = cloud.createInstance({ subnetId, privateIp: '10.0.1.10' });
  cloud.createRoute({ routeTableId, destinationCidrBlock: '192.168.100.10/32', target: { instanceId: node.instanceId } });
  cloud.setSourceDestCheck({ networkInterfaceId: node.networkInterfaceId, enabled: false });
  assert.deepEqual(events, [
    { type: 'route-table-created', routeTableId: mainRouteTableId, vpcId, main: true },
    { type: 'association-changed', routeTableId: mainRouteTableId, subnetId, associationId: null },
    { type: 'route-table-created', routeTableId, vpcId, main: false },
    { type: 'association-changed', routeTableId, subnetId, associationId },
    // The new ENI is in the VPC's default group: the data path re-reads the security groups.
    { type: 'security-groups-changed' },
    { type: 'route-changed', routeTableId, destinationCidrBlock: '192.168.100.10/32', target: { networkInterfaceId: node.networkInterfaceId } },
    { type: 'source-dest-check', networkInterfaceId: node.networkInterfaceId, enabled: false },
  ]);
  off();
  cloud.setSourceDestCheck({ networkInterfaceId: node.networkInterfaceId, enabled: true });
  assert.equal(events.length, 7);
  assert.equal(effectiveRouteTable(cloud.view() as never, subnetId)?.routeTableId, routeTableId);
});

void test('the model rejects what EC2 rejects', () => {
  const { cloud, ids } = buildExampleCloud();
  assert.equal(code(() => cloud.createSubnet({ vpcId: ids.vpc, cidr: '10.2.0.0/24', availabilityZone: 'eu-west-1a' })), 'InvalidSubnet.Range');
  assert.equal(code(() => cloud.createSubnet({ vpcId: ids.vpc, cidr: '10.0.1.128/25', availabilityZone: 'eu-west-1a' })), 'InvalidSubnet.Conflict');
  assert.equal(code(() => cloud.createInstance({ subnetId: ids.subnetA, privateIp: '10.0.2.5' })), 'InvalidParameterValue');
  assert.equal(code(() => cloud.createInstance({ subnetId: ids.subnetA, privateIp: '10.0.1.10' })), 'InvalidIPAddress.InUse');
  assert.equal(code(() => cloud.associateRouteTable({ routeTableId: ids.routeTableB, subnetId: ids.subnetA })), 'Resource.AlreadyAssociated');
  assert.equal(code(() => cloud.createRoute({ routeTableId: ids.routeTableA, destinationCidrBlock: '0.0.0.0/0', target: { gatewayId: 'igw-00000000000000999' } })), 'InvalidGatewayID.NotFound');
  const { internetGatewayId } = cloud.createInternetGateway({ vpcId: ids.vpc });
  assert.equal(code(() => cloud.createRoute({ routeTableId: ids.routeTableA, destinationCidrBlock: '0.0.0.0/0', target: { gatewayId: internetGatewayId } })), 'ok');
  assert.equal(code(() => cloud.attachNetworkInterface({ networkInterfaceId: ids.lb2Eni, instanceId: ids.lb1 })), 'InvalidNetworkInterface.InUse');
});

void test('lab up may pass its own ids; they must be well-formed and unused', () => {
  const cloud = new LabCloud({ region: 'eu-west-1' });
  const { vpcId, mainRouteTableId } = cloud.createVpc({ cidr: '10.0.0.0/16', vpcId: 'vpc-0123456789abcdef0', mainRouteTableId: 'rtb-0123456789abcdef0' });
  assert.deepEqual([vpcId, mainRouteTableId], ['vpc-0123456789abcdef0', 'rtb-0123456789abcdef0']);
  const { subnetId } = cloud.createSubnet({ vpcId, cidr: '10.0.1.0/24', availabilityZone: 'eu-west-1a', subnetId: 'subnet-0123456789abcdef0' });
  const node = cloud.createInstance({ subnetId, privateIp: '10.0.1.10', instanceId: 'i-0123456789abcdef0', networkInterfaceId: 'eni-0123456789abcdef0', mac: '02:aa:bb:cc:dd:ee' });
  assert.deepEqual(node, { instanceId: 'i-0123456789abcdef0', networkInterfaceId: 'eni-0123456789abcdef0', mac: '02:aa:bb:cc:dd:ee' });
  const generated = cloud.createNetworkInterface({ subnetId, privateIp: '10.0.1.11' });
  assert.match(generated.networkInterfaceId, /^eni-[0-9a-f]{17}$/);
  assert.notEqual(generated.mac, node.mac);
  assert.equal(code(() => cloud.createRouteTable({ vpcId, routeTableId: 'rtb-0123456789abcdef0' })), 'InvalidParameterValue');
  assert.equal(code(() => cloud.createRouteTable({ vpcId, routeTableId: 'table-1' })), 'InvalidRouteTableID.Malformed');
  assert.equal(code(() => cloud.createInstance({ subnetId, privateIp: '10.0.1.12', mac: 'zz' })), 'InvalidParameterValue');
  assert.equal(code(() => cloud.createInstance({ subnetId, privateIp: '10.0.1.12', networkInterfaceId: 'eni-0123456789abcdef0' })), 'InvalidParameterValue');
  assert.equal(Object.keys(cloud.view().instances).length, 1); // nothing half-made
});

void test('snapshot and restore round-trip the world', () => {
  const { cloud, ids, vip } = buildExampleCloud();
  const { allocationId } = cloud.allocateAddress();
  cloud.associateAddress({ allocationId, target: { networkInterfaceId: ids.lb1Eni } });
  const json = cloud.snapshot();
  const copy = new LabCloud({ region: 'eu-west-1' });
  copy.restore(json);
  assert.deepEqual(copy.view(), cloud.view());
  // Ids keep counting after a restore: new resources do not collide.
  const { routeTableId } = copy.createRouteTable({ vpcId: ids.vpc });
  assert.equal(cloud.view().routeTables[routeTableId], undefined);
  copy.replaceRoute({ routeTableId: ids.routeTableA, destinationCidrBlock: vip, target: { networkInterfaceId: ids.lb2Eni } });
  assert.deepEqual(cloud.view().routeTables[ids.routeTableA]?.routes[1]?.target, { kind: 'eni', networkInterfaceId: ids.lb1Eni });
  assert.throws(() => new LabCloud({ region: 'us-east-1' }).restore(json), /snapshot is for region eu-west-1, not us-east-1/);
});

void test('instance identities for IMDS, and role credentials that the model recognises', () => {
  let now = 1_000_000;
  const { cloud, ids } = buildExampleCloud({ clock: () => now });
  cloud.putRolePolicy('lb-node', { Statement: [] });
  assert.equal(cloud.instanceIdByPrivateIp('10.0.1.21'), ids.multi);
  const identity = cloud.instanceIdentity(ids.multi);
  assert.deepEqual(identity.interfaces.map((i) => [i.networkInterfaceId, i.deviceIndex]), [[ids.multiEni0, 0], [ids.multiEni1, 1]]);
  assert.equal(identity.credentials, null);
  const lb = cloud.instanceIdentity(ids.lb1);
  const creds = lb.credentials!();
  assert.equal(lb.credentials!().accessKeyId, creds.accessKeyId); // reused while fresh
  assert.equal(cloud.findRoleCredential(creds.accessKeyId)?.principal, 'role/lb-node');
  now += 6 * 3600_000;
  assert.equal(cloud.findRoleCredential(creds.accessKeyId), undefined);
  assert.notEqual(lb.credentials!().accessKeyId, creds.accessKeyId);
});

void test('policy evaluation: wildcards, the ec2:Vpc condition and explicit deny', () => {
  const vpcA = 'arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-a';
  const policy: PolicyDocument = {
    Statement: [
      { Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' },
      { Effect: 'Allow', Action: ['ec2:ReplaceRoute'], Resource: 'arn:aws:ec2:eu-west-1:123456789012:route-table/*', Condition: { StringEquals: { 'ec2:Vpc': vpcA } } },
      { Effect: 'Deny', Action: 'ec2:*', Resource: 'arn:aws:ec2:*:*:route-table/rtb-locked' },
    ],
  };
  const rtb = (id: string, vpc: string | null) => ({ arn: `arn:aws:ec2:eu-west-1:123456789012:route-table/${id}`, conditions: vpc === null ? {} : { 'ec2:vpc': vpc } });
  assert.equal(isAllowed(policy, 'ec2:DescribeRouteTables', []), true);
  assert.equal(isAllowed(policy, 'EC2:describeinstances', []), true);
  assert.equal(isAllowed(policy, 'ec2:ReplaceRoute', [rtb('rtb-1', vpcA)]), true);
  assert.equal(isAllowed(policy, 'ec2:ReplaceRoute', [rtb('rtb-1', 'arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-b')]), false);
  assert.equal(isAllowed(policy, 'ec2:ReplaceRoute', [rtb('rtb-1', null)]), false);
  assert.equal(isAllowed(policy, 'ec2:ReplaceRoute', [rtb('rtb-locked', vpcA)]), false);
  assert.equal(isAllowed(policy, 'ec2:DeleteRoute', [rtb('rtb-1', vpcA)]), false);
  assert.equal(isAllowed(policy, 'ec2:ReplaceRoute', []), false); // '*' is not a route-table ARN
  assert.equal(wildcardMatch('arn:aws:ec2:*:route-table/rtb-?', 'arn:aws:ec2:x:route-table/rtb-1', { ignoreCase: false }), true);
  assert.equal(wildcardMatch('a.b', 'axb', { ignoreCase: false }), false);
});

void test('policy evaluation: ForAllValues:StringEquals on the multi-valued aws:TagKeys', () => {
  const policy: PolicyDocument = {
    Statement: [{ Effect: 'Allow', Action: 'ec2:CreateTags', Resource: '*', Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['a', 'b'] } } }],
  };
  const tags = (keys: readonly string[] | undefined) => ({ arn: 'arn:aws:ec2:eu-west-1:123456789012:network-interface/eni-1', conditions: keys === undefined ? {} : { 'aws:tagkeys': keys } });
  assert.equal(isAllowed(policy, 'ec2:CreateTags', [tags(['a'])]), true);
  assert.equal(isAllowed(policy, 'ec2:CreateTags', [tags(['a', 'b'])]), true);
  assert.equal(isAllowed(policy, 'ec2:CreateTags', [tags(['a', 'c'])]), false);
  // IAM: a request without the key satisfies ForAllValues (why the LB policy also scopes by VPC).
  assert.equal(isAllowed(policy, 'ec2:CreateTags', [tags(undefined)]), true);
  // A single-valued operator never matches a multi-valued key.
  const single: PolicyDocument = { Statement: [{ Effect: 'Allow', Action: 'ec2:CreateTags', Resource: '*', Condition: { StringEquals: { 'aws:TagKeys': 'a' } } }] };
  assert.equal(isAllowed(single, 'ec2:CreateTags', [tags(['a'])]), false);
});

void test('docs/install.md prints the LB nodes\' policy the lab enforces', async () => {
  const doc = await readFile(new URL('../../../docs/install.md', import.meta.url), 'utf8');
  const json = /```json\n([\s\S]*?)\n```/.exec(doc)?.[1];
  assert.ok(json, 'no json block in docs/install.md');
  const placeholders = (type: string, id: string): string => (type === 'vpc' ? 'VPC_ARN' : `arn:aws:ec2:REGION:ACCOUNT:${type}/${id}`);
  const { specKey, packageKey } = releaseKeys('PREFIX');
  assert.deepEqual(JSON.parse(json), lbNodePolicy({ arn: placeholders, vpcId: 'VPC_ID', eipAllocationId: null, release: { bucket: 'BUCKET', keys: [specKey, packageKey], rollout: { pointers: desiredKey('PREFIX', '*'), statuses: statusKey('PREFIX', '*') } } }));
});

void test('query parameters: lists, structures and filters in index order', () => {
  const params = QueryParams.parse('Action=X&RouteTableId.2=b&RouteTableId.10=c&RouteTableId.1=a&Filter.2.Name=tag%3AName&Filter.2.Value.1=x+y&Filter.1.Name=vpc-id&Filter.1.Value.2=v2&Filter.1.Value.1=v1');
  assert.deepEqual(params.list('RouteTableId'), ['a', 'b', 'c']);
  assert.deepEqual(params.filters(), [{ name: 'vpc-id', values: ['v1', 'v2'] }, { name: 'tag:Name', values: ['x y'] }]);
  assert.throws(() => params.require('DestinationCidrBlock'), /The request must contain the parameter destinationCidrBlock/);
});
