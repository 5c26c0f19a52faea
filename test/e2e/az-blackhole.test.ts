// Scenario 4 (issue 4): the master's AZ is black-holed (everything to and from az-a dropped,
// the API and IMDS too). lb-b stops hearing adverts and moves every route table; lb-a still
// believes it is master but can reach nothing. The probe runs from az-b (az-a's client is cut off
// as well).
import { test } from 'node:test';
import { isRoot, runUnplannedFailover } from './fixture.js';

void test('the master AZ black-holed: every route table ends on lb-b, service restored for az-b', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  await runUnplannedFailover(t, {
    clientAz: 'az-b',
    fault: async ({ lab }) => {
      await lab.faults.inject({ kind: 'az-blackhole', az: 'az-a' });
    },
  });
});
