/**
 * Where haproxy's access log and keepalived's log go (`admin.accessLog`), with the real agent,
 * haproxy (workers chrooted in /var/lib/haproxy as user haproxy) and keepalived: one node,
 * provider none, in a network namespace. HAProxy's logging never blocks its data path, so what is
 * checked is that nothing is lost SILENTLY: every request is either a whole log line in the sink
 * or counted in `overlay_lb_haproxy_dropped_logs_total` (HAProxy's DroppedLogs).
 *
 * syslog: GIVEN the syslog socket is a datagram socket inside HAProxy's chroot that the test reads
 *   (socat), WHEN requests go through haproxy THEN each request's line arrives there as a syslog
 *   message with the spec's facility, and keepalived runs with syslog on (that facility);
 *   WHEN the receiver is stopped during a burst (its socket queue fills) THEN lines received +
 *   lines counted as dropped == requests, and some were counted.
 * file: GIVEN maxSizeMiB 1 and keep 3, haproxy on one CPU (one thread), WHEN 1,400 requests with
 *   800-byte paths go through one by one (~1.3 MB of log) THEN the file was rotated between two
 *   lines near 1 MiB and every request's line is in `path` or `path.1`, exactly once and whole,
 *   none dropped; keepalived's log is `keepalived.log` beside it. WHEN the agent is stopped, 3,000 such requests go through
 *   (3 MB: more than the 1 MiB pipe holds) and a new agent starts THEN every request is a line in
 *   the files or counted as dropped, and some were counted. WHEN the spec then says syslog and
 *   the agent restarts (haproxy and keepalived keep running, their output still on the pipes) THEN
 *   the agent says, for each, where its log goes until it restarts.
 */
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { stopProcess } from '../helpers/netns.js';
import type { Sandbox, SandboxProcess } from '../helpers/netns.js';
import { AGENT_VIP as VIP, agentGet, agentSpecText, agentStatus, spawnAgent, startAgentSandbox, type AgentSandbox } from '../helpers/agent-sandbox.js';

const WAIT_MS = 60_000;
const CHROOT = '/var/lib/haproxy';

function specText(accessLog: string): string {
  return agentSpecText({ cluster: 'alog', accessLog });
}

/** `count` sequential GETs of /<tag>-<i>-<padding> through the VIP, one connection each. */
function requests(tag: string, count: number, pad: number): string {
  return `const http = require('node:http'); let i = 0; const pad = 'x'.repeat(${pad});
const next = () => { if (i >= ${count}) return process.exit(0); const n = i++;
  http.get({ host: '${VIP}', port: 80, path: '/${tag}-' + n + '-' + pad, agent: false }, (r) => { r.resume(); r.on('end', next); }).on('error', (e) => { console.error(e.message); process.exit(1); }); };
next(); setTimeout(() => process.exit(2), 170000);`;
}

/** `cpus`: where the agent, haproxy and keepalived may run (taskset -c); absent: anywhere. */
interface Node extends AgentSandbox { agent: SandboxProcess; readonly cpus?: string }

function startAgent(node: AgentSandbox & { readonly cpus?: string }): SandboxProcess {
  return spawnAgent(node.sb, node.ns, { specFile: node.specFile, node: 'lb-a', runDir: node.runDir, ...(node.cpus === undefined ? {} : { cpus: node.cpus }) });
}

/** The first CPU this test may run on (its affinity, as `taskset -c` takes it). */
async function firstCpu(): Promise<string> {
  const m = /^Cpus_allowed_list:\s*(\d+)/m.exec(await readFile('/proc/self/status', 'utf8'));
  assert.ok(m?.[1] !== undefined, 'Cpus_allowed_list in /proc/self/status');
  return m[1];
}

/** The thread count of each of haproxy's workers (the children of the master in the pid file). */
async function haproxyWorkerThreads(runDir: string): Promise<number[]> {
  const master = (await readFile(join(runDir, 'haproxy.pid'), 'utf8')).trim();
  const children = (await readFile(`/proc/${master}/task/${master}/children`, 'utf8')).trim().split(/\s+/).filter((p) => p !== '');
  const threads = await Promise.all(children.map(async (pid) => Number(/^Threads:\s*(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))?.[1] ?? NaN)));
  return threads.filter((n) => !Number.isNaN(n));
}

async function waitReady(node: Node): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const s = await agentStatus(node.sb, node.ns);
    if (s?.vrrp.vrrp === 'MASTER' && s.haproxy.healthy) return;
    if (node.agent.child.exitCode !== null || Date.now() > deadline) assert.fail(`the agent did not become MASTER and healthy:\n${node.agent.output().slice(-4000)}`);
    await sleep(200);
  }
}

async function startNode(t: TestContext, accessLog: (dir: string) => string, options: { before?: (sb: Sandbox, dir: string, ns: string) => void; cpus?: string } = {}): Promise<Node> {
  const sandbox = await startAgentSandbox(t, { tmpPrefix: 'olb-alog-', ns: 'alog', peer: 'alogp', timeoutMs: 280_000, spec: (dir) => specText(accessLog(dir)) });
  options.before?.(sandbox.sb, sandbox.dir, sandbox.ns);
  const base = options.cpus === undefined ? sandbox : { ...sandbox, cpus: options.cpus };
  const node = { ...base, agent: startAgent(base) };
  await waitReady(node);
  return node;
}

/** overlay_lb_haproxy_dropped_logs_total from the agent's /metrics (null while it does not answer). */
async function droppedLogs(node: Node): Promise<number | null> {
  const m = /^overlay_lb_haproxy_dropped_logs_total (\d+)$/m.exec((await agentGet(node.sb, node.ns, '/metrics')) ?? '');
  return m !== null ? Number(m[1]) : null;
}

async function keepalivedArgv(runDir: string): Promise<string[]> {
  const pid = Number((await readFile(join(runDir, 'keepalived.pid'), 'utf8')).trim());
  return (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter((a) => a !== '');
}

/** Waits until `lines() + dropped == want` (the agent reads DroppedLogs every 10 s); returns both. */
async function waitAccounted(node: Node, want: number, lines: () => Promise<number>, droppedBefore: number): Promise<{ lines: number; dropped: number }> {
  const deadline = Date.now() + WAIT_MS;
  let last = { lines: 0, dropped: 0 };
  for (;;) {
    last = { lines: await lines(), dropped: ((await droppedLogs(node)) ?? droppedBefore) - droppedBefore };
    if (last.lines + last.dropped >= want || Date.now() > deadline) return last;
    await sleep(500);
  }
}

void test('accessLog syslog: lines reach the socket in the chroot with the facility; a burst the receiver cannot take is counted, not lost silently', { timeout: 300_000 }, async (t) => {
  const socket = `/olbt-alog-${process.pid}.sock`;
  const hostSocket = join(CHROOT, socket);
  t.after(() => rm(hostSocket, { force: true }));
  let receiver: SandboxProcess | undefined;
  const node = await startNode(t, () => `{ to: syslog, socket: ${socket}, facility: local3 }`, {
    before: (sb, _dir, ns) => {
      // socat prints each datagram on a line of its own; mode 666: the workers run as haproxy.
      receiver = sb.spawn(ns, ['socat', '-u', `UNIX-RECV:${hostSocket},mode=666`, 'STDOUT']);
    },
  });
  assert.ok(receiver !== undefined);
  const rx: SandboxProcess = receiver;
  assert.doesNotMatch(node.agent.output(), /access-log-socket-missing/, 'the agent found the socket in the chroot');
  const received = (tag: string): string[] => rx.output().split('\n').filter((l) => l.includes(`/${tag}-`));

  const r = await node.sb.exec(node.ns, ['node', '-e', requests('syslogtest', 20, 100)], { signal: node.signal });
  assert.equal(r.code, 0, r.stderr);
  const deadline = Date.now() + WAIT_MS;
  while (received('syslogtest').length < 20 && Date.now() < deadline) await sleep(100);
  const got = received('syslogtest');
  assert.equal(new Set(got.map((l) => /\/syslogtest-(\d+)-/.exec(l)?.[1])).size, 20, `20 requests, 20 lines on the socket:\n${rx.output().slice(-3000)}`);
  // <PRI> = facility * 8 + severity: local3 is 19, haproxy logs requests at info (6): 158.
  for (const l of got) assert.match(l, /^<158>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ haproxy\[\d+\]: /, l);
  const runLog = await readFile(join(node.runDir, 'haproxy.log'), 'utf8').catch(() => '');
  assert.doesNotMatch(runLog, /syslogtest/, 'no access-log line in the run dir');
  const argv = await keepalivedArgv(node.runDir);
  assert.ok(argv.includes('--log-facility=local3') && !argv.includes('--no-syslog') && !argv.includes('--log-console'), argv.join(' '));

  // The receiver stops reading: its socket queue (net.unix.max_dgram_qlen datagrams) fills and
  // HAProxy, which never waits for its log, drops lines and counts them.
  const before = await droppedLogs(node);
  assert.equal(before, 0);
  const BURST = 300;
  process.kill(rx.child.pid ?? 0, 'SIGSTOP');
  try {
    const b = await node.sb.exec(node.ns, ['node', '-e', requests('burst', BURST, 100)], { signal: node.signal });
    assert.equal(b.code, 0, b.stderr);
  } finally {
    process.kill(rx.child.pid ?? 0, 'SIGCONT');
  }
  const seen = (): Promise<number> => Promise.resolve(new Set(received('burst').map((l) => /\/burst-(\d+)-/.exec(l)?.[1])).size);
  const result = await waitAccounted(node, BURST, seen, 0);
  assert.equal(result.lines + result.dropped, BURST, `every request is a line on the socket or counted as dropped: ${JSON.stringify(result)}`);
  assert.ok(result.dropped > 0, `the stopped receiver made HAProxy drop lines: ${JSON.stringify(result)}`);
  assert.match(node.agent.output(), /"event":"haproxy-dropped-logs"/, 'the agent logged the drops');
});

void test('accessLog file: rotated by size between lines, nothing lost or cut; a burst while no agent runs is drained or counted', { timeout: 300_000 }, async (t) => {
  // One CPU, so HAProxy runs one thread (its default nbthread is the CPUs it may use). With more,
  // HAProxy also drops (and counts) a line when two of its threads write to stdout at the same
  // moment and the one holding the fd is descheduled (fd_write_frag_line gives up after 200
  // attempts): that happens on a busy machine whatever our pipe and drain do, so DroppedLogs would
  // not say whether the drain kept up. One thread: a drop can only be a full pipe.
  const node = await startNode(t, (dir) => `{ to: file, path: ${join(dir, 'logs', 'access.log')}, maxSizeMiB: 1, keep: 3 }`, { cpus: await firstCpu() });
  const threads = await haproxyWorkerThreads(node.runDir);
  assert.ok(threads.length > 0 && threads.every((n) => n === 1), `haproxy's workers run one thread each: ${JSON.stringify(threads)}`);
  const file = join(node.dir, 'logs', 'access.log');
  const files = [file, `${file}.1`, `${file}.2`, `${file}.3`];
  const linesOf = async (tag: string): Promise<string[]> => {
    const texts = await Promise.all(files.map((f) => readFile(f, 'utf8').catch(() => '')));
    return texts.join('').split('\n').filter((l) => l.includes(`/${tag}-`));
  };
  // HAProxy keeps at most tune.http.logurilen (1024) characters of a URI in its log: 800-character paths.
  const COUNT = 1400;
  const PAD = 800;
  const r = await node.sb.exec(node.ns, ['node', '-e', requests('filetest', COUNT, PAD)], { signal: node.signal });
  assert.equal(r.code, 0, r.stderr);
  const moderate = await waitAccounted(node, COUNT, async () => (await linesOf('filetest')).length, 0);
  const seen = new Map<string, number>();
  for (const l of await linesOf('filetest')) {
    const m = /\/filetest-(\d+)-(x*) HTTP\/1\.1"/.exec(l);
    assert.ok(m, `a whole line: ${l.slice(0, 200)}...`);
    assert.equal(m[2]?.length, PAD, 'the path is not cut');
    seen.set(m[1] ?? '', (seen.get(m[1] ?? '') ?? 0) + 1);
  }
  assert.equal(moderate.dropped, 0, `one request at a time: nothing dropped (${JSON.stringify(moderate)})`);
  assert.equal(seen.size, COUNT, `every request logged (${seen.size} of ${COUNT})`);
  assert.ok([...seen.values()].every((n) => n === 1), 'each exactly once');
  const rotated = await stat(`${file}.1`);
  assert.ok(rotated.size <= 1024 * 1024 && rotated.size > 1024 * 1024 - 4096, `rotated between two lines just below 1 MiB: ${rotated.size}`);
  assert.ok((await readFile(`${file}.1`, 'utf8')).endsWith('\n'), 'the rotated file ends with a whole line');
  assert.match(await readFile(join(node.dir, 'logs', 'keepalived.log'), 'utf8'), /Entering MASTER STATE/);
  assert.match(node.agent.output(), /"event":"log-rotated"/);

  // No agent: lines wait in the (1 MiB) pipe; 3,000 lines of ~1 kB do not fit, and HAProxy counts
  // what it could not write. The next agent drains the pipe and reads the count.
  await stopProcess(node.agent);
  const BURST = 3000;
  const b = await node.sb.exec(node.ns, ['node', '-e', requests('burst', BURST, PAD)], { signal: node.signal });
  assert.equal(b.code, 0, b.stderr);
  const next: Node = { ...node, agent: startAgent(node) };
  await waitReady(next);
  const burst = await waitAccounted(next, BURST, async () => new Set((await linesOf('burst')).map((l) => /\/burst-(\d+)-/.exec(l)?.[1])).size, 0);
  assert.equal(burst.lines + burst.dropped, BURST, `every request is a line or counted as dropped: ${JSON.stringify(burst)}`);
  assert.ok(burst.dropped > 0, `more than the pipe holds: some were dropped, and counted: ${JSON.stringify(burst)}`);
  assert.doesNotMatch(next.agent.output(), /access-log-output-stale/, 'the attached haproxy and keepalived write where the spec says');

  // The spec switches to syslog while haproxy and keepalived keep running with their output on
  // the pipes: the restarted agent says where their logs go until they restart.
  await stopProcess(next.agent);
  await writeFile(node.specFile, specText('{ to: syslog }'));
  const third: Node = { ...node, agent: startAgent(node) };
  await waitReady(third);
  for (const what of ['haproxy', 'keepalived']) {
    assert.match(third.agent.output(), new RegExp(`"event":"access-log-output-stale","process":"${what}"`), third.agent.output().slice(-3000));
  }
});
