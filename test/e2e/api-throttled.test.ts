// Scenario 6 (issue 4): the EC2 API throttles during the failover. The lab's API runs EC2's
// token buckets (mutating 50 burst, 5/s) and the mutating bucket is already empty when lb-b
// claims (another tool in the account used it up): its ReplaceRoute calls answer
// RequestLimitExceeded until tokens come back. The claim must retry with backoff and converge.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentCounter, isRoot, runUnplannedFailover } from './fixture.js';

void test('API throttled during failover: every route table still ends on lb-b', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  const { e2e } = await runUnplannedFailover(t, {
    clientAz: 'az-a',
    fault: async ({ lab }) => {
      const faults = lab.controller.api.faults;
      faults.setThrottling({ enabled: true });
      // Drain the mutating bucket (50 tokens) as a busy account would.
      let drained = 0;
      while (faults.throttle({ mutating: true }) === null && drained < 1000) drained++;
      assert.ok(drained >= 50, `drained only ${drained} tokens`);
      await lab.faults.kill('lb-a', 'haproxy', { signal: AbortSignal.timeout(10_000) });
    },
  });
  // The test exercised throttling: lb-b saw RequestLimitExceeded and retried.
  const throttles = await agentCounter(e2e.lab, 'lb-b', 'overlay_lb_cloud_api_throttles_total');
  t.diagnostic(`lb-b was throttled ${throttles} times`);
  assert.ok(throttles > 0, 'lb-b was never throttled: the scenario did not happen');
});
