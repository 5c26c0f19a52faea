// Scenario 2 (issue 4): keepalived crashes on the master. lb-b stops hearing adverts, becomes
// master and moves every route table; lb-a's agent synthesizes STOP (it stops claiming, deletes
// nothing) and restarts keepalived, which waits for the preempt delay before taking over again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentStatus, isRoot, runUnplannedFailover, waitFor } from './fixture.js';

void test('keepalived killed on the master: every route table ends on lb-b, service restored', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  let before = 0;
  const { e2e } = await runUnplannedFailover(t, {
    clientAz: 'az-a',
    fault: async ({ lab }) => {
      before = (await agentStatus(lab, 'lb-a'))?.keepalived.pid ?? 0;
      assert.equal(await lab.faults.kill('lb-a', 'keepalived', { signal: AbortSignal.timeout(10_000) }), 'killed');
    },
  });
  // lb-a's agent noticed (STOP) and brought keepalived back, as a backup (preempt delay pending).
  // (keepalived's VRRP child writes STOP itself when its parent dies; the agent's own STOP on the
  // parent's exit then changes nothing.)
  await waitFor(e2e, 'lb-a back with a new keepalived, as backup', async () => {
    const s = await agentStatus(e2e.lab, 'lb-a');
    return s !== null && s.keepalived.alive && s.keepalived.pid !== before && s.vrrp.vrrp === 'BACKUP' && s.vrrp.transitions.some((x) => x.to === 'STOP');
  });
});
