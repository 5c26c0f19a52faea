// A restarted lab controller keeps the instances launched through the API: it restores them from
// the cloud file, re-registers their ENIs with the data path (the source/destination check still
// follows the API), and a later TerminateInstances still
// stops their processes and removes their namespaces. Real lab (`lab up --bare`), root, shared lock.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { DescribeInstancesCommand, EC2Client, ModifyInstanceAttributeCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { startLab, stopLab } from '../../src/lab/lab.js';
import { startLabController, type LabController } from '../../src/lab/controller.js';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { apiInstanceNamespace } from '../../src/lab/topology.js';
import { listNamespaces } from '../../src/lab/netns.js';
import { leftovers } from '../helpers/lab-leftovers.js';

const SPEC = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));
const skip = process.getuid?.() === 0 ? false : 'needs root';

async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await read();
    if (done(last)) return last;
    await sleep(200);
  }
  throw new Error(`${what}: not reached within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

void test('a restarted lab controller adopts the API instances: terminate after the restart removes the namespace', { skip, timeout: 300_000 }, async (t) => {
  const stateDir = await mkdtemp(join(tmpdir(), 'olbr-lab-'));
  const prefix = `olbr${process.pid}`.slice(0, 12);
  const stateFile = join(stateDir, `${prefix}state.json`);
  let second: LabController | undefined;
  t.after(async () => {
    await second?.close();
    await stopLab(stateFile, { signal: AbortSignal.timeout(60_000) });
    await rm(stateDir, { recursive: true, force: true });
  });
  const before = await leftovers(prefix, stateDir);
  const lab = await startLab({ specFile: SPEC, prefix, stateDir, bare: true, signal: AbortSignal.timeout(120_000) });
  t.after(() => lab.close());
  const signal = AbortSignal.timeout(240_000);
  const ec2 = new EC2Client({ region: lab.adminCredentials.region, endpoint: lab.apiUrl, maxAttempts: 1, credentials: lab.adminCredentials });
  t.after(() => ec2.destroy());
  const subnet = lab.plan.subnets.find((s) => s.role === 'lb')!;
  const run = await ec2.send(new RunInstancesCommand({
    ImageId: LAB_IMAGE_ID, InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, SubnetId: subnet.id,
    UserData: Buffer.from('#!/bin/sh\nexec sleep 600\n').toString('base64'),
  }));
  const id = run.Instances![0]!.InstanceId!;
  const namespace = apiInstanceNamespace(lab.plan, id);
  const state = async (): Promise<string | undefined> => (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0]?.State?.Name;
  await waitFor('running', state, (s) => s === 'running');

  // The controller goes away and a new one starts from the lab's files (as `lab serve` restarts).
  await lab.controller.close();
  second = await startLabController({ stateFile, signal: AbortSignal.timeout(600_000) });
  assert.equal(second.info.apiUrl, lab.apiUrl, 'the restarted controller serves on the same port');
  assert.equal(second.cloud.view().instances[id]?.state, 'running');
  assert.ok((await listNamespaces({ signal })).includes(namespace));

  // The data path knows the ENI again: its source/destination check follows the API.
  const eni = run.Instances![0]!.NetworkInterfaces![0]!.NetworkInterfaceId!;
  const sdcRules = async (): Promise<string> => (await second!.lab.exec('router', ['iptables', '-w', '5', '-S', 'OLB-SDC'], { signal })).stdout;
  assert.match(await sdcRules(), new RegExp(`sdc:${eni}`));
  await ec2.send(new ModifyInstanceAttributeCommand({ InstanceId: id, SourceDestCheck: { Value: false } }));
  await second.settled();
  assert.doesNotMatch(await sdcRules(), new RegExp(`sdc:${eni}`));

  await ec2.send(new TerminateInstancesCommand({ InstanceIds: [id] }));
  await waitFor('terminated after the restart', state, (s) => s === 'terminated');
  assert.equal((await listNamespaces({ signal })).includes(namespace), false);

  await second.close();
  second = undefined;
  await stopLab(stateFile, { signal: AbortSignal.timeout(60_000) });
  assert.deepEqual(await leftovers(prefix, stateDir), before);
});
