/**
 * Planned switchover in EIP mode (cluster.cloud.failover: eip, examples/eip.yaml): lb-a -> lb-b ->
 * lb-a with real haproxy, keepalived and agents, while clients on the internet side send requests
 * to the Elastic IP: a probe (a new connection every 10 ms) and a client with one loop of new
 * connections and two back-to-back loops on keep-alive connections.
 *
 * What holds in this mode (docs/switchover.md, "Elastic IP mode"): EC2 maps every packet by the
 * current association, so a connection open when the address moves reaches the new node, which
 * resets it, and the connection handoff cannot help (the packets arrive for the new node's own
 * address, not for a VIP both nodes hold). So at each move every connection open through the
 * address may fail one request: its next one with a reset, or the one in flight with a reset or a
 * timeout (its answer no longer maps to the address); nothing else fails, and every request after
 * the move is answered by the target.
 */
import assert from 'node:assert/strict';
import { dirname } from 'node:path';
import { test } from 'node:test';
import { runCli } from '../../src/cli/main.js';
import { memoryIo } from '../../src/cli/io.js';
import { startProbe, summarizeProbe } from '../helpers/lab-probe.js';
import { startVipClient } from '../helpers/vip-client.js';
import { agentStatus, CONVERGE_MS, EIP_SPEC, isRoot, recordEipMoves, startE2eLab, waitFor, waitServedBy } from '../e2e/fixture.js';
import { clientConnectionsAtMoves, isMoveFailure, probeFailuresOutsideMoves } from '../helpers/eip-moves.js';

void test('EIP mode: planned switchover lb-a -> lb-b -> lb-a; only connections open at a move fail, one request each', { skip: !isRoot && 'needs root (network namespaces)', timeout: 240_000 }, async (t) => {
  const e2e = await startE2eLab(t, { spec: EIP_SPEC, recheckInterval: '2s' });
  const { lab } = e2e;
  assert.ok(e2e.eip !== null);
  const cliArgs = ['--spec', e2e.specFile, '--lab-prefix', lab.plan.prefix, '--lab-state-dir', dirname(lab.stateFile)];

  // GIVEN clients on the internet side sending to the Elastic IP
  const probe = await startProbe(lab, { clientAz: 'internet', host: e2e.eip.publicIp, timeoutMs: 3000, signal: AbortSignal.timeout(10_000), maxDurationMs: 180_000 });
  t.after(() => probe.stop().then(() => undefined, () => undefined));
  await probe.firstSuccess();
  const client = startVipClient(t, lab, 'internet', { maxMs: 150_000, host: e2e.eip.publicIp });
  await new Promise((r) => setTimeout(r, 1000));
  const { moves } = recordEipMoves(t, e2e);

  // WHEN switching over to lb-b, then back to lb-a
  for (const to of ['lb-b', 'lb-a']) {
    const io = memoryIo();
    const code = await runCli(['switchover', ...cliArgs, '--to', to], io, AbortSignal.timeout(90_000));
    assert.equal(code, 0, `switchover --to ${to} failed:\n${io.stdout.join('\n')}\n${io.stderr.join('\n')}\n${await e2e.logs()}`);
    // THEN the Elastic IP maps to the target (API and kernel), which is VRRP master
    await waitServedBy(e2e, to);
    await waitFor(e2e, `${to} master`, async () => (await agentStatus(lab, to))?.vrrp.vrrp === 'MASTER');
    await probe.streak(100, { timeoutMs: CONVERGE_MS });
  }
  const report = await probe.stop();
  const counts = await client.stop();
  t.diagnostic(`moves: ${JSON.stringify(moves)}`);
  t.diagnostic(`probe: ${summarizeProbe(report)}`);
  t.diagnostic(`client: ${JSON.stringify(counts)}`);

  // THEN the address moved exactly twice, to lb-b and back
  assert.deepEqual(moves.map((m) => m.node), ['lb-b', 'lb-a'], `Elastic IP moves: ${JSON.stringify(moves)}`);
  assert.ok((report.answeredBy['lb-b'] ?? 0) > 0 && report.lastNode === 'lb-a', summarizeProbe(report));
  assert.ok(counts.fresh.ok > 50 && counts.keepAlive.ok > 50, `too few requests: ${JSON.stringify(counts)}`);
  // AND what failed were requests of connections open at a move, one each
  const bound = clientConnectionsAtMoves(moves.length);
  assert.ok(counts.errors.every(isMoveFailure), `a failure that is neither a reset nor a timeout: ${JSON.stringify(counts.errors)}\n${await e2e.logs()}`);
  assert.ok(counts.keepAlive.failed <= bound.keepAlive, `${counts.keepAlive.failed} keep-alive requests failed, more than the ${bound.keepAlive} keep-alive connections open at ${moves.length} move(s): ${JSON.stringify(counts)}`);
  assert.ok(counts.fresh.failed <= bound.fresh, `${counts.fresh.failed} new-connection requests failed, more than one per move: ${JSON.stringify(counts)}`);
  const outside = probeFailuresOutsideMoves(report.samples, moves);
  assert.deepEqual(outside, [], `probe requests failed that were not in flight at a move (${JSON.stringify(moves)}): ${summarizeProbe(report)}`);

  // AND status shows one master (lb-a) holding the Elastic IP
  const io = memoryIo();
  const code = await runCli(['status', ...cliArgs], io, AbortSignal.timeout(30_000));
  const out = io.stdout.join('\n');
  assert.equal(code, 0, `status reported problems:\n${out}\n${io.stderr.join('\n')}`);
  assert.match(out, /^lb-a\s+MASTER\s+yes\s+\d+/m);
  assert.match(out, new RegExp(`^${e2e.eip.allocationId}\\s+lb-a$`, 'm'));
});
