// Issue 18 item 6, S3 unreachable or slow: the lab's S3 faults through the real AWS SDK v3. While
// S3 is unreachable its requests are reset (or never answered) and EC2 on the same endpoint still
// answers; while it is slow every S3 answer waits (through the API's injectable sleep).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { DescribeVpcsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api, type Ec2Api } from '../../src/lab/ec2/server.js';
import { validateFault } from '../../src/lab/controller.js';
import { planLab } from '../../src/lab/plan.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
const credentials = { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey };

async function start(t: TestContext): Promise<{ api: Ec2Api; s3: S3Client; ec2: EC2Client; slept: number[] }> {
  const lab = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const slept: number[] = [];
  const api = await startEc2Api({
    cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [ADMIN],
    sleep: (ms) => {
      slept.push(ms);
      return Promise.resolve();
    },
  });
  // A bounded wait for the `hang` case (a client gives up; nothing here measures time).
  const s3 = new S3Client({ region: REGION, endpoint: api.url, forcePathStyle: true, maxAttempts: 1, credentials, requestHandler: { requestTimeout: 1500, throwOnRequestTimeout: true } });
  const ec2 = new EC2Client({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials });
  t.after(async () => {
    s3.destroy();
    ec2.destroy();
    controller.abort();
    await api.close();
  });
  await s3.send(new CreateBucketCommand({ Bucket: 'releases' }));
  await s3.send(new PutObjectCommand({ Bucket: 'releases', Key: 'spec.yaml', Body: 'cluster: {}\n' }));
  return { api, s3, ec2, slept };
}

/** A network-level failure: no HTTP status reached the SDK. */
async function failsWithoutAnswer(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: Error & { $metadata?: { httpStatusCode?: number }; code?: string }) => {
    assert.equal(error.$metadata?.httpStatusCode, undefined, `S3 answered: ${error.name} ${error.message}`);
    assert.match(`${error.name} ${error.code ?? ''} ${error.message}`, pattern);
    return true;
  });
}

void test('s3 unreachable (drop): S3 requests are reset, EC2 still answers; cleared, S3 serves again', async (t) => {
  const { api, s3, ec2 } = await start(t);
  api.faults.setS3Unreachable('drop');
  assert.equal(api.faults.status().s3Unreachable, 'drop');
  await failsWithoutAnswer(s3.send(new GetObjectCommand({ Bucket: 'releases', Key: 'spec.yaml' })), /ECONNRESET|socket hang up|EPIPE/i);
  assert.ok(((await ec2.send(new DescribeVpcsCommand({}))).Vpcs ?? []).length > 0);
  api.faults.clear();
  const got = await s3.send(new GetObjectCommand({ Bucket: 'releases', Key: 'spec.yaml' }));
  assert.equal(await got.Body?.transformToString(), 'cluster: {}\n');
});

void test('s3 unreachable (hang): S3 requests are never answered, EC2 still answers', async (t) => {
  const { api, s3, ec2 } = await start(t);
  api.faults.setS3Unreachable('hang');
  await failsWithoutAnswer(s3.send(new GetObjectCommand({ Bucket: 'releases', Key: 'spec.yaml' })), /timeout|timed out/i);
  assert.ok(((await ec2.send(new DescribeVpcsCommand({}))).Vpcs ?? []).length > 0);
  api.faults.setS3Unreachable(null);
  assert.equal((await s3.send(new GetObjectCommand({ Bucket: 'releases', Key: 'spec.yaml' }))).ContentLength, 12);
});

void test('s3 slow: every S3 answer waits the fault\'s delay, EC2 answers do not', async (t) => {
  const { api, s3, ec2, slept } = await start(t);
  api.faults.setS3Latency(300);
  slept.length = 0;
  await s3.send(new GetObjectCommand({ Bucket: 'releases', Key: 'spec.yaml' }));
  await s3.send(new PutObjectCommand({ Bucket: 'releases', Key: 'b', Body: 'x' }));
  await ec2.send(new DescribeVpcsCommand({}));
  assert.deepEqual(slept, [300, 300]);
  // On top of an operation's own latency fault.
  api.faults.setLatency('GetObject', 50);
  await s3.send(new GetObjectCommand({ Bucket: 'releases', Key: 'spec.yaml' }));
  assert.equal(slept.at(-1), 350);
  assert.equal(api.faults.status().s3LatencyMs, 300);
  assert.throws(() => api.faults.setS3Latency(-1), RangeError);
});

void test('the lab fault knobs s3-latency and s3-unreachable are checked like the others', () => {
  const plan = planLab({ cluster: { name: 'c', vip: '192.168.100.10', vpcCidrs: ['10.0.0.0/16'], nodes: [{ name: 'lb-a', address: '10.0.1.10', zone: 'az-a' }, { name: 'lb-b', address: '10.0.2.10', zone: 'az-b' }], cloud: {} }, backends: [] }, { azs: 2 });
  validateFault(plan, { kind: 's3-latency', ms: 200 });
  validateFault(plan, { kind: 's3-unreachable' });
  validateFault(plan, { kind: 's3-unreachable', mode: 'hang' });
  assert.throws(() => validateFault(plan, { kind: 's3-latency', ms: -5 }), /s3-latency ms -5 is out of range: allowed is 0 to 600000/);
  assert.throws(() => validateFault(plan, { kind: 's3-unreachable', mode: 'slow' as 'drop' }), /s3-unreachable mode "slow": allowed are drop, hang/);
});
