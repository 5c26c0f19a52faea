// Scenario 9 (issue 4): failback with the preempt delay loses no request. lb-a (preferred) dies
// completely (agent, keepalived, haproxy), lb-b takes every route; then lb-a's node software
// starts again. keepalived on lb-a may only take over after the preempt delay and only while its
// HAProxy answers the health URI (which fails while the default backend has no server up), so
// traffic moves back to a node that serves. A probe (a new connection per request) through the
// whole failback must see zero failed requests, save a connection open at the instant of the
// route flip (reset by the new master: connection state does not move between nodes).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startProbe, summarizeProbe, type ProbeSample } from '../helpers/lab-probe.js';
import { agentStatus, CONVERGE_MS, isRoot, recordRouteChanges, startAgent, startE2eLab, waitFor, waitRoutesOn } from './fixture.js';

void test('failback to the restarted preferred node after the preempt delay: zero failed requests', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  const e2e = await startE2eLab(t, { preemptDelay: '3s' });
  const { lab } = e2e;
  const signal = AbortSignal.timeout(10_000);
  // GIVEN lb-a dead (agent first, so that nothing restarts the others) and lb-b holding the routes
  assert.equal(await lab.faults.kill('lb-a', 'agent', { signal }), 'killed');
  await lab.faults.kill('lb-a', 'keepalived', { signal });
  await lab.faults.kill('lb-a', 'haproxy', { signal });
  await waitRoutesOn(e2e, 'lb-b');
  await waitFor(e2e, 'lb-b master', async () => (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'MASTER');
  const { changes } = recordRouteChanges(t, lab);
  const probe = await startProbe(lab, { clientAz: 'az-a', signal });
  t.after(() => probe.stop().then(() => undefined, () => undefined));
  await probe.firstSuccess();

  // WHEN lb-a's node software starts again
  const restartAt = Date.now();
  await startAgent(e2e, 'lb-a');
  // THEN lb-a becomes master after its preempt delay and takes every route back
  const backAt = await waitRoutesOn(e2e, 'lb-a', { timeoutMs: CONVERGE_MS });
  await waitFor(e2e, 'lb-a master, lb-b backup', async () => (await agentStatus(lab, 'lb-a'))?.vrrp.vrrp === 'MASTER' && (await agentStatus(lab, 'lb-b'))?.vrrp.vrrp === 'BACKUP');
  await probe.streak(100, { timeoutMs: CONVERGE_MS });
  const report = await probe.stop();
  t.diagnostic(`restart -> routes back on lb-a: ${backAt - restartAt} ms`);
  t.diagnostic(`probe: ${summarizeProbe(report)}`);
  // AND the probe saw both nodes and no failed request, except (at most one) connection that
  // was open at the very moment the client's route moved: the new master answers its next
  // segment with a reset (no connection state moves between nodes, measured). Anything else
  // (503, refused, timeout) means lb-a took over before it could serve.
  assert.ok((report.answeredBy['lb-b'] ?? 0) > 0 && (report.answeredBy['lb-a'] ?? 0) > 0, summarizeProbe(report));
  assert.equal(report.lastNode, 'lb-a');
  const clientTable = lab.plan.subnets.find((x) => x.id === lab.plan.instances.find((i) => i.role === 'client' && i.az === 'az-a')?.eni.subnetId)?.routeTableId;
  const flipAt = changes.find((c) => c.table === clientTable && c.node === 'lb-a')?.at;
  assert.ok(flipAt !== undefined, `no route change of the client's table ${clientTable ?? '?'} to lb-a was seen`);
  // The kernel follows the API a few ms later: a request open in [flip - 50 ms, flip + 50 ms].
  const openAtFlip = (x: ProbeSample): boolean => x.error === 'ECONNRESET' && x.sentAt <= flipAt + 50 && x.sentAt + x.ms >= flipAt - 50;
  const failures = report.samples.filter((x) => !x.ok);
  const casualties = failures.filter(openAtFlip);
  t.diagnostic(`connections reset at the route flip: ${casualties.length}`);
  assert.deepEqual(failures.filter((x) => !openAtFlip(x)), [], `failed requests during failback: ${summarizeProbe(report)} (flip at ${flipAt})`);
  assert.ok(casualties.length <= 1, `more than one connection reset at the flip: ${JSON.stringify(casualties)}`);
});
