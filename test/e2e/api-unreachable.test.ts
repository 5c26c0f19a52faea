// Scenario 7 (issue 4): the master node goes down while the EC2 API is unreachable from the new
// master's AZ (connections hang) for 10 s. lb-b becomes master but cannot claim; nothing may
// change meanwhile. Once the API answers again, lb-b's retries must converge.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentStatus, allOn, formatViews, isRoot, routeViews, runUnplannedFailover, waitFor } from './fixture.js';

const UNREACHABLE_MS = 10_000;

void test('API unreachable for 10 s during failover: every route table ends on lb-b after it returns', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  let clearedAt = 0;
  const { convergedAt } = await runUnplannedFailover(t, {
    clientAz: 'az-a',
    fault: async ({ lab }) => {
      await lab.faults.inject({ kind: 'api-unreachable', az: 'az-b', mode: 'hang' });
      await lab.faults.inject({ kind: 'node-down', node: 'lb-a' });
    },
    during: async (e2e) => {
      const { lab } = e2e;
      await waitFor(e2e, 'lb-b master', async () => (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'MASTER');
      await sleep(UNREACHABLE_MS);
      // Nobody could change a route meanwhile.
      const views = await routeViews(lab);
      assert.ok(allOn(views, 'lb-a'), `routes changed while the API was unreachable from az-b: ${formatViews(views)}`);
      await lab.faults.clear({ kind: 'api-unreachable', az: 'az-b', mode: 'hang' });
      clearedAt = Date.now();
    },
  });
  t.diagnostic(`API back -> routes on lb-b: ${convergedAt - clearedAt} ms`);
});
