// Scenario 9 (issue 4): failback with the preempt delay loses no request. lb-a (preferred) dies
// completely (agent, keepalived, haproxy), lb-b takes every route; then lb-a's node software
// starts again. keepalived on lb-a may only take over after the preempt delay and only while its
// HAProxy answers the health URI (which fails while the default backend has no server up), so
// traffic moves back to a node that serves. Through the whole failback a probe (a new connection
// per request) and a client on keep-alive connections (which live across the route flip) must see
// zero failed requests: lb-a hands the packets of connections it does not know back to lb-b over
// the handoff link while the routes move, and lb-b drains once they have. A switchover back to
// lb-b that fails keeps that handoff; one straight after that fails no request either.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { runCli } from '../../src/cli/main.js';
import { memoryIo } from '../../src/cli/io.js';
import { startProbe, summarizeProbe } from '../helpers/lab-probe.js';
import { startVipClient } from '../helpers/vip-client.js';
import { TAKEOVER_HANDOFF_MS } from '../../src/handoff/handoff-manager.js';
import { MASTER_SETTLE_MS, SLOW_QUESTION_MS } from '../../src/handoff/peer-questions.js';
import { agentCounter, agentStatus, CONVERGE_MS, handedOffPackets, isRoot, killPreferredNode, nodeAddress, recordRouteChanges, startAgent, startE2eLab, waitFor, waitRoutesOn } from './fixture.js';

void test('failback to the restarted preferred node after the preempt delay: zero failed requests', { skip: !isRoot && 'needs root (network namespaces)', timeout: 180_000 }, async (t) => {
  const e2e = await startE2eLab(t, { preemptDelay: '3s' });
  const { lab } = e2e;
  // A settled master asks its backup peer once a second over the handoff link, not twice per
  // advert interval (src/handoff/peer-questions.ts): no takeover can come from a backup. Counted
  // over the time measured around both reads, so a slow machine only makes the bound looser.
  await new Promise((r) => setTimeout(r, MASTER_SETTLE_MS));
  const questions = (): Promise<number> => agentCounter(lab, 'lb-a', 'overlay_lb_peer_questions_total', { required: true });
  const slowAtMost = (ms: number): number => Math.floor(ms / SLOW_QUESTION_MS) + 2;
  const settledStart = Date.now();
  const settledFrom = await questions();
  await new Promise((r) => setTimeout(r, 4 * SLOW_QUESTION_MS));
  const settled = (await questions()) - settledFrom;
  const settledMs = Date.now() - settledStart;
  t.diagnostic(`questions lb-a asked lb-b as a settled master in ${settledMs} ms: ${settled}`);
  assert.ok(settled >= 1 && settled <= slowAtMost(settledMs), `lb-a asked lb-b ${settled} times in ${settledMs} ms as a settled master (at most ${slowAtMost(settledMs)} once a second)`);
  const signal = AbortSignal.timeout(10_000);
  // GIVEN lb-a dead and lb-b holding the routes
  await killPreferredNode(e2e);
  const { changes } = recordRouteChanges(t, lab);
  const probe = await startProbe(lab, { clientAz: 'az-a', signal });
  t.after(() => probe.stop().then(() => undefined, () => undefined));
  await probe.firstSuccess();
  const client = startVipClient(t, lab, 'client-az-a', { maxMs: 60_000 });

  // WHEN lb-a's node software starts again
  const restartAt = Date.now();
  await startAgent(e2e, 'lb-a');
  // THEN lb-a becomes master after its preempt delay and takes every route back
  const backAt = await waitRoutesOn(e2e, 'lb-a', { timeoutMs: CONVERGE_MS });
  await waitFor(e2e, 'lb-a master, lb-b backup', async () => (await agentStatus(lab, 'lb-a'))?.vrrp.vrrp === 'MASTER' && (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'BACKUP');
  await probe.streak(100, { timeoutMs: CONVERGE_MS });
  // lb-b drains once every route has left it (its keep-alive clients reconnect, to lb-a).
  await waitFor(e2e, 'lb-b drained', async () => (await readFile(join(e2e.runDir('lb-b'), 'agent.log'), 'utf8')).includes('"event":"drain"'));
  await new Promise((r) => setTimeout(r, 1000));
  // Packets lb-a handed to lb-b so far (the handoff stays on for 40 s after the routes moved).
  const { count, listing: mangle } = await handedOffPackets(lab, 'lb-a');
  const handedOff = count ?? 0;
  const report = await probe.stop();
  const counts = await client.stop();
  t.diagnostic(`restart -> routes back on lb-a: ${backAt - restartAt} ms`);
  t.diagnostic(`probe: ${summarizeProbe(report)}`);
  t.diagnostic(`client: ${JSON.stringify(counts)}`);
  // AND the probe saw both nodes, and nothing failed: not a new connection, not one open at the
  // route flip, not a keep-alive connection
  assert.ok((report.answeredBy['lb-b'] ?? 0) > 0 && (report.answeredBy['lb-a'] ?? 0) > 0, summarizeProbe(report));
  assert.equal(report.lastNode, 'lb-a');
  assert.ok(changes.some((c) => c.node === 'lb-a'), 'no route change to lb-a was seen');
  assert.equal(report.failed, 0, `failed requests during failback: ${summarizeProbe(report)}\n${await e2e.logs()}`);
  assert.ok(counts.keepAlive.ok > 50 && counts.fresh.ok > 50, `too few requests: ${JSON.stringify(counts)}`);
  assert.equal(counts.fresh.failed + counts.keepAlive.failed, 0, `failed requests during failback: ${JSON.stringify(counts)}\n${await e2e.logs()}`);
  // AND the restarted lb-a (backup until its preempt delay passed, then master for under 3 s, then
  // handing lb-b's connections back) asked lb-b fast all along: more questions since it started
  // than asking once a second could have made (its new agent's counter)
  const restartedQuestions = await questions();
  const sinceRestartMs = Date.now() - restartAt;
  t.diagnostic(`questions the restarted lb-a asked lb-b in the ${sinceRestartMs} ms since its restart: ${restartedQuestions}`);
  assert.ok(restartedQuestions > slowAtMost(sinceRestartMs), `the restarted lb-a asked lb-b only ${restartedQuestions} times in ${sinceRestartMs} ms`);
  // AND that was the handoff's doing: lb-a turned it on for the takeover from lb-b, and packets of
  // lb-b's open connections went through it
  const aLog = await readFile(join(e2e.runDir('lb-a'), 'agent.log'), 'utf8');
  assert.match(aLog, /"event":"handoff-on","role":"target","peer":"lb-b","reason":"takeover"/);
  assert.ok(handedOff > 0, `no packet was handed off:\n${mangle}`);

  // AND a switchover back to lb-b that fails (lb-b cannot reach the EC2 API) leaves lb-a's
  // handoff to lb-b running on to its own end (40 s after the routes moved)
  const unreachable = { kind: 'api-unreachable', az: 'az-b', mode: 'hang' } as const;
  await lab.faults.inject(unreachable);
  const failedIo = memoryIo();
  const failedCode = await runCli(['switchover', '--spec', e2e.specFile, '--lab-prefix', lab.plan.prefix, '--lab-state-dir', dirname(lab.stateFile), '--to', 'lb-b'], failedIo, AbortSignal.timeout(90_000));
  await lab.faults.clear(unreachable);
  assert.notEqual(failedCode, 0, `switchover with lb-b cut off from the API succeeded:\n${failedIo.stdout.join('\n')}`);
  const afterFailed = await agentStatus(lab, 'lb-a');
  const sinceBack = Date.now() - backAt;
  t.diagnostic(`failed switchover ended ${sinceBack} ms after the routes moved back; lb-a's handoff: ${JSON.stringify(afterFailed?.switchover?.handoff ?? null)}`);
  assert.match(await readFile(join(e2e.runDir('lb-a'), 'agent.log'), 'utf8'), /"event":"handoff-kept","peer":"lb-b","reason":"switchover failed"/);
  if (sinceBack < TAKEOVER_HANDOFF_MS - 2000) assert.equal(afterFailed?.switchover?.handoff?.reason, 'takeover', `lb-a's failback handoff ended with the failed switchover, ${sinceBack} ms after the routes moved`);

  // AND a switchover back to lb-b right away, while lb-a still hands lb-b's connections back,
  // fails no request either (lb-a keeps that handoff until the switchover ends)
  const again = startVipClient(t, lab, 'client-az-a', { maxMs: 60_000 });
  await new Promise((r) => setTimeout(r, 1000));
  const io = memoryIo();
  const code = await runCli(['switchover', '--spec', e2e.specFile, '--lab-prefix', lab.plan.prefix, '--lab-state-dir', dirname(lab.stateFile), '--to', 'lb-b'], io, AbortSignal.timeout(90_000));
  assert.equal(code, 0, `switchover --to lb-b right after the failback failed:\n${io.stdout.join('\n')}\n${io.stderr.join('\n')}\n${await e2e.logs()}`);
  await waitRoutesOn(e2e, 'lb-b');
  await new Promise((r) => setTimeout(r, 1000));
  const afterSwitchover = await again.stop();
  t.diagnostic(`client across the switchover: ${JSON.stringify(afterSwitchover)}`);
  assert.equal(afterSwitchover.fresh.failed + afterSwitchover.keepAlive.failed, 0, `failed requests in the switchover after the failback: ${JSON.stringify(afterSwitchover)}\n${await e2e.logs()}`);
  assert.match(await readFile(join(e2e.runDir('lb-a'), 'agent.log'), 'utf8'), /"event":"handoff-kept","peer":"lb-b"/);

  // AND nobody but the peers can send into the link: VXLAN from a client, to a node's address and
  // to the VIP, is dropped by OLB-HANDOFF-IN
  const dropped = async (): Promise<number> => {
    let n = 0;
    for (const node of ['lb-a', 'lb-b']) {
      const out = (await lab.exec(node, ['iptables', '-w', '5', '-L', 'OLB-HANDOFF-IN', '-v', '-x', '-n'], { signal: AbortSignal.timeout(10_000) })).stdout;
      n += Number(/^\s*(\d+)\s+\d+\s+DROP/m.exec(out)?.[1] ?? Number.NaN);
    }
    return n;
  };
  const before = await dropped();
  const send = `const s = require('node:dgram').createSocket('udp4'); let n = 0; for (const h of process.argv.slice(1)) s.send(Buffer.alloc(64), 4789, h, () => { if (++n === 2) s.close(); });`;
  await lab.exec('client-az-a', [process.execPath, '-e', send, nodeAddress(lab, 'lb-b'), lab.plan.vip], { signal: AbortSignal.timeout(10_000) });
  await waitFor(e2e, 'both datagrams dropped', async () => (await dropped()) >= before + 2, { timeoutMs: 5000 });
});
