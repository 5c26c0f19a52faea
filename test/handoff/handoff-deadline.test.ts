/**
 * The connection handoff ends at its deadline by the kernel alone, with no agent running: the
 * target's MARK rule carries `-m time --datestop`, so a handoff can outlive the agent that turned
 * it on (an agent restart keeps a failback's handoff) and still never outlives its deadline.
 *
 * Three namespaces, as a VPC looks from one client: the client C reaches the VIP through the
 * origin B (its "route"), then through the target A; B answers C directly, as the VPC would
 * route it. A and B are joined by their own veth, which carries the VXLAN handoff link.
 *
 * GIVEN a TCP connection from C to the VIP, served by B
 * WHEN C's route to the VIP moves to A, and A's handoff towards B is turned on with a deadline
 *   2 s away, then moved 8 s away, by processes that exit at once (no agent)
 * THEN the connection keeps working past the first deadline (the deadline moved in the kernel);
 * AND once the second deadline has passed, A resets it (the kernel stopped handing off), while the
 *   rule and the record are still in place (nobody removed them)
 * AND disableHandoff removes every rule.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSandbox } from '../helpers/netns.js';
import { startCpuHogIfRequested } from '../helpers/cpu-hog.js';
import { handoffCaller, nextLine } from '../helpers/handoff-sandbox.js';

const VIP = '192.168.100.10';
const PORT = 8080;

/** Answers every line with `pong`. */
const SERVER = `
import net from 'node:net';
const [host, port] = process.argv.slice(1);
net.createServer((s) => { s.on('error', () => undefined); s.on('data', () => s.write('pong\\n')); })
  .listen({ host, port: Number(port) }, () => process.stdout.write('ready\\n'));
`;

/** One connection; sends each stdin line on it and prints "ok" or "fail <why>" per line. */
const CLIENT = `
import net from 'node:net';
import { createInterface } from 'node:readline';
const [host, port] = process.argv.slice(1);
const s = net.connect({ host, port: Number(port) });
let dead = null;
let waiting = null;
const settle = (r) => { if (waiting) { const w = waiting; waiting = null; clearTimeout(w.timer); w.done(r); } };
s.on('connect', () => process.stdout.write('connected\\n'));
s.on('data', () => settle('ok'));
s.on('error', (e) => { dead = e.code ?? String(e); settle('fail ' + dead); });
s.on('close', () => { dead ??= 'closed'; settle('fail ' + dead); });
for await (const line of createInterface({ input: process.stdin })) {
  const r = dead !== null ? 'fail ' + dead : await new Promise((done) => {
    waiting = { done, timer: setTimeout(() => settle('fail no answer in 3 s'), 3000) };
    s.write(line + '\\n');
  });
  process.stdout.write(r + '\\n');
}
`;

void test('handoff: the kernel ends it at its (moved) deadline with no agent running', { timeout: 120_000 }, async (t) => {
  const signal = AbortSignal.timeout(100_000);
  const hog = startCpuHogIfRequested(t);
  const sb = createSandbox();
  const dirs: string[] = [];
  t.after(async () => {
    try {
      await sb.cleanup();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    } finally {
      await hog?.stop();
    }
  });
  const c = await sb.addNamespace('c', { signal });
  const a = await sb.addNamespace('a', { signal });
  const b = await sb.addNamespace('b', { signal });
  // A's client side has a dotted name, as a VLAN interface has (the spec allows it): its
  // forwarding sysctl is the path segment `eth0.5`, which `sysctl`'s dotted names would split.
  await sb.addVeth({ ns: c, ifname: 'to-a', address: '10.0.0.2/24' }, { ns: a, ifname: 'eth0.5', address: '10.0.0.1/24' }, { signal });
  await sb.addVeth({ ns: c, ifname: 'to-b', address: '10.0.2.2/24' }, { ns: b, ifname: 'to-c', address: '10.0.2.1/24' }, { signal });
  await sb.addVeth({ ns: a, ifname: 'peer', address: '10.0.1.10/24' }, { ns: b, ifname: 'peer', address: '10.0.1.11/24' }, { signal });
  for (const ns of [a, b]) await sb.exec(ns, ['ip', 'addr', 'add', `${VIP}/32`, 'dev', 'lo'], { signal });
  await sb.exec(a, ['ip', 'route', 'add', '10.0.2.0/24', 'via', '10.0.0.2'], { signal });
  await sb.exec(c, ['ip', 'route', 'add', `${VIP}/32`, 'via', '10.0.2.1'], { signal });
  const call = handoffCaller(sb, signal);
  await call(a, 'ensureHandoffLink', { localAddress: '10.0.1.10', iface: 'peer', linkAddress: '169.254.79.1', peerAddresses: ['10.0.1.11'] });
  await call(b, 'ensureHandoffLink', { localAddress: '10.0.1.11', iface: 'peer', linkAddress: '169.254.79.2', peerAddresses: ['10.0.1.10'] });

  const server = sb.spawn(b, [process.execPath, '--input-type=module', '-e', SERVER, VIP, String(PORT)]);
  await nextLine(server, 0, 'server ready');
  const client = sb.spawn(c, [process.execPath, '--input-type=module', '-e', CLIENT, VIP, String(PORT)], { stdin: true });
  assert.equal(await nextLine(client, 0, 'connection'), 'connected');
  const ping = async (): Promise<string> => {
    const from = client.output().length;
    client.write('ping\n');
    return nextLine(client, from, 'answer');
  };
  // GIVEN the connection served by B
  assert.equal(await ping(), 'ok');

  // WHEN C's route moves to A and A hands off towards B until 2 s from now, moved to 8 s from now
  await sb.exec(c, ['ip', 'route', 'replace', `${VIP}/32`, 'via', '10.0.0.1'], { signal });
  const runDir = await mkdtemp(join(tmpdir(), 'olb-handoff-'));
  dirs.push(runDir);
  const first = Date.now() + 2000;
  await call(a, 'enableHandoff', runDir, { role: 'target', vip: VIP, peer: 'b', peerAddress: '10.0.1.11', peerLinkAddress: '169.254.79.2', iface: 'eth0.5', reason: 'takeover', until: first });
  const second = Date.now() + 8000;
  const moved = await call(a, 'setHandoffDeadline', runDir, second) as { until: number; iptables: string[][] };
  assert.equal(moved.until, second);
  assert.equal(moved.iptables.length, 2, `the record lists the unmark rule and the new MARK rule: ${JSON.stringify(moved.iptables)}`);
  const mangle = async (): Promise<string> => (await sb.exec(a, ['iptables', '-w', '5', '-t', 'mangle', '-S'], { signal })).stdout;
  const stop = new Date(Math.floor(second / 1000) * 1000).toISOString().slice(0, 19);
  assert.equal((await mangle()).match(/--datestop/g)?.length, 1, await mangle());
  assert.match(await mangle(), new RegExp(`--datestop ${stop}`));

  // THEN the connection keeps working through A, also past the first deadline
  assert.equal(await ping(), 'ok');
  // (xt_time matches through the whole second of --datestop: 1.5 s after a deadline it has ended.)
  await sleep(Math.max(0, first + 1500 - Date.now()));
  assert.ok(Date.now() < second, 'the machine was too slow to ping between the two deadlines');
  assert.equal(await ping(), 'ok', 'the connection broke at the first deadline: the deadline did not move');
  const marked = Number(/^\s*(\d+)\s+\d+\s+MARK\b.*olb-handoff/m.exec((await sb.exec(a, ['iptables', '-w', '5', '-t', 'mangle', '-L', 'PREROUTING', '-v', '-x', '-n'], { signal })).stdout)?.[1] ?? 0);
  assert.ok(marked > 0, 'no packet went through the handoff');

  // AND after the second deadline A resets it, with the rule still there
  await sleep(Math.max(0, second + 1500 - Date.now()));
  const last = await ping();
  assert.match(last, /^fail (ECONNRESET|EPIPE|closed)/);
  assert.match(await mangle(), /^-A PREROUTING .*--datestop .*olb-handoff/m);

  // AND disableHandoff removes every rule and puts the local table back first
  assert.equal(await call(a, 'disableHandoff', runDir), true);
  assert.doesNotMatch(await mangle(), /olb-handoff/);
  const rules = (await sb.exec(a, ['ip', 'rule', 'show'], { signal })).stdout;
  assert.match(rules, /^0:\s+from all lookup local/m);
  assert.doesNotMatch(rules, /20300/);
});
