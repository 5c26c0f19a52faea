// The lab's IAM API driven by the real AWS SDK for JavaScript v3 (@aws-sdk/client-iam), on the
// same endpoint as its EC2 API; no namespaces (no lock needed).
import assert from 'node:assert/strict';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';
import { test, type TestContext } from 'node:test';
import {
  AddRoleToInstanceProfileCommand, CreateInstanceProfileCommand, CreateRoleCommand, DeleteInstanceProfileCommand, DeleteRoleCommand,
  DeleteRolePolicyCommand, GetInstanceProfileCommand, GetRoleCommand, GetRolePolicyCommand, IAMClient, ListInstanceProfileTagsCommand,
  ListInstanceProfilesCommand, ListInstanceProfilesForRoleCommand, ListRolePoliciesCommand, ListRolesCommand, ListRoleTagsCommand, paginateListRoles, PutRolePolicyCommand, RemoveRoleFromInstanceProfileCommand,
  TagInstanceProfileCommand, TagRoleCommand, UntagInstanceProfileCommand, UntagRoleCommand, paginateListInstanceProfilesForRole,
} from '@aws-sdk/client-iam';
import { DescribeVpcsCommand, EC2Client, ReplaceRouteCommand } from '@aws-sdk/client-ec2';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
const TRUST = JSON.stringify({
  Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }],
});
const DESCRIBE_ONLY = JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }] });

interface Creds { accessKeyId: string; secretAccessKey: string; sessionToken?: string }

async function start(t: TestContext): Promise<{ lab: ExampleCloud; iam: (c?: Creds) => IAMClient; ec2: (c: Creds) => EC2Client; sts: (c: Creds) => STSClient }> {
  const lab = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN] });
  const clients: { destroy(): void }[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    controller.abort();
    await api.close();
  });
  const admin = { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey };
  return {
    lab,
    iam: (c = admin) => {
      const client = new IAMClient({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: c });
      clients.push(client);
      return client;
    },
    ec2: (c) => {
      const client = new EC2Client({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: c });
      clients.push(client);
      return client;
    },
    sts: (c) => {
      const client = new STSClient({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: c });
      clients.push(client);
      return client;
    },
  };
}

void test('CreateRole / GetRole answer IAM\'s Role shape; the trust policy comes back URL-encoded; names are unique case-insensitively', async (t) => {
  const { lab, iam } = await start(t);
  const client = iam();
  const created = await client.send(new CreateRoleCommand({
    RoleName: 'web-node', Path: '/lb/', AssumeRolePolicyDocument: TRUST, Description: 'LB nodes', Tags: [{ Key: 'team', Value: 'edge' }],
  }));
  const role = created.Role!;
  assert.equal(role.RoleName, 'web-node');
  assert.equal(role.Path, '/lb/');
  assert.equal(role.Arn, `arn:aws:iam::${lab.cloud.accountId}:role/lb/web-node`);
  assert.match(role.RoleId ?? '', /^AROA[A-Z2-7]{17}$/);
  assert.ok(role.CreateDate instanceof Date);
  assert.equal(role.MaxSessionDuration, 3600);
  assert.deepEqual(role.Tags, [{ Key: 'team', Value: 'edge' }]);
  assert.deepEqual(JSON.parse(decodeURIComponent(role.AssumeRolePolicyDocument ?? '')), JSON.parse(TRUST));

  const got = (await client.send(new GetRoleCommand({ RoleName: 'web-node' }))).Role!;
  assert.equal(got.RoleId, role.RoleId);
  assert.equal(got.Description, 'LB nodes');
  assert.deepEqual(got.RoleLastUsed, {});

  await rejectsWith(client.send(new CreateRoleCommand({ RoleName: 'WEB-NODE', AssumeRolePolicyDocument: TRUST })), 'EntityAlreadyExistsException', 409, /Role with name WEB-NODE already exists/);
  await rejectsWith(client.send(new GetRoleCommand({ RoleName: 'nope' })), 'NoSuchEntityException', 404, /The role with name nope cannot be found/);
  await rejectsWith(client.send(new CreateRoleCommand({ RoleName: 'bad name!', AssumeRolePolicyDocument: TRUST })), 'ValidationError', 400, /roleName.*regular expression/);
  await rejectsWith(client.send(new CreateRoleCommand({ RoleName: 'r', Path: 'no-slash', AssumeRolePolicyDocument: TRUST })), 'ValidationError', 400, /'path'/);
  await rejectsWith(client.send(new CreateRoleCommand({ RoleName: 'r', AssumeRolePolicyDocument: TRUST, MaxSessionDuration: 60 })), 'ValidationError', 400, /maxSessionDuration/);
  assert.deepEqual(Object.keys(lab.cloud.view().roles).sort(), ['web-node']);
});

void test('MalformedPolicyDocument for bad trust and identity policies, and a rejected call changes nothing', async (t) => {
  const { lab, iam } = await start(t);
  const client = iam();
  await rejectsWith(client.send(new CreateRoleCommand({ RoleName: 'r1', AssumeRolePolicyDocument: '{not json' })), 'MalformedPolicyDocumentException', 400, /Syntax errors in policy/);
  await rejectsWith(client.send(new CreateRoleCommand({ RoleName: 'r1', AssumeRolePolicyDocument: DESCRIBE_ONLY })), 'MalformedPolicyDocumentException', 400, /Missing required field Principal/);
  assert.deepEqual(lab.cloud.view().roles, {});
  await client.send(new CreateRoleCommand({ RoleName: 'r1', AssumeRolePolicyDocument: TRUST }));
  const put = (doc: unknown): Promise<unknown> => client.send(new PutRolePolicyCommand({ RoleName: 'r1', PolicyName: 'p', PolicyDocument: JSON.stringify(doc) }));
  await rejectsWith(put({ Statement: [{ Effect: 'Allow', Action: 'ec2:*' }] }), 'MalformedPolicyDocumentException', 400, /must contain resources/);
  await rejectsWith(put({ Statement: [{ Effect: 'Allow', Resource: '*' }] }), 'MalformedPolicyDocumentException', 400, /must contain actions/);
  await rejectsWith(put({ Statement: [{ Effect: 'Allow', Principal: '*', Action: 'ec2:*', Resource: '*' }] }), 'MalformedPolicyDocumentException', 400, /should not specify a principal/);
  await rejectsWith(put({ Statement: [{ Effect: 'Permit', Action: 'ec2:*', Resource: '*' }] }), 'MalformedPolicyDocumentException', 400, /Invalid effect/);
  await rejectsWith(put({ Version: '2020-01-01', Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*' }] }), 'MalformedPolicyDocumentException', 400, /Version/);
  await rejectsWith(put({ Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: '*', Condition: { IpAddress: { 'aws:SourceIp': '10.0.0.0/8' } } }] }),
    'MalformedPolicyDocumentException', 400, /does not implement the condition operator IpAddress/);
  await rejectsWith(put({ Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: 'x'.repeat(10_300) }] }), 'MalformedPolicyDocumentException', 400, /ARN format/);
  await rejectsWith(put({ Statement: [{ Effect: 'Allow', Action: 'ec2:*', Resource: `arn:aws:ec2:::${'x'.repeat(10_300)}` }] }), 'LimitExceededException', 409, /Maximum policy size of 10240 bytes/);
  await rejectsWith(client.send(new PutRolePolicyCommand({ RoleName: 'ghost', PolicyName: 'p', PolicyDocument: DESCRIBE_ONLY })), 'NoSuchEntityException', 404);
  assert.deepEqual(lab.cloud.view().roles['r1']?.policies, {});
});

void test('Put/Get/List/DeleteRolePolicy; DeleteRole refuses with DeleteConflict while policies or instance profiles hold it', async (t) => {
  const { lab, iam } = await start(t);
  const client = iam();
  await client.send(new CreateRoleCommand({ RoleName: 'node', AssumeRolePolicyDocument: TRUST }));
  await client.send(new PutRolePolicyCommand({ RoleName: 'node', PolicyName: 'describe', PolicyDocument: DESCRIBE_ONLY }));
  const got = await client.send(new GetRolePolicyCommand({ RoleName: 'node', PolicyName: 'describe' }));
  assert.equal(got.RoleName, 'node');
  assert.equal(got.PolicyName, 'describe');
  assert.equal(decodeURIComponent(got.PolicyDocument ?? ''), DESCRIBE_ONLY);
  assert.deepEqual((await client.send(new ListRolePoliciesCommand({ RoleName: 'node' }))).PolicyNames, ['describe']);
  await rejectsWith(client.send(new GetRolePolicyCommand({ RoleName: 'node', PolicyName: 'other' })), 'NoSuchEntityException', 404, /The role policy with name other cannot be found/);

  await rejectsWith(client.send(new DeleteRoleCommand({ RoleName: 'node' })), 'DeleteConflictException', 409, /must delete policies first/);
  await client.send(new DeleteRolePolicyCommand({ RoleName: 'node', PolicyName: 'describe' }));
  await rejectsWith(client.send(new DeleteRolePolicyCommand({ RoleName: 'node', PolicyName: 'describe' })), 'NoSuchEntityException', 404);

  await client.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'node-profile' }));
  await client.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'node-profile', RoleName: 'node' }));
  await rejectsWith(client.send(new DeleteRoleCommand({ RoleName: 'node' })), 'DeleteConflictException', 409, /must remove roles from instance profile first/);
  assert.ok(lab.cloud.view().roles['node'] !== undefined);
  await client.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: 'node-profile', RoleName: 'node' }));
  await client.send(new DeleteRoleCommand({ RoleName: 'node' }));
  await rejectsWith(client.send(new DeleteRoleCommand({ RoleName: 'node' })), 'NoSuchEntityException', 404);
  assert.deepEqual(lab.cloud.view().roles, {});
});

void test('instance profiles: create, get with its role, one role at most, ListInstanceProfilesForRole pages, delete', async (t) => {
  const { lab, iam } = await start(t);
  const client = iam();
  await client.send(new CreateRoleCommand({ RoleName: 'node', AssumeRolePolicyDocument: TRUST }));
  await client.send(new CreateRoleCommand({ RoleName: 'other', AssumeRolePolicyDocument: TRUST }));
  const created = (await client.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'p1', Path: '/lb/', Tags: [{ Key: 'a', Value: '1' }] }))).InstanceProfile!;
  assert.equal(created.Arn, `arn:aws:iam::${lab.cloud.accountId}:instance-profile/lb/p1`);
  assert.match(created.InstanceProfileId ?? '', /^AIPA[A-Z2-7]{17}$/);
  assert.deepEqual(created.Roles, []);
  await rejectsWith(client.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'P1' })), 'EntityAlreadyExistsException', 409, /Instance Profile P1 already exists/);
  await rejectsWith(client.send(new GetInstanceProfileCommand({ InstanceProfileName: 'p9' })), 'NoSuchEntityException', 404, /Instance Profile p9 cannot be found/);
  await rejectsWith(client.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'p1', RoleName: 'ghost' })), 'NoSuchEntityException', 404);
  await client.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'p1', RoleName: 'node' }));
  await rejectsWith(client.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'p1', RoleName: 'other' })), 'LimitExceededException', 409, /InstanceSessionsPerInstanceProfile: 1/);
  const got = (await client.send(new GetInstanceProfileCommand({ InstanceProfileName: 'p1' }))).InstanceProfile!;
  assert.deepEqual(got.Roles?.map((r) => r.RoleName), ['node']);
  assert.deepEqual(got.Tags, [{ Key: 'a', Value: '1' }]);
  await rejectsWith(client.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: 'p1', RoleName: 'other' })), 'NoSuchEntityException', 404);

  for (const name of ['p2', 'p3']) {
    await client.send(new CreateInstanceProfileCommand({ InstanceProfileName: name }));
    await client.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: name, RoleName: 'node' }));
  }
  const first = await client.send(new ListInstanceProfilesForRoleCommand({ RoleName: 'node', MaxItems: 2 }));
  assert.deepEqual(first.InstanceProfiles?.map((p) => p.InstanceProfileName), ['p1', 'p2']);
  assert.equal(first.IsTruncated, true);
  const names: string[] = [];
  for await (const pageOut of paginateListInstanceProfilesForRole({ client, pageSize: 1 }, { RoleName: 'node' })) {
    names.push(...(pageOut.InstanceProfiles ?? []).map((p) => p.InstanceProfileName ?? ''));
  }
  assert.deepEqual(names, ['p1', 'p2', 'p3']);
  assert.deepEqual((await client.send(new ListInstanceProfilesForRoleCommand({ RoleName: 'other' }))).InstanceProfiles, []);
  await rejectsWith(client.send(new ListInstanceProfilesForRoleCommand({ RoleName: 'ghost' })), 'NoSuchEntityException', 404);

  await rejectsWith(client.send(new DeleteInstanceProfileCommand({ InstanceProfileName: 'p1' })), 'DeleteConflictException', 409);
  await client.send(new RemoveRoleFromInstanceProfileCommand({ InstanceProfileName: 'p1', RoleName: 'node' }));
  await client.send(new DeleteInstanceProfileCommand({ InstanceProfileName: 'p1' }));
  assert.deepEqual(Object.keys(lab.cloud.view().instanceProfiles).sort(), ['p2', 'p3']);
});

void test('ListRoles / ListInstanceProfiles: every one by name, filtered by PathPrefix, paged by Marker, without tags (as IAM lists them)', async (t) => {
  const { iam } = await start(t);
  const client = iam();
  const before = (await client.send(new ListRolesCommand({}))).Roles?.map((r) => r.RoleName) ?? [];
  await client.send(new CreateRoleCommand({ RoleName: 'list-b', AssumeRolePolicyDocument: TRUST, Tags: [{ Key: 'k', Value: 'v' }] }));
  await client.send(new CreateRoleCommand({ RoleName: 'list-a', Path: '/team/', AssumeRolePolicyDocument: TRUST }));
  await client.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'list-p', Path: '/team/', Tags: [{ Key: 'k', Value: 'v' }] }));
  await client.send(new AddRoleToInstanceProfileCommand({ InstanceProfileName: 'list-p', RoleName: 'list-a' }));
  const all = (await client.send(new ListRolesCommand({}))).Roles ?? [];
  assert.deepEqual(all.map((r) => r.RoleName), [...before, 'list-a', 'list-b'].sort());
  assert.ok(all.every((r) => r.Tags === undefined));
  assert.deepEqual((await client.send(new ListRolesCommand({ PathPrefix: '/team/' }))).Roles?.map((r) => [r.RoleName, r.Path, r.Arn?.endsWith(':role/team/list-a')]), [['list-a', '/team/', true]]);
  const names: string[] = [];
  for await (const page of paginateListRoles({ client, pageSize: 1 }, {})) names.push(...(page.Roles ?? []).map((r) => r.RoleName ?? ''));
  assert.deepEqual(names, all.map((r) => r.RoleName));
  const profiles = (await client.send(new ListInstanceProfilesCommand({ PathPrefix: '/team/' }))).InstanceProfiles ?? [];
  assert.deepEqual(profiles.map((p) => [p.InstanceProfileName, p.Roles?.map((r) => r.RoleName), p.Tags]), [['list-p', ['list-a'], undefined]]);
});

void test('tagging roles and instance profiles: tag, replace a value, untag, list; 50 tags at most', async (t) => {
  const { lab, iam } = await start(t);
  const client = iam();
  await client.send(new CreateRoleCommand({ RoleName: 'node', AssumeRolePolicyDocument: TRUST, Tags: [{ Key: 'a', Value: '1' }] }));
  await client.send(new TagRoleCommand({ RoleName: 'node', Tags: [{ Key: 'b', Value: '2' }, { Key: 'a', Value: 'one' }] }));
  assert.deepEqual((await client.send(new ListRoleTagsCommand({ RoleName: 'node' }))).Tags, [{ Key: 'b', Value: '2' }, { Key: 'a', Value: 'one' }]);
  await client.send(new UntagRoleCommand({ RoleName: 'node', TagKeys: ['b'] }));
  assert.deepEqual((await client.send(new GetRoleCommand({ RoleName: 'node' }))).Role?.Tags, [{ Key: 'a', Value: 'one' }]);
  const many = Array.from({ length: 50 }, (_, i) => ({ Key: `k${i}`, Value: 'v' }));
  await rejectsWith(client.send(new TagRoleCommand({ RoleName: 'node', Tags: many })), 'LimitExceededException', 409, /maximum limit of 50/);
  await rejectsWith(client.send(new TagRoleCommand({ RoleName: 'node', Tags: [{ Key: 'x', Value: '1' }, { Key: 'X', Value: '2' }] })), 'InvalidInputException', 400, /Duplicate tag keys/);
  assert.deepEqual(lab.cloud.view().roles['node']?.tags, [{ Key: 'a', Value: 'one' }]);
  await rejectsWith(client.send(new TagRoleCommand({ RoleName: 'ghost', Tags: [{ Key: 'x', Value: '1' }] })), 'NoSuchEntityException', 404);

  await client.send(new CreateInstanceProfileCommand({ InstanceProfileName: 'p' }));
  await client.send(new TagInstanceProfileCommand({ InstanceProfileName: 'p', Tags: [{ Key: 'env', Value: 'lab' }] }));
  assert.deepEqual((await client.send(new ListInstanceProfileTagsCommand({ InstanceProfileName: 'p' }))).Tags, [{ Key: 'env', Value: 'lab' }]);
  await client.send(new UntagInstanceProfileCommand({ InstanceProfileName: 'p', TagKeys: ['env'] }));
  assert.deepEqual((await client.send(new ListInstanceProfileTagsCommand({ InstanceProfileName: 'p' }))).Tags, []);
});

void test('a role\'s inline policies are what its temporary credentials may do, on EC2 and on IAM (AccessDenied)', async (t) => {
  const { lab, iam, ec2 } = await start(t);
  const admin = iam();
  await admin.send(new CreateRoleCommand({ RoleName: 'node', AssumeRolePolicyDocument: TRUST }));
  await admin.send(new PutRolePolicyCommand({ RoleName: 'node', PolicyName: 'describe', PolicyDocument: DESCRIBE_ONLY }));
  await admin.send(new PutRolePolicyCommand({
    RoleName: 'node', PolicyName: 'iam-read-self',
    PolicyDocument: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'iam:GetRole', Resource: `arn:aws:iam::${lab.cloud.accountId}:role/node` }] }),
  }));
  // What the IMDS hands an instance of this role.
  const c = lab.cloud.issueRoleCredentials('node');
  const creds = { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken };
  const nodeEc2 = ec2(creds);
  const nodeIam = iam(creds);
  assert.equal((await nodeEc2.send(new DescribeVpcsCommand({}))).Vpcs?.length, 2);
  await rejectsWith(nodeEc2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni })),
    'UnauthorizedOperation', 403);
  assert.equal((await nodeIam.send(new GetRoleCommand({ RoleName: 'node' }))).Role?.RoleName, 'node');
  await rejectsWith(nodeIam.send(new CreateRoleCommand({ RoleName: 'escalate', AssumeRolePolicyDocument: TRUST })), 'AccessDenied', 403,
    /assumed-role\/node\/.* is not authorized to perform: iam:CreateRole on resource: arn:aws:iam::123456789012:role\/escalate/);
  assert.equal(lab.cloud.view().roles['escalate'], undefined);

  // The admin widens the role through the API: the same credentials may now move the route.
  await admin.send(new PutRolePolicyCommand({
    RoleName: 'node', PolicyName: 'move',
    PolicyDocument: JSON.stringify({ Statement: [{ Effect: 'Allow', Action: 'ec2:ReplaceRoute', Resource: lab.cloud.arn('route-table', '*'), Condition: { StringEquals: { 'ec2:Vpc': lab.cloud.arn('vpc', lab.ids.vpc) } } }] }),
  }));
  await nodeEc2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb2Eni }));
  // An explicit Deny in another inline policy wins.
  await admin.send(new PutRolePolicyCommand({
    RoleName: 'node', PolicyName: 'deny', PolicyDocument: JSON.stringify({ Statement: [{ Effect: 'Deny', Action: 'ec2:ReplaceRoute', Resource: '*' }] }),
  }));
  await rejectsWith(nodeEc2.send(new ReplaceRouteCommand({ RouteTableId: lab.ids.routeTableA, DestinationCidrBlock: lab.vip, NetworkInterfaceId: lab.ids.lb1Eni })),
    'UnauthorizedOperation', 403);
});

void test('IAM refuses unknown keys and bad signatures with its own codes', async (t) => {
  const { iam } = await start(t);
  await rejectsWith(iam({ accessKeyId: 'AKIAUNKNOWN00000000', secretAccessKey: 'x' }).send(new GetRoleCommand({ RoleName: 'a' })), 'InvalidClientTokenId', 403);
  await rejectsWith(iam({ accessKeyId: ADMIN.accessKeyId, secretAccessKey: 'wrong' }).send(new GetRoleCommand({ RoleName: 'a' })), 'SignatureDoesNotMatch', 403);
});

void test('STS GetCallerIdentity names the caller: the admin user, or the role session of instance credentials (no permission needed)', async (t) => {
  const { lab, iam, sts } = await start(t);
  const admin = await sts({ accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey }).send(new GetCallerIdentityCommand({}));
  assert.deepEqual([admin.Account, admin.Arn], [lab.cloud.accountId, 'arn:aws:iam::123456789012:user/admin']);
  assert.match(admin.UserId ?? '', /^AIDA[0-9A-F]{17}$/);
  const role = (await iam().send(new CreateRoleCommand({ RoleName: 'node', AssumeRolePolicyDocument: TRUST }))).Role!;
  // A role whose policies allow nothing still learns who it is, as in AWS.
  await iam().send(new PutRolePolicyCommand({ RoleName: 'node', PolicyName: 'none', PolicyDocument: JSON.stringify({ Statement: [] }) }));
  const c = lab.cloud.issueRoleCredentials('node');
  const me = await sts({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken }).send(new GetCallerIdentityCommand({}));
  assert.deepEqual([me.Arn, me.UserId], ['arn:aws:sts::123456789012:assumed-role/node/node', `${role.RoleId}:node`]);
  await rejectsWith(sts({ accessKeyId: c.accessKeyId, secretAccessKey: 'wrong', sessionToken: c.sessionToken }).send(new GetCallerIdentityCommand({})), 'SignatureDoesNotMatch', 403);
  await rejectsWith(sts({ accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey }).send(new GetCallerIdentityCommand({})), 'InvalidClientTokenId', 403);
});
