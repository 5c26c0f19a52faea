// EIP mode (cluster.cloud.failover: eip, examples/eip.yaml): the master node goes down (its link:
// no VRRP, no API, no traffic). lb-b becomes master and associates the Elastic IP with its ENI;
// a probe on the internet side, sending to the Elastic IP, sees service restored by lb-b.
import { test } from 'node:test';
import { EIP_SPEC, isRoot, runUnplannedFailover } from './fixture.js';

void test('EIP mode, the master node down: the Elastic IP ends on lb-b, service restored for the internet', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  await runUnplannedFailover(t, {
    clientAz: 'az-a',
    edits: { spec: EIP_SPEC },
    fault: async ({ lab }) => {
      await lab.faults.inject({ kind: 'node-down', node: 'lb-a' });
    },
  });
});
