// DeleteTags (and DescribeTags to read the result) on the lab's EC2 API, driven by the AWS SDK v3
// and by Debian's aws CLI v2, per the EC2 API reference
// (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DeleteTags.html): a key alone
// deletes the tag whatever its value, a key with a value (also empty) only while the value
// matches, no Tag.N deletes every user tag; missing tags are no error, unknown or untaggable
// resources and `aws:` keys are, and a rejected call changes nothing.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CreateTagsCommand, DeleteTagsCommand, DescribeTagsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startExampleEc2 } from '../helpers/example-ec2.js';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';
import { awsCli, awsCliSkip, type AwsCli } from '../helpers/aws-cli.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
const LIMITED: LabCredential = {
  accessKeyId: 'AKIALABLIMITED00001', secretAccessKey: 'limited-secret', principal: 'limited',
  // May delete the `scratch` tag key only.
  policy: { Statement: [{ Effect: 'Allow', Action: 'ec2:DeleteTags', Resource: '*', Condition: { 'ForAllValues:StringEquals': { 'aws:TagKeys': ['scratch'] } } }] },
};

const start = (t: TestContext): ReturnType<typeof startExampleEc2> => startExampleEc2(t, { region: REGION, admin: ADMIN, limited: LIMITED });

/** A resource's tags as DescribeTags lists them, key -> value. */
async function tagsOf(ec2: EC2Client, id: string): Promise<Record<string, string>> {
  const out = await ec2.send(new DescribeTagsCommand({ Filters: [{ Name: 'resource-id', Values: [id] }] }));
  return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key!, t.Value!]));
}

void test('DeleteTags with the SDK: key only, key=value, key=empty, all tags; every kind the lab tags', async (t) => {
  const { lab, ec2 } = await start(t);
  const { groupId } = lab.cloud.createSecurityGroup({ vpcId: lab.ids.vpc, groupName: 'web', description: 'web' });
  const eip = lab.cloud.allocateAddress();
  const ids = [lab.ids.vpc, lab.ids.subnetA, lab.ids.routeTableA, lab.ids.lb1, lab.ids.lb1Eni, groupId, eip.allocationId];
  await ec2.send(new CreateTagsCommand({ Resources: ids, Tags: [{ Key: 'env', Value: 'lab' }, { Key: 'team', Value: 'net' }, { Key: 'empty', Value: '' }] }));

  // A key alone deletes the tag whatever its value, on every resource named.
  await ec2.send(new DeleteTagsCommand({ Resources: ids, Tags: [{ Key: 'env' }] }));
  for (const id of ids) assert.equal((await tagsOf(ec2, id))['env'], undefined, id);

  // A key with a value deletes it only while the value matches.
  await ec2.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1], Tags: [{ Key: 'team', Value: 'other' }] }));
  assert.equal((await tagsOf(ec2, lab.ids.lb1))['team'], 'net');
  await ec2.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1], Tags: [{ Key: 'team', Value: 'net' }] }));
  assert.equal((await tagsOf(ec2, lab.ids.lb1))['team'], undefined);

  // An empty value matches only an empty value.
  await ec2.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1Eni], Tags: [{ Key: 'team', Value: '' }, { Key: 'empty', Value: '' }] }));
  assert.deepEqual(await tagsOf(ec2, lab.ids.lb1Eni), { team: 'net' });

  // A tag that is not there is no error.
  await ec2.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1Eni], Tags: [{ Key: 'no-such-key' }] }));

  // No Tag.N: every tag of the resource goes (Name too).
  assert.equal((await tagsOf(ec2, lab.ids.routeTableA))['Name'], 'rt-a');
  await ec2.send(new DeleteTagsCommand({ Resources: [lab.ids.routeTableA, groupId] }));
  assert.deepEqual(await tagsOf(ec2, lab.ids.routeTableA), {});
  assert.deepEqual(await tagsOf(ec2, groupId), {});
  // Other resources keep theirs.
  assert.deepEqual(await tagsOf(ec2, lab.ids.subnetA), { Name: 'a', team: 'net', empty: '' });
  assert.equal(lab.cloud.view().routeTables[lab.ids.routeTableB]?.tags['Name'], 'rt-b');
});

void test('DeleteTags errors with the SDK: unknown, malformed and untaggable ids, aws: keys, missing resources, policy; a rejected call changes nothing', async (t) => {
  const { lab, ec2, limited } = await start(t);
  await ec2.send(new CreateTagsCommand({ Resources: [lab.ids.lb1], Tags: [{ Key: 'scratch', Value: '1' }, { Key: 'keep', Value: '1' }] }));
  const before = await tagsOf(ec2, lab.ids.lb1);
  // One unknown resource among known ones: nothing is deleted anywhere.
  await rejectsWith(ec2.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1, 'i-00000000000000999'], Tags: [{ Key: 'scratch' }] })),
    'InvalidInstanceID.NotFound', 400, /The instance ID 'i-00000000000000999' does not exist/);
  await rejectsWith(ec2.send(new DeleteTagsCommand({ Resources: ['i-zz'], Tags: [{ Key: 'scratch' }] })), 'InvalidInstanceID.Malformed', 400);
  await rejectsWith(ec2.send(new DeleteTagsCommand({ Resources: ['sg-00000000000000999'] })), 'InvalidGroup.NotFound', 400);
  await rejectsWith(ec2.send(new DeleteTagsCommand({ Resources: ['ami-0123456789abcdef0'], Tags: [{ Key: 'scratch' }] })), 'InvalidParameterValue', 400, /cannot be tagged/);
  await rejectsWith(ec2.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1], Tags: [{ Key: 'aws:cloudformation:stack-name' }] })),
    'InvalidParameterValue', 400, /Tag keys starting with 'aws:' are reserved/);
  await rejectsWith(ec2.send(new DeleteTagsCommand({ Resources: [] })), 'MissingParameter', 400, /resourceIdSet/);
  // The policy sees the keys (aws:TagKeys): `scratch` only; without Tag.N, every key of the resource.
  await rejectsWith(limited.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1], Tags: [{ Key: 'keep' }] })), 'UnauthorizedOperation', 403);
  await rejectsWith(limited.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1] })), 'UnauthorizedOperation', 403);
  await rejectsWith(ec2.send(new DeleteTagsCommand({ DryRun: true, Resources: [lab.ids.lb1], Tags: [{ Key: 'scratch' }] })), 'DryRunOperation', 412);
  assert.deepEqual(await tagsOf(ec2, lab.ids.lb1), before);
  await limited.send(new DeleteTagsCommand({ Resources: [lab.ids.lb1], Tags: [{ Key: 'scratch' }] }));
  assert.deepEqual(await tagsOf(ec2, lab.ids.lb1), { Name: 'lb1', keep: '1' });
});

void test('aws ec2 delete-tags (aws-cli/2): --tags Key=k, Key=k,Value=v, no --tags; describe-tags shows the result; errors', { skip: awsCliSkip }, async (t) => {
  const { lab, url, ec2 } = await start(t);
  const cli: AwsCli = await awsCli({ region: REGION, creds: { key: ADMIN.accessKeyId, secret: ADMIN.secretAccessKey } });
  t.after(() => cli.close());
  const aws = (args: readonly string[]): ReturnType<AwsCli['run']> => cli.run([...args, '--endpoint-url', url]);
  assert.match((await cli.run(['--version'])).stdout, /^aws-cli\/2\./);
  await ec2.send(new CreateTagsCommand({ Resources: [lab.ids.lb1, lab.ids.lb1Eni], Tags: [{ Key: 'env', Value: 'lab' }, { Key: 'team', Value: 'net' }] }));

  const keyOnly = await aws(['ec2', 'delete-tags', '--resources', lab.ids.lb1, lab.ids.lb1Eni, '--tags', 'Key=env']);
  assert.deepEqual(keyOnly, { code: 0, stdout: '', stderr: '' });
  const mismatch = await aws(['ec2', 'delete-tags', '--resources', lab.ids.lb1, '--tags', 'Key=team,Value=other']);
  assert.equal(mismatch.code, 0, mismatch.stderr);
  const listed = await aws(['ec2', 'describe-tags', '--filters', `Name=resource-id,Values=${lab.ids.lb1}`, '--output', 'json']);
  assert.equal(listed.code, 0, listed.stderr);
  const rows = (JSON.parse(listed.stdout) as { Tags: { Key: string; Value: string; ResourceId: string; ResourceType: string }[] }).Tags;
  assert.deepEqual(rows.map((r) => [r.ResourceType, r.Key, r.Value]).sort(), [['instance', 'Name', 'lb1'], ['instance', 'team', 'net']]);
  assert.equal((await aws(['ec2', 'delete-tags', '--resources', lab.ids.lb1, '--tags', 'Key=team,Value=net'])).code, 0);
  assert.deepEqual(await tagsOf(ec2, lab.ids.lb1), { Name: 'lb1' });
  assert.equal((await aws(['ec2', 'delete-tags', '--resources', lab.ids.lb1Eni])).code, 0);
  assert.deepEqual(await tagsOf(ec2, lab.ids.lb1Eni), {});

  const unknown = await aws(['ec2', 'delete-tags', '--resources', 'i-00000000000000999', '--tags', 'Key=env']);
  assert.equal(unknown.code, 254);
  assert.match(unknown.stderr, /\(InvalidInstanceID\.NotFound\) when calling the DeleteTags operation(?: \(reached max retries: \d+\))?: The instance ID 'i-00000000000000999' does not exist/);
  const reserved = await aws(['ec2', 'delete-tags', '--resources', lab.ids.lb1, '--tags', 'Key=aws:x']);
  assert.equal(reserved.code, 254);
  assert.match(reserved.stderr, /\(InvalidParameterValue\) when calling the DeleteTags operation/);
});
