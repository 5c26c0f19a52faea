/**
 * up's lifecycle rule on its release bucket (src/cloud/aws/provision/s3-resources.ts
 * `statusLifecycleRule`): planned and applied by up's engine against the lab's S3 API in-process
 * (no namespaces) through the real SDK, every request counted in the lab's own log. A new bucket
 * gets it; a second run makes no write call; a run interrupted before the rule, a rule removed
 * or changed by hand, are a `change` that puts it back while a rule of someone else's stays; a
 * bucket up does not own is a conflict and gets no rule.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { CreateBucketCommand, DeleteBucketLifecycleCommand, GetBucketLifecycleConfigurationCommand, PutBucketLifecycleConfigurationCommand, PutBucketVersioningCommand, type LifecycleRule } from '@aws-sdk/client-s3';
import { s3Resources, STATUS_LIFECYCLE_RULE_ID, statusLifecycleRule, type S3ResourceOptions } from '../../src/cloud/aws/provision/s3-resources.js';
import { ProvisionSession } from '../../src/cloud/aws/provision/session.js';
import { applyProvision, planProvision } from '../../src/provision/engine.js';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };
const READ = /^(Get|List|Head|Describe)/;
const RULE_CHANGE = `lifecycle rule ${STATUS_LIFECYCLE_RULE_ID}`;

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

const options = (session: ProvisionSession, bucket: string): S3ResourceOptions => ({ session, cluster: 'demo', bucket, objects: [], statusPrefix: 'demo/status/' });

/** up's engine over the bucket: its plan, then (apply) the write calls it made. */
async function run(session: ProvisionSession, calls: string[], bucket: string, apply: boolean): Promise<{ action: string; changes: readonly string[]; writes: string[] }> {
  const signal = AbortSignal.timeout(60_000);
  const resources = s3Resources(options(session, bucket));
  calls.length = 0;
  const plan = await planProvision(resources, [], { signal });
  if (apply) await applyProvision(plan, resources, { signal });
  const step = plan.steps[0]!;
  return { action: step.action, changes: step.changes, writes: calls.filter((c) => !READ.test(c)) };
}

const rules = async (session: ProvisionSession, bucket: string): Promise<LifecycleRule[]> => (await session.s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }))).Rules ?? [];

void test('a new bucket gets the rule in its creation; a second run makes no write call', async (t) => {
  const { session, calls } = await start(t);
  const first = await run(session, calls, 'demo-releases', true);
  assert.equal(first.action, 'create');
  assert.deepEqual(first.writes, ['CreateBucket', 'PutBucketVersioning', 'PutBucketLifecycleConfiguration']);
  assert.deepEqual(await rules(session, 'demo-releases'), [
    { ID: 'overlay-lb-status-noncurrent', Filter: { Prefix: 'demo/status/' }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 1 } },
  ]);
  const second = await run(session, calls, 'demo-releases', true);
  assert.deepEqual([second.action, second.writes], ['leave', []]);
  assert.ok(calls.includes('GetBucketLifecycleConfiguration'), 'the plan reads the rule');
});

void test('interrupted before the rule, removed or changed by hand: a change that puts it back, keeping the bucket\'s other rules', async (t) => {
  const { session, calls } = await start(t);
  const bucket = 'demo-releases';
  // As a run killed after CreateBucket and PutBucketVersioning leaves it.
  await session.s3.send(new CreateBucketCommand({ Bucket: bucket, CreateBucketConfiguration: { LocationConstraint: REGION, Tags: [{ Key: 'overlay-lb:cluster', Value: 'demo' }] } }));
  await session.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  const planned = await run(session, calls, bucket, false);
  assert.deepEqual([planned.action, planned.changes, planned.writes], ['change', [RULE_CHANGE], []]);
  const converged = await run(session, calls, bucket, true);
  assert.deepEqual(converged.writes, ['PutBucketLifecycleConfiguration']);
  assert.equal((await run(session, calls, bucket, false)).action, 'leave');

  // Someone's own rule beside it, and up's rule changed to 30 days: the change keeps theirs.
  const theirs: LifecycleRule = { ID: 'logs', Filter: { Prefix: 'logs/' }, Status: 'Enabled', NoncurrentVersionExpiration: { NoncurrentDays: 7 } };
  await session.s3.send(new PutBucketLifecycleConfigurationCommand({ Bucket: bucket, LifecycleConfiguration: { Rules: [theirs, { ...statusLifecycleRule('demo/status/'), NoncurrentVersionExpiration: { NoncurrentDays: 30 } }] } }));
  const changed = await run(session, calls, bucket, true);
  assert.deepEqual([changed.action, changed.changes, changed.writes], ['change', [RULE_CHANGE], ['PutBucketLifecycleConfiguration']]);
  assert.deepEqual(await rules(session, bucket), [theirs, statusLifecycleRule('demo/status/')]);

  // The whole configuration deleted: put back.
  await session.s3.send(new DeleteBucketLifecycleCommand({ Bucket: bucket }));
  const deleted = await run(session, calls, bucket, true);
  assert.deepEqual([deleted.action, deleted.writes], ['change', ['PutBucketLifecycleConfiguration']]);
  assert.deepEqual(await rules(session, bucket), [statusLifecycleRule('demo/status/')]);
});

void test('a bucket up does not own (no ownership tag) is a conflict: its lifecycle is never read or written', async (t) => {
  const { session, calls } = await start(t);
  await session.s3.send(new CreateBucketCommand({ Bucket: 'theirs-releases', CreateBucketConfiguration: { LocationConstraint: REGION } }));
  const planned = await run(session, calls, 'theirs-releases', false);
  assert.equal(planned.action, 'conflict');
  assert.ok(!calls.some((c) => c.includes('Lifecycle')), calls.join(', '));
  await assert.rejects(run(session, calls, 'theirs-releases', true));
  assert.deepEqual(calls.filter((c) => !READ.test(c)), []);
});
