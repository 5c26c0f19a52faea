// The lab's virtual private gateways (CreateVpnGateway, AttachVpnGateway, DetachVpnGateway,
// DeleteVpnGateway, DescribeVpnGateways, and routes to them) through the real AWS SDK and Debian's
// aws CLI v2. The kernel side (the router drops what a route sends to the gateway) is in
// test/provision/doctor-lab.test.ts, where doctor names such a route.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  AttachVpnGatewayCommand, CreateRouteCommand, CreateVpnGatewayCommand, DeleteVpnGatewayCommand, DescribeRouteTablesCommand, DescribeTagsCommand,
  DescribeVpnGatewaysCommand, DetachVpnGatewayCommand, ReplaceRouteCommand,
} from '@aws-sdk/client-ec2';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startExampleEc2 } from '../helpers/example-ec2.js';
import { awsCli, awsCliSkip } from '../helpers/aws-cli.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
/** May describe, and create and attach gateways, nothing else. */
const LIMITED: LabCredential = {
  accessKeyId: 'AKIALABLIMITED00001', secretAccessKey: 'limited-secret', principal: 'limited',
  policy: { Statement: [{ Effect: 'Allow', Action: ['ec2:Describe*', 'ec2:CreateVpnGateway', 'ec2:AttachVpnGateway'], Resource: '*' }] },
};

const start = (t: TestContext): ReturnType<typeof startExampleEc2> => startExampleEc2(t, { region: REGION, admin: ADMIN, limited: LIMITED });

/** The error an SDK call fails with: its code and message. */
async function failure(p: Promise<unknown>): Promise<{ name: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return { name: (err as Error).name, message: (err as Error).message };
  }
  assert.fail('the call succeeded');
}

void test('SDK: create, attach, route, describe with filters, detach (the route turns blackhole), delete', async (t) => {
  const { lab, ec2 } = await start(t);
  const created = await ec2.send(new CreateVpnGatewayCommand({ Type: 'ipsec.1', AmazonSideAsn: 65010, TagSpecifications: [{ ResourceType: 'vpn-gateway', Tags: [{ Key: 'Name', Value: 'onprem' }] }] }));
  const id = created.VpnGateway?.VpnGatewayId ?? '';
  assert.match(id, /^vgw-[0-9a-f]{17}$/);
  assert.deepEqual(created.VpnGateway, { VpnGatewayId: id, State: 'available', Type: 'ipsec.1', VpcAttachments: [], AmazonSideAsn: 65010, Tags: [{ Key: 'Name', Value: 'onprem' }] });
  const attached = await ec2.send(new AttachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.vpc }));
  assert.deepEqual(attached.VpcAttachment, { VpcId: lab.ids.vpc, State: 'attaching' });

  await ec2.send(new CreateRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: '172.16.0.0/12', GatewayId: id }));
  const routes = async (): Promise<unknown> => (await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [lab.ids.routeTableA] }))).RouteTables?.[0]?.Routes?.find((r) => r.DestinationCidrBlock === '172.16.0.0/12');
  assert.deepEqual(await routes(), { DestinationCidrBlock: '172.16.0.0/12', GatewayId: id, Origin: 'CreateRoute', State: 'active' });
  const byGateway = await ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'route.gateway-id', Values: [id] }] }));
  assert.deepEqual(byGateway.RouteTables?.map((r) => r.RouteTableId), [lab.ids.routeTableA]);

  const describe = async (filters: { Name: string; Values: string[] }[]): Promise<(string | undefined)[]> =>
    ((await ec2.send(new DescribeVpnGatewaysCommand({ Filters: filters }))).VpnGateways ?? []).map((g) => g.VpnGatewayId);
  const other = (await ec2.send(new CreateVpnGatewayCommand({ Type: 'ipsec.1' }))).VpnGateway!;
  assert.equal(other.AmazonSideAsn, 64512);
  assert.deepEqual(await describe([]), [id, other.VpnGatewayId]);
  assert.deepEqual(await describe([{ Name: 'attachment.vpc-id', Values: [lab.ids.vpc] }]), [id]);
  assert.deepEqual(await describe([{ Name: 'attachment.state', Values: ['attached'] }]), [id]);
  assert.deepEqual(await describe([{ Name: 'tag:Name', Values: ['onprem'] }]), [id]);
  assert.deepEqual(await describe([{ Name: 'amazon-side-asn', Values: ['64512'] }]), [other.VpnGatewayId]);
  const one = await ec2.send(new DescribeVpnGatewaysCommand({ VpnGatewayIds: [id] }));
  assert.deepEqual(one.VpnGateways?.[0]?.VpcAttachments, [{ VpcId: lab.ids.vpc, State: 'attached' }]);
  const tags = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['vpn-gateway'] }] }));
  assert.deepEqual(tags.Tags, [{ ResourceId: id, ResourceType: 'vpn-gateway', Key: 'Name', Value: 'onprem' }]);

  await ec2.send(new DetachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.vpc }));
  assert.deepEqual(await routes(), { DestinationCidrBlock: '172.16.0.0/12', GatewayId: id, Origin: 'CreateRoute', State: 'blackhole' });
  assert.deepEqual(await describe([{ Name: 'attachment.vpc-id', Values: [lab.ids.vpc] }]), []);
  await ec2.send(new DeleteVpnGatewayCommand({ VpnGatewayId: id }));
  assert.deepEqual(await describe([]), [other.VpnGatewayId]);
  assert.deepEqual(await routes(), { DestinationCidrBlock: '172.16.0.0/12', GatewayId: id, Origin: 'CreateRoute', State: 'blackhole' });
});

void test('SDK: the errors EC2 answers for gateways and routes to them', async (t) => {
  const { lab, ec2, limited } = await start(t);
  const id = (await ec2.send(new CreateVpnGatewayCommand({ Type: 'ipsec.1' }))).VpnGateway!.VpnGatewayId!;
  const second = (await ec2.send(new CreateVpnGatewayCommand({ Type: 'ipsec.1' }))).VpnGateway!.VpnGatewayId!;
  assert.deepEqual(await failure(ec2.send(new CreateVpnGatewayCommand({ Type: 'ipsec.2' as 'ipsec.1' }))), { name: 'InvalidParameterValue', message: 'Value (ipsec.2) for parameter type is invalid. Allowed: ipsec.1.' });
  assert.equal((await failure(ec2.send(new CreateVpnGatewayCommand({ Type: 'ipsec.1', AmazonSideAsn: 65535 })))).name, 'InvalidParameterValue');
  assert.deepEqual(await failure(ec2.send(new DescribeVpnGatewaysCommand({ VpnGatewayIds: ['vgw-0000000000000dead'] }))), { name: 'InvalidVpnGatewayID.NotFound', message: "The vpnGateway ID 'vgw-0000000000000dead' does not exist" });
  assert.equal((await failure(ec2.send(new DescribeVpnGatewaysCommand({ VpnGatewayIds: ['vgw-x'] })))).name, 'InvalidVpnGatewayID.Malformed');
  // A route to a detached gateway, and to one attached to another VPC.
  assert.deepEqual(await failure(ec2.send(new CreateRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: '172.16.0.0/12', GatewayId: id }))),
    { name: 'Gateway.NotAttached', message: `resource ${id} is not attached to any VPC` });
  await ec2.send(new AttachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.otherVpc }));
  assert.deepEqual(await failure(ec2.send(new CreateRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: '172.16.0.0/12', GatewayId: id }))),
    { name: 'InvalidParameterValue', message: `route table ${lab.ids.routeTableA} and network gateway ${id} belong to different networks` });
  // One gateway per VPC, one VPC per gateway.
  assert.equal((await failure(ec2.send(new AttachVpnGatewayCommand({ VpnGatewayId: second, VpcId: lab.ids.otherVpc })))).name, 'VpnGatewayAttachmentLimitExceeded');
  assert.equal((await failure(ec2.send(new AttachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.vpc })))).name, 'IncorrectState');
  assert.equal((await failure(ec2.send(new DeleteVpnGatewayCommand({ VpnGatewayId: id })))).name, 'IncorrectState');
  assert.deepEqual(await failure(ec2.send(new DetachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.vpc }))),
    { name: 'InvalidVpnGatewayAttachment.NotFound', message: `The attachment with vpn gateway ID '${id}' and vpc ID '${lab.ids.vpc}' does not exist` });
  // The policy: the limited caller may attach, not detach or route; DryRun says which.
  await ec2.send(new DetachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.otherVpc }));
  assert.equal((await failure(limited.send(new AttachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.vpc, DryRun: true })))).name, 'DryRunOperation');
  await limited.send(new AttachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.vpc }));
  assert.equal((await failure(limited.send(new DetachVpnGatewayCommand({ VpnGatewayId: id, VpcId: lab.ids.vpc })))).name, 'UnauthorizedOperation');
  assert.equal((await failure(limited.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, GatewayId: id })))).name, 'UnauthorizedOperation');
  // ReplaceRoute may point the VIP's route at the gateway (the admin can), and the table shows it.
  await ec2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, GatewayId: id }));
  assert.deepEqual(lab.cloud.view().routeTables[lab.ids.routeTableA]?.routes.find((r) => r.destinationCidrBlock === lab.vip)?.target, { kind: 'gateway', gatewayId: id });
});

void test('aws CLI: an operator adds a VPN gateway and a route to it, then removes both', { skip: awsCliSkip }, async (t) => {
  const { lab, url } = await start(t);
  const cli = await awsCli({ region: REGION, creds: { key: ADMIN.accessKeyId, secret: ADMIN.secretAccessKey } });
  t.after(() => cli.close());
  const aws = async (args: readonly string[]): Promise<string> => {
    const r = await cli.run([...args, '--endpoint-url', url, '--output', 'text']);
    assert.equal(r.code, 0, `aws ${args.join(' ')}: ${r.stderr}`);
    return r.stdout.trim();
  };
  assert.match(await aws(['--version']), /^aws-cli\/2\./);
  const id = await aws(['ec2', 'create-vpn-gateway', '--type', 'ipsec.1', '--amazon-side-asn', '4200000001', '--tag-specifications', 'ResourceType=vpn-gateway,Tags=[{Key=Name,Value=dc1}]', '--query', 'VpnGateway.VpnGatewayId']);
  assert.match(id, /^vgw-[0-9a-f]{17}$/);
  assert.equal(await aws(['ec2', 'attach-vpn-gateway', '--vpn-gateway-id', id, '--vpc-id', lab.ids.vpc, '--query', 'VpcAttachment.State']), 'attaching');
  assert.equal(await aws(['ec2', 'describe-vpn-gateways', '--vpn-gateway-ids', id, '--query', 'VpnGateways[0].[State,AmazonSideAsn,VpcAttachments[0].State,Tags[0].Value]']), 'available\t4200000001\tattached\tdc1');
  await aws(['ec2', 'create-route', '--route-table-id', lab.ids.routeTableB, '--destination-cidr-block', '10.200.0.0/16', '--gateway-id', id]);
  assert.equal(await aws(['ec2', 'describe-route-tables', '--route-table-ids', lab.ids.routeTableB, '--query', "RouteTables[0].Routes[?DestinationCidrBlock=='10.200.0.0/16'].[GatewayId,State]"]), `${id}\tactive`);
  const inUse = await cli.run(['ec2', 'delete-vpn-gateway', '--vpn-gateway-id', id, '--endpoint-url', url]);
  assert.equal(inUse.code, 254);
  assert.match(inUse.stderr, /An error occurred \(IncorrectState\) when calling the DeleteVpnGateway operation(?: \(reached max retries: 0\))?: The vpn gateway vgw-[0-9a-f]+ is attached to vpc-[0-9a-f]+: detach it first/);
  await aws(['ec2', 'delete-route', '--route-table-id', lab.ids.routeTableB, '--destination-cidr-block', '10.200.0.0/16']);
  await aws(['ec2', 'detach-vpn-gateway', '--vpn-gateway-id', id, '--vpc-id', lab.ids.vpc]);
  await aws(['ec2', 'delete-vpn-gateway', '--vpn-gateway-id', id]);
  assert.equal(await aws(['ec2', 'describe-vpn-gateways', '--query', 'length(VpnGateways)']), '0');
  assert.equal(Object.keys(lab.cloud.view().vpnGateways).length, 0);
});
