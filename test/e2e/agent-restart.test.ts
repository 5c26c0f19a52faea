// Scenario 10 (issue 4): the agent on the master restarts (an upgrade: SIGTERM, start again).
// haproxy and keepalived keep running; the new agent attaches to them, learns from the marker
// address that this node is master, finds every route already its own and changes nothing.
// No route may change and no request may fail.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { killLabProcess } from '../../src/lab/infra-faults.js';
import { startProbe, summarizeProbe } from '../helpers/lab-probe.js';
import { agentStatus, allOn, formatViews, isRoot, recordRouteChanges, routeViews, startAgent, startE2eLab, waitFor } from './fixture.js';

void test('agent restarted while master: no route change, no failed request', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, async (t) => {
  const e2e = await startE2eLab(t);
  const { lab } = e2e;
  const signal = AbortSignal.timeout(10_000);
  const before = await agentStatus(lab, 'lb-a');
  const bBefore = await agentStatus(lab, 'lb-b');
  assert.ok(before && bBefore);
  const { changes } = recordRouteChanges(t, lab);
  const probe = await startProbe(lab, { clientAz: 'az-a', signal });
  t.after(() => probe.stop().then(() => undefined, () => undefined));
  await probe.firstSuccess();

  // WHEN the agent on lb-a is stopped and started again
  assert.equal(await killLabProcess(lab.stateFile, { label: 'agent lb-a' }, { signal: AbortSignal.timeout(10_000), killSignal: 'SIGTERM' }), 'killed');
  await startAgent(e2e, 'lb-a');
  // THEN it attached to the same haproxy and keepalived and reports MASTER
  const after = await waitFor(e2e, 'the restarted agent reports MASTER', async () => {
    const s = await agentStatus(lab, 'lb-a');
    return s?.vrrp.vrrp === 'MASTER' && s.vrrp.phase === 'holding' ? s : null;
  });
  assert.equal(after.haproxy.pid, before.haproxy.pid, 'haproxy was restarted');
  assert.equal(after.keepalived.pid, before.keepalived.pid, 'keepalived was restarted');
  assert.match(after.vrrp.transitions.at(-1)?.reason ?? '', /attached/);
  await probe.streak(100);
  const report = await probe.stop();
  t.diagnostic(`probe: ${summarizeProbe(report)}`);
  // AND nothing moved: no route write, lb-b never left BACKUP, no failed request
  assert.deepEqual(changes, [], `routes changed: ${JSON.stringify(changes)}`);
  const views = await routeViews(lab);
  assert.ok(allOn(views, 'lb-a'), formatViews(views));
  const bAfter = await agentStatus(lab, 'lb-b');
  assert.equal(bAfter?.vrrp.vrrp, 'BACKUP');
  assert.equal(bAfter.vrrp.transitions.length, bBefore.vrrp.transitions.length, `lb-b had transitions: ${JSON.stringify(bAfter.vrrp.transitions)}`);
  assert.equal(report.failed, 0, summarizeProbe(report));
  assert.deepEqual(Object.keys(report.answeredBy), ['lb-a']);
});
