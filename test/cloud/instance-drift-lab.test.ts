// up's instance resources (instance-resources.ts) against the lab's EC2 API on loopback, through the
// real AWS SDK: a running node launched as the spec says has no note; one whose instance type,
// image or address differs from the spec's is left as it is, with a note that names each
// difference and how to replace the node one at a time (up never terminates a serving node), and
// the plan says so instead of "up to date". No namespaces: the lab ends a transition without an
// instance host on the next turn.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DescribeInstancesCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import { NODE_TAG } from '../../src/cloud/aws/provision/instance-launch.js';
import { instanceResources } from '../../src/cloud/aws/provision/instance-resources.js';
import { OWNER_TAG } from '../../src/cloud/aws/provision/names.js';
import { ProvisionSession } from '../../src/cloud/aws/provision/session.js';
import { buildExampleCloud } from '../../src/lab/ec2/example.js';
import { startEc2Api } from '../../src/lab/ec2/server.js';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { formatPlan, planNotes, planProvision } from '../../src/provision/engine.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { LAB_ADMIN } from '../helpers/cli-lab-api.js';

const REGION = 'eu-west-1';

void test('up\'s instances: a node launched otherwise than the spec says (its type, its address; the image is compared the same way) is left as it is, with a note naming each difference and the one-at-a-time replacement', async (t) => {
  const { cloud, ids } = buildExampleCloud({ region: REGION });
  const controller = new AbortController();
  const api = await startEc2Api({ cloud, host: '127.0.0.1', port: 0, signal: controller.signal, credentials: [LAB_ADMIN] });
  const session = new ProvisionSession({ region: REGION, endpoint: api.url, credentials: LAB_ADMIN });
  const ec2 = new EC2Client({ region: REGION, endpoint: api.url, credentials: LAB_ADMIN, maxAttempts: 1 });
  t.after(async () => {
    ec2.destroy();
    session.destroy();
    controller.abort();
    await api.close();
  });
  const spec = (instanceType: string, addressA: string): ReturnType<typeof parseSpec> => parseSpec(`cluster:
  name: shop
  vip: 192.168.100.77
  vpcCidrs: [10.0.0.0/16]
  nodes:
    - { name: lb-a, address: ${addressA}, zone: ${REGION}a }
    - { name: lb-b, address: 10.0.2.50, zone: ${REGION}b }
  cloud: { provider: lab, region: ${REGION}, vpcId: ${ids.vpc} }
frontends:
  - { name: web, binds: [{ address: vip, port: 80 }], defaultBackend: app }
backends:
  - { name: app, servers: [{ name: s1, address: 10.0.11.11, port: 8080 }] }
provision:
  imageId: ${LAB_IMAGE_ID}
  instanceType: ${instanceType}
  clients: { web: [10.0.0.0/16] }
  bucket: shop-releases
`, { file: 's.yaml' });
  // GIVEN both nodes running as up launched them (its tags), with t3.small.
  const launch = async (node: string, ip: string, subnetId: string): Promise<string> => {
    const out = await ec2.send(new RunInstancesCommand({
      ImageId: LAB_IMAGE_ID, InstanceType: 't3.small', MinCount: 1, MaxCount: 1, SubnetId: subnetId, PrivateIpAddress: ip,
      TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: OWNER_TAG, Value: 'shop' }, { Key: NODE_TAG, Value: node }] }],
    }));
    return out.Instances?.[0]?.InstanceId ?? '';
  };
  const idA = await launch('lb-a', '10.0.1.50', ids.subnetA);
  const idB = await launch('lb-b', '10.0.2.50', ids.subnetB);
  await new Promise((resolve) => setImmediate(resolve));
  const states = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [idA, idB] }))).Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name);
  assert.deepEqual(states, ['running', 'running']);

  const signal = AbortSignal.timeout(30_000);
  const scope = { session, account: cloud.accountId, vpcId: ids.vpc, cluster: 'shop' };
  const planFor = async (instanceType: string, addressA: string): Promise<Awaited<ReturnType<typeof planProvision>>> => {
    const parsed = spec(instanceType, addressA);
    assert.ok(parsed.ok, JSON.stringify(parsed));
    const resources = instanceResources({
      scope, spec: parsed.spec, groupName: 'overlay-lb-shop', instanceProfile: 'overlay-lb-shop', dependsOn: [],
      placeNodes: () => new Map([['lb-a', ids.subnetA], ['lb-b', ids.subnetB]]),
    });
    return planProvision(resources, [], { signal });
  };

  // As launched: no note (the changes are the source/dest check and the interface tag up sets).
  const same = await planFor('t3.small', '10.0.1.50');
  assert.deepEqual(planNotes(same), []);
  assert.deepEqual(same.steps.map((s) => s.notes), [undefined, undefined]);

  // Another type for both, and another address for lb-a: each instance gets one note, left as it is.
  const other = await planFor('t3.medium', '10.0.1.60');
  assert.deepEqual(other.steps.map((s) => s.action), ['change', 'change'], 'only what up changes in place (source/dest check, the interface tag)');
  const [noteA, noteB] = other.steps.map((s) => s.notes ?? []);
  assert.equal(noteA?.length, 1);
  assert.match(noteA[0]!, new RegExp(`^${idA} runs with instance type t3\\.small, the spec says t3\\.medium; address 10\\.0\\.1\\.50, the spec says 10\\.0\\.1\\.60\\. up does not replace a running node`));
  assert.match(noteA[0]!, new RegExp(`aws ec2 terminate-instances --instance-ids ${idA}, then overlay-lb up again`));
  assert.deepEqual(noteB, [noteB![0]]);
  assert.match(noteB[0]!, new RegExp(`^${idB} runs with instance type t3\\.small, the spec says t3\\.medium\\. `));
  assert.ok(formatPlan(other).some((l) => l.startsWith(`      left as it is: ${idA} runs with`)), formatPlan(other).join('\n'));
  assert.equal(cloud.view().instances[idA]?.state, 'running', 'observing changes nothing');
});
