// The lab's S3 (path-style on the lab endpoint) driven by the real AWS SDK for JavaScript v3
// (@aws-sdk/client-s3), with the payload modes it really uses: a signed SHA-256 for buffers and
// STREAMING-UNSIGNED-PAYLOAD-TRAILER (aws-chunked with a CRC32 trailer) for streams.
import assert from 'node:assert/strict';
import { rejectsWithSdkError as rejectsWith } from '../helpers/sdk-errors.js';
import { Readable } from 'node:stream';
import { test, type TestContext } from 'node:test';
import { createHash, createHmac } from 'node:crypto';
import {
  CreateBucketCommand, DeleteBucketCommand, DeleteObjectCommand, DeleteObjectsCommand, GetBucketTaggingCommand, GetBucketVersioningCommand, PutBucketTaggingCommand, GetObjectCommand, HeadBucketCommand,
  HeadObjectCommand, ListBucketsCommand, ListObjectVersionsCommand, ListObjectsV2Command, PutBucketVersioningCommand, PutObjectCommand, S3Client,
} from '@aws-sdk/client-s3';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api, type Ec2Api } from '../../src/lab/ec2/server.js';
import { LabS3 } from '../../src/lab/s3/model.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
const READER: LabCredential = {
  accessKeyId: 'AKIALABREADER000001', secretAccessKey: 'reader-secret', principal: 'reader',
  policy: { Statement: [{ Effect: 'Allow', Action: ['s3:GetObject', 's3:ListBucket'], Resource: ['arn:aws:s3:::releases', 'arn:aws:s3:::releases/nodes/*'] }] },
};
/** May delete versions (DeleteObjects' per-key action with a version id) under nodes/ only. */
const DELETER: LabCredential = {
  accessKeyId: 'AKIALABDELETER00001', secretAccessKey: 'deleter-secret', principal: 'deleter',
  policy: { Statement: [{ Effect: 'Allow', Action: ['s3:DeleteObjectVersion'], Resource: ['arn:aws:s3:::many/nodes/*'] }] },
};
const LOCATION = { LocationConstraint: REGION } as const;

interface Creds { accessKeyId: string; secretAccessKey: string; sessionToken?: string }

async function start(t: TestContext, options: { s3MaxBodyBytes?: number } = {}): Promise<{ lab: ExampleCloud; api: Ec2Api; s3: (c?: Creds) => S3Client }> {
  const lab = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN, READER, DELETER], ...options });
  const clients: S3Client[] = [];
  t.after(async () => {
    for (const c of clients) c.destroy();
    controller.abort();
    await api.close();
  });
  return {
    lab, api,
    s3: (c = { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey }) => {
      const client = new S3Client({ region: REGION, endpoint: api.url, forcePathStyle: true, maxAttempts: 1, credentials: c });
      clients.push(client);
      return client;
    },
  };
}

const md5 = (text: string | Buffer): string => `"${createHash('md5').update(text).digest('hex')}"`;

void test('CreateBucket (location constraint as S3 wants it), ListBuckets, HeadBucket; BucketAlreadyOwnedByYou, InvalidBucketName', async (t) => {
  const { api, s3 } = await start(t);
  const client = s3();
  await rejectsWith(client.send(new CreateBucketCommand({ Bucket: 'releases', CreateBucketConfiguration: { LocationConstraint: 'eu-west-2' } })),
    'IllegalLocationConstraintException', 400, /The eu-west-2 location constraint is incompatible/);
  assert.deepEqual(api.s3.listBuckets(), []);
  // Without a configuration the SDK fills in its own region (the CLI test covers the refusal of none).
  const created = await client.send(new CreateBucketCommand({ Bucket: 'releases' }));
  assert.equal(created.Location, '/releases');
  await rejectsWith(client.send(new CreateBucketCommand({ Bucket: 'releases', CreateBucketConfiguration: LOCATION })), 'BucketAlreadyOwnedByYou', 409);
  await rejectsWith(client.send(new CreateBucketCommand({ Bucket: 'Bad_Name', CreateBucketConfiguration: LOCATION })), 'InvalidBucketName', 400);
  const listed = await client.send(new ListBucketsCommand({}));
  assert.deepEqual(listed.Buckets?.map((b) => b.Name), ['releases']);
  assert.equal((await client.send(new HeadBucketCommand({ Bucket: 'releases' }))).BucketRegion, REGION);
  await rejectsWith(client.send(new HeadBucketCommand({ Bucket: 'nope' })), 'NotFound', 404);
});

void test('bucket tags given at creation (CreateBucketConfiguration Tags), read with GetBucketTagging; NoSuchTagSet, InvalidTag; PutBucketTagging is not served', async (t) => {
  const { api, s3 } = await start(t);
  const client = s3();
  await client.send(new CreateBucketCommand({ Bucket: 'owned', CreateBucketConfiguration: { ...LOCATION, Tags: [{ Key: 'overlay-lb:cluster', Value: 'shop & co <1>' }, { Key: 'team', Value: '' }] } }));
  const tags = await client.send(new GetBucketTaggingCommand({ Bucket: 'owned' }));
  assert.deepEqual(tags.TagSet, [{ Key: 'overlay-lb:cluster', Value: 'shop & co <1>' }, { Key: 'team', Value: '' }]);
  await client.send(new CreateBucketCommand({ Bucket: 'plain', CreateBucketConfiguration: LOCATION }));
  await rejectsWith(client.send(new GetBucketTaggingCommand({ Bucket: 'plain' })), 'NoSuchTagSet', 404);
  await rejectsWith(client.send(new GetBucketTaggingCommand({ Bucket: 'nope' })), 'NoSuchBucket', 404);
  await rejectsWith(client.send(new CreateBucketCommand({ Bucket: 'dup', CreateBucketConfiguration: { ...LOCATION, Tags: [{ Key: 'a', Value: '1' }, { Key: 'a', Value: '2' }] } })), 'InvalidTag', 400);
  await rejectsWith(client.send(new CreateBucketCommand({ Bucket: 'reserved', CreateBucketConfiguration: { ...LOCATION, Tags: [{ Key: 'aws:x', Value: '1' }] } })), 'InvalidTag', 400);
  assert.deepEqual(api.s3.listBuckets().map((b) => b.name), ['owned', 'plain']);
  await rejectsWith(client.send(new PutBucketTaggingCommand({ Bucket: 'plain', Tagging: { TagSet: [{ Key: 'a', Value: '1' }] } })), 'NotImplemented', 501);
  // Reading tags is s3:GetBucketTagging, which the reader's policy does not grant.
  await rejectsWith(s3({ accessKeyId: READER.accessKeyId, secretAccessKey: READER.secretAccessKey }).send(new GetBucketTaggingCommand({ Bucket: 'owned' })), 'AccessDenied', 403);
});

void test('Put/Get/Head/DeleteObject with ETags, metadata, ranges; buffers signed, streams as aws-chunked with a CRC32 trailer', async (t) => {
  const { s3 } = await start(t);
  const client = s3();
  await client.send(new CreateBucketCommand({ Bucket: 'releases', CreateBucketConfiguration: LOCATION }));
  const put = await client.send(new PutObjectCommand({ Bucket: 'releases', Key: 'nodes/spec v1.yaml', Body: 'vip: 192.168.100.10\n', ContentType: 'text/yaml', Metadata: { build: '42' } }));
  assert.equal(put.ETag, md5('vip: 192.168.100.10\n'));
  assert.equal(put.VersionId, undefined);
  const got = await client.send(new GetObjectCommand({ Bucket: 'releases', Key: 'nodes/spec v1.yaml' }));
  assert.equal(await got.Body?.transformToString(), 'vip: 192.168.100.10\n');
  assert.equal(got.ETag, put.ETag);
  assert.equal(got.ContentType, 'text/yaml');
  assert.equal(got.ContentLength, 20);
  assert.deepEqual(got.Metadata, { build: '42' });
  const head = await client.send(new HeadObjectCommand({ Bucket: 'releases', Key: 'nodes/spec v1.yaml' }));
  assert.equal(head.ContentLength, 20);
  assert.ok(head.LastModified instanceof Date);
  const range = await client.send(new GetObjectCommand({ Bucket: 'releases', Key: 'nodes/spec v1.yaml', Range: 'bytes=0-2' }));
  assert.equal(await range.Body?.transformToString(), 'vip');
  assert.equal(range.ContentRange, 'bytes 0-2/20');

  // A stream of unknown hashing: the SDK sends STREAMING-UNSIGNED-PAYLOAD-TRAILER.
  const parts = [Buffer.alloc(70_000, 'a'), Buffer.alloc(50_000, 'b')];
  const streamed = await client.send(new PutObjectCommand({ Bucket: 'releases', Key: 'nodes/pkg.deb', Body: Readable.from(parts), ContentLength: 120_000 }));
  assert.equal(streamed.ETag, md5(Buffer.concat(parts)));
  const back = await client.send(new GetObjectCommand({ Bucket: 'releases', Key: 'nodes/pkg.deb' }));
  assert.deepEqual(Buffer.from(await back.Body!.transformToByteArray()), Buffer.concat(parts));

  const listed = await client.send(new ListObjectsV2Command({ Bucket: 'releases', Prefix: 'nodes/', Delimiter: '/' }));
  assert.deepEqual(listed.Contents?.map((c) => [c.Key, c.Size]), [['nodes/pkg.deb', 120_000], ['nodes/spec v1.yaml', 20]]);

  await rejectsWith(client.send(new GetObjectCommand({ Bucket: 'releases', Key: 'missing' })), 'NoSuchKey', 404);
  await rejectsWith(client.send(new HeadObjectCommand({ Bucket: 'releases', Key: 'missing' })), 'NotFound', 404);
  await rejectsWith(client.send(new GetObjectCommand({ Bucket: 'nope', Key: 'x' })), 'NoSuchBucket', 404);
  await client.send(new DeleteObjectCommand({ Bucket: 'releases', Key: 'nodes/pkg.deb' }));
  await client.send(new DeleteObjectCommand({ Bucket: 'releases', Key: 'nodes/pkg.deb' })); // deleting nothing succeeds, as in S3
  await rejectsWith(client.send(new GetObjectCommand({ Bucket: 'releases', Key: 'nodes/pkg.deb' })), 'NoSuchKey', 404);
});

void test('conditional writes and reads: If-None-Match: * creates once, If-Match guards an update, GET If-None-Match is 304', async (t) => {
  const { api, s3 } = await start(t);
  const client = s3();
  await client.send(new CreateBucketCommand({ Bucket: 'state', CreateBucketConfiguration: LOCATION }));
  const first = await client.send(new PutObjectCommand({ Bucket: 'state', Key: 'leader', Body: 'a', IfNoneMatch: '*' }));
  await rejectsWith(client.send(new PutObjectCommand({ Bucket: 'state', Key: 'leader', Body: 'b', IfNoneMatch: '*' })), 'PreconditionFailed', 412);
  await rejectsWith(client.send(new PutObjectCommand({ Bucket: 'state', Key: 'leader', Body: 'b', IfMatch: md5('zzz') })), 'PreconditionFailed', 412);
  await rejectsWith(client.send(new PutObjectCommand({ Bucket: 'state', Key: 'other', Body: 'b', IfMatch: first.ETag })), 'NoSuchKey', 404);
  assert.equal(api.s3.get({ bucket: 'state', key: 'leader' }).body.toString(), 'a');
  const second = await client.send(new PutObjectCommand({ Bucket: 'state', Key: 'leader', Body: 'b', IfMatch: first.ETag }));
  assert.equal(second.ETag, md5('b'));
  // 304 has no body, so the SDK cannot name it (as with S3 itself): only the status tells.
  await assert.rejects(client.send(new GetObjectCommand({ Bucket: 'state', Key: 'leader', IfNoneMatch: second.ETag })),
    (error: { $metadata?: { httpStatusCode?: number } }) => error.$metadata?.httpStatusCode === 304);
  await rejectsWith(client.send(new GetObjectCommand({ Bucket: 'state', Key: 'leader', IfMatch: first.ETag })), 'PreconditionFailed', 412);
  assert.equal(await (await client.send(new GetObjectCommand({ Bucket: 'state', Key: 'leader', IfMatch: second.ETag }))).Body?.transformToString(), 'b');
});

void test('versioning: every PUT a version, delete markers, GetObject by versionId, ListObjectVersions pages; DeleteBucket is BucketNotEmpty until every version is gone', async (t) => {
  const { s3 } = await start(t);
  const client = s3();
  await client.send(new CreateBucketCommand({ Bucket: 'specs', CreateBucketConfiguration: LOCATION }));
  assert.equal((await client.send(new GetBucketVersioningCommand({ Bucket: 'specs' }))).Status, undefined);
  await client.send(new PutObjectCommand({ Bucket: 'specs', Key: 'spec.yaml', Body: 'v0' })); // the "null" version
  await client.send(new PutBucketVersioningCommand({ Bucket: 'specs', VersioningConfiguration: { Status: 'Enabled' } }));
  assert.equal((await client.send(new GetBucketVersioningCommand({ Bucket: 'specs' }))).Status, 'Enabled');
  const v1 = await client.send(new PutObjectCommand({ Bucket: 'specs', Key: 'spec.yaml', Body: 'v1' }));
  const v2 = await client.send(new PutObjectCommand({ Bucket: 'specs', Key: 'spec.yaml', Body: 'v2' }));
  assert.ok(v1.VersionId !== undefined && v2.VersionId !== undefined && v1.VersionId !== v2.VersionId);
  const old = await client.send(new GetObjectCommand({ Bucket: 'specs', Key: 'spec.yaml', VersionId: v1.VersionId }));
  assert.equal(await old.Body?.transformToString(), 'v1');
  assert.equal(old.VersionId, v1.VersionId);
  assert.equal(await (await client.send(new GetObjectCommand({ Bucket: 'specs', Key: 'spec.yaml', VersionId: 'null' }))).Body?.transformToString(), 'v0');
  await rejectsWith(client.send(new GetObjectCommand({ Bucket: 'specs', Key: 'spec.yaml', VersionId: 'doesnotexist' })), 'NoSuchVersion', 404);

  const deleted = await client.send(new DeleteObjectCommand({ Bucket: 'specs', Key: 'spec.yaml' }));
  assert.equal(deleted.DeleteMarker, true);
  await rejectsWith(client.send(new GetObjectCommand({ Bucket: 'specs', Key: 'spec.yaml' })), 'NoSuchKey', 404);
  await rejectsWith(client.send(new GetObjectCommand({ Bucket: 'specs', Key: 'spec.yaml', VersionId: deleted.VersionId })), 'MethodNotAllowed', 405);
  await client.send(new PutObjectCommand({ Bucket: 'specs', Key: 'other.yaml', Body: 'x' }));

  const all = await client.send(new ListObjectVersionsCommand({ Bucket: 'specs' }));
  assert.deepEqual(all.Versions?.map((v) => [v.Key, v.VersionId === 'null' ? 'null' : v.VersionId === v1.VersionId ? 'v1' : v.VersionId === v2.VersionId ? 'v2' : 'other', v.IsLatest, v.Size]), [
    ['other.yaml', 'other', true, 1], ['spec.yaml', 'v2', false, 2], ['spec.yaml', 'v1', false, 2], ['spec.yaml', 'null', false, 2],
  ]);
  assert.deepEqual(all.DeleteMarkers?.map((m) => [m.Key, m.VersionId, m.IsLatest]), [['spec.yaml', deleted.VersionId, true]]);
  const pages: string[] = [];
  let keyMarker: string | undefined;
  let versionMarker: string | undefined;
  for (;;) {
    const page = await client.send(new ListObjectVersionsCommand({ Bucket: 'specs', MaxKeys: 2, KeyMarker: keyMarker, VersionIdMarker: versionMarker }));
    pages.push(...(page.Versions ?? []).map((v) => `${v.Key}@${v.VersionId}`), ...(page.DeleteMarkers ?? []).map((m) => `${m.Key}@${m.VersionId}`));
    if (page.IsTruncated !== true) break;
    keyMarker = page.NextKeyMarker;
    versionMarker = page.NextVersionIdMarker;
  }
  assert.equal(pages.length, 5);
  assert.equal(new Set(pages).size, 5);

  await rejectsWith(client.send(new DeleteBucketCommand({ Bucket: 'specs' })), 'BucketNotEmpty', 409);
  for (const entry of [...(all.Versions ?? []), ...(all.DeleteMarkers ?? [])]) {
    await client.send(new DeleteObjectCommand({ Bucket: 'specs', Key: entry.Key, VersionId: entry.VersionId }));
  }
  await client.send(new DeleteBucketCommand({ Bucket: 'specs' }));
  await rejectsWith(client.send(new DeleteBucketCommand({ Bucket: 'specs' })), 'NoSuchBucket', 404);
});

void test('the caller\'s policy decides (AccessDenied), and bad signatures and payloads are refused with S3\'s codes', async (t) => {
  const { api, s3 } = await start(t, { s3MaxBodyBytes: 1000 });
  const admin = s3();
  await admin.send(new CreateBucketCommand({ Bucket: 'releases', CreateBucketConfiguration: LOCATION }));
  await admin.send(new PutObjectCommand({ Bucket: 'releases', Key: 'nodes/a', Body: 'a' }));
  await admin.send(new PutObjectCommand({ Bucket: 'releases', Key: 'secret/b', Body: 'b' }));
  const reader = s3({ accessKeyId: READER.accessKeyId, secretAccessKey: READER.secretAccessKey });
  assert.equal(await (await reader.send(new GetObjectCommand({ Bucket: 'releases', Key: 'nodes/a' }))).Body?.transformToString(), 'a');
  await rejectsWith(reader.send(new GetObjectCommand({ Bucket: 'releases', Key: 'secret/b' })), 'AccessDenied', 403, /Access Denied/);
  await rejectsWith(reader.send(new PutObjectCommand({ Bucket: 'releases', Key: 'nodes/a', Body: 'evil' })), 'AccessDenied', 403);
  await rejectsWith(reader.send(new DeleteBucketCommand({ Bucket: 'releases' })), 'AccessDenied', 403);
  assert.equal(api.s3.get({ bucket: 'releases', key: 'nodes/a' }).body.toString(), 'a');

  await rejectsWith(s3({ accessKeyId: 'AKIAUNKNOWN00000000', secretAccessKey: 'x' }).send(new GetObjectCommand({ Bucket: 'releases', Key: 'nodes/a' })), 'InvalidAccessKeyId', 403);
  await rejectsWith(s3({ accessKeyId: ADMIN.accessKeyId, secretAccessKey: 'wrong' }).send(new GetObjectCommand({ Bucket: 'releases', Key: 'nodes/a' })), 'SignatureDoesNotMatch', 403);
  await rejectsWith(admin.send(new PutObjectCommand({ Bucket: 'releases', Key: 'big', Body: Buffer.alloc(2000) })), 'EntityTooLarge', 400);
  await rejectsWith(admin.send(new PutObjectCommand({ Bucket: 'releases', Key: 'bad-md5', Body: 'x', ContentMD5: createHash('md5').update('y').digest('base64') })), 'BadDigest', 400);
  await rejectsWith(admin.send(new PutObjectCommand({ Bucket: 'releases', Key: 'bad-crc', Body: 'x', ChecksumCRC32: 'AAAAAA==' })), 'BadDigest', 400);
  assert.deepEqual(api.s3.listBuckets()[0]?.versions.size, 2);
});

void test('signed aws-chunked payloads (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): chunk signatures are checked', async (t) => {
  const { api, s3 } = await start(t);
  await s3().send(new CreateBucketCommand({ Bucket: 'chunks', CreateBucketConfiguration: LOCATION }));
  const url = new URL(api.url);
  const date = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  const day = date.slice(0, 8);
  const scope = `${day}/${REGION}/s3/aws4_request`;
  const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data).digest();
  const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
  const key = hmac(hmac(hmac(hmac(`AWS4${ADMIN.secretAccessKey}`, day), REGION), 's3'), 'aws4_request');
  const send = async (tamper: boolean): Promise<number> => {
    const chunks = [Buffer.from('hello '), Buffer.from('world'), Buffer.alloc(0)];
    const headers: Record<string, string> = {
      host: url.host, 'x-amz-date': date, 'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '11',
    };
    const signed = Object.keys(headers).sort();
    const canonical = ['PUT', '/chunks/greeting', '', ...signed.map((h) => `${h}:${headers[h]}`), '', signed.join(';'), 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'].join('\n');
    let previous = hmac(key, ['AWS4-HMAC-SHA256', date, scope, sha(canonical)].join('\n')).toString('hex');
    const seed = previous;
    const body = Buffer.concat(chunks.map((chunk, i) => {
      previous = hmac(key, ['AWS4-HMAC-SHA256-PAYLOAD', date, scope, previous, sha(''), sha(chunk)].join('\n')).toString('hex');
      const data = tamper && i === 1 ? Buffer.from('WORLD') : chunk;
      return Buffer.concat([Buffer.from(`${chunk.length.toString(16)};chunk-signature=${previous}\r\n`), data, Buffer.from('\r\n')]);
    }));
    const response = await fetch(`${api.url}chunks/greeting`, {
      method: 'PUT', body,
      headers: { ...headers, authorization: `AWS4-HMAC-SHA256 Credential=${ADMIN.accessKeyId}/${scope}, SignedHeaders=${signed.join(';')}, Signature=${seed}` },
    });
    await response.arrayBuffer();
    return response.status;
  };
  assert.equal(await send(true), 403);
  assert.throws(() => api.s3.get({ bucket: 'chunks', key: 'greeting' }), { code: 'NoSuchKey' });
  assert.equal(await send(false), 200);
  assert.equal(api.s3.get({ bucket: 'chunks', key: 'greeting' }).body.toString(), 'hello world');
});

void test('DeleteObjects: versions and keys in one call, per-key errors (a refused key fails alone), Quiet, the 1,000 limit and the checksum header', async (t) => {
  const { api, s3 } = await start(t);
  const client = s3();
  await client.send(new CreateBucketCommand({ Bucket: 'many', CreateBucketConfiguration: LOCATION }));
  await client.send(new PutBucketVersioningCommand({ Bucket: 'many', VersioningConfiguration: { Status: 'Enabled' } }));
  const odd = 'status/a b+c&<d>.json';
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) ids.push((await client.send(new PutObjectCommand({ Bucket: 'many', Key: odd, Body: `v${i}` }))).VersionId!);
  await client.send(new PutObjectCommand({ Bucket: 'many', Key: 'other', Body: 'x' }));
  const marker = (await client.send(new DeleteObjectCommand({ Bucket: 'many', Key: 'other' }))).VersionId!;
  // Two versions of the odd key and the marker by version id, a key without one (a new marker).
  const out = await client.send(new DeleteObjectsCommand({ Bucket: 'many', Delete: { Objects: [{ Key: odd, VersionId: ids[0] }, { Key: odd, VersionId: ids[1] }, { Key: 'other', VersionId: marker }, { Key: 'plain' }] } }));
  assert.equal(out.Errors, undefined);
  assert.deepEqual(out.Deleted?.map((d) => [d.Key, d.VersionId, d.DeleteMarker ?? false]), [[odd, ids[0], false], [odd, ids[1], false], ['other', marker, true], ['plain', undefined, true]]);
  assert.ok(out.Deleted?.[3]?.DeleteMarkerVersionId !== undefined, 'a key without a version id gets a delete marker');
  assert.deepEqual(api.s3.allVersions(api.s3.bucket('many')).map(({ version }) => [version.key, version.versionId]), [['other', api.s3.allVersions(api.s3.bucket('many'))[0]!.version.versionId], ['plain', out.Deleted?.[3]?.DeleteMarkerVersionId], [odd, ids[2]]]);
  // Quiet: only errors are answered. A caller allowed s3:DeleteObjectVersion on one prefix only:
  // the key outside fails alone with AccessDenied, the other is deleted.
  const quiet = await client.send(new DeleteObjectsCommand({ Bucket: 'many', Delete: { Quiet: true, Objects: [{ Key: odd, VersionId: ids[2] }] } }));
  assert.equal(quiet.Deleted, undefined);
  assert.equal(quiet.Errors, undefined);
  assert.throws(() => api.s3.get({ bucket: 'many', key: odd }), { code: 'NoSuchKey' });
  await client.send(new PutObjectCommand({ Bucket: 'many', Key: 'nodes/a', Body: 'a' }));
  const kept = (await client.send(new PutObjectCommand({ Bucket: 'many', Key: 'kept', Body: 'k' }))).VersionId!;
  const nodesA = api.s3.get({ bucket: 'many', key: 'nodes/a' }).versionId;
  const deleter = s3({ accessKeyId: DELETER.accessKeyId, secretAccessKey: DELETER.secretAccessKey });
  const refused = await deleter.send(new DeleteObjectsCommand({ Bucket: 'many', Delete: { Objects: [{ Key: 'kept', VersionId: kept }, { Key: 'nodes/a', VersionId: nodesA }] } }));
  assert.deepEqual(refused.Errors?.map((e) => [e.Key, e.VersionId, e.Code]), [['kept', kept, 'AccessDenied']]);
  assert.deepEqual(refused.Deleted?.map((d) => [d.Key, d.VersionId]), [['nodes/a', nodesA]]);
  assert.equal(api.s3.get({ bucket: 'many', key: 'kept' }).versionId, kept, 'a refused key stays');
  assert.throws(() => api.s3.get({ bucket: 'many', key: 'nodes/a' }), { code: 'NoSuchKey' });
  // Without a version id the key needs s3:DeleteObject, which the deleter does not have.
  const noMarker = await deleter.send(new DeleteObjectsCommand({ Bucket: 'many', Delete: { Objects: [{ Key: 'nodes/b' }] } }));
  assert.deepEqual(noMarker.Errors?.map((e) => e.Code), ['AccessDenied']);
  // More than 1,000 keys, or none: MalformedXML. An unknown bucket: NoSuchBucket.
  await rejectsWith(client.send(new DeleteObjectsCommand({ Bucket: 'many', Delete: { Objects: Array.from({ length: 1001 }, (_, i) => ({ Key: `k${i}` })) } })), 'MalformedXML', 400);
  await rejectsWith(client.send(new DeleteObjectsCommand({ Bucket: 'many', Delete: { Objects: [] } })), 'MalformedXML', 400);
  await rejectsWith(client.send(new DeleteObjectsCommand({ Bucket: 'nope', Delete: { Objects: [{ Key: 'a' }] } })), 'NoSuchBucket', 404);
  // The request must carry Content-MD5 or an x-amz-checksum-* (the SDK sends one): stripped before signing, refused.
  const bare = s3();
  const strip = (next: (args: { request: unknown }) => Promise<unknown>) => async (args: { request: unknown }): Promise<unknown> => {
    const request = args.request as { headers: Record<string, string> };
    for (const name of Object.keys(request.headers)) if (/^(content-md5|x-amz-checksum-|x-amz-sdk-checksum-)/i.test(name)) delete request.headers[name];
    return next(args);
  };
  bare.middlewareStack.addRelativeTo(strip as unknown as Parameters<typeof bare.middlewareStack.addRelativeTo>[0], { relation: 'before', toMiddleware: 'httpSigningMiddleware' });
  await rejectsWith(bare.send(new DeleteObjectsCommand({ Bucket: 'many', Delete: { Objects: [{ Key: 'kept' }] } })), 'InvalidRequest', 400, /Content-MD5/);
  assert.equal(api.s3.get({ bucket: 'many', key: 'kept' }).versionId, kept);
});

void test('version ids look like S3\'s (32 of [A-Za-z0-9._]) and never start with "-", which the aws CLI would read as an option', () => {
  const s3 = new LabS3({ region: REGION, clock: () => Date.now() });
  s3.createBucket({ name: 'ids', locationConstraint: REGION });
  s3.setVersioning('ids', 'Enabled');
  // 2,000 ids: with base64url's alphabet about 31 of them would start with "-".
  const ids = Array.from({ length: 2000 }, () => s3.put({ bucket: 'ids', key: 'k', body: Buffer.from('x') }).versionId);
  assert.deepEqual(ids.filter((id) => !/^[A-Za-z0-9._]{32}$/.test(id)), []);
  assert.equal(new Set(ids).size, ids.length);
});
