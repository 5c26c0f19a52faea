// Bad props and bad specs stop the synth with CONSTRUCT_PROPS naming the construct, the prop, the
// value and the fix (docs/errors.md); never a stack trace of ours, never a half-made template.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { App, Stack, aws_ec2 as ec2 } from 'aws-cdk-lib';
import { UserError } from '../../src/util/errors.js';
import { EXAMPLE_VPC } from '../../examples/cdk/stack.js';
import { OverlayLb } from '../src/index.js';
import { FIXTURE_PACKAGE, FIXTURE_SPEC, newApp, synthWith } from './synth.js';

const dir = mkdtempSync(join(tmpdir(), 'olb-cdk-errors-'));
const specText = readFileSync(FIXTURE_SPEC, 'utf8');
/** A spec file edited from the fixture. */
function specFile(name: string, edit: (text: string) => string): string {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, edit(specText));
  return file;
}

function refused(make: () => unknown, message: RegExp): void {
  assert.throws(make, (err: unknown) => {
    assert.ok(err instanceof UserError, `a UserError, not ${String(err)}`);
    assert.equal(err.code, 'CONSTRUCT_PROPS');
    assert.match(err.message, message);
    return true;
  });
}

void test('the spec: unreadable, invalid (every diagnostic at file:line:col), or without what the construct needs', () => {
  refused(() => synthWith({ spec: { file: join(dir, 'missing.yaml') } }), new RegExp(`^OverlayLb Test/Lb: spec.file ".*missing.yaml" cannot be read \\(ENOENT\\); give the path of the spec file, relative to the directory cdk synth runs in`));
  const bad = specFile('bad', (t) => t.replace('vip: 192.168.100.10', 'vip: 10.0.5.5').replace('virtualRouterId: 51', 'virtualRouterId: 999'));
  refused(() => synthWith({ spec: { file: bad } }), /^OverlayLb Test\/Lb: spec ".*bad.yaml" is invalid \(2 errors\):\n.*bad.yaml:8:8: cluster.vip: VIP 10.0.5.5 lies inside VPC CIDR 10.0.0.0\/16 .*\n.*bad.yaml:15:22: cluster.vrrp.virtualRouterId: 999 is out of range; allowed 1..255; fix the spec \(overlay-lb validate prints the same diagnostics; docs\/spec.md\)$/);
  const noProvision = specFile('no-provision', (t) => t.slice(0, t.indexOf('provision:')));
  refused(() => synthWith({ spec: { file: noProvision } }), /^OverlayLb Test\/Lb: spec ".*no-provision.yaml" has no provision section; add one with imageId, clients and bucket \(docs\/spec.md, "provision"\)/);
  refused(() => synthWith({ spec: { text: specText.replace('failover: route', 'failover: eip\n    eipAllocationId: eipalloc-0123456789abcdef0').replace('{ address: vip, port: 80 }', '{ address: node, port: 80 }') } }), /^OverlayLb Test\/Lb: spec "<spec text>" has cluster.cloud.failover: eip; the construct declares the VIP routes of failover mode route/);
});

void test('the VPC: another id than the spec\'s, or one unknown at synth', () => {
  refused(() => synthWith({ vpc: ec2.Vpc.fromVpcAttributes(new Stack(newApp(), 'Other'), 'Vpc', { ...EXAMPLE_VPC, vpcId: 'vpc-0aaaaaaaaaaaaaaaa' }) }),
    /^OverlayLb Test\/Lb: vpc "vpc-0aaaaaaaaaaaaaaaa" is not the spec's cluster.cloud.vpcId vpc-0de30000000000001; give the spec's VPC, or change cluster.cloud.vpcId$/);
  const app = new App();
  const stack = new Stack(app, 'New');
  // (A Vpc is an IVpc; exactOptionalPropertyTypes sees its optional vpnGatewayId differently.)
  const created = new ec2.Vpc(stack, 'Vpc') as unknown as ec2.IVpc;
  refused(() => new OverlayLb(stack, 'Lb', { vpc: created, spec: { file: FIXTURE_SPEC }, packageFile: FIXTURE_PACKAGE }), /^OverlayLb New\/Lb: vpc "a VPC created in this app" has no id at synth.*import it with ec2.Vpc.fromVpcAttributes/);
});

void test('node subnets: another zone, an unknown node, no subnet holding the address', () => {
  const stack = new Stack(newApp(), 'S');
  const vpc = ec2.Vpc.fromVpcAttributes(stack, 'Vpc', EXAMPLE_VPC);
  const subnetB = vpc.privateSubnets[1]!;
  refused(() => synthWith({ nodeSubnets: { 'lb-a': subnetB } }), /^OverlayLb Test\/Lb: nodeSubnets.lb-a "subnet-aa9cc7000dca0fc79" is in zone az-b, node lb-a in az-a; give a subnet of zone az-a/);
  refused(() => synthWith({ nodeSubnets: { 'lb-c': subnetB } }), /^OverlayLb Test\/Lb: nodeSubnets.lb-c "subnet-aa9cc7000dca0fc79" names no node of the spec \(its nodes: lb-a, lb-b\)/);
  const backendA = vpc.privateSubnets[2]!;
  refused(() => synthWith({ nodeSubnets: { 'lb-a': backendA } }), /^OverlayLb Test\/Lb: nodeSubnets.lb-a "subnet-f6b0d82f933cb87c0" \(10.0.11.0\/24\) does not hold the node's address 10.0.1.10/);
  const moved = specFile('moved', (t) => t.replace('address: 10.0.1.10', 'address: 10.0.3.10'));
  refused(() => synthWith({ spec: { file: moved } }), /^OverlayLb Test\/Lb: vpc "vpc-0de30000000000001" has no subnet for every node: node lb-a \(10.0.3.10, zone az-a\): no subnet of vpc-0de30000000000001 in zone az-a holds 10.0.3.10 .*; or place the node with the nodeSubnets prop$/);
  // A subnet given for a node places it (and only it) there.
  const placed = synthWith({ spec: { file: moved }, nodeSubnets: { 'lb-a': EXAMPLE_SUBNET_HOLDING('10.0.3.0/24') } });
  assert.equal(placed.instances.size, 2);
});

void test('route tables, package, instance type and region', () => {
  refused(() => synthWith({ routeTableIds: [] }), /^OverlayLb Test\/Lb: routeTableIds "\[\]" is empty/);
  refused(() => synthWith({ spec: { text: specText.replace('routeTables: { discover: all }', 'routeTables: { tags: { overlay-lb: owned } }') } }), /^OverlayLb Test\/Lb: routeTableIds "undefined" is needed: the spec selects route tables by tags/);
  const byTags = synthWith({ spec: { text: specText.replace('routeTables: { discover: all }', 'routeTables: { tags: { overlay-lb: owned } }') }, routeTableIds: ['rtb-0123456789abcdef0'] });
  assert.deepEqual([...byTags.routes.keys()], ['rtb-0123456789abcdef0']);
  refused(() => synthWith({ packageFile: join(dir, 'nothing.deb') }), /^OverlayLb Test\/Lb: packageFile ".*nothing.deb" is not a file; give the Debian package built by scripts\/build-deb.sh/);
  refused(() => synthWith({ instanceType: 't3.small; reboot' }), /^OverlayLb Test\/Lb: instanceType "t3.small; reboot" is not an EC2 instance type; give one such as t3.small$/);
  refused(() => synthWith({}, { region: 'eu-west-1' }), /^OverlayLb Test\/Lb: stack region "eu-west-1" is not the spec's cluster.cloud.region us-east-1; deploy the stack in the spec's region/);
  assert.equal(synthWith({ instanceType: 'c7g.large' }).spec.provision?.instanceType, 't3.small', 'the spec stays as written; the prop sets the launch');
});

/** A subnet of zone az-a with `cidr`, imported on its own (as a team's own subnet would be). */
function EXAMPLE_SUBNET_HOLDING(cidr: string): ec2.ISubnet {
  return ec2.Subnet.fromSubnetAttributes(new Stack(newApp(), 'Own'), 'Subnet', { subnetId: 'subnet-0fedcba9876543210', availabilityZone: 'az-a', ipv4CidrBlock: cidr, routeTableId: 'rtb-0fedcba9876543210' });
}
