// Scenario 3 (issue 4): the master node goes down (its link: no VRRP, no API, no traffic).
// lb-b becomes master and moves every route table to its ENI.
import { test } from 'node:test';
import { isRoot, runUnplannedFailover } from './fixture.js';

void test('the master node down: every route table ends on lb-b, service restored', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  await runUnplannedFailover(t, {
    clientAz: 'az-a',
    fault: async ({ lab }) => {
      await lab.faults.inject({ kind: 'node-down', node: 'lb-a' });
    },
  });
});
