/**
 * The agent's own S3 client (src/cloud/aws/s3-rest.ts) and the node's side of the release bucket
 * (provision/release-follow.ts) against the lab's S3, which verifies every signature and the
 * role's policy; what it writes is read back with the AWS SDK, and the other way round.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, PutBucketVersioningCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { objectAddress, s3ErrorFromAnswer, S3RestClient, virtualHostable } from '../../src/cloud/aws/s3-rest.js';
import { s3ReleaseFollow } from '../../src/cloud/aws/provision/release-follow.js';
import { desiredKey, OWNER_METADATA, releaseKeys, statusKey } from '../../src/cloud/aws/provision/names.js';
import { ALLOW_ALL_POLICY } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { OverlayError } from '../../src/util/errors.js';
import { startLabImds } from '../helpers/lab-imds.js';

const REGION = 'eu-west-1';
const ADMIN = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret' };
const BUCKET = 'releases';

async function start(t: TestContext): Promise<{ url: string; imdsUrl: string; sdk: S3Client; ours: S3RestClient; setRolePolicy: (resources: string[]) => void }> {
  const imds = await startLabImds(t, { requireV2: true, startAt: Date.now() });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: imds.lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [{ ...ADMIN, principal: 'admin', policy: ALLOW_ALL_POLICY }] });
  const sdk = new S3Client({ region: REGION, endpoint: api.url, forcePathStyle: true, maxAttempts: 1, credentials: ADMIN });
  const ours = new S3RestClient({ region: REGION, endpoint: api.url, credentials: ADMIN });
  t.after(async () => {
    sdk.destroy();
    ours.destroy();
    controller.abort();
    await api.close();
  });
  await sdk.send(new CreateBucketCommand({ Bucket: BUCKET }));
  await sdk.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  return {
    url: api.url, imdsUrl: imds.url, sdk, ours,
    setRolePolicy: (resources) => imds.lab.cloud.putRolePolicy('lb-node', { Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:GetObjectVersion', 's3:PutObject'], Resource: resources }] }),
  };
}

const signal = (): AbortSignal => AbortSignal.timeout(30_000);

void test('s3-rest: which buckets AWS\'s endpoint addresses by host name; error answers with and without S3\'s document', () => {
  assert.equal(virtualHostable('releases-01'), true);
  assert.equal(virtualHostable('my.bucket'), false, 'a dot breaks the endpoint certificate\'s wildcard');
  assert.equal(virtualHostable('ab'), false);
  const aws = new URL('https://s3.eu-west-1.amazonaws.com');
  const at = (pathStyle: boolean, bucket: string, key: string): string => {
    const a = objectAddress(aws, pathStyle, bucket, key);
    return `${a.endpoint.host}${a.path}`;
  };
  assert.equal(at(false, 'releases', 'prod/spec v1/\u263a.yaml'), 'releases.s3.eu-west-1.amazonaws.com/prod/spec%20v1/%E2%98%BA.yaml');
  assert.equal(at(false, 'my.bucket', 'a'), 's3.eu-west-1.amazonaws.com/my.bucket/a');
  assert.equal(at(true, 'releases', "it's(1)"), "s3.eu-west-1.amazonaws.com/releases/it%27s%281%29");
  const e = s3ErrorFromAnswer(404, '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>a</Key><RequestId>R1</RequestId></Error>', 'H1');
  assert.deepEqual([e.Code, e.message, e.$metadata.httpStatusCode, e.$metadata.requestId, e.$fault], ['NoSuchKey', 'The specified key does not exist.', 404, 'R1', 'client']);
  const bare = s3ErrorFromAnswer(304, '', 'H2');
  assert.deepEqual([bare.Code, bare.message, bare.$metadata.requestId], ['NotModified', 'S3 answered HTTP 304', 'H2']);
  const proxy = s3ErrorFromAnswer(502, '<html>Bad   Gateway</html>', undefined);
  assert.deepEqual([proxy.Code, proxy.message, proxy.$fault], ['InternalError', 'S3 answered HTTP 502 without an S3 error document: <html>Bad Gateway</html>', 'server']);
});

void test('s3-rest: put and get as the SDK does (keys with spaces and non-ASCII, metadata, ETag), a conditional get, a version, the errors', async (t) => {
  const { sdk, ours } = await start(t);
  const key = 'prefix/status/lb a \u263a.json';
  await ours.putObject({ bucket: BUCKET, key, body: '{"n":1,"\u00e9":true}', contentType: 'application/json', metadata: { [OWNER_METADATA]: 'prod' } }, signal());
  const head = await sdk.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
  assert.equal(head.ContentType, 'application/json');
  assert.deepEqual(head.Metadata, { [OWNER_METADATA]: 'prod' });
  const viaSdk = await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
  assert.equal(await viaSdk.Body?.transformToString('utf8'), '{"n":1,"\u00e9":true}');
  const first = await ours.getObject({ bucket: BUCKET, key }, signal());
  assert.deepEqual(first, { etag: head.ETag, body: '{"n":1,"\u00e9":true}' });
  await assert.rejects(ours.getObject({ bucket: BUCKET, key, ifNoneMatch: first.etag }, signal()), (err: unknown) => (err as { Code?: string }).Code === 'NotModified' && (err as { $metadata: { httpStatusCode: number } }).$metadata.httpStatusCode === 304);
  const v2 = await sdk.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'second' }));
  assert.equal((await ours.getObject({ bucket: BUCKET, key, ifNoneMatch: first.etag }, signal())).body, 'second');
  assert.ok(v2.VersionId !== undefined);
  assert.equal((await ours.getObject({ bucket: BUCKET, key, versionId: v2.VersionId }, signal())).body, 'second');
  await assert.rejects(ours.getObject({ bucket: BUCKET, key: 'nothing/here' }, signal()), (err: unknown) => (err as { Code?: string }).Code === 'NoSuchKey');
  await assert.rejects(ours.getObject({ bucket: 'no-such-bucket', key: 'x' }, signal()), (err: unknown) => (err as { Code?: string }).Code === 'NoSuchBucket');
});

void test('s3ReleaseFollow: with the instance role\'s credentials from the lab\'s IMDS, reads the pointer (found, unchanged, absent), a spec version, publishes the status; what the role may not do is CLOUD_UNAUTHORIZED', async (t) => {
  const { url, imdsUrl, sdk, setRolePolicy } = await start(t);
  const prefix = 'prod/';
  const keys = releaseKeys(prefix);
  setRolePolicy([`arn:aws:s3:::${BUCKET}/${prefix}*`]);
  const follow = s3ReleaseFollow({ bucket: BUCKET, prefix, specKey: keys.specKey, node: 'lb-a', cluster: 'prod', region: REGION, endpoint: url, imdsEndpoint: imdsUrl, signal: signal() });
  t.after(() => follow.destroy());
  assert.equal(follow.where, `s3://${BUCKET}/${prefix}`);
  assert.deepEqual(await follow.readDesired({ etag: null, signal: signal() }), { kind: 'absent' });
  const spec = await sdk.send(new PutObjectCommand({ Bucket: BUCKET, Key: keys.specKey, Body: 'spec: 1\n' }));
  await sdk.send(new PutObjectCommand({ Bucket: BUCKET, Key: desiredKey(prefix, 'lb-a'), Body: `{"version":"${spec.VersionId}"}` }));
  const found = await follow.readDesired({ etag: null, signal: signal() });
  assert.equal(found.kind, 'found');
  assert.ok(found.kind === 'found' && found.etag !== '' && found.body === `{"version":"${spec.VersionId}"}`);
  assert.deepEqual(await follow.readDesired({ etag: found.kind === 'found' ? found.etag : '', signal: signal() }), { kind: 'unchanged' });
  assert.equal(await follow.readSpecVersion(spec.VersionId!, { signal: signal() }), 'spec: 1\n');
  await follow.publishStatus('{"node":"lb-a"}', { signal: signal() });
  const status = await sdk.send(new GetObjectCommand({ Bucket: BUCKET, Key: statusKey(prefix, 'lb-a') }));
  assert.equal(await status.Body?.transformToString('utf8'), '{"node":"lb-a"}');
  assert.deepEqual(status.Metadata, { [OWNER_METADATA]: 'prod' });
  setRolePolicy([`arn:aws:s3:::${BUCKET}/elsewhere/*`]);
  await assert.rejects(follow.publishStatus('{}', { signal: signal() }), (err: unknown) => err instanceof OverlayError && err.code === 'CLOUD_UNAUTHORIZED' && err.details.awsCode === 'AccessDenied' && err.details.action === 's3:PutObject');
});
