// The lab's bucket lifecycle configuration (PutBucketLifecycleConfiguration,
// GetBucketLifecycleConfiguration, DeleteBucketLifecycle) driven by the real AWS SDK v3 and by
// Debian's aws CLI v2: S3's shapes, its errors, the checksum it requires and the caller's policy.
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import {
  CreateBucketCommand, DeleteBucketCommand, DeleteBucketLifecycleCommand, GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand,
  PutObjectCommand, S3Client, type LifecycleRule,
} from '@aws-sdk/client-s3';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api, type Ec2Api } from '../../src/lab/ec2/server.js';
import { awsCliSkip, type CliResult } from '../helpers/aws-cli.js';
import { startCliLabApi } from '../helpers/cli-lab-api.js';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
/** May read the lifecycle configuration of `releases`, not change it. */
const READER: LabCredential = {
  accessKeyId: 'AKIALABREADER000001', secretAccessKey: 'reader-secret', principal: 'reader',
  policy: { Statement: [{ Effect: 'Allow', Action: ['s3:GetLifecycleConfiguration'], Resource: ['arn:aws:s3:::releases'] }] },
};

async function start(t: TestContext): Promise<{ api: Ec2Api; s3: (c?: LabCredential) => S3Client }> {
  const lab = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN, READER] });
  const clients: S3Client[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    controller.abort();
    await api.close();
  });
  return {
    api,
    s3: (c = ADMIN) => {
      const client = new S3Client({ region: REGION, endpoint: api.url, forcePathStyle: true, maxAttempts: 1, credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } });
      clients.push(client);
      return client;
    },
  };
}

const STATUS_RULE: LifecycleRule = { ID: 'overlay-lb-status-noncurrent', Filter: { Prefix: 'demo/status/' }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 1 } };

void test('Put/Get/DeleteBucketLifecycle through the SDK: the rules as given, NoSuchLifecycleConfiguration once deleted, a replaced configuration', async (t) => {
  const { api, s3 } = await start(t);
  const client = s3();
  await client.send(new CreateBucketCommand({ Bucket: 'releases' }));
  await client.send(new PutBucketVersioningCommand({ Bucket: 'releases', VersioningConfiguration: { Status: 'Enabled' } }));
  await rejectsWith(client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'releases' })), 'NoSuchLifecycleConfiguration', 404, /The lifecycle configuration does not exist/);

  const put = await client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'releases', LifecycleConfiguration: { Rules: [STATUS_RULE] } }));
  assert.equal(put.$metadata.httpStatusCode, 200);
  assert.equal(put.TransitionDefaultMinimumObjectSize, 'all_storage_classes_128K');
  const got = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'releases' }));
  assert.deepEqual(got.Rules, [STATUS_RULE]);
  assert.deepEqual(api.s3.bucket('releases').lifecycle, [{ id: 'overlay-lb-status-noncurrent', prefix: 'demo/status/', form: 'filter', status: 'Enabled', noncurrentDays: 1 }]);

  // A Put replaces the whole configuration: two rules, one with NewerNoncurrentVersions, one in the older rule-level Prefix form, one without an ID (S3 makes one).
  await client.send(new PutBucketLifecycleConfigurationCommand({
    Bucket: 'releases',
    LifecycleConfiguration: { Rules: [
      { ID: 'keep-three', Filter: { Prefix: '' }, Status: 'Disabled', NoncurrentVersionExpiration: { NoncurrentDays: 30, NewerNoncurrentVersions: 3 } },
      { Prefix: 'logs/', Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 7 } },
    ] },
  }));
  const two = (await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'releases' }))).Rules ?? [];
  assert.deepEqual(two[0], { ID: 'keep-three', Filter: { Prefix: '' }, Status: 'Disabled', NoncurrentVersionExpiration: { NoncurrentDays: 30, NewerNoncurrentVersions: 3 } });
  assert.equal(two[1]?.Prefix, 'logs/');
  assert.match(two[1]?.ID ?? '', /^[A-Za-z0-9_-]{20,255}$/);

  const deleted = await client.send(new DeleteBucketLifecycleCommand({ Bucket: 'releases' }));
  assert.equal(deleted.$metadata.httpStatusCode, 204);
  await rejectsWith(client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'releases' })), 'NoSuchLifecycleConfiguration', 404);
  // Deleting what is not there succeeds, as in S3.
  await client.send(new DeleteBucketLifecycleCommand({ Bucket: 'releases' }));

  // The rule is stored, never applied: versions stay (docs/lab-ec2-api.md).
  await client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'releases', LifecycleConfiguration: { Rules: [STATUS_RULE] } }));
  for (const body of ['a', 'b']) await client.send(new PutObjectCommand({ Bucket: 'releases', Key: 'demo/status/lb-a.json', Body: body }));
  assert.equal(api.s3.bucket('releases').versions.get('demo/status/lb-a.json')?.length, 2);
  // A bucket's configuration goes with the bucket.
  await client.send(new CreateBucketCommand({ Bucket: 'gone' }));
  await client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'gone', LifecycleConfiguration: { Rules: [STATUS_RULE] } }));
  await client.send(new DeleteBucketCommand({ Bucket: 'gone' }));
  await client.send(new CreateBucketCommand({ Bucket: 'gone' }));
  await rejectsWith(client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'gone' })), 'NoSuchLifecycleConfiguration', 404);
});

void test('S3\'s errors: MalformedXML, InvalidArgument, InvalidRequest, NoSuchBucket, NotImplemented, the required checksum, AccessDenied by policy', async (t) => {
  const { api, s3 } = await start(t);
  const client = s3();
  await client.send(new CreateBucketCommand({ Bucket: 'releases' }));
  const putRules = (Rules: LifecycleRule[], bucket = 'releases'): Promise<unknown> => client.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules } }));
  const expire = { NoncurrentVersionExpiration: { NoncurrentDays: 1 } };
  await rejectsWith(putRules([STATUS_RULE], 'nope'), 'NoSuchBucket', 404);
  await rejectsWith(client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'nope' })), 'NoSuchBucket', 404);
  await rejectsWith(client.send(new DeleteBucketLifecycleCommand({ Bucket: 'nope' })), 'NoSuchBucket', 404);
  await rejectsWith(putRules([]), 'MalformedXML', 400);
  await rejectsWith(putRules([{ ID: 'both', Filter: { Prefix: 'a/' }, Prefix: 'a/', Status: 'Enabled', ...expire }]), 'MalformedXML', 400);
  await rejectsWith(putRules([{ ID: 'neither', Status: 'Enabled', ...expire }]), 'MalformedXML', 400);
  await rejectsWith(putRules([{ ID: 'status', Filter: { Prefix: 'a/' }, Status: 'On' as 'Enabled', ...expire }]), 'MalformedXML', 400);
  await rejectsWith(putRules([{ ID: 'no-action', Filter: { Prefix: 'a/' }, Status: 'Enabled' }]), 'InvalidRequest', 400, /At least one action/);
  await rejectsWith(putRules([{ ID: 'zero', Filter: { Prefix: 'a/' }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 0 } }]), 'InvalidArgument', 400, /NoncurrentDays/);
  await rejectsWith(putRules([{ ID: 'days', Filter: { Prefix: 'a/' }, Status: 'Enabled', NoncurrentVersionExpiration: { NewerNoncurrentVersions: 2 } }]), 'InvalidArgument', 400, /NoncurrentDays/);
  await rejectsWith(putRules([{ ID: 'many', Filter: { Prefix: 'a/' }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 1, NewerNoncurrentVersions: 101 } }]), 'InvalidArgument', 400, /NewerNoncurrentVersions/);
  await rejectsWith(putRules([{ ...STATUS_RULE }, { ...STATUS_RULE, Filter: { Prefix: 'other/' } }]), 'InvalidArgument', 400, /Rule ID must be unique/);
  await rejectsWith(putRules([{ ...STATUS_RULE, ID: 'x'.repeat(256) }]), 'InvalidArgument', 400, /255/);
  // Actions the lab does not implement are refused, never dropped.
  await rejectsWith(putRules([{ ID: 'exp', Filter: { Prefix: 'a/' }, Status: 'Enabled', Expiration: { Days: 3 } }]), 'NotImplemented', 501, /Expiration/);
  await rejectsWith(putRules([{ ID: 'tag', Filter: { Tag: { Key: 'a', Value: 'b' } }, Status: 'Enabled', ...expire }]), 'NotImplemented', 501, /Tag/);
  assert.equal(api.s3.bucket('releases').lifecycle, null, 'no refused configuration was stored');

  // The body's checksum is required (Content-MD5 or x-amz-checksum-*; the SDK sends one): stripped before signing, refused.
  const bare = s3();
  const strip = (next: (args: { request: unknown }) => Promise<unknown>) => async (args: { request: unknown }): Promise<unknown> => {
    const request = args.request as { headers: Record<string, string> };
    for (const name of Object.keys(request.headers)) if (/^(content-md5|x-amz-checksum-|x-amz-sdk-checksum-)/i.test(name)) delete request.headers[name];
    return next(args);
  };
  bare.middlewareStack.addRelativeTo(strip as unknown as Parameters<typeof bare.middlewareStack.addRelativeTo>[0], { relation: 'before', toMiddleware: 'httpSigningMiddleware' });
  await rejectsWith(bare.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'releases', LifecycleConfiguration: { Rules: [STATUS_RULE] } })), 'InvalidRequest', 400, /Content-MD5/);

  // The caller's policy: s3:PutLifecycleConfiguration for Put and Delete, s3:GetLifecycleConfiguration for Get.
  await putRules([STATUS_RULE]);
  const reader = s3(READER);
  assert.deepEqual((await reader.send(new GetBucketLifecycleConfigurationCommand({ Bucket: 'releases' }))).Rules, [STATUS_RULE]);
  await rejectsWith(reader.send(new PutBucketLifecycleConfigurationCommand({ Bucket: 'releases', LifecycleConfiguration: { Rules: [] } })), 'AccessDenied', 403);
  await rejectsWith(reader.send(new DeleteBucketLifecycleCommand({ Bucket: 'releases' })), 'AccessDenied', 403);
  assert.equal(api.s3.bucket('releases').lifecycle?.length, 1);
});

void test('aws s3api put-/get-/delete-bucket-lifecycle(-configuration) against the lab', { skip: awsCliSkip }, async (t) => {
  const { api, cli } = await startCliLabApi(t, { region: REGION });
  assert.match((await cli.run(['--version'])).stdout, /^aws-cli\/2\./);
  const aws = (args: readonly string[]): Promise<CliResult> => cli.run([...args, '--endpoint-url', api.url]);
  const ok = async (args: readonly string[]): Promise<string> => {
    const r = await aws(args);
    assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  await ok(['s3api', 'create-bucket', '--bucket', 'releases', '--create-bucket-configuration', `LocationConstraint=${REGION}`]);
  assert.match((await aws(['s3api', 'get-bucket-lifecycle-configuration', '--bucket', 'releases'])).stderr, /An error occurred \(NoSuchLifecycleConfiguration\) when calling the GetBucketLifecycleConfiguration operation/);
  const config = { Rules: [{ ID: 'overlay-lb-status-noncurrent', Filter: { Prefix: 'demo/status/' }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 1 } }] };
  await ok(['s3api', 'put-bucket-lifecycle-configuration', '--bucket', 'releases', '--lifecycle-configuration', JSON.stringify(config)]);
  const got = JSON.parse(await ok(['s3api', 'get-bucket-lifecycle-configuration', '--bucket', 'releases', '--output', 'json'])) as { Rules: unknown };
  assert.deepEqual(got.Rules, config.Rules);
  const bad = await aws(['s3api', 'put-bucket-lifecycle-configuration', '--bucket', 'releases', '--lifecycle-configuration', JSON.stringify({ Rules: [{ ...config.Rules[0], NoncurrentVersionExpiration: { NoncurrentDays: 0 } }] })]);
  assert.match(bad.stderr, /An error occurred \(InvalidArgument\) when calling the PutBucketLifecycleConfiguration operation/);
  await ok(['s3api', 'delete-bucket-lifecycle', '--bucket', 'releases']);
  assert.equal(api.s3.bucket('releases').lifecycle, null);
});
