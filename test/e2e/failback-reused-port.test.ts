// A failback hands lb-b's open connections back to lb-b: packets of connections lb-a "does not
// know" (conntrack not ESTABLISHED). Found by the failover benchmark (about 1 lost request in 50
// failbacks): a client port reused within TIME_WAIT made lb-a "know" a connection it does not
// have. GIVEN lb-a served a request from client port P (it closed first: its TIME_WAIT socket
// holds the 4-tuple), then failed; WHEN the client opens a keep-alive connection from the same
// port P to lb-b and lb-a fails back, THEN that connection must keep working through the failback.
// Before the fix it stalled (its requests timed out): TCP early demux gave its packets to the
// TIME_WAIT socket before routing, and ip_forward drops a packet that has a socket. Run without
// and with conntrack on in lb-a's namespace (a stateful firewall keeps TIME_WAIT entries too).
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { agentStatus, CONVERGE_MS, isRoot, killPreferredNode, nodeAddress, startAgent, startE2eLab, waitFor, waitRoutesOn } from './fixture.js';

// Phase 1: one request from port P, Connection: close (the server closes first). Phase 2 (once
// `go` exists): a keep-alive connection from the same port P, requests back to back until `stop`.
const CLIENT = `
import http from 'node:http';
import { existsSync } from 'node:fs';
const [url, port, go, stop, maxMs] = process.argv.slice(1);
const end = Date.now() + Number(maxMs);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const get = (agent) => new Promise((resolve) => {
  const req = http.get(url, { agent, localPort: Number(port), timeout: 3000 }, (res) => {
    res.resume();
    res.on('end', () => resolve({ ok: res.statusCode === 200, by: res.headers['x-remote-address'], port: req.socket?.localPort }));
    res.on('error', (e) => resolve({ ok: false, error: String(e.code || e) }));
  });
  req.on('timeout', () => req.destroy(new Error('timeout')));
  req.on('error', (e) => resolve({ ok: false, error: String(e.code || e.message) }));
});
const first = await get(false);
process.stdout.write(JSON.stringify({ first }) + '\\n');
while (!existsSync(go) && Date.now() < end) await sleep(20);
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const out = { ok: 0, failed: 0, by: {}, errors: [], ports: [] };
while (!existsSync(stop) && Date.now() < end) {
  const r = await get(agent);
  if (r.ok) { out.ok++; out.by[r.by] = (out.by[r.by] || 0) + 1; if (!out.ports.includes(r.port)) out.ports.push(r.port); }
  else { out.failed++; if (out.errors.length < 10) out.errors.push(r.error + ' at ' + Date.now()); }
  await sleep(20);
}
process.stdout.write(JSON.stringify({ second: out }) + '\\n');
process.exit(0);
`;

for (const firewall of ['no', 'a stateful'] as const) {
  void test(`failback: a keep-alive connection on lb-b from a client port lb-a served before keeps working (${firewall} firewall on lb-a)`, { skip: !isRoot && 'needs root (network namespaces)', timeout: 150_000 }, (t) => reusedPort(t, firewall));
}

async function reusedPort(t: TestContext, firewall: 'no' | 'a stateful'): Promise<void> {
  const e2e = await startE2eLab(t, { preemptDelay: '3s' });
  const { lab } = e2e;
  // A stateful rule turns conntrack on in lb-a's namespace (it is off until a rule needs it).
  if (firewall === 'a stateful') await lab.exec('lb-a', ['iptables', '-w', '5', '-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'INVALID', '-m', 'comment', '--comment', 'olb-test', '-j', 'ACCEPT'], { signal: AbortSignal.timeout(10_000) });
  const port = 40_000 + (process.pid % 10_000);
  const go = join(dirname(lab.stateFile), `reuse-${process.pid}.go`);
  const stop = join(dirname(lab.stateFile), `reuse-${process.pid}.stop`);
  t.after(() => writeFile(stop, 'stop').catch(() => undefined));
  const run = lab.exec('client-az-a', [process.execPath, '--input-type=module', '-e', CLIENT, `http://${lab.plan.vip}/`, String(port), go, stop, '90000'], {
    signal: AbortSignal.timeout(120_000), timeoutMs: 110_000,
  });
  // GIVEN lb-a served a request from port P and closed it (TIME_WAIT in its conntrack)
  await waitFor(e2e, 'lb-a master', async () => (await agentStatus(lab, 'lb-a'))?.vrrp.vrrp === 'MASTER');
  await new Promise((r) => setTimeout(r, 1000));
  // AND lb-a died, lb-b holds the routes
  await killPreferredNode(e2e);
  // AND the client keeps a connection to lb-b open from the same port P
  await writeFile(go, 'go');
  await new Promise((r) => setTimeout(r, 1500));
  // WHEN lb-a comes back and takes the routes back (after its preempt delay)
  await startAgent(e2e, 'lb-a');
  await waitRoutesOn(e2e, 'lb-a', { timeoutMs: CONVERGE_MS });
  // (lb-b drains once the routes have left it: the client then reconnects, from port P, to lb-a,
  // which has an entry for that 4-tuple from the handoff.)
  await waitFor(e2e, 'lb-b drained', async () => (await readFile(join(e2e.runDir('lb-b'), 'agent.log'), 'utf8')).includes('"event":"drain"'));
  await new Promise((r) => setTimeout(r, 3000));
  await writeFile(stop, 'stop');
  const lines = (await run).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const first = lines[0]?.['first'] as { ok: boolean; by?: string; port?: number };
  const second = lines[1]?.['second'] as { ok: number; failed: number; by: Record<string, number>; errors: string[]; ports: number[] };
  t.diagnostic(JSON.stringify({ first, second }));
  assert.ok(first.ok && first.by === nodeAddress(lab, 'lb-a') && first.port === port, `phase 1 was not served by lb-a from port ${port}: ${JSON.stringify(first)}`);
  assert.deepEqual(second.ports, [port], `the keep-alive connection did not use port ${port}: ${JSON.stringify(second)}`);
  // THEN the connection kept working through the failback, answered by lb-b (its owner), and the
  // client's next connection from the same port, after lb-b drained, by lb-a
  assert.ok((second.by[nodeAddress(lab, 'lb-b')] ?? 0) > 20, `too few requests through lb-b: ${JSON.stringify(second)}`);
  assert.ok((second.by[nodeAddress(lab, 'lb-a')] ?? 0) > 20, `too few requests through lb-a after lb-b drained: ${JSON.stringify(second)}`);
  assert.equal(second.failed, 0, `requests failed on the reused port: ${JSON.stringify(second)}\n${await e2e.logs()}`);
}
