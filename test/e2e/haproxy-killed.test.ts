// Scenario 1 (issue 4): haproxy crashes on the master. The agent marks the node down through
// keepalived's track file, lb-b becomes master and moves every route table to its ENI.
// Real haproxy, keepalived and agent in the lab; a probe sends a request every 10 ms.
import { test } from 'node:test';
import { isRoot, runUnplannedFailover } from './fixture.js';

void test('haproxy killed on the master: every route table ends on lb-b, service restored', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  await runUnplannedFailover(t, {
    clientAz: 'az-a',
    fault: async ({ lab }) => {
      await lab.faults.kill('lb-a', 'haproxy', { signal: AbortSignal.timeout(10_000) });
    },
  });
});
