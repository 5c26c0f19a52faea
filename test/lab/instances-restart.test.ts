// A restarted lab controller keeps the instances launched through the API: it restores them from
// the cloud file, re-registers their ENIs with the data path (the source/destination check still
// follows the API), and a later TerminateInstances still
// stops their processes and removes their namespaces. Real lab (`lab up --bare`), root, shared lock.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DescribeInstancesCommand, ModifyInstanceAttributeCommand, RunInstancesCommand, TerminateInstancesCommand } from '@aws-sdk/client-ec2';
import { stopLab } from '../../src/lab/lab.js';
import { startLabController, type LabController } from '../../src/lab/controller.js';
import { LAB_IMAGE_ID } from '../../src/lab/ec2/state.js';
import { apiInstanceNamespace } from '../../src/lab/topology.js';
import { listNamespaces } from '../../src/lab/netns.js';
import { needsRoot as skip, startBareLab, waitFor } from '../helpers/bare-lab.js';

void test('a restarted lab controller adopts the API instances: terminate after the restart removes the namespace', { skip, timeout: 300_000 }, async (t) => {
  let second: LabController | undefined;
  // Registered first, so it runs before the lab's teardown.
  t.after(() => second?.close());
  const { lab, ec2, stateFile, before, ...bare } = await startBareLab(t, { tag: 'olbr' });
  const signal = AbortSignal.timeout(240_000);
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
  assert.deepEqual(await bare.leftovers(), before);
});
