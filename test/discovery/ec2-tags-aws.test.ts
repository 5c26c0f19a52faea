/**
 * The `ec2-tags` source with the real describer (src/cloud/aws/ec2-instances.ts, the AWS SDK)
 * against the lab's EC2-compatible API, signed with the LB nodes' role policy (the one the lab
 * and docs/install.md grant: `ec2:Describe*` on `*`).
 *
 * GIVEN 12 running instances tagged role=app env=prod, plus decoys (another tag value, only one
 *   of the tags, a stopped instance, the example cloud's own instances)
 * WHEN the source polls with pages of 5 (MaxResults' minimum: three pages)
 * THEN it reports exactly the 12 private IPs with the configured port;
 * WHEN one of them stops THEN the next poll drops it.
 * AND a caller whose policy lacks ec2:DescribeInstances gets CLOUD_UNAUTHORIZED as the source's health.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { buildExampleCloud, type ExampleCloud } from '../../src/lab/ec2/example.js';
import type { LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { lbNodePolicy } from '../../src/lab/controller.js';
import { createEc2Client } from '../../src/cloud/aws/ec2-routes.js';
import { Ec2InstancesApi } from '../../src/cloud/aws/ec2-instances.js';
import { createEc2TagsSource } from '../../src/discovery/ec2-tags-source.js';
import { recordingLogger, runSource } from './collect.js';

const REGION = 'eu-west-1';

async function startApi(t: TestContext, lab: ExampleCloud, policy: LabCredential['policy']): Promise<{ url: string; credentials: { accessKeyId: string; secretAccessKey: string } }> {
  const node: LabCredential = { accessKeyId: 'AKIALABNODE00000001', secretAccessKey: 'node-secret', principal: 'lb-node', policy };
  const controller = new AbortController();
  const api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [node] });
  t.after(async () => {
    controller.abort();
    await api.close();
  });
  return { url: api.url, credentials: { accessKeyId: node.accessKeyId, secretAccessKey: node.secretAccessKey } };
}

void test('ec2-tags: the running instances with every tag, across pages, through the SDK and the lab API', async (t) => {
  const lab = buildExampleCloud({ region: REGION });
  const apps: { instanceId: string; ip: string }[] = [];
  for (let i = 0; i < 12; i++) {
    const ip = `10.0.${1 + (i % 2)}.${100 + i}`;
    const { instanceId } = lab.cloud.createInstance({ subnetId: i % 2 === 0 ? lab.ids.subnetA : lab.ids.subnetB, privateIp: ip, tags: { role: 'app', env: 'prod', Name: `app-${i}` } });
    apps.push({ instanceId, ip });
  }
  lab.cloud.createInstance({ subnetId: lab.ids.subnetA, privateIp: '10.0.1.200', tags: { role: 'app', env: 'staging' } });
  lab.cloud.createInstance({ subnetId: lab.ids.subnetA, privateIp: '10.0.1.201', tags: { role: 'app' } });
  const stopped = lab.cloud.createInstance({ subnetId: lab.ids.subnetB, privateIp: '10.0.2.200', tags: { role: 'app', env: 'prod' } });
  lab.cloud.setInstanceState({ instanceId: stopped.instanceId, state: 'stopped' });

  const { url, credentials } = await startApi(t, lab, lbNodePolicy({ arn: (type, id) => lab.cloud.arn(type, id), vpcId: lab.ids.vpc, eipAllocationId: null }));
  const client = createEc2Client({ region: REGION, endpoint: url, credentials });
  t.after(() => client.destroy());
  const logs: { level: string; msg: string; fields: Readonly<Record<string, unknown>> }[] = [];
  const source = createEc2TagsSource({
    name: 'apps', tags: { role: 'app', env: 'prod' }, port: 8080, intervalMs: 200,
    describer: new Ec2InstancesApi(client, { pageSize: 5 }), logger: recordingLogger(logs),
  });
  const run = runSource(t, source);
  const want = apps.map((a) => `${a.ip}:8080`).sort();
  await run.waitFor('the 12 tagged running instances', () => JSON.stringify(run.latestKeys()) === JSON.stringify(want));
  assert.equal(source.health().state, 'ok');
  assert.deepEqual(run.latest()?.servers.map((s) => s.name).sort(), apps.map((a) => a.instanceId).sort());

  // WHEN one stops THEN the next poll drops it
  lab.cloud.setInstanceState({ instanceId: apps[3]!.instanceId, state: 'stopped' });
  await run.waitFor('the stopped instance dropped', () => run.latestKeys().length === 11 && !run.latestKeys().includes(`${apps[3]!.ip}:8080`));
});

void test('ec2-tags: a role without ec2:DescribeInstances is reported as CLOUD_UNAUTHORIZED, nothing is emitted', async (t) => {
  const lab = buildExampleCloud({ region: REGION });
  lab.cloud.createInstance({ subnetId: lab.ids.subnetA, privateIp: '10.0.1.100', tags: { role: 'app' } });
  const { url, credentials } = await startApi(t, lab, { Version: '2012-10-17', Statement: [{ Effect: 'Allow', Action: 'ec2:DescribeRouteTables', Resource: '*' }] });
  const client = createEc2Client({ region: REGION, endpoint: url, credentials });
  t.after(() => client.destroy());
  const source = createEc2TagsSource({ name: 'apps', tags: { role: 'app' }, port: 8080, describer: new Ec2InstancesApi(client), backoff: { baseMs: 50, maxMs: 200 } });
  const run = runSource(t, source);
  await run.waitFor('a failed health', () => source.health().state === 'failed');
  assert.equal(source.health().lastError?.code, 'CLOUD_UNAUTHORIZED', JSON.stringify(source.health()));
  assert.match(source.health().lastError?.message ?? '', /DescribeInstances/);
  assert.equal(run.snapshotCount(), 0);
});
