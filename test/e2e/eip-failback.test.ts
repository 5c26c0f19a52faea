// EIP mode (cluster.cloud.failover: eip, examples/eip.yaml): failback. lb-a (preferred) dies
// completely, lb-b takes the Elastic IP; then lb-a's node software starts again and, after the
// preempt delay and only once its HAProxy serves, takes the Elastic IP back. Clients on the
// internet side send to the Elastic IP throughout.
//
// What holds in this mode (docs/switchover.md, "Elastic IP mode"): EC2 maps every packet by the
// current association, so connections open through the address when it moves are reset (the
// connection handoff of route mode cannot carry them: their packets now arrive for lb-a's own
// address). So the move may fail one request of each connection open at that moment (its next
// one with a reset, or the one in flight with a reset or a timeout); nothing else fails, and lb-a
// answers everything after it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startProbe, summarizeProbe } from '../helpers/lab-probe.js';
import { startVipClient } from '../helpers/vip-client.js';
import { clientConnectionsAtMoves, isMoveFailure, probeFailuresOutsideMoves } from '../helpers/eip-moves.js';
import { agentStatus, CONVERGE_MS, EIP_SPEC, isRoot, killPreferredNode, recordEipMoves, startAgent, startE2eLab, waitFor, waitServedBy } from './fixture.js';

void test('EIP mode: failback to the restarted preferred node after the preempt delay; only connections open at the move fail, one request each', { skip: !isRoot && 'needs root (network namespaces)', timeout: 180_000 }, async (t) => {
  const e2e = await startE2eLab(t, { spec: EIP_SPEC, preemptDelay: '3s' });
  const { lab } = e2e;
  assert.ok(e2e.eip !== null);
  // GIVEN lb-a dead and lb-b holding the Elastic IP
  await killPreferredNode(e2e);
  const { moves } = recordEipMoves(t, e2e);
  const probe = await startProbe(lab, { clientAz: 'internet', host: e2e.eip.publicIp, timeoutMs: 3000, signal: AbortSignal.timeout(10_000) });
  t.after(() => probe.stop().then(() => undefined, () => undefined));
  await probe.firstSuccess();
  const client = startVipClient(t, lab, 'internet', { maxMs: 90_000, host: e2e.eip.publicIp });
  await new Promise((r) => setTimeout(r, 1000));

  // WHEN lb-a's node software starts again
  const restartAt = Date.now();
  await startAgent(e2e, 'lb-a');
  // THEN lb-a becomes master after its preempt delay and takes the Elastic IP back
  const backAt = await waitServedBy(e2e, 'lb-a', { timeoutMs: CONVERGE_MS });
  await waitFor(e2e, 'lb-a master, lb-b backup', async () => (await agentStatus(lab, 'lb-a'))?.vrrp.vrrp === 'MASTER' && (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'BACKUP');
  await probe.streak(100, { timeoutMs: CONVERGE_MS });
  await new Promise((r) => setTimeout(r, 1000));
  const report = await probe.stop();
  const counts = await client.stop();
  t.diagnostic(`restart -> Elastic IP back on lb-a: ${backAt - restartAt} ms; moves: ${JSON.stringify(moves)}`);
  t.diagnostic(`probe: ${summarizeProbe(report)}`);
  t.diagnostic(`client: ${JSON.stringify(counts)}`);

  // AND the address moved once, to lb-a, and the clients saw both nodes
  assert.deepEqual(moves.map((m) => m.node), ['lb-a'], `Elastic IP moves: ${JSON.stringify(moves)}`);
  assert.ok((report.answeredBy['lb-b'] ?? 0) > 0 && report.lastNode === 'lb-a', summarizeProbe(report));
  assert.ok(counts.keepAlive.ok > 50 && counts.fresh.ok > 50, `too few requests: ${JSON.stringify(counts)}`);
  // AND what failed were requests of connections open at the move, one each
  const bound = clientConnectionsAtMoves(moves.length);
  assert.ok(counts.errors.every(isMoveFailure), `a failure that is neither a reset nor a timeout: ${JSON.stringify(counts.errors)}\n${await e2e.logs()}`);
  assert.ok(counts.keepAlive.failed <= bound.keepAlive, `${counts.keepAlive.failed} keep-alive requests failed, more than the ${bound.keepAlive} keep-alive connections open at ${moves.length} move(s): ${JSON.stringify(counts)}`);
  assert.ok(counts.fresh.failed <= bound.fresh, `${counts.fresh.failed} new-connection requests failed, more than one per move: ${JSON.stringify(counts)}`);
  const outside = probeFailuresOutsideMoves(report.samples, moves);
  assert.deepEqual(outside, [], `probe requests failed that were not in flight at a move (${JSON.stringify(moves)}): ${summarizeProbe(report)}`);
});
