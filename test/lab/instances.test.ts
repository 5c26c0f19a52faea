// The instance lifecycle of the lab's EC2 API (RunInstances, DescribeInstances, Terminate/Stop/
// StartInstances, GetConsoleOutput, the instance attributes) driven by the real AWS SDK v3 against
// the model alone (no kernel: transitions complete right after the call that starts them), with
// the documented error cases, and the IMDS of an API-launched instance (HttpTokens, user-data).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  DescribeInstanceAttributeCommand, DescribeInstancesCommand, DescribeSubnetsCommand, DescribeVpcsCommand, EC2Client, GetConsoleOutputCommand,
  ModifyInstanceAttributeCommand, RunInstancesCommand, StartInstancesCommand, StopInstancesCommand, TerminateInstancesCommand,
  paginateDescribeInstances, type Instance, type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { EC2_TRUST_POLICY } from '../../src/lab/iam/model.js';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { startImds } from '../../src/lab/imds/server.js';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };

interface Setup { lab: ExampleCloud; ec2: EC2Client; limited: EC2Client; url: string }

async function start(t: TestContext): Promise<Setup> {
  const lab = buildExampleCloud({ region: REGION });
  lab.cloud.iam.createRole({ roleName: 'web', assumeRolePolicyDocument: EC2_TRUST_POLICY });
  lab.cloud.iam.putRolePolicy({ roleName: 'web', policyName: 'web', policyDocument: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'ec2:DescribeInstances', Resource: '*' }] }) });
  lab.cloud.iam.createInstanceProfile({ instanceProfileName: 'web-profile' });
  lab.cloud.iam.addRoleToInstanceProfile({ instanceProfileName: 'web-profile', roleName: 'web' });
  // May run instances but not pass roles.
  const limitedCredential: LabCredential = {
    accessKeyId: 'AKIALABLIMITED00001', secretAccessKey: 'limited-secret', principal: 'limited',
    policy: { Statement: [{ Effect: 'Allow', Action: ['ec2:RunInstances', 'ec2:Describe*', 'ec2:CreateTags'], Resource: '*' }] },
  };
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN, limitedCredential] });
  const client = (c: LabCredential): EC2Client => new EC2Client({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } });
  const ec2 = client(ADMIN);
  const limited = client(limitedCredential);
  t.after(async () => {
    ec2.destroy();
    limited.destroy();
    controller.abort();
    await api.close();
  });
  return { lab, ec2, limited, url: api.url };
}

const base = (lab: ExampleCloud, more: Partial<RunInstancesCommandInput> = {}): RunInstancesCommandInput => ({
  ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: lab.ids.subnetB, ...more,
});

async function waitForState(ec2: EC2Client, instanceId: string, state: string): Promise<Instance> {
  for (let i = 0; i < 200; i += 1) {
    const found = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]?.Instances?.[0];
    if (found?.State?.Name === state) return found;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`${instanceId} never reached ${state}`);
}

void test('RunInstances answers pending with everything asked for; DescribeInstances then shows it running', async (t) => {
  const { lab, ec2 } = await start(t);
  const { groupId: web } = lab.cloud.createSecurityGroup({ vpcId: lab.ids.vpc, groupName: 'web', description: 'web servers' });
  const userData = Buffer.from('#!/bin/sh\necho hello\n').toString('base64');
  const out = await ec2.send(new RunInstancesCommand(base(lab, {
    PrivateIpAddress: '10.0.2.50', IamInstanceProfile: { Name: 'web-profile' }, UserData: userData, SecurityGroupIds: [web],
    MetadataOptions: { HttpTokens: 'required', HttpPutResponseHopLimit: 2, InstanceMetadataTags: 'enabled' },
    TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web-1' }, { Key: 'overlay-lb:cluster', Value: 'demo' }] },
      { ResourceType: 'network-interface', Tags: [{ Key: 'Name', Value: 'web-1-eth0' }] }],
  })));
  assert.match(out.ReservationId ?? '', /^r-[0-9a-f]{17}$/);
  assert.equal(out.OwnerId, '123456789012');
  const launched = out.Instances?.[0];
  assert.equal(out.Instances?.length, 1);
  assert.deepEqual(launched?.State, { Code: 0, Name: 'pending' });
  assert.equal(launched?.ImageId, LAB_IMAGE_ID);
  assert.equal(launched?.InstanceType, 't3.micro');
  assert.equal(launched?.PrivateIpAddress, '10.0.2.50');
  assert.equal(launched?.SubnetId, lab.ids.subnetB);
  assert.equal(launched?.VpcId, lab.ids.vpc);
  assert.equal(launched?.Placement?.AvailabilityZone, 'eu-west-1b');
  assert.deepEqual(launched?.SecurityGroups, [{ GroupId: web, GroupName: 'web' }]);
  assert.equal(launched?.IamInstanceProfile?.Arn, 'arn:aws:iam::123456789012:instance-profile/web-profile');
  assert.match(launched?.IamInstanceProfile?.Id ?? '', /^AIPA/);
  assert.deepEqual(launched?.MetadataOptions, {
    State: 'pending', HttpTokens: 'required', HttpPutResponseHopLimit: 2, HttpEndpoint: 'enabled', HttpProtocolIpv6: 'disabled', InstanceMetadataTags: 'enabled',
  });
  assert.deepEqual(launched?.Tags, [{ Key: 'Name', Value: 'web-1' }, { Key: 'overlay-lb:cluster', Value: 'demo' }]);
  assert.equal(launched?.NetworkInterfaces?.length, 1);
  assert.deepEqual(launched?.NetworkInterfaces?.[0]?.Groups, [{ GroupId: web, GroupName: 'web' }]);
  assert.equal(launched?.NetworkInterfaces?.[0]?.Attachment?.DeleteOnTermination, true);
  // The SDK fills in a ClientToken (an idempotency token): the instance keeps it.
  assert.match(launched?.ClientToken ?? '', /.+/);
  const running = await waitForState(ec2, launched.InstanceId!, 'running');
  assert.deepEqual(running.State, { Code: 16, Name: 'running' });
  assert.equal(running.MetadataOptions?.State, 'applied');
  const eniId = running.NetworkInterfaces?.[0]?.NetworkInterfaceId ?? '';
  assert.deepEqual(lab.cloud.view().networkInterfaces[eniId]?.tags, { Name: 'web-1-eth0' });

  // The instance's attributes.
  const attribute = async (Attribute: 'userData' | 'instanceType' | 'groupSet' | 'sourceDestCheck'): Promise<unknown> => {
    const a = await ec2.send(new DescribeInstanceAttributeCommand({ InstanceId: running.InstanceId, Attribute }));
    return { userData: a.UserData?.Value, instanceType: a.InstanceType?.Value, groupSet: a.Groups, sourceDestCheck: a.SourceDestCheck?.Value }[Attribute];
  };
  assert.equal(await attribute('userData'), userData);
  assert.equal(await attribute('instanceType'), 't3.micro');
  assert.deepEqual(await attribute('groupSet'), [{ GroupId: web, GroupName: 'web' }]);
  assert.equal(await attribute('sourceDestCheck'), true);
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: running.InstanceId, SourceDestCheck: { Value: false } }));
  assert.equal(await attribute('sourceDestCheck'), false);
  assert.equal((await waitForState(ec2, running.InstanceId!, 'running')).SourceDestCheck, false);

  // The IMDS of this instance: HttpTokens=required refuses IMDSv1, serves user-data and tags.
  const controller = new AbortController();
  const imds = await startImds({
    host: '127.0.0.1', port: 0, signal: controller.signal, requireV2: false,
    resolveInstance: () => lab.cloud.instanceIdentity(running.InstanceId!),
  });
  t.after(() => controller.abort());
  assert.equal((await fetch(`${imds.url}/latest/meta-data/instance-id`)).status, 401);
  const token = await (await fetch(`${imds.url}/latest/api/token`, { method: 'PUT', headers: { 'x-aws-ec2-metadata-token-ttl-seconds': '60' } })).text();
  const get = async (path: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`${imds.url}/latest/${path}`, { headers: { 'x-aws-ec2-metadata-token': token } });
    return { status: r.status, body: await r.text() };
  };
  assert.deepEqual(await get('user-data'), { status: 200, body: '#!/bin/sh\necho hello\n' });
  assert.deepEqual(await get('meta-data/tags/instance/Name'), { status: 200, body: 'web-1' });
  assert.deepEqual(await get('meta-data/iam/security-credentials/'), { status: 200, body: 'web' });
  assert.deepEqual(await get('meta-data/instance-type'), { status: 200, body: 't3.micro' });
  const document = JSON.parse((await get('dynamic/instance-identity/document')).body) as { instanceId: string; privateIp: string };
  assert.equal(document.instanceId, running.InstanceId);
  assert.equal(document.privateIp, '10.0.2.50');
});

void test('MinCount/MaxCount share a reservation; DescribeInstances filters and paginates (MaxResults 5-1000, NextToken)', async (t) => {
  const { lab, ec2 } = await start(t);
  const out = await ec2.send(new RunInstancesCommand(base(lab, {
    MinCount: 2, MaxCount: 7, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'pool', Value: 'web' }] }],
  })));
  assert.equal(out.Instances?.length, 7);
  assert.deepEqual(out.Instances?.map((i) => i.AmiLaunchIndex), [0, 1, 2, 3, 4, 5, 6]);
  // Addresses from the subnet, skipping AWS's reserved ones (.0-.3) and the ones in use (.10).
  assert.deepEqual(out.Instances?.map((i) => i.PrivateIpAddress), ['10.0.2.4', '10.0.2.5', '10.0.2.6', '10.0.2.7', '10.0.2.8', '10.0.2.9', '10.0.2.11']);
  const ids = out.Instances.map((i) => i.InstanceId!);
  for (const id of ids) await waitForState(ec2, id, 'running');
  const grouped = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'tag:pool', Values: ['web'] }] }));
  assert.equal(grouped.Reservations?.length, 1);
  assert.equal(grouped.Reservations?.[0]?.ReservationId, out.ReservationId);
  assert.equal(grouped.Reservations?.[0]?.Instances?.length, 7);
  const count = async (filters: { Name: string; Values: string[] }[]): Promise<number> =>
    ((await ec2.send(new DescribeInstancesCommand({ Filters: filters }))).Reservations ?? []).flatMap((r) => r.Instances ?? []).length;
  assert.equal(await count([{ Name: 'tag-key', Values: ['pool'] }]), 7);
  assert.equal(await count([{ Name: 'instance-state-name', Values: ['running'] }, { Name: 'subnet-id', Values: [lab.ids.subnetB] }]), 8);
  assert.equal(await count([{ Name: 'vpc-id', Values: [lab.ids.vpc] }, { Name: 'tag:pool', Values: ['web'] }]), 7);
  assert.equal(await count([{ Name: 'private-ip-address', Values: ['10.0.2.11'] }]), 1);
  assert.equal(await count([{ Name: 'instance-type', Values: ['t3.micro'] }, { Name: 'tag:pool', Values: ['web'] }]), 7);
  // Pagination: pages of 5 instances, NextToken followed by the SDK's paginator.
  const first = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
  assert.equal(first.Reservations?.flatMap((r) => r.Instances ?? []).length, 5);
  assert.match(first.NextToken ?? '', /.+/);
  let seen = 0;
  for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, {})) seen += (page.Reservations ?? []).flatMap((r) => r.Instances ?? []).length;
  assert.equal(seen, Object.keys(lab.cloud.view().instances).length);
  await rejectsWith(ec2.send(new DescribeInstancesCommand({ MaxResults: 4 })), 'InvalidParameterValue', 400, /between 5 and 1000/);
  await rejectsWith(ec2.send(new DescribeInstancesCommand({ InstanceIds: [ids[0]!], MaxResults: 5 })), 'InvalidParameterCombination', 400);
  await rejectsWith(ec2.send(new DescribeInstancesCommand({ NextToken: 'not-a-token!' })), 'InvalidParameterValue', 400);
});

void test('ClientToken: the same token and parameters return the same reservation; other parameters are IdempotentParameterMismatch', async (t) => {
  const { lab, ec2 } = await start(t);
  const one = await ec2.send(new RunInstancesCommand(base(lab, { ClientToken: 'launch-web-1' })));
  const again = await ec2.send(new RunInstancesCommand(base(lab, { ClientToken: 'launch-web-1' })));
  assert.equal(again.ReservationId, one.ReservationId);
  assert.deepEqual(again.Instances?.map((i) => i.InstanceId), one.Instances?.map((i) => i.InstanceId));
  assert.equal(Object.values(lab.cloud.view().instances).filter((i) => i.clientToken === 'launch-web-1').length, 1);
  const before = lab.cloud.snapshot();
  await rejectsWith(ec2.send(new RunInstancesCommand(base(lab, { ClientToken: 'launch-web-1', InstanceType: 't3.small' }))),
    'IdempotentParameterMismatch', 400, /Arguments on this idempotent request are inconsistent with arguments used in previous request\(s\)\./);
  assert.equal(lab.cloud.snapshot(), before);
  const filtered = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'client-token', Values: ['launch-web-1'] }] }));
  assert.equal(filtered.Reservations?.[0]?.Instances?.[0]?.InstanceId, one.Instances?.[0]?.InstanceId);
});

void test('RunInstances refuses bad requests with EC2 error codes, and a refused call changes nothing', async (t) => {
  const { lab, ec2, limited } = await start(t);
  const { groupId: otherVpcGroup } = lab.cloud.createSecurityGroup({ vpcId: lab.ids.otherVpc, groupName: 'elsewhere', description: 'another VPC' });
  const before = lab.cloud.snapshot();
  const cases: [Partial<RunInstancesCommandInput>, string, RegExp][] = [
    [{ ImageId: 'ami-0123456789abcdef0' }, 'InvalidAMIID.NotFound', /The image id '\[ami-0123456789abcdef0\]' does not exist/],
    [{ ImageId: 'debian-12' }, 'InvalidAMIID.Malformed', /Invalid id: "debian-12"/],
    [{ InstanceType: 'z9.huge' as 't3.micro' }, 'InvalidParameterValue', /Invalid value 'z9\.huge' for InstanceType\./],
    [{ SubnetId: 'subnet-00000000000000999' }, 'InvalidSubnetID.NotFound', /The subnet ID 'subnet-00000000000000999' does not exist/],
    [{ SubnetId: undefined }, 'VPCIdNotSpecified', /No default VPC for this user/],
    [{ PrivateIpAddress: '10.0.2.10' }, 'InvalidIPAddress.InUse', /Address 10\.0\.2\.10 is in use\./],
    [{ PrivateIpAddress: '10.0.9.10' }, 'InvalidParameterValue', /Address 10\.0\.9\.10 does not fall within the subnet's address range/],
    [{ PrivateIpAddress: '10.0.2.2' }, 'InvalidParameterValue', /reserved/],
    [{ PrivateIpAddress: '10.0.2.60', MaxCount: 2 }, 'InvalidParameterCombination', /more than one instance/],
    [{ MinCount: 3, MaxCount: 2 }, 'InvalidParameterValue', /minCount/],
    [{ MinCount: 300, MaxCount: 300 }, 'InsufficientFreeAddressesInSubnet', /not enough free addresses/],
    [{ UserData: 'not base64!' }, 'InvalidParameterValue', /Invalid BASE64 encoding of user data\./],
    [{ UserData: Buffer.alloc(16 * 1024 + 1, 'a').toString('base64') }, 'InvalidParameterValue', /User data is limited to 16384 bytes\./],
    [{ IamInstanceProfile: { Name: 'nope' } }, 'InvalidParameterValue', /Value \(nope\) for parameter iamInstanceProfile\.name is invalid\. Invalid IAM Instance Profile name/],
    [{ IamInstanceProfile: { Arn: 'arn:aws:iam::123456789012:instance-profile/nope' } }, 'InvalidParameterValue', /iamInstanceProfile\.arn is invalid\. Invalid IAM Instance Profile ARN/],
    [{ IamInstanceProfile: { Arn: 'arn:aws:iam::123456789012:instance-profile/web-profile', Name: 'web-profile' } }, 'InvalidParameterCombination', /iamInstanceProfile/],
    [{ SecurityGroupIds: ['default'] }, 'InvalidGroupId.Malformed', /Invalid id: "default"/],
    [{ SecurityGroupIds: ['sg-0123456789abcdef0'] }, 'InvalidGroup.NotFound', /The security group 'sg-0123456789abcdef0' does not exist in VPC 'vpc-/],
    [{ SecurityGroupIds: [otherVpcGroup] }, 'InvalidParameter', /Security group sg-[0-9a-f]+ and subnet subnet-[0-9a-f]+ belong to different networks\./],
    [{ SecurityGroups: ['default'] }, 'InvalidParameterCombination', /The parameter groupName cannot be used with the parameter subnet/],
    [{ MetadataOptions: { HttpTokens: 'always' as 'required' } }, 'InvalidParameterValue', /HttpTokens/],
    [{ MetadataOptions: { HttpPutResponseHopLimit: 65 } }, 'InvalidParameterValue', /HttpPutResponseHopLimit/],
    [{ TagSpecifications: [{ ResourceType: 'vpc', Tags: [{ Key: 'a', Value: 'b' }] }] }, 'InvalidParameterValue', /'vpc' is not a valid taggable resource type for this operation\./],
    [{ TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'aws:x', Value: 'b' }] }] }, 'InvalidParameterValue', /reserved/],
    [{ KeyName: 'mine' }, 'InvalidKeyPair.NotFound', /The key pair 'mine' does not exist/],
    [{ ClientToken: 'x'.repeat(65) }, 'InvalidParameterValue', /clientToken/],
  ];
  for (const [change, code, message] of cases) {
    await rejectsWith(ec2.send(new RunInstancesCommand(base(lab, change))), code, 400, message);
  }
  await rejectsWith(ec2.send(new RunInstancesCommand(base(lab, { DryRun: true }))), 'DryRunOperation', 412, /Request would have succeeded, but DryRun flag is set\./);
  // iam:PassRole: the limited principal may run instances, but not hand them a role.
  await rejectsWith(limited.send(new RunInstancesCommand(base(lab, { IamInstanceProfile: { Name: 'web-profile' } }))), 'UnauthorizedOperation', 403,
    /iam:PassRole on resource: arn:aws:iam::123456789012:role\/web/);
  assert.equal(lab.cloud.snapshot(), before);
  // Without a role it may; without SecurityGroupIds the instance is in its VPC's default group.
  const ok = await limited.send(new RunInstancesCommand(base(lab)));
  assert.equal(ok.Instances?.length, 1);
  assert.deepEqual(ok.Instances?.[0]?.SecurityGroups, [{ GroupId: lab.cloud.defaultSecurityGroupId(lab.ids.vpc), GroupName: 'default' }]);
});

void test('the iam-propagation fault: a new instance profile is unknown to RunInstances until the delay has passed', async (t) => {
  let now = Date.parse('2026-01-01T00:00:00Z');
  const lab = buildExampleCloud({ region: REGION, clock: () => now });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN] });
  const ec2 = new EC2Client({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey } });
  t.after(async () => {
    ec2.destroy();
    controller.abort();
    await api.close();
  });
  lab.cloud.iamPropagationDelayMs = 10_000;
  lab.cloud.iam.createInstanceProfile({ instanceProfileName: 'fresh' });
  await rejectsWith(ec2.send(new RunInstancesCommand(base(lab, { IamInstanceProfile: { Name: 'fresh' } }))), 'InvalidParameterValue', 400,
    /^Value \(fresh\) for parameter iamInstanceProfile\.name is invalid\. Invalid IAM Instance Profile name$/);
  now += 10_000;
  const out = await ec2.send(new RunInstancesCommand(base(lab, { IamInstanceProfile: { Name: 'fresh' } })));
  assert.equal(out.Instances?.[0]?.IamInstanceProfile?.Arn, 'arn:aws:iam::123456789012:instance-profile/fresh');
});

void test('Stop, Start, Terminate: previous and current states, IncorrectInstanceState, the ENI released, GetConsoleOutput in base64', async (t) => {
  const { lab, ec2 } = await start(t);
  const out = await ec2.send(new RunInstancesCommand(base(lab, { PrivateIpAddress: '10.0.2.77' })));
  const id = out.Instances![0]!.InstanceId!;
  await waitForState(ec2, id, 'running');
  const stopping = await ec2.send(new StopInstancesCommand({ InstanceIds: [id] }));
  assert.deepEqual(stopping.StoppingInstances, [{ InstanceId: id, CurrentState: { Code: 64, Name: 'stopping' }, PreviousState: { Code: 16, Name: 'running' } }]);
  const stopped = await waitForState(ec2, id, 'stopped');
  assert.equal(stopped.StateReason?.Code, 'Client.UserInitiatedShutdown');
  assert.match(stopped.StateTransitionReason ?? '', /^User initiated \(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d GMT\)$/);
  assert.equal(stopped.PrivateIpAddress, '10.0.2.77');
  const starting = await ec2.send(new StartInstancesCommand({ InstanceIds: [id] }));
  assert.deepEqual(starting.StartingInstances, [{ InstanceId: id, CurrentState: { Code: 0, Name: 'pending' }, PreviousState: { Code: 80, Name: 'stopped' } }]);
  await waitForState(ec2, id, 'running');
  await rejectsWith(ec2.send(new TerminateInstancesCommand({ InstanceIds: [id, 'i-00000000000000999'] })), 'InvalidInstanceID.NotFound', 400);
  assert.equal(lab.cloud.view().instances[id]?.state, 'running');
  await rejectsWith(ec2.send(new TerminateInstancesCommand({ InstanceIds: [id], DryRun: true })), 'DryRunOperation', 412);
  const terminating = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  assert.deepEqual(terminating.TerminatingInstances, [{ InstanceId: id, CurrentState: { Code: 32, Name: 'shutting-down' }, PreviousState: { Code: 16, Name: 'running' } }]);
  const gone = await waitForState(ec2, id, 'terminated');
  assert.deepEqual(gone.NetworkInterfaces, []);
  assert.equal(gone.PrivateIpAddress, undefined);
  // The address is free again.
  assert.equal(Object.values(lab.cloud.view().networkInterfaces).some((e) => e.privateIp === '10.0.2.77'), false);
  const twice = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  assert.deepEqual(twice.TerminatingInstances?.[0]?.CurrentState, { Code: 48, Name: 'terminated' });
  await rejectsWith(ec2.send(new StartInstancesCommand({ InstanceIds: [id] })), 'IncorrectInstanceState', 400, /not in a state from which it can be started/);
  await rejectsWith(ec2.send(new StopInstancesCommand({ InstanceIds: [id] })), 'IncorrectInstanceState', 400, new RegExp(`This instance '${id}' is not in a state from which it can be stopped\\.`));
  await rejectsWith(ec2.send(new TerminateInstancesCommand({ InstanceIds: [] })), 'MissingParameter', 400);
  // Console output: what the instance host wrote, base64 (the SDK hands it over as sent).
  lab.cloud.appendConsoleOutput(id, 'hello from the console\n');
  const console_ = await ec2.send(new GetConsoleOutputCommand({ InstanceId: id, Latest: true }));
  assert.equal(console_.InstanceId, id);
  assert.equal(Buffer.from(console_.Output ?? '', 'base64').toString('utf8'), 'hello from the console\n');
  assert.ok(console_.Timestamp instanceof Date);
  await rejectsWith(ec2.send(new GetConsoleOutputCommand({ InstanceId: 'i-00000000000000999' })), 'InvalidInstanceID.NotFound', 400);
});

void test('DescribeSubnets and DescribeVpcs list what the instances launch into', async (t) => {
  const { lab, ec2 } = await start(t);
  const subnets = await ec2.send(new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [lab.ids.vpc] }] }));
  assert.deepEqual(subnets.Subnets?.map((s) => s.CidrBlock).sort(), ['10.0.1.0/24', '10.0.2.0/24']);
  const free = subnets.Subnets?.find((s) => s.SubnetId === lab.ids.subnetB)?.AvailableIpAddressCount ?? 0;
  await ec2.send(new RunInstancesCommand(base(lab, { MinCount: 3, MaxCount: 3 })));
  const after = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: [lab.ids.subnetB] }));
  assert.equal(after.Subnets?.[0]?.AvailableIpAddressCount, free - 3);
  const vpcs = await ec2.send(new DescribeVpcsCommand({ VpcIds: [lab.ids.vpc] }));
  assert.equal(vpcs.Vpcs?.[0]?.CidrBlock, '10.0.0.0/16');
});
