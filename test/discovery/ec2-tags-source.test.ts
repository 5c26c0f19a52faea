// The ec2-tags source against the lab's EC2-compatible API, through the real AWS SDK v3 (the
// describer here stands in for the one src/cloud/aws will provide).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EC2Client, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { createEc2TagsSource, type Ec2InstanceDescriber, type Ec2InstanceSummary } from '../../src/discovery/ec2-tags-source.js';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import { ALLOW_ALL_POLICY, type LabCredential } from '../../src/lab/ec2/policy.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { runSource } from './collect.js';

const REGION = 'eu-west-1';
const ADMIN: LabCredential = { accessKeyId: 'AKIALABADMIN0000001', secretAccessKey: 'admin-secret', principal: 'admin', policy: ALLOW_ALL_POLICY };

function sdkDescriber(client: EC2Client): Ec2InstanceDescriber {
  return {
    describeInstancesByTags: async (tags, { signal }) => {
      const out: Ec2InstanceSummary[] = [];
      const Filters = Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] }));
      for await (const page of paginateDescribeInstances({ client }, { Filters }, { abortSignal: signal })) {
        for (const r of page.Reservations ?? []) {
          for (const i of r.Instances ?? []) {
            out.push({ instanceId: i.InstanceId ?? '', state: i.State?.Name ?? 'unknown', ...(i.PrivateIpAddress ? { privateIp: i.PrivateIpAddress } : {}) });
          }
        }
      }
      return out;
    },
  };
}

void test('ec2-tags source against the lab API: running tagged instances, stop/start, API down and back', async (t) => {
  const lab = buildExampleCloud({ region: REGION });
  const web1 = lab.cloud.createInstance({ subnetId: lab.ids.subnetA, privateIp: '10.0.1.50', tags: { role: 'web', env: 'prod' } });
  lab.cloud.createInstance({ subnetId: lab.ids.subnetB, privateIp: '10.0.2.50', tags: { role: 'web', env: 'prod' } });
  lab.cloud.createInstance({ subnetId: lab.ids.subnetB, privateIp: '10.0.2.51', tags: { role: 'web', env: 'dev' } });
  let ctl = new AbortController();
  let api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: 0, signal: ctl.signal, credentials: [ADMIN] });
  const port = new URL(api.url).port;
  t.after(async () => {
    ctl.abort();
    await api.close();
  });
  const client = new EC2Client({ region: REGION, endpoint: api.url, maxAttempts: 1, credentials: { accessKeyId: ADMIN.accessKeyId, secretAccessKey: ADMIN.secretAccessKey } });
  t.after(() => client.destroy());

  const source = createEc2TagsSource({ name: 'ec2', tags: { role: 'web', env: 'prod' }, port: 8080, describer: sdkDescriber(client), intervalMs: 100, backoff: { baseMs: 50, maxMs: 300 } });
  const c = runSource(t, source);
  await c.waitFor('first snapshot', () => c.snapshotCount() === 1);
  assert.deepEqual(c.latestKeys(), ['10.0.1.50:8080', '10.0.2.50:8080']);
  assert.equal(c.latest()?.servers[0]?.name, web1.instanceId);

  // WHEN an instance stops THEN it leaves the snapshot.
  lab.cloud.setInstanceState({ instanceId: web1.instanceId, state: 'stopped' });
  await c.waitFor('stopped instance leaves', () => c.latestKeys().join() === '10.0.2.50:8080');
  const count = c.snapshotCount();

  // WHEN the API goes away THEN the snapshot stands and health is stale; it recovers on return.
  ctl.abort();
  await api.close();
  await c.waitFor('stale when API is down', () => source.health().state === 'stale');
  assert.equal(c.snapshotCount(), count);
  lab.cloud.setInstanceState({ instanceId: web1.instanceId, state: 'running' });
  ctl = new AbortController();
  api = await startEc2Api({ cloud: lab.cloud, host: '127.0.0.1', port: Number(port), signal: ctl.signal, credentials: [ADMIN] });
  await c.waitFor('recovered', () => source.health().state === 'ok' && c.latestKeys().join() === '10.0.1.50:8080,10.0.2.50:8080');
});
