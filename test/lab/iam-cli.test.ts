// The lab's IAM API driven by Debian's aws CLI v2 with --endpoint-url, as an operator types it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { test, type TestContext } from 'node:test';
import type { ExampleCloud } from '../../src/lab/ec2/example.js';
import { awsCliSkip as skip, type AwsCli } from '../helpers/aws-cli.js';
import { startCliLabApi } from '../helpers/cli-lab-api.js';

const REGION = 'eu-west-1';
const TRUST = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] };

async function start(t: TestContext): Promise<{ lab: ExampleCloud; cli: AwsCli; aws: (args: readonly string[]) => ReturnType<AwsCli['run']> }> {
  const { lab, api, cli } = await startCliLabApi(t, { region: REGION });
  return { lab, cli, aws: (args) => cli.run([...args, '--endpoint-url', api.url, '--output', 'json']) };
}

void test('aws iam: roles, inline policies, instance profiles and tags, with IAM\'s errors', { skip }, async (t) => {
  const { lab, cli, aws } = await start(t);
  const version = await cli.run(['--version']);
  assert.match(version.stdout, /^aws-cli\/2\./);
  const whoami = await aws(['sts', 'get-caller-identity']);
  assert.equal(whoami.code, 0, whoami.stderr);
  assert.equal((JSON.parse(whoami.stdout) as { Arn: string }).Arn, 'arn:aws:iam::123456789012:user/admin');
  const trustFile = join(cli.home, 'trust.json');
  await writeFile(trustFile, JSON.stringify(TRUST));

  const created = await aws(['iam', 'create-role', '--role-name', 'lb-node', '--assume-role-policy-document', `file://${trustFile}`, '--tags', 'Key=team,Value=edge']);
  assert.equal(created.code, 0, created.stderr);
  const role = (JSON.parse(created.stdout) as { Role: { RoleName: string; Arn: string; AssumeRolePolicyDocument: unknown } }).Role;
  assert.equal(role.Arn, 'arn:aws:iam::123456789012:role/lb-node');
  // The CLI decodes the URL-encoded document IAM sends back into JSON.
  assert.deepEqual(role.AssumeRolePolicyDocument, TRUST);

  const again = await aws(['iam', 'create-role', '--role-name', 'lb-node', '--assume-role-policy-document', `file://${trustFile}`]);
  assert.equal(again.code, 254);
  assert.match(again.stderr, /An error occurred \(EntityAlreadyExists\) when calling the CreateRole operation(?: \(reached max retries: \d+\))?: Role with name lb-node already exists\./);
  const malformed = await aws(['iam', 'create-role', '--role-name', 'x', '--assume-role-policy-document', '{"Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}']);
  assert.match(malformed.stderr, /\(MalformedPolicyDocument\).*Missing required field Principal/);
  assert.equal(lab.cloud.view().roles['x'], undefined);

  const policy = { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:Describe*', Resource: '*' }] };
  const put = await aws(['iam', 'put-role-policy', '--role-name', 'lb-node', '--policy-name', 'describe', '--policy-document', JSON.stringify(policy)]);
  assert.deepEqual([put.code, put.stdout], [0, ''], put.stderr);
  const got = await aws(['iam', 'get-role-policy', '--role-name', 'lb-node', '--policy-name', 'describe']);
  assert.deepEqual((JSON.parse(got.stdout) as { PolicyDocument: unknown }).PolicyDocument, policy);
  const missing = await aws(['iam', 'get-role-policy', '--role-name', 'lb-node', '--policy-name', 'nope']);
  assert.match(missing.stderr, /\(NoSuchEntity\) when calling the GetRolePolicy operation(?: \(reached max retries: \d+\))?: The role policy with name nope cannot be found\./);

  for (const args of [
    ['iam', 'create-instance-profile', '--instance-profile-name', 'lb-node'],
    ['iam', 'add-role-to-instance-profile', '--instance-profile-name', 'lb-node', '--role-name', 'lb-node'],
    ['iam', 'tag-instance-profile', '--instance-profile-name', 'lb-node', '--tags', 'Key=env,Value=lab'],
    ['iam', 'tag-role', '--role-name', 'lb-node', '--tags', 'Key=env,Value=lab'],
  ]) {
    const r = await aws(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const listed = await aws(['iam', 'list-instance-profiles-for-role', '--role-name', 'lb-node']);
  const profiles = (JSON.parse(listed.stdout) as { InstanceProfiles: { InstanceProfileName: string; Roles: { RoleName: string }[] }[] }).InstanceProfiles;
  assert.deepEqual(profiles.map((p) => [p.InstanceProfileName, p.Roles.map((r) => r.RoleName)]), [['lb-node', ['lb-node']]]);
  const profile = await aws(['iam', 'get-instance-profile', '--instance-profile-name', 'lb-node', '--query', 'InstanceProfile.Tags']);
  assert.deepEqual(JSON.parse(profile.stdout), [{ Key: 'env', Value: 'lab' }]);
  const tags = await aws(['iam', 'list-role-tags', '--role-name', 'lb-node', '--query', 'Tags[].Key']);
  assert.deepEqual(JSON.parse(tags.stdout), ['team', 'env']);

  const conflict = await aws(['iam', 'delete-role', '--role-name', 'lb-node']);
  assert.match(conflict.stderr, /\(DeleteConflict\) when calling the DeleteRole operation(?: \(reached max retries: \d+\))?: Cannot delete entity, must delete policies first\./);
  const full = await aws(['iam', 'add-role-to-instance-profile', '--instance-profile-name', 'lb-node', '--role-name', 'lb-node']);
  assert.match(full.stderr, /\(LimitExceeded\).*InstanceSessionsPerInstanceProfile: 1/);
  for (const args of [
    ['iam', 'untag-role', '--role-name', 'lb-node', '--tag-keys', 'env', 'team'],
    ['iam', 'untag-instance-profile', '--instance-profile-name', 'lb-node', '--tag-keys', 'env'],
    ['iam', 'delete-role-policy', '--role-name', 'lb-node', '--policy-name', 'describe'],
    ['iam', 'remove-role-from-instance-profile', '--instance-profile-name', 'lb-node', '--role-name', 'lb-node'],
    ['iam', 'delete-instance-profile', '--instance-profile-name', 'lb-node'],
    ['iam', 'delete-role', '--role-name', 'lb-node'],
  ]) {
    const r = await aws(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  const gone = await aws(['iam', 'get-role', '--role-name', 'lb-node']);
  assert.match(gone.stderr, /\(NoSuchEntity\) when calling the GetRole operation(?: \(reached max retries: \d+\))?: The role with name lb-node cannot be found\./);
  const noProfile = await aws(['iam', 'delete-instance-profile', '--instance-profile-name', 'lb-node']);
  assert.match(noProfile.stderr, /\(NoSuchEntity\).*Instance Profile lb-node cannot be found\./);
  assert.deepEqual([lab.cloud.view().roles, lab.cloud.view().instanceProfiles], [{}, {}]);
});

void test('aws iam list-roles / list-instance-profiles: --path-prefix, and the CLI\'s own paging over Marker (--page-size 1)', { skip }, async (t) => {
  const { cli, aws } = await start(t);
  assert.match((await cli.run(['--version'])).stdout, /^aws-cli\/2\./);
  const trustFile = join(cli.home, 'trust.json');
  await writeFile(trustFile, JSON.stringify(TRUST));
  for (const args of [
    ['iam', 'create-role', '--role-name', 'list-b', '--assume-role-policy-document', `file://${trustFile}`, '--tags', 'Key=k,Value=v'],
    ['iam', 'create-role', '--role-name', 'list-a', '--path', '/team/', '--assume-role-policy-document', `file://${trustFile}`],
    ['iam', 'create-instance-profile', '--instance-profile-name', 'list-p', '--path', '/team/'],
    ['iam', 'add-role-to-instance-profile', '--instance-profile-name', 'list-p', '--role-name', 'list-a'],
  ]) {
    const r = await aws(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
  }
  type Roles = { Roles: { RoleName: string; Path: string; Tags?: unknown }[] };
  const all = await aws(['iam', 'list-roles']);
  assert.equal(all.code, 0, all.stderr);
  const roles = (JSON.parse(all.stdout) as Roles).Roles;
  assert.deepEqual(roles.map((r) => r.RoleName), ['list-a', 'list-b']);
  assert.ok(roles.every((r) => r.Tags === undefined), 'IAM lists roles without their tags');
  // One role per request: the CLI follows IsTruncated/Marker to the end and joins the pages.
  const paged = await aws(['iam', 'list-roles', '--page-size', '1']);
  assert.deepEqual((JSON.parse(paged.stdout) as Roles).Roles.map((r) => r.RoleName), ['list-a', 'list-b']);
  const team = await aws(['iam', 'list-roles', '--path-prefix', '/team/']);
  assert.deepEqual((JSON.parse(team.stdout) as Roles).Roles.map((r) => [r.RoleName, r.Path]), [['list-a', '/team/']]);
  const profiles = await aws(['iam', 'list-instance-profiles', '--path-prefix', '/team/', '--page-size', '1']);
  assert.equal(profiles.code, 0, profiles.stderr);
  assert.deepEqual((JSON.parse(profiles.stdout) as { InstanceProfiles: { InstanceProfileName: string; Roles: { RoleName: string }[] }[] }).InstanceProfiles.map((p) => [p.InstanceProfileName, p.Roles.map((r) => r.RoleName)]), [['list-p', ['list-a']]]);
});
