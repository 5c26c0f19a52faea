/**
 * down's removal of the keys the deployment writes (src/cloud/aws/provision/s3-resources.ts
 * `s3PublishedObjects`), against the lab's S3 API in-process (no namespaces) through the real
 * SDK: thousands of marked status versions go in DeleteObjects batches of 1,000, with two
 * HeadObjects per key instead of one per version; a key whose oldest version is someone else's
 * is judged version by version and that version stays, and with it the bucket.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CreateBucketCommand, ListObjectVersionsCommand, PutBucketVersioningCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { s3PublishedObjects, s3Resources, type S3ResourceOptions } from '../../src/cloud/aws/provision/s3-resources.js';
import { ProvisionSession } from '../../src/cloud/aws/provision/session.js';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };

async function start(t: TestContext): Promise<{ session: ProvisionSession; calls: string[] }> {
  const lab = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const calls: string[] = [];
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN], onRequest: (e) => calls.push(e.action ?? '?') });
  const session = new ProvisionSession({ region: REGION, endpoint: api.url, credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey } });
  t.after(async () => {
    session.destroy();
    controller.abort();
    await api.close();
  });
  return { session, calls };
}

void test('thousands of marked status versions: DeleteObjects batches of 1,000, no HeadObject per version; a foreign oldest version is kept, and keeps the bucket', async (t) => {
  const { session, calls } = await start(t);
  const bucket = 'heap-releases';
  const signal = AbortSignal.timeout(300_000);
  await session.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION, Tags: [{ Key: 'overlay-lb:cluster', Value: 'heap' }] } }));
  await session.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  const put = async (key: string, marked: boolean): Promise<string> => (await session.s3.send(new PutObjectCommand({
    Bucket: bucket, Key: key, Body: '{}', ContentType: 'application/json', ...(marked ? { Metadata: { 'overlay-lb-cluster': 'heap' } } : {}),
  }))).VersionId!;
  // lb-a's status written 2,101 times, every write marked as the agents mark it; at lb-b's status
  // key someone else wrote first, then the agent twice.
  for (let i = 0; i < 2101; i += 50) await Promise.all(Array.from({ length: Math.min(50, 2101 - i) }, () => put('demo/status/lb-a.json', true)));
  const foreign = await put('demo/status/lb-b.json', false);
  await put('demo/status/lb-b.json', true);
  await put('demo/status/lb-b.json', true);

  const o: S3ResourceOptions = {
    session, cluster: 'heap', bucket, objects: [],
    published: [{ what: 'status of node lb-a', key: 'demo/status/lb-a.json' }, { what: 'status of node lb-b', key: 'demo/status/lb-b.json' }],
  };
  const [statusA, statusB] = s3PublishedObjects(o);
  calls.length = 0;
  assert.deepEqual(await statusA!.observe({ signal }), { state: 'owned', changes: [] });
  await statusA!.remove!({ signal });
  assert.deepEqual(calls.filter((c) => c !== 'ListObjectVersions'), ['HeadObject', 'HeadObject', 'HeadObject', 'HeadObject', 'DeleteObjects', 'DeleteObjects', 'DeleteObjects']);
  assert.deepEqual(await statusA!.observe({ signal }), { state: 'absent' });

  calls.length = 0;
  await statusB!.remove!({ signal });
  // Newest and oldest first; the oldest is not marked: each of the three judged on its own.
  assert.deepEqual(calls.filter((c) => c !== 'ListObjectVersions'), ['HeadObject', 'HeadObject', 'HeadObject', 'HeadObject', 'HeadObject', 'DeleteObjects']);
  const left = await session.s3.send(new ListObjectVersionsCommand({ Bucket: bucket }));
  assert.deepEqual((left.Versions ?? []).map((v) => [v.Key, v.VersionId]), [['demo/status/lb-b.json', foreign]]);
  assert.equal(left.DeleteMarkers, undefined);
  const bucketResource = s3Resources(o)[0]!;
  const seen = await bucketResource.observeRemoval!({ signal });
  assert.equal(seen.state, 'foreign', JSON.stringify(seen));
});
