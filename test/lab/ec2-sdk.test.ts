// The lab's EC2 API driven by the real AWS SDK for JavaScript v3.
import assert from 'node:assert/strict';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';
import { test, type TestContext } from 'node:test';
import {
  AllocateAddressCommand, AssociateAddressCommand, CreateRouteCommand, CreateTagsCommand, DeleteRouteCommand,
  DescribeAddressesCommand, DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeRouteTablesCommand,
  DescribeSubnetsCommand, DescribeTagsCommand, DescribeVpcsCommand, DisassociateAddressCommand, EC2Client,
  ModifyInstanceAttributeCommand, ModifyNetworkInterfaceAttributeCommand, ReplaceRouteCommand, paginateDescribeRouteTables,
  type Filter,
} from '@aws-sdk/client-ec2';
import { SignatureV4 } from '@smithy/signature-v4';
import { NodeSha256 } from '../helpers/node-sha256.js';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential, type PolicyDocument } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { lbNodePolicy } from '../../src/lab/controller.js';
import type { LabCloudEvent } from '../../src/lab/ec2/state.js';

const REGION = 'eu-west-1';

const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };

/** The policy the LB nodes' role gets (docs/install.md), for the example cloud's VPC. */
function nodePolicy(lab: ExampleCloud): PolicyDocument {
  return lbNodePolicy({ arn: (type, id) => lab.cloud.arn(type, id), vpcId: lab.ids.vpc, eipAllocationId: null });
}

async function start(t: TestContext): Promise<{ lab: ExampleCloud; url: string; client: (c?: Partial<LabCredential> & { sessionToken?: string }) => EC2Client; events: LabCloudEvent[] }> {
  const lab = buildExampleCloud({ region: REGION });
  const events: LabCloudEvent[] = [];
  lab.cloud.on((e) => events.push(e));
  const controller = new AbortController();
  const limited: LabCredential = {
    accessKeyId: 'AKIALABLIMITED00001', secretAccessKey: 'limited-secret', principal: 'limited',
    policy: nodePolicy(lab),
  };
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN, limited] });
  const clients: EC2Client[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    controller.abort();
    await api.close();
  });
  return {
    lab, url: api.url, events,
    client: (c = {}) => {
      const client = new EC2Client({
        region: REGION, endpoint: api.url, maxAttempts: 1,
        credentials: {
          accessKeyId: c.accessKeyId ?? ADMIN.accessKeyId, secretAccessKey: c.secretAccessKey ?? ADMIN.secretAccessKey,
          ...(c.sessionToken === undefined ? {} : { sessionToken: c.sessionToken }),
        },
      });
      clients.push(client);
      return client;
    },
  };
}

void test('ReplaceRoute moves the VIP route and DescribeRouteTables shows it with origin, state and the local route', async (t) => {
  const { lab, client, events } = await start(t);
  const ec2 = client();
  await ec2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni }));
  const out = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [lab.ids.routeTableA] }));
  const table = out.RouteTables?.[0];
  assert.equal(table?.RouteTableId, lab.ids.routeTableA);
  assert.equal(table?.VpcId, lab.ids.vpc);
  assert.deepEqual(table?.Routes, [
    { DestinationCidrBlock: '10.0.0.0/16', GatewayId: 'local', Origin: 'CreateRouteTable', State: 'active' },
    { DestinationCidrBlock: lab.vip, InstanceId: lab.ids.lb2, InstanceOwnerId: '123456789012', NetworkInterfaceId: lab.ids.lb2Eni, Origin: 'CreateRoute', State: 'active' },
  ]);
  assert.equal(table?.Associations?.[0]?.SubnetId, lab.ids.subnetA);
  assert.equal(table?.Associations?.[0]?.Main, false);
  assert.equal(table?.Associations?.[0]?.AssociationState?.State, 'associated');
  assert.deepEqual(table?.Tags, [{ Key: 'Name', Value: 'rt-a' }, { Key: 'overlay-lb', Value: 'owned' }]);
  assert.deepEqual(events.at(-1), { type: 'route-changed', routeTableId: lab.ids.routeTableA, destinationCidrBlock: lab.vip, target: { networkInterfaceId: lab.ids.lb2Eni } });
  // The other tables are untouched.
  const b = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [lab.ids.routeTableB] }));
  assert.equal(b.RouteTables?.[0]?.Routes?.[1]?.NetworkInterfaceId, lab.ids.lb1Eni);
});

void test('CreateRoute and DeleteRoute, with RouteAlreadyExists, InvalidRoute.NotFound and ReplaceRoute on a missing route', async (t) => {
  const { lab, client, events } = await start(t);
  const ec2 = client();
  const dest = '192.168.100.20/32';
  await ec2.send(new CreateRouteCommand({ RouteTableId: lab.ids.routeTableB, DestinationCidrBlock: dest, InstanceId: lab.ids.lb2 }));
  await rejectsWith(ec2.send(new CreateRouteCommand({ RouteTableId: lab.ids.routeTableB, DestinationCidrBlock: dest, NetworkInterfaceId: lab.ids.lb1Eni })),
    'RouteAlreadyExists', 400, /The route identified by 192\.168\.100\.20\/32 already exists\./);
  await ec2.send(new DeleteRouteCommand({ RouteTableId: lab.ids.routeTableB, DestinationCidrBlock: dest }));
  assert.deepEqual(events.at(-1), { type: 'route-changed', routeTableId: lab.ids.routeTableB, destinationCidrBlock: dest, target: null });
  await rejectsWith(ec2.send(new DeleteRouteCommand({ RouteTableId: lab.ids.routeTableB, DestinationCidrBlock: dest })),
    'InvalidRoute.NotFound', 400, new RegExp(`no route with destination-cidr-block 192\\.168\\.100\\.20/32 in route table ${lab.ids.routeTableB}`));
  await rejectsWith(ec2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableB, DestinationCidrBlock: dest, NetworkInterfaceId: lab.ids.lb1Eni })),
    'InvalidParameterValue', 400, /There is no route defined for '192\.168\.100\.20\/32' in the route table\. Please use CreateRoute instead\./);
  await rejectsWith(ec2.send(new DeleteRouteCommand({ RouteTableId: lab.ids.routeTableB, DestinationCidrBlock: '10.0.0.0/16' })), 'InvalidParameterValue', 400, /cannot remove local route/);
});

void test('bad ids, a multi-ENI instance target, a bad CIDR, a missing target and an unknown action answer EC2 error codes', async (t) => {
  const { lab, client } = await start(t);
  const ec2 = client();
  await rejectsWith(ec2.send(new ReplaceRouteCommand({ RouteTableId: 'rtb-00000000000000999', DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni })),
    'InvalidRouteTableID.NotFound', 400, /The routeTable ID 'rtb-00000000000000999' does not exist/);
  await rejectsWith(ec2.send(new ReplaceRouteCommand({ RouteTableId: 'route-table-a', DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni })),
    'InvalidRouteTableID.Malformed', 400, /Invalid id: "route-table-a"/);
  await rejectsWith(ec2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: 'eni-00000000000000999' })),
    'InvalidNetworkInterfaceID.NotFound', 400, /The networkInterface ID 'eni-00000000000000999' does not exist/);
  await rejectsWith(ec2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, InstanceId: 'i-00000000000000999' })),
    'InvalidInstanceID.NotFound', 400, /The instance ID 'i-00000000000000999' does not exist/);
  await rejectsWith(ec2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, InstanceId: lab.ids.multi })),
    'InvalidInstanceID', 400, new RegExp(`There are multiple interfaces attached to instance '${lab.ids.multi}'\\. Please specify an interface ID for the operation instead\\.`));
  await rejectsWith(ec2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.otherEni })),
    'InvalidParameterValue', 400, /belong to different networks/);
  await rejectsWith(ec2.send(new CreateRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: '192.168.100.10/24', NetworkInterfaceId: lab.ids.lb2Eni })),
    'InvalidParameterValue', 400, /Value \(192\.168\.100\.10\/24\) for parameter destinationCidrBlock is invalid/);
  await rejectsWith(ec2.send(new CreateRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: '192.168.100.30/32' })), 'MissingParameter', 400);
  await rejectsWith(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-00000000000000999'] })), 'InvalidInstanceID.NotFound', 400);
  await rejectsWith(ec2.send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'no-such-filter', Values: ['x'] }] })), 'InvalidParameterValue', 400, /The filter 'no-such-filter' is invalid/);
  // InstanceId targeting a single-ENI instance resolves to its ENI.
  await ec2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, InstanceId: lab.ids.lb2 }));
  const out = await ec2.send(new DescribeRouteTablesCommand({ RouteTableIds: [lab.ids.routeTableA] }));
  assert.equal(out.RouteTables?.[0]?.Routes?.[1]?.NetworkInterfaceId, lab.ids.lb2Eni);
});

void test('DescribeRouteTables supports every documented filter', async (t) => {
  const { lab, client } = await start(t);
  const ec2 = client();
  const ids = async (filters: Filter[]): Promise<string[]> =>
    ((await ec2.send(new DescribeRouteTablesCommand({ Filters: filters }))).RouteTables ?? []).map((r) => r.RouteTableId!).sort();
  const vpcTables = [lab.ids.mainRouteTable, lab.ids.routeTableA, lab.ids.routeTableB].sort();
  assert.deepEqual(await ids([{ Name: 'vpc-id', Values: [lab.ids.vpc] }]), vpcTables);
  assert.deepEqual(await ids([{ Name: 'route-table-id', Values: [lab.ids.routeTableB, lab.ids.otherRouteTable] }]), [lab.ids.routeTableB, lab.ids.otherRouteTable].sort());
  assert.deepEqual(await ids([{ Name: 'association.subnet-id', Values: [lab.ids.subnetA] }]), [lab.ids.routeTableA]);
  assert.deepEqual(await ids([{ Name: 'association.main', Values: ['true'] }]), [lab.ids.mainRouteTable, lab.ids.otherRouteTable].sort());
  assert.deepEqual(await ids([{ Name: 'route.destination-cidr-block', Values: [lab.vip] }, { Name: 'vpc-id', Values: [lab.ids.vpc] }]), vpcTables);
  assert.deepEqual(await ids([{ Name: 'route.destination-cidr-block', Values: ['10.1.0.0/16'] }]), [lab.ids.otherRouteTable]);
  assert.deepEqual(await ids([{ Name: 'route.network-interface-id', Values: [lab.ids.otherEni] }]), [lab.ids.otherRouteTable]);
  assert.deepEqual(await ids([{ Name: 'tag:overlay-lb', Values: ['owned'] }]), [lab.ids.routeTableA, lab.ids.routeTableB].sort());
  assert.deepEqual(await ids([{ Name: 'tag:Name', Values: ['rt-*'] }]), [lab.ids.routeTableA, lab.ids.routeTableB].sort());
  assert.deepEqual(await ids([{ Name: 'tag-key', Values: ['overlay-lb'] }]), [lab.ids.routeTableA, lab.ids.routeTableB].sort());
  assert.deepEqual(await ids([{ Name: 'tag:overlay-lb', Values: ['other'] }]), []);
});

void test('DescribeRouteTables paginates with MaxResults and NextToken, and the SDK paginator walks every page', async (t) => {
  const { lab, client } = await start(t);
  const ec2 = client();
  for (let i = 0; i < 8; i += 1) lab.cloud.createRouteTable({ vpcId: lab.ids.vpc, tags: { extra: String(i) } });
  const first = await ec2.send(new DescribeRouteTablesCommand({ MaxResults: 5 }));
  assert.equal(first.RouteTables?.length, 5);
  assert.ok(first.NextToken);
  const second = await ec2.send(new DescribeRouteTablesCommand({ MaxResults: 5, NextToken: first.NextToken }));
  assert.equal(second.RouteTables?.length, 5);
  const third = await ec2.send(new DescribeRouteTablesCommand({ MaxResults: 5, NextToken: second.NextToken }));
  assert.equal(third.RouteTables?.length, 2); // 4 + 8 = 12 tables
  assert.equal(third.NextToken, undefined);
  const seen: string[] = [];
  for await (const page of paginateDescribeRouteTables({ client: ec2, pageSize: 5 }, {})) seen.push(...(page.RouteTables ?? []).map((r) => r.RouteTableId!));
  assert.equal(new Set(seen).size, 12);
  await rejectsWith(ec2.send(new DescribeRouteTablesCommand({ MaxResults: 101 })), 'InvalidParameterValue', 400, /between 5 and 100/);
});

void test('DescribeVpcs, DescribeSubnets, DescribeInstances and DescribeNetworkInterfaces answer the shapes and filters clients read', async (t) => {
  const { lab, client } = await start(t);
  const ec2 = client();
  const vpcs = await ec2.send(new DescribeVpcsCommand({ Filters: [{ Name: 'tag:Name', Values: ['lab'] }] }));
  assert.deepEqual(vpcs.Vpcs?.map((v) => [v.VpcId, v.CidrBlock, v.State, v.IsDefault]), [[lab.ids.vpc, '10.0.0.0/16', 'available', false]]);
  const subnets = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [lab.ids.vpc] }, { Name: 'availability-zone', Values: ['eu-west-1b'] }] }));
  assert.deepEqual(subnets.Subnets?.map((s) => [s.SubnetId, s.CidrBlock, s.AvailabilityZone]), [[lab.ids.subnetB, '10.0.2.0/24', 'eu-west-1b']]);

  const instances = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:Name', Values: ['lb*'] }] }));
  const all = instances.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
  assert.deepEqual(all.map((i) => i.InstanceId), [lab.ids.lb1, lab.ids.lb2]);
  const lb1 = all[0]!;
  assert.equal(lb1.PrivateIpAddress, '10.0.1.10');
  assert.equal(lb1.Placement?.AvailabilityZone, 'eu-west-1a');
  assert.equal(lb1.State?.Name, 'running');
  assert.equal(lb1.SourceDestCheck, true);
  assert.equal(lb1.SubnetId, lab.ids.subnetA);
  assert.equal(lb1.IamInstanceProfile?.Arn, 'arn:aws:iam::123456789012:instance-profile/lb-node');
  assert.equal(lb1.NetworkInterfaces?.[0]?.NetworkInterfaceId, lab.ids.lb1Eni);
  assert.match(lb1.NetworkInterfaces?.[0]?.MacAddress ?? '', /^02:00:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$/);
  assert.equal(lb1.NetworkInterfaces?.[0]?.Attachment?.DeviceIndex, 0);
  const byEni = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'network-interface.network-interface-id', Values: [lab.ids.multiEni1] }] }));
  assert.deepEqual(byEni.Reservations?.flatMap((r) => r.Instances?.map((i) => i.NetworkInterfaces?.length) ?? []), [2]);
  const byIp = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'private-ip-address', Values: ['10.0.2.10'] }] }));
  assert.deepEqual(byIp.Reservations?.map((r) => r.Instances?.[0]?.InstanceId), [lab.ids.lb2]);

  const enis = await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [lab.ids.multi] }] }));
  assert.deepEqual(enis.NetworkInterfaces?.map((e) => [e.NetworkInterfaceId, e.PrivateIpAddress, e.Status, e.Attachment?.InstanceId, e.AvailabilityZone]), [
    [lab.ids.multiEni0, '10.0.1.20', 'in-use', lab.ids.multi, 'eu-west-1a'],
    [lab.ids.multiEni1, '10.0.1.21', 'in-use', lab.ids.multi, 'eu-west-1a'],
  ]);
  const byId = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [lab.ids.lb2Eni] }));
  assert.equal(byId.NetworkInterfaces?.[0]?.SubnetId, lab.ids.subnetB);
});

void test('ModifyInstanceAttribute and ModifyNetworkInterfaceAttribute set source/dest check and emit events', async (t) => {
  const { lab, client, events } = await start(t);
  const ec2 = client();
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: lab.ids.lb1, SourceDestCheck: { Value: false } }));
  assert.deepEqual(events.at(-1), { type: 'source-dest-check', networkInterfaceId: lab.ids.lb1Eni, enabled: false });
  await ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lab.ids.lb2Eni, SourceDestCheck: { Value: false } }));
  const out = await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'source-dest-check', Values: ['false'] }] }));
  assert.deepEqual(out.NetworkInterfaces?.map((e) => e.NetworkInterfaceId), [lab.ids.lb1Eni, lab.ids.lb2Eni]);
  const inst = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [lab.ids.lb1] }));
  assert.equal(inst.Reservations?.[0]?.Instances?.[0]?.SourceDestCheck, false);
});

void test('Elastic IPs: allocate, associate, Resource.AlreadyAssociated without AllowReassociation, reassociate, disassociate', async (t) => {
  const { lab, client, events } = await start(t);
  const ec2 = client();
  const eip = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  assert.equal(eip.PublicIp, '198.51.100.10');
  assert.match(eip.AllocationId ?? '', /^eipalloc-[0-9a-f]{17}$/);
  const first = await ec2.send(new AssociateAddressCommand({ AllocationId: eip.AllocationId, NetworkInterfaceId: lab.ids.lb1Eni }));
  assert.match(first.AssociationId ?? '', /^eipassoc-/);
  assert.deepEqual(events.at(-1), { type: 'address-associated', allocationId: eip.AllocationId, publicIp: '198.51.100.10', networkInterfaceId: lab.ids.lb1Eni, privateIp: '10.0.1.10' });
  await rejectsWith(ec2.send(new AssociateAddressCommand({ AllocationId: eip.AllocationId, NetworkInterfaceId: lab.ids.lb2Eni })), 'Resource.AlreadyAssociated', 400);
  const second = await ec2.send(new AssociateAddressCommand({ AllocationId: eip.AllocationId, InstanceId: lab.ids.lb2, AllowReassociation: true }));
  const described = await ec2.send(new DescribeAddressesCommand({ AllocationIds: [eip.AllocationId!] }));
  assert.deepEqual(described.Addresses?.map((a) => [a.PublicIp, a.AssociationId, a.InstanceId, a.NetworkInterfaceId, a.PrivateIpAddress, a.Domain]), [
    ['198.51.100.10', second.AssociationId, lab.ids.lb2, lab.ids.lb2Eni, '10.0.2.10', 'vpc'],
  ]);
  const filtered = await ec2.send(new DescribeAddressesCommand({ Filters: [{ Name: 'network-interface-id', Values: [lab.ids.lb1Eni] }] }));
  assert.deepEqual(filtered.Addresses, []);
  await rejectsWith(ec2.send(new AssociateAddressCommand({ AllocationId: eip.AllocationId, InstanceId: lab.ids.multi, AllowReassociation: true })), 'InvalidInstanceID', 400);
  await ec2.send(new DisassociateAddressCommand({ AssociationId: second.AssociationId }));
  assert.deepEqual(events.at(-1), { type: 'address-disassociated', allocationId: eip.AllocationId, publicIp: '198.51.100.10' });
  await rejectsWith(ec2.send(new AssociateAddressCommand({ AllocationId: 'eipalloc-00000000000000999', NetworkInterfaceId: lab.ids.lb2Eni })), 'InvalidAllocationID.NotFound', 400);
});

void test('CreateTags and DescribeTags with filters and pagination', async (t) => {
  const { lab, client } = await start(t);
  const ec2 = client();
  await ec2.send(new CreateTagsCommand({ Resources: [lab.ids.lb1, lab.ids.lb1Eni], Tags: [{ Key: 'role', Value: 'lb' }, { Key: 'az', Value: 'a' }] }));
  const out = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'key', Values: ['role'] }] }));
  assert.deepEqual(out.Tags?.map((tag) => [tag.ResourceId, tag.ResourceType, tag.Key, tag.Value]), [
    [lab.ids.lb1, 'instance', 'role', 'lb'], [lab.ids.lb1Eni, 'network-interface', 'role', 'lb'],
  ]);
  const byType = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-type', Values: ['instance'] }, { Name: 'resource-id', Values: [lab.ids.lb1] }] }));
  assert.deepEqual(byType.Tags?.map((tag) => tag.Key).sort(), ['Name', 'az', 'role']);
  const page = await ec2.send(new DescribeTagsCommand({ MaxResults: 5 }));
  assert.equal(page.Tags?.length, 5);
  assert.ok(page.NextToken);
  await rejectsWith(ec2.send(new CreateTagsCommand({ Resources: ['i-00000000000000999'], Tags: [{ Key: 'k', Value: 'v' }] })), 'InvalidInstanceID.NotFound', 400);
});

void test('DryRun answers DryRunOperation (412) when allowed and UnauthorizedOperation (403) when not, and changes nothing', async (t) => {
  const { lab, client, events } = await start(t);
  const admin = client();
  const limited = client({ accessKeyId: 'AKIALABLIMITED00001', secretAccessKey: 'limited-secret' });
  const before = events.length;
  await rejectsWith(admin.send(new ReplaceRouteCommand({ DryRun: true, RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni })),
    'DryRunOperation', 412, /Request would have succeeded, but DryRun flag is set\./);
  await rejectsWith(limited.send(new ReplaceRouteCommand({ DryRun: true, RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni })),
    'DryRunOperation', 412);
  await rejectsWith(limited.send(new ReplaceRouteCommand({ DryRun: true, RouteTableId: lab.ids.otherRouteTable, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.otherEni })),
    'UnauthorizedOperation', 403, /You are not authorized to perform this operation\./);
  await rejectsWith(limited.send(new ModifyInstanceAttributeCommand({ DryRun: true, InstanceId: lab.ids.lb1, SourceDestCheck: { Value: false } })), 'UnauthorizedOperation', 403);
  for (const command of [
    new CreateRouteCommand({ DryRun: true, RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: '192.168.100.99/32', NetworkInterfaceId: lab.ids.lb2Eni }),
    new DeleteRouteCommand({ DryRun: true, RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip }),
    new ModifyNetworkInterfaceAttributeCommand({ DryRun: true, NetworkInterfaceId: lab.ids.lb1Eni, SourceDestCheck: { Value: false } }),
    new ModifyInstanceAttributeCommand({ DryRun: true, InstanceId: lab.ids.lb1, SourceDestCheck: { Value: false } }),
    new AllocateAddressCommand({ DryRun: true }),
    new CreateTagsCommand({ DryRun: true, Resources: [lab.ids.lb1], Tags: [{ Key: 'k', Value: 'v' }] }),
    new DescribeRouteTablesCommand({ DryRun: true }),
  ]) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-argument
    await rejectsWith(admin.send(command as any), 'DryRunOperation', 412);
  }
  assert.equal(events.length, before);
  const table = await admin.send(new DescribeRouteTablesCommand({ RouteTableIds: [lab.ids.routeTableA] }));
  assert.equal(table.RouteTables?.[0]?.Routes?.[1]?.NetworkInterfaceId, lab.ids.lb1Eni);
  assert.equal((await admin.send(new DescribeAddressesCommand({}))).Addresses?.length, 0);
});

void test('the LB nodes\' policy: replace routes in its VPC only; the heartbeat tag on its VPC\'s ENIs, and no other tag', async (t) => {
  const { lab, client } = await start(t);
  const limited = client({ accessKeyId: 'AKIALABLIMITED00001', secretAccessKey: 'limited-secret' });
  await limited.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableB, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni }));
  await rejectsWith(limited.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.otherRouteTable, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.otherEni })),
    'UnauthorizedOperation', 403, /You are not authorized to perform this operation\./);
  await rejectsWith(limited.send(new DeleteRouteCommand({ RouteTableId: lab.ids.routeTableB, DestinationCidrBlock: lab.vip })), 'UnauthorizedOperation', 403);
  const described = await limited.send(new DescribeRouteTablesCommand({ RouteTableIds: [lab.ids.routeTableB] }));
  assert.equal(described.RouteTables?.[0]?.Routes?.[1]?.NetworkInterfaceId, lab.ids.lb2Eni);
  // The master's heartbeat: that one tag key, on an ENI of its VPC
  const tag = (resource: string, tags: { Key: string; Value: string }[]): Promise<unknown> => limited.send(new CreateTagsCommand({ Resources: [resource], Tags: tags }));
  await tag(lab.ids.lb2Eni, [{ Key: 'overlay-lb:heartbeat', Value: '1' }]);
  assert.equal(lab.cloud.view().networkInterfaces[lab.ids.lb2Eni]?.tags['overlay-lb:heartbeat'], '1');
  await rejectsWith(tag(lab.ids.lb2Eni, [{ Key: 'Name', Value: 'x' }]), 'UnauthorizedOperation', 403);
  await rejectsWith(tag(lab.ids.lb2Eni, [{ Key: 'overlay-lb:heartbeat', Value: '2' }, { Key: 'Name', Value: 'x' }]), 'UnauthorizedOperation', 403);
  await rejectsWith(tag(lab.ids.otherEni, [{ Key: 'overlay-lb:heartbeat', Value: '1' }]), 'UnauthorizedOperation', 403);
  await rejectsWith(tag(lab.ids.routeTableB, [{ Key: 'overlay-lb:heartbeat', Value: '1' }]), 'UnauthorizedOperation', 403);
  assert.equal(lab.cloud.view().networkInterfaces[lab.ids.lb2Eni]?.tags['overlay-lb:heartbeat'], '1');
});

void test('SigV4: a wrong secret or unknown key is AuthFailure (401); role credentials need their session token', async (t) => {
  const { lab, client } = await start(t);
  await rejectsWith(client({ secretAccessKey: 'wrong' }).send(new DescribeVpcsCommand({})), 'AuthFailure', 401, /AWS was not able to validate the provided access credentials/);
  await rejectsWith(client({ accessKeyId: 'AKIANOSUCHKEY000000' }).send(new DescribeVpcsCommand({})), 'AuthFailure', 401);
  // Role credentials, as the IMDS hands them to an instance, carry the role's policy.
  lab.cloud.putRolePolicy('lb-node', nodePolicy(lab));
  const role = lab.cloud.issueRoleCredentials('lb-node');
  const asRole = client({ accessKeyId: role.accessKeyId, secretAccessKey: role.secretAccessKey, sessionToken: role.sessionToken });
  await asRole.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni }));
  await rejectsWith(asRole.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.otherRouteTable, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.otherEni })), 'UnauthorizedOperation', 403);
  await rejectsWith(client({ accessKeyId: role.accessKeyId, secretAccessKey: role.secretAccessKey }).send(new DescribeVpcsCommand({})), 'AuthFailure', 401);
});

void test('unsigned requests, unknown actions and signed GET query requests', async (t) => {
  const { url } = await start(t);
  const unsigned = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'Action=DescribeVpcs&Version=2016-11-15' });
  assert.equal(unsigned.status, 401);
  assert.match(await unsigned.text(), /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<Response><Errors><Error><Code>MissingAuthenticationToken<\/Code>.*<\/Errors><RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/s);
  // GET with the parameters in the query string, signed by the SDK's own signer.
  const signer = new SignatureV4({
    service: 'ec2', region: REGION, sha256: NodeSha256,
    credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey },
  });
  const endpoint = new URL(url);
  const get = async (query: Record<string, string>): Promise<Response> => {
    const signed = await signer.sign({ method: 'GET', protocol: 'http:', hostname: endpoint.hostname, port: Number(endpoint.port), path: '/', query, headers: { host: endpoint.host } });
    return fetch(`${url}?${new URLSearchParams(query).toString().replaceAll('+', '%20')}`, { headers: signed.headers });
  };
  const ok = await get({ Action: 'DescribeVpcs', Version: '2016-11-15', 'Filter.1.Name': 'tag:Name', 'Filter.1.Value.1': 'lab other*' });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<DescribeVpcsResponse xmlns="http:\/\/ec2\.amazonaws\.com\/doc\/2016-11-15\/"><requestId>[0-9a-f-]{36}<\/requestId><vpcSet><\/vpcSet><\/DescribeVpcsResponse>$/);
  const unknown = await get({ Action: 'CreateNatGateway', Version: '2016-11-15' });
  assert.equal(unknown.status, 400);
  assert.match(await unknown.text(), /<Code>InvalidAction<\/Code><Message>The action CreateNatGateway is not valid for this web service\.<\/Message>/);
});

void test('a route to a stopped instance turns blackhole', async (t) => {
  const { lab, client } = await start(t);
  lab.cloud.setInstanceState({ instanceId: lab.ids.lb1, state: 'stopped' });
  const out = await client().send(new DescribeRouteTablesCommand({ Filters: [{ Name: 'route.state', Values: ['blackhole'] }] }));
  assert.deepEqual(out.RouteTables?.map((r) => r.RouteTableId).sort(), [lab.ids.mainRouteTable, lab.ids.routeTableA, lab.ids.routeTableB].sort());
  assert.equal(out.RouteTables?.[0]?.Routes?.[1]?.State, 'blackhole');
});

void test('the LB nodes\' policy in eip mode: AssociateAddress with AllowReassociation moves its address between the VPC\'s ENIs; no DisassociateAddress, no other address, no ENI outside the VPC', async (t) => {
  // GIVEN the policy of docs/install.md for failover `eip`, naming one allocated address
  const lab = buildExampleCloud({ region: REGION });
  const ours = lab.cloud.allocateAddress({}).allocationId;
  const other = lab.cloud.allocateAddress({}).allocationId;
  const node: LabCredential = {
    accessKeyId: 'AKIALABNODEEIP00001', secretAccessKey: 'node-secret', principal: 'role/lb-node',
    policy: lbNodePolicy({ arn: (type, id) => lab.cloud.arn(type, id), vpcId: lab.ids.vpc, eipAllocationId: ours }),
  };
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN, node] });
  const ec2 = new EC2Client({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: { accessKeyId: node.accessKeyId, secretAccessKey: node.secretAccessKey } });
  t.after(async () => {
    ec2.destroy();
    controller.abort();
    await api.close();
  });
  // WHEN the agent's calls (src/cloud/aws/ec2-addresses.ts): associate, then reassociate to the peer
  await ec2.send(new AssociateAddressCommand({ AllocationId: ours, NetworkInterfaceId: lab.ids.lb1Eni, PrivateIpAddress: '10.0.1.10', AllowReassociation: true }));
  await ec2.send(new AssociateAddressCommand({ AllocationId: ours, NetworkInterfaceId: lab.ids.lb2Eni, PrivateIpAddress: '10.0.2.10', AllowReassociation: true }));
  // THEN the address moved with no DisassociateAddress permission
  const described = await ec2.send(new DescribeAddressesCommand({ AllocationIds: [ours] }));
  assert.equal(described.Addresses?.[0]?.NetworkInterfaceId, lab.ids.lb2Eni);
  // AND nothing else is allowed: removing it, another address, an ENI of another VPC
  const association = described.Addresses?.[0]?.AssociationId;
  await rejectsWith(ec2.send(new DisassociateAddressCommand({ AssociationId: association })), 'UnauthorizedOperation', 403);
  await rejectsWith(ec2.send(new AssociateAddressCommand({ AllocationId: other, NetworkInterfaceId: lab.ids.lb1Eni, AllowReassociation: true })), 'UnauthorizedOperation', 403);
  await rejectsWith(ec2.send(new AssociateAddressCommand({ AllocationId: ours, NetworkInterfaceId: lab.ids.otherEni, AllowReassociation: true })), 'UnauthorizedOperation', 403);
});
