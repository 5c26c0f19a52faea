// The `ec2-tags` discovery source end to end (issue 16): LB nodes running the real agent, haproxy
// and keepalived in a lab; instances launched through the lab's EC2 API boot from user-data into
// an HTTP server; the ones tagged `app=web` join the discovered backend through HAProxy's Runtime
// API (no reload), and one whose tag changes or that is terminated leaves it. Root, shared lock.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, CreateTagsCommand, DescribeSecurityGroupsCommand, EC2Client, RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { agentCounter, isRoot, startE2eLab, waitFor, type E2eLab } from './fixture.js';

const skip = isRoot ? false : 'needs root';
/** The source polls DescribeInstances every 30 s (its default): each change is seen within a poll or two. */
const POLL_MS = 120_000;

/** Adds the source, its backend and a route `/disc/` to it; the rest of the demo spec stays. */
function withDiscovery(spec: Record<string, unknown>): void {
  spec['discovery'] = [{ name: 'tagged', type: 'ec2-tags', tags: { app: 'web' }, port: 8080 }];
  (spec['backends'] as unknown[]).push({ name: 'web-discovered', balance: 'roundrobin', discovery: { source: 'tagged' } });
  const frontend = (spec['frontends'] as { routes: unknown[] }[])[0]!;
  frontend.routes.unshift({ name: 'discovered', when: [{ path: { prefix: '/disc/' } }], backend: 'web-discovered' });
}

/** Who answers `/disc/` through the VIP over `count` requests (bodies `served by i-...`, or the status). */
async function answers(e2e: E2eLab, count: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < count; i += 1) {
    const r = await e2e.lab.request('az-a', { path: '/disc/', signal: AbortSignal.timeout(15_000), timeoutMs: 2000 }).catch(() => null);
    seen.add(r === null ? 'error' : r.status === 200 ? r.body.trim() : String(r.status));
  }
  return seen;
}

const same = (a: Set<string>, b: readonly string[]): boolean => a.size === b.length && b.every((x) => a.has(x));

void test('instances tagged through the API join an ec2-tags backend without a reload; retagged and terminated ones leave', { skip, timeout: 600_000 }, async (t) => {
  const e2e = await startE2eLab(t, { editSpec: withDiscovery });
  const { lab } = e2e;
  const www = await mkdtemp(join(tmpdir(), 'olbt-www-'));
  t.after(() => rm(www, { recursive: true, force: true }));
  const ec2 = new EC2Client({ region: lab.adminCredentials.region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials });
  t.after(() => ec2.destroy());
  const reloads = async (): Promise<number> => agentCounter(lab, 'lb-a', 'overlay_lb_apply_reloads_total');
  const reloadsBefore = await reloads();

  const subnet = lab.plan.subnets.find((s) => s.role === 'backend')!;
  // The backends' group admits the server port from the LB nodes' group (the lab-made open group
  // of the spec's nodes), as a backend's group in AWS would refer to the LB's.
  const lbGroup = (await ec2.send(new DescribeSecurityGroupsCommand({ Filters: [{ Name: 'group-name', Values: ['overlay-lb-lab-open'] }] }))).SecurityGroups?.[0]?.GroupId;
  assert.ok(lbGroup !== undefined);
  const { GroupId: backendGroup } = await ec2.send(new CreateSecurityGroupCommand({ GroupName: 'backends', Description: 'ec2-tags backends', VpcId: lab.plan.vpc.id }));
  assert.ok(backendGroup !== undefined);
  await ec2.send(new AuthorizeSecurityGroupIngressCommand({ GroupId: backendGroup, IpPermissions: [{ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, UserIdGroupPairs: [{ GroupId: lbGroup }] }] }));
  const userData = Buffer.from([
    '#!/bin/sh',
    'set -eu',
    'TOKEN=$(curl -s -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 60" http://169.254.169.254/latest/api/token)',
    'ID=$(curl -s -H "X-aws-ec2-metadata-token: $TOKEN" http://169.254.169.254/latest/meta-data/instance-id)',
    `mkdir -p ${www}/$ID/disc`,
    `echo "served by $ID" > ${www}/$ID/disc/index.html`,
    `nohup /usr/bin/python3 -m http.server 8080 --directory ${www}/$ID >/dev/null 2>&1 &`,
    '',
  ].join('\n')).toString('base64');
  const launch = async (tags: Record<string, string>): Promise<string[]> => {
    const out = await ec2.send(new RunInstancesCommand({
      ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: Object.keys(tags).includes('app') ? 2 : 1, MaxCount: Object.keys(tags).includes('app') ? 2 : 1,
      SubnetId: subnet.id, UserData: userData, SecurityGroupIds: [backendGroup],
      TagSpecifications: [{ ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
    }));
    return out.Instances!.map((i) => i.InstanceId!);
  };
  const [a, b] = await launch({ app: 'web', Name: 'web' });
  const [untagged] = await launch({ Name: 'other' });
  assert.ok(a !== undefined && b !== undefined && untagged !== undefined);

  // Both tagged instances serve through the VIP; the untagged one never does.
  await waitFor(e2e, 'both tagged instances in the backend', async () => same(await answers(e2e, 6), [`served by ${a}`, `served by ${b}`]), { timeoutMs: POLL_MS, intervalMs: 1000 });
  assert.equal(await reloads(), reloadsBefore, 'servers joined through the Runtime API, without a reload');

  // A tag changed through the API: that instance leaves.
  await ec2.send(new CreateTagsCommand({ Resources: [b], Tags: [{ Key: 'app', Value: 'retired' }] }));
  await waitFor(e2e, `${b} out of the backend after its tag changed`, async () => same(await answers(e2e, 6), [`served by ${a}`]), { timeoutMs: POLL_MS, intervalMs: 1000 });

  // Terminated: the last one leaves, the backend has no server (HAProxy answers 503).
  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [a] }));
  await waitFor(e2e, `${a} out of the backend after it was terminated`, async () => same(await answers(e2e, 3), ['503']), { timeoutMs: POLL_MS, intervalMs: 1000 });
  assert.equal(await reloads(), reloadsBefore, 'servers left through the Runtime API, without a reload');
  assert.ok(!(await answers(e2e, 3)).has(`served by ${untagged}`));
});
