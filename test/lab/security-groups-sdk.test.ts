// The lab's security-group actions driven by the real AWS SDK for JavaScript v3: shapes, the
// VPC's default group, rules by CIDR, by group reference, numbered protocols, the documented
// errors, and that a rejected call changes nothing.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  AuthorizeSecurityGroupEgressCommand, AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateTagsCommand,
  DeleteSecurityGroupCommand, DescribeInstancesCommand, DescribeNetworkInterfacesCommand, DescribeSecurityGroupRulesCommand,
  DescribeSecurityGroupsCommand, EC2Client, ModifyNetworkInterfaceAttributeCommand, RevokeSecurityGroupEgressCommand,
  RevokeSecurityGroupIngressCommand, paginateDescribeSecurityGroups, type SecurityGroup,
} from '@aws-sdk/client-ec2';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { LabCloud, type LabCloudEvent } from '../../src/lab/ec2/state.js';
import { resolveEniFirewalls } from '../../src/lab/ec2/security-groups.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
const READER: LabCredential = {
  accessKeyId: 'AKIALABREADER000001', secretAccessKey: 'reader-secret', principal: 'reader',
  policy: { Statement: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }] },
};

async function start(t: TestContext): Promise<{ lab: ExampleCloud; ec2: EC2Client; reader: EC2Client; events: LabCloudEvent[] }> {
  const lab = buildExampleCloud({ region: REGION });
  const events: LabCloudEvent[] = [];
  lab.cloud.on((e) => events.push(e));
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN, READER] });
  const client = (c: LabCredential): EC2Client => new EC2Client({
    region: REGION, endpoint: api.url, maxAttempts: 1, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
  });
  const ec2 = client(ADMIN);
  const reader = client(READER);
  t.after(async () => {
    ec2.destroy();
    reader.destroy();
    controller.abort();
    await api.close();
  });
  return { lab, ec2, reader, events };
}

async function group(ec2: EC2Client, groupId: string): Promise<SecurityGroup> {
  const out = await ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [groupId] }));
  assert.equal(out.SecurityGroups?.length, 1);
  return out.SecurityGroups[0]!;
}

void test('every VPC has its default group (ingress from itself, all egress) and new ENIs are in it', async (t) => {
  const { lab, ec2 } = await start(t);
  const out = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'vpc-id', Values: [lab.ids.vpc] }, { Name: 'group-name', Values: ['default'] }] }));
  assert.equal(out.SecurityGroups?.length, 1);
  const def = out.SecurityGroups[0]!;
  assert.match(def.GroupId ?? '', /^sg-[0-9a-f]{17}$/);
  assert.deepEqual({ ...def, GroupId: 'x', SecurityGroupArn: 'x' }, {
    OwnerId: '123456789012', GroupId: 'x', GroupName: 'default', Description: 'default VPC security group', VpcId: lab.ids.vpc, SecurityGroupArn: 'x',
    IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ UserId: '123456789012', GroupId: def.GroupId, VpcId: lab.ids.vpc }], IpRanges: [], Ipv6Ranges: [], PrefixListIds: [] }],
    IpPermissionsEgress: [{ IpProtocol: '-1', UserIdGroupPairs: [], IpRanges: [{ CidrIp: '0.0.0.0/0' }], Ipv6Ranges: [], PrefixListIds: [] }],
    Tags: [],
  });
  assert.equal(def.SecurityGroupArn, `arn:aws:ec2:${REGION}:123456789012:security-group/${def.GroupId}`);
  const eni = await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [lab.ids.lb1Eni] }));
  assert.deepEqual(eni.NetworkInterfaces?.[0]?.Groups, [{ GroupId: def.GroupId, GroupName: 'default' }]);
  const inst = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'instance.group-id', Values: [def.GroupId!] }] }));
  assert.ok((inst.Reservations ?? []).some((r) => r.Instances?.[0]?.InstanceId === lab.ids.lb1 && r.Instances[0].SecurityGroups?.[0]?.GroupName === 'default'));
  await rejectsWith(ec2.send(new DeleteSecurityGroupCommand({ GroupId: def.GroupId })), 'CannotDelete', 400, /name: "default" cannot be deleted by a user/);
});

void test('CreateSecurityGroup with tags, duplicate and reserved names, a missing VPC id', async (t) => {
  const { lab, ec2, reader } = await start(t);
  const created = await ec2.send(new CreateSecurityGroupCommand({
    GroupName: 'lb-nodes', Description: 'LB nodes', VpcId: lab.ids.vpc,
    TagSpecifications: [{ ResourceType: 'security-group', Tags: [{ Key: 'Name', Value: 'lb' }] }],
  }));
  assert.match(created.GroupId ?? '', /^sg-/);
  assert.deepEqual(created.Tags, [{ Key: 'Name', Value: 'lb' }]);
  assert.equal(created.SecurityGroupArn, `arn:aws:ec2:${REGION}:123456789012:security-group/${created.GroupId}`);
  const g = await group(ec2, created.GroupId!);
  assert.deepEqual([g.GroupName, g.Description, g.VpcId, g.IpPermissions, g.Tags], ['lb-nodes', 'LB nodes', lab.ids.vpc, [], [{ Key: 'Name', Value: 'lb' }]]);
  // EC2 gives a new group the all-egress rule.
  assert.deepEqual(g.IpPermissionsEgress, [{ IpProtocol: '-1', UserIdGroupPairs: [], IpRanges: [{ CidrIp: '0.0.0.0/0' }], Ipv6Ranges: [], PrefixListIds: [] }]);
  const count = Object.keys(lab.cloud.view().securityGroups).length;
  await rejectsWith(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'lb-nodes', Description: 'again', VpcId: lab.ids.vpc })),
    'InvalidGroup.Duplicate', 400, new RegExp(`The security group 'lb-nodes' already exists for VPC '${lab.ids.vpc}'`));
  // The same name in another VPC is fine.
  await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'lb-nodes', Description: 'other', VpcId: lab.ids.otherVpc }));
  await rejectsWith(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'default', Description: 'x', VpcId: lab.ids.vpc })), 'InvalidGroup.Reserved', 400);
  await rejectsWith(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'sg-123', Description: 'x', VpcId: lab.ids.vpc })), 'InvalidParameterValue', 400, /sg-\*/);
  await rejectsWith(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'x', Description: 'x' })), 'VPCIdNotSpecified', 400);
  await rejectsWith(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'x', Description: 'x', VpcId: 'vpc-0000000000000dead' })), 'InvalidVpcID.NotFound', 400);
  await rejectsWith(ec2.send(new CreateSecurityGroupCommand({
    GroupName: 'x', Description: 'x', VpcId: lab.ids.vpc, TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }],
  })), 'InvalidParameterValue', 400, /not a valid taggable resource type/);
  await rejectsWith(reader.send(new CreateSecurityGroupCommand({ GroupName: 'x', Description: 'x', VpcId: lab.ids.vpc })), 'UnauthorizedOperation', 403);
  await rejectsWith(ec2.send(new CreateSecurityGroupCommand({ GroupName: 'dry', Description: 'x', VpcId: lab.ids.vpc, DryRun: true })), 'DryRunOperation', 412);
  // Rejected calls changed nothing (one group was added, in the other VPC).
  assert.equal(Object.keys(lab.cloud.view().securityGroups).length, count + 1);
  await ec2.send(new CreateTagsCommand({ Resources: [created.GroupId!], Tags: [{ Key: 'team', Value: 'edge' }] }));
  const tagged = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'tag:team', Values: ['edge'] }] }));
  assert.deepEqual(tagged.SecurityGroups?.map((s) => s.GroupId), [created.GroupId]);
});

void test('Authorize and Revoke ingress/egress: tcp ranges, udp, icmp, -1, protocol 112, group references; duplicates and unknown rules', async (t) => {
  const { lab, ec2, events } = await start(t);
  const { GroupId: lb } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'lb', Description: 'lb', VpcId: lab.ids.vpc }));
  const { GroupId: clients } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'clients', Description: 'clients', VpcId: lab.ids.vpc }));
  const authorized = await ec2.send(new AuthorizeSecurityGroupIngressCommand({
    GroupId: lb,
    IpPermissions: [
      { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'http' }, { CidrIp: '10.0.0.0/16' }] },
      { IpProtocol: '6', FromPort: 8000, ToPort: 8100, UserIdGroupPairs: [{ GroupId: clients }] },
      { IpProtocol: 'udp', FromPort: 53, ToPort: 53, IpRanges: [{ CidrIp: '10.0.1.0/24' }] },
      { IpProtocol: 'icmp', FromPort: 8, ToPort: -1, IpRanges: [{ CidrIp: '10.0.0.0/8' }] },
      { IpProtocol: '112', UserIdGroupPairs: [{ GroupId: lb, Description: 'vrrp' }] },
    ],
  }));
  assert.equal(authorized.Return, true);
  assert.equal(authorized.SecurityGroupRules?.length, 6);
  const first = authorized.SecurityGroupRules[0]!;
  assert.match(first.SecurityGroupRuleId ?? '', /^sgr-[0-9a-f]{17}$/);
  assert.deepEqual({ ...first, SecurityGroupRuleId: 'x', SecurityGroupRuleArn: 'x' }, {
    SecurityGroupRuleId: 'x', GroupId: lb, GroupOwnerId: '123456789012', IsEgress: false, IpProtocol: 'tcp', FromPort: 80, ToPort: 80,
    CidrIpv4: '0.0.0.0/0', Description: 'http', Tags: [], SecurityGroupRuleArn: 'x',
  });
  const vrrp = authorized.SecurityGroupRules.find((r) => r.IpProtocol === '112');
  assert.deepEqual([vrrp?.FromPort, vrrp?.ToPort, vrrp?.ReferencedGroupInfo?.GroupId], [-1, -1, lb]);
  assert.deepEqual(events.at(-1), { type: 'security-groups-changed' });
  const g = await group(ec2, lb!);
  assert.deepEqual(g.IpPermissions, [
    { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, UserIdGroupPairs: [], IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'http' }, { CidrIp: '10.0.0.0/16' }], Ipv6Ranges: [], PrefixListIds: [] },
    { IpProtocol: 'tcp', FromPort: 8000, ToPort: 8100, UserIdGroupPairs: [{ UserId: '123456789012', GroupId: clients, VpcId: lab.ids.vpc }], IpRanges: [], Ipv6Ranges: [], PrefixListIds: [] },
    { IpProtocol: 'udp', FromPort: 53, ToPort: 53, UserIdGroupPairs: [], IpRanges: [{ CidrIp: '10.0.1.0/24' }], Ipv6Ranges: [], PrefixListIds: [] },
    { IpProtocol: 'icmp', FromPort: 8, ToPort: -1, UserIdGroupPairs: [], IpRanges: [{ CidrIp: '10.0.0.0/8' }], Ipv6Ranges: [], PrefixListIds: [] },
    { IpProtocol: '112', UserIdGroupPairs: [{ UserId: '123456789012', GroupId: lb, VpcId: lab.ids.vpc, Description: 'vrrp' }], IpRanges: [], Ipv6Ranges: [], PrefixListIds: [] },
  ]);
  const before = JSON.stringify(lab.cloud.view().securityGroups);
  // A rule the group has (the description does not count), in a call with a new one: nothing is added.
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupIngressCommand({
    GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }, { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0', Description: 'other' }] }],
  })), 'InvalidPermission.Duplicate', 400, /the specified rule "peer: 0\.0\.0\.0\/0, TCP, from port: 80, to port: 80, ALLOW" already exists/);
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 90, ToPort: 80, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), 'InvalidParameterValue', 400);
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), 'InvalidParameterValue', 400);
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: 'vrrp', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), 'InvalidParameterValue', 400, /Unknown protocol/);
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 1, ToPort: 1, IpRanges: [{ CidrIp: '10.0.0.1/16' }] }] })), 'InvalidParameterValue', 400, /malformed/);
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: '-1', UserIdGroupPairs: [{ GroupId: 'sg-0000000000000dead' }] }] })), 'InvalidGroup.NotFound', 400);
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: 'sg-0000000000000dead', IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), 'InvalidGroup.NotFound', 400, /The security group 'sg-0000000000000dead' does not exist/);
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: 'sg-x', IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), 'InvalidGroupId.Malformed', 400);
  // Revoke of a rule the group does not have: a non-default VPC answers InvalidPermission.NotFound and revokes nothing.
  await rejectsWith(ec2.send(new RevokeSecurityGroupIngressCommand({
    GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }, { IpProtocol: 'tcp', FromPort: 81, ToPort: 81, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }],
  })), 'InvalidPermission.NotFound', 400, /The specified rule does not exist in this security group\./);
  assert.equal(JSON.stringify(lab.cloud.view().securityGroups), before);

  const revoked = await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, IpRanges: [{ CidrIp: '10.0.0.0/16' }] }] }));
  assert.equal(revoked.Return, true);
  assert.deepEqual(revoked.RevokedSecurityGroupRules?.map((r) => [r.IpProtocol, r.FromPort, r.ToPort, r.CidrIpv4, r.IsEgress]), [['tcp', 80, 80, '10.0.0.0/16', false]]);
  // By rule id, as DescribeSecurityGroupRules lists them.
  const rules = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [lb!] }] }));
  const vrrpRule = rules.SecurityGroupRules?.find((r) => r.IpProtocol === '112' && r.IsEgress === false);
  assert.ok(vrrpRule?.SecurityGroupRuleId !== undefined);
  await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: lb, SecurityGroupRuleIds: [vrrpRule.SecurityGroupRuleId] }));
  await rejectsWith(ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: lb, SecurityGroupRuleIds: [vrrpRule.SecurityGroupRuleId] })), 'InvalidSecurityGroupRuleId.NotFound', 400);
  assert.ok(!(await group(ec2, lb!)).IpPermissions?.some((p) => p.IpProtocol === '112'));

  // Egress: replace the default all-egress rule by HTTPS only.
  await ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  await ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  assert.deepEqual((await group(ec2, lb!)).IpPermissionsEgress?.map((p) => [p.IpProtocol, p.FromPort, p.ToPort]), [['tcp', 443, 443]]);
  await rejectsWith(ec2.send(new AuthorizeSecurityGroupEgressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), 'InvalidPermission.Duplicate', 400);
  await rejectsWith(ec2.send(new RevokeSecurityGroupEgressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: '-1', IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] })), 'InvalidPermission.NotFound', 400);
});

void test('ModifyNetworkInterfaceAttribute Groups, DeleteSecurityGroup DependencyViolation, and what the data path enforces', async (t) => {
  const { lab, ec2, events } = await start(t);
  const { GroupId: lb } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'lb', Description: 'lb', VpcId: lab.ids.vpc }));
  const { GroupId: peer } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'peer', Description: 'peer', VpcId: lab.ids.vpc }));
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: '112', UserIdGroupPairs: [{ GroupId: lb }] }, { IpProtocol: 'tcp', FromPort: 80, ToPort: 80, UserIdGroupPairs: [{ GroupId: peer }] }] }));
  await ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lab.ids.lb1Eni, Groups: [lb!] }));
  await ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lab.ids.lb2Eni, Groups: [lb!, peer!] }));
  assert.deepEqual(events.at(-1), { type: 'security-groups-changed' });
  const enis = await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: [{ Name: 'group-id', Values: [lb!] }] }));
  assert.deepEqual(enis.NetworkInterfaces?.map((e) => e.NetworkInterfaceId).sort(), [lab.ids.lb1Eni, lab.ids.lb2Eni].sort());
  assert.deepEqual(enis.NetworkInterfaces?.find((e) => e.NetworkInterfaceId === lab.ids.lb2Eni)?.Groups, [{ GroupId: lb, GroupName: 'lb' }, { GroupId: peer, GroupName: 'peer' }]);

  // The data path's view: group references become the members' current addresses.
  const fw = resolveEniFirewalls(lab.cloud.view()).find((f) => f.networkInterfaceId === lab.ids.lb1Eni);
  assert.deepEqual(fw?.ingress, [
    { protocol: '112', peers: ['10.0.1.10/32', '10.0.2.10/32'] },
    { protocol: 'tcp', fromPort: 80, toPort: 80, peers: ['10.0.2.10/32'] },
  ]);
  assert.deepEqual(fw?.egress, [{ protocol: '-1', peers: ['0.0.0.0/0'] }]);

  // In use by an ENI, or referenced by another group's rule: DependencyViolation, nothing deleted.
  await rejectsWith(ec2.send(new DeleteSecurityGroupCommand({ GroupId: lb })), 'DependencyViolation', 400, new RegExp(`resource ${lb} has a dependent object`));
  await ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lab.ids.lb2Eni, Groups: [lb!] }));
  await rejectsWith(ec2.send(new DeleteSecurityGroupCommand({ GroupId: peer })), 'DependencyViolation', 400);
  await ec2.send(new RevokeSecurityGroupIngressCommand({ GroupId: lb, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 80, ToPort: 80, UserIdGroupPairs: [{ GroupId: peer }] }] }));
  const deleted = await ec2.send(new DeleteSecurityGroupCommand({ GroupId: peer }));
  assert.deepEqual([deleted.Return, deleted.GroupId], [true, peer]);
  await rejectsWith(ec2.send(new DeleteSecurityGroupCommand({ GroupId: peer })), 'InvalidGroup.NotFound', 400);

  // Errors of ModifyNetworkInterfaceAttribute Groups.
  const { GroupId: foreign } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'foreign', Description: 'x', VpcId: lab.ids.otherVpc }));
  await rejectsWith(ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lab.ids.lb1Eni, Groups: [foreign!] })), 'InvalidParameterValue', 400, /belong to different networks/);
  await rejectsWith(ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lab.ids.lb1Eni, Groups: ['sg-0000000000000dead'] })), 'InvalidGroup.NotFound', 400);
  const six: string[] = [];
  for (let i = 0; i < 6; i += 1) six.push((await ec2.send(new CreateSecurityGroupCommand({ GroupName: `g${i}`, Description: 'x', VpcId: lab.ids.vpc }))).GroupId!);
  await rejectsWith(ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lab.ids.lb1Eni, Groups: six })), 'SecurityGroupsPerInterfaceLimitExceeded', 400);
  await rejectsWith(ec2.send(new ModifyNetworkInterfaceAttributeCommand({ NetworkInterfaceId: lab.ids.lb1Eni, Groups: [lb!], SourceDestCheck: { Value: false } })), 'InvalidParameterCombination', 400);
  assert.deepEqual(lab.cloud.view().networkInterfaces[lab.ids.lb1Eni]?.groups, [lb]);
});

void test('DescribeSecurityGroups by id and name, filters, pagination; DescribeSecurityGroupRules', async (t) => {
  const { lab, ec2 } = await start(t);
  for (let i = 0; i < 7; i += 1) await ec2.send(new CreateSecurityGroupCommand({ GroupName: `page-${i}`, Description: 'x', VpcId: lab.ids.vpc }));
  const { GroupId: web } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'web', Description: 'web servers', VpcId: lab.ids.vpc }));
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: web, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 443, ToPort: 443, IpRanges: [{ CidrIp: '0.0.0.0/0' }] }] }));
  const byName = await ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: ['web'] }));
  assert.deepEqual(byName.SecurityGroups?.map((g) => g.GroupId), [web]);
  await rejectsWith(ec2.send(new DescribeSecurityGroupsCommand({ GroupNames: ['nope'] })), 'InvalidGroup.NotFound', 400);
  await rejectsWith(ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: ['sg-0000000000000dead'] })), 'InvalidGroup.NotFound', 400);
  await rejectsWith(ec2.send(new DescribeSecurityGroupsCommand({ GroupIds: [web!], MaxResults: 5 })), 'InvalidParameterCombination', 400);
  await rejectsWith(ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'bogus', Values: ['x'] }] })), 'InvalidParameterValue', 400, /The filter 'bogus' is invalid/);
  const https = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'ip-permission.from-port', Values: ['443'] }, { Name: 'ip-permission.cidr', Values: ['0.0.0.0/0'] }] }));
  assert.deepEqual(https.SecurityGroups?.map((g) => g.GroupName), ['web']);
  const desc = await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'description', Values: ['web*'] }] }));
  assert.deepEqual(desc.SecurityGroups?.map((g) => g.GroupId), [web]);
  // 2 default groups + 8 made here, in pages of 5.
  const pages: number[] = [];
  for await (const page of paginateDescribeSecurityGroups({ client: ec2, pageSize: 5 }, {})) pages.push(page.SecurityGroups?.length ?? 0);
  assert.deepEqual(pages, [5, 5]);
  await rejectsWith(ec2.send(new DescribeSecurityGroupsCommand({ MaxResults: 4 })), 'InvalidParameterValue', 400);
  const rules = await ec2.send(new DescribeSecurityGroupRulesCommand({ Filters: [{ Name: 'group-id', Values: [web!] }] }));
  assert.deepEqual(rules.SecurityGroupRules?.map((r) => [r.IsEgress, r.IpProtocol, r.FromPort, r.ToPort, r.CidrIpv4]), [[false, 'tcp', 443, 443, '0.0.0.0/0'], [true, '-1', -1, -1, '0.0.0.0/0']]);
  const one = await ec2.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: [rules.SecurityGroupRules[0]!.SecurityGroupRuleId!] }));
  assert.equal(one.SecurityGroupRules?.length, 1);
  await rejectsWith(ec2.send(new DescribeSecurityGroupRulesCommand({ SecurityGroupRuleIds: ['sgr-0000000000000dead'] })), 'InvalidSecurityGroupRuleId.NotFound', 400);
});

void test('a state file written before security groups (snapshot version 2) restores with default groups and unfiltered ENIs', () => {
  const lab = buildExampleCloud({ region: REGION });
  const parsed = JSON.parse(lab.cloud.snapshot()) as { version: number; world: Record<string, unknown> & { networkInterfaces: Record<string, Record<string, unknown>> } };
  parsed.version = 2;
  delete parsed.world['securityGroups'];
  for (const eni of Object.values(parsed.world.networkInterfaces)) delete eni['groups'];
  const restored = new LabCloud({ region: REGION });
  restored.restore(JSON.stringify(parsed));
  assert.deepEqual(restored.view().networkInterfaces[lab.ids.lb1Eni]?.groups, []);
  assert.deepEqual(resolveEniFirewalls(restored.view()), []);
  // Each VPC got its default group back; new ENIs go into it.
  const defaults = Object.values(restored.view().securityGroups).filter((g) => g.groupName === 'default').map((g) => g.vpcId).sort();
  assert.deepEqual(defaults, [lab.ids.vpc, lab.ids.otherVpc].sort());
  const { networkInterfaceId } = restored.createNetworkInterface({ subnetId: lab.ids.subnetA, privateIp: '10.0.1.99' });
  assert.deepEqual(restored.view().networkInterfaces[networkInterfaceId]?.groups, [restored.defaultSecurityGroupId(lab.ids.vpc)]);
});
