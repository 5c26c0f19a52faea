// A failback's handoff survives an agent restart (an upgrade) on the node that took the routes
// back. lb-a (preferred) dies completely, lb-b takes every route; a client starts a 25 s download
// through the VIP, served by lb-b; lb-a starts again and takes the routes back after the preempt
// delay, handing lb-b's open connections back to it. Right then lb-a's agent is stopped (SIGTERM)
// and started again as soon as the kernel has handed one more of the download's packets off. The
// download's packets (the client's ACKs) keep reaching lb-a and must keep going to lb-b: while no
// agent runs and before the new agent has loaded (the kernel keeps the handoff until its
// deadline) and after it has picked the handoff up. The download completes, served by lb-b; no
// request fails; the handoff ends at its time limit, by the new agent.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { killLabProcess } from '../../src/lab/infra-faults.js';
import { startVipClient } from '../helpers/vip-client.js';
import { TAKEOVER_HANDOFF_MS } from '../../src/handoff/handoff-manager.js';
import { agentStatus, CONVERGE_MS, handedOffPackets, isRoot, killPreferredNode, nodeAddress, startAgent, startE2eLab, waitFor, waitRoutesOn } from './fixture.js';

/** A download that lasts DRIP_MS (the lab backends' `?drip=`); prints its outcome as JSON. */
const DOWNLOAD = `
import http from 'node:http';
const [url] = process.argv.slice(1);
const result = { status: null, remote: null, bytes: 0, endedAt: null, error: null };
const done = (error) => { result.error = error; result.endedAt = Date.now(); process.stdout.write(JSON.stringify(result)); process.exit(0); };
const req = http.get(url, (res) => {
  result.status = res.statusCode;
  result.remote = res.headers['x-remote-address'] ?? null;
  res.on('data', (d) => { result.bytes += d.length; });
  res.on('end', () => done(res.complete ? null : 'cut short'));
  res.on('error', (e) => done(String(e.code ?? e.message)));
});
req.on('error', (e) => done(String(e.code ?? e.message) + ' after ' + result.bytes + ' bytes'));
`;
/** Long enough to span the failback and the restart, short of lb-b's hard-stop-after (30 s) once it drains. */
const DRIP_MS = 25_000;

void test('failback: an agent restart on the new master keeps the handoff, a download from the old master completes', { skip: !isRoot && 'needs root (network namespaces)', timeout: 240_000 }, async (t) => {
  const e2e = await startE2eLab(t, { preemptDelay: '3s' });
  const { lab } = e2e;
  // GIVEN lb-a dead and lb-b holding the routes
  await killPreferredNode(e2e);
  // AND a download through the VIP, served by lb-b, and a client sending requests
  const download = lab.exec('client-az-a', [process.execPath, '--input-type=module', '-e', DOWNLOAD, `http://${lab.plan.vip}/?drip=${DRIP_MS}`], { signal: AbortSignal.timeout(DRIP_MS + 60_000) });
  const client = startVipClient(t, lab, 'client-az-a', { maxMs: 120_000 });
  await new Promise((r) => setTimeout(r, 1000));

  // WHEN lb-a starts again and takes the routes back, handing lb-b's connections back to it
  await startAgent(e2e, 'lb-a');
  await waitRoutesOn(e2e, 'lb-a', { timeoutMs: CONVERGE_MS });
  const handoff = await waitFor(e2e, 'lb-a hands lb-b\'s connections back', async () => {
    const h = (await agentStatus(lab, 'lb-a'))?.switchover?.handoff;
    return h?.reason === 'takeover' && h.peer === 'lb-b' ? h : null;
  });
  // AND lb-a's agent is stopped and started again at once (keepalived's agent check allows a
  // restart 10 s without a heartbeat: src/render/keepalived.ts AGENT_ALIVE_GRACE_MS)
  const marked = async (): Promise<number> => (await handedOffPackets(lab, 'lb-a')).count ?? Number.NaN;
  assert.equal(await killLabProcess(lab.stateFile, { label: 'agent lb-a' }, { signal: AbortSignal.timeout(10_000), killSignal: 'SIGTERM' }), 'killed');
  const stoppedAt = Date.now();
  const markedAtStop = await marked();
  // (wait for the download's next ACKs while no agent runs: the backend sends 1 KiB every 100 ms,
  // so two reads in a row can fall between two ACKs; the wait is bounded well inside keepalived's
  // grace for a restart, and a handoff that was lost with the agent never counts a packet)
  let markedWithoutAgent = markedAtStop;
  const waitUntil = Date.now() + 3000;
  while (markedWithoutAgent <= markedAtStop && Date.now() < waitUntil) {
    await new Promise((r) => setTimeout(r, 50));
    markedWithoutAgent = await marked();
  }
  const markedWithoutAgentAt = Date.now();
  await startAgent(e2e, 'lb-a');
  const restarted = await waitFor(e2e, 'the new agent on lb-a reports MASTER', async () => {
    const s = await agentStatus(lab, 'lb-a');
    return s?.vrrp.vrrp === 'MASTER' ? s : null;
  });
  const resumed = restarted.switchover?.handoff ?? null;
  const resumedAt = Date.now();
  const restartMs = resumedAt - stoppedAt;
  await new Promise((r) => setTimeout(r, 2000));
  const markedAfterRestart = await marked();
  const counts = await client.stop();
  const outcome = JSON.parse((await download).stdout) as { status: number | null; remote: string | null; bytes: number; endedAt: number; error: string | null };
  t.diagnostic(`agent restart took ${restartMs} ms; handoff since ${handoff.since}; after the restart: ${JSON.stringify(resumed)}`);
  t.diagnostic(`handed-off packets: ${markedAtStop} at the stop, ${markedWithoutAgent} before the new agent loaded, ${markedAfterRestart} 2 s after the restart`);
  t.diagnostic(`download: ${JSON.stringify(outcome)}, ended ${outcome.endedAt - resumedAt} ms after the new agent was up; client: ${JSON.stringify(counts)}`);

  // THEN the download completed, answered through lb-b (its connection lived on lb-b throughout),
  // and it was still running when the new agent had picked the handoff up
  assert.equal(outcome.error, null, `the download failed: ${JSON.stringify(outcome)}\n${await e2e.logs()}`);
  assert.equal(outcome.status, 200);
  assert.equal(outcome.remote, nodeAddress(lab, 'lb-b'));
  assert.ok(outcome.endedAt > resumedAt, `the download ended before the restart was over (the machine was slow): ${JSON.stringify(outcome)}`);
  // AND packets were handed off while no agent ran and after the new agent started
  assert.ok(markedWithoutAgent > markedAtStop, `no packet handed off while the agent was stopped: ${markedAtStop} -> ${markedWithoutAgent}`);
  assert.ok(markedAfterRestart > markedWithoutAgent, `no packet handed off after the restart: ${markedWithoutAgent} -> ${markedAfterRestart}`);
  // AND no request failed
  assert.equal(counts.fresh.failed + counts.keepAlive.failed, 0, `failed requests: ${JSON.stringify(counts)}\n${await e2e.logs()}`);
  // AND the new agent picked up the same handoff
  assert.ok(resumed !== null && resumed.since === handoff.since, `lb-a's handoff after the restart: ${JSON.stringify(resumed)}, before: ${JSON.stringify(handoff)}`);
  const log = await readFile(join(e2e.runDir('lb-a'), 'agent.log'), 'utf8');
  assert.match(log, /"event":"handoff-left-on","reason":"takeover","peer":"lb-b"/);
  const resumedLine = log.split('\n').findLast((l) => l.includes('"event":"handoff-resumed"'));
  assert.match(resumedLine ?? '', /"event":"handoff-resumed","role":"target","peer":"lb-b","reason":"takeover"/);
  const resumedLogAt = Date.parse((JSON.parse(resumedLine ?? '{}') as { time?: string }).time ?? '');
  assert.ok(markedWithoutAgentAt < resumedLogAt, `the count "while no agent ran" was read at ${markedWithoutAgentAt}, after the new agent picked the handoff up at ${resumedLogAt}`);

  // AND the new agent ends the handoff at its time limit, removing its rules
  const until = resumed.until ?? Number.NaN;
  assert.ok(handoff.since !== undefined && until <= handoff.since + TAKEOVER_HANDOFF_MS + CONVERGE_MS, `handoff deadline ${until}, since ${handoff.since}`);
  await waitFor(e2e, 'the handoff ended by its time limit', async () => (await agentStatus(lab, 'lb-a'))?.switchover?.handoff === null,
    { timeoutMs: Math.max(0, until - Date.now()) + 10_000, intervalMs: 500 });
  assert.match(await readFile(join(e2e.runDir('lb-a'), 'agent.log'), 'utf8'), /"event":"handoff-off","why":"time limit reached"/);
  assert.ok(Number.isNaN(await marked()), 'the MARK rule is still there');
});
