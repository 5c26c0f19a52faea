// EIP mode (cluster.cloud.failover: eip, examples/eip.yaml): haproxy crashes on the master. The
// agent marks the node down through keepalived's track file, lb-b becomes master and associates
// the Elastic IP with its ENI; a probe on the internet side sees service restored by lb-b.
import { test } from 'node:test';
import { EIP_SPEC, isRoot, runUnplannedFailover } from './fixture.js';

void test('EIP mode, haproxy killed on the master: the Elastic IP ends on lb-b, service restored for the internet', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  await runUnplannedFailover(t, {
    clientAz: 'az-a',
    edits: { spec: EIP_SPEC },
    fault: async ({ lab }) => {
      await lab.faults.kill('lb-a', 'haproxy', { signal: AbortSignal.timeout(10_000) });
    },
  });
});
