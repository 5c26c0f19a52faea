/**
 * The failover benchmark's client: one HTTP GET through the VIP every `intervalMs`, each on a new
 * connection, from inside a lab client namespace, every result streamed back as one line
 * (`start end status`), so the benchmark can cut the stream into windows (fault, failback) and
 * measure the outage from the requests alone. Also: wrk inside a namespace, for background load.
 *
 * Both run as child processes of the benchmark (`ip netns exec NS ...`, which execs, so the pid
 * is the program's own) and are stopped by that pid only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { parseWrk, type WrkResult } from './wrk.js';

/** One request of the probe: wall-clock ms (same clock as the benchmark's `Date.now()`). */
export interface ProbeRecord {
  readonly start: number;
  readonly end: number;
  /** HTTP status, or 0 for a connection error or timeout. */
  readonly status: number;
  /** For status 0: `timeout` or the socket error's code (ECONNRESET, ECONNREFUSED...). */
  readonly error?: string;
}

export interface RunningProbe {
  /** Every request completed so far, in completion order. */
  readonly records: readonly ProbeRecord[];
  stop(): Promise<void>;
}

// Runs inside the client namespace. One request per tick whatever the previous one is doing
// (a hung SYN must not slow the probe down), `agent: false` = a new TCP connection each.
const PROBE_SCRIPT = `
import { request } from 'node:http';
const [host, port, path, interval, timeout, maxMs] = process.argv.slice(1);
const now = () => performance.timeOrigin + performance.now();
const stopAt = now() + Number(maxMs);
const one = () => {
  const start = now();
  let done = false;
  const finish = (status, error) => { if (done) return; done = true; process.stdout.write(start.toFixed(1) + ' ' + now().toFixed(1) + ' ' + status + (error ? ' ' + error : '') + '\\n'); };
  const req = request({ host, port: Number(port), path, agent: false, timeout: Number(timeout) }, (res) => {
    res.resume();
    res.on('end', () => finish(res.statusCode));
    res.on('error', (e) => finish(0, e.code || 'error'));
  });
  req.on('timeout', () => { req.destroy(); finish(0, 'timeout'); });
  req.on('error', (e) => finish(0, e.code || 'error'));
  req.end();
};
const timer = setInterval(() => { if (now() > stopAt) { clearInterval(timer); setTimeout(() => process.exit(0), Number(timeout) + 100); return; } one(); }, Number(interval));
process.on('SIGTERM', () => process.exit(0));
`;

/**
 * Starts the probe in `namespace` against `http://host:port/path`.
 * Bounded: it stops by itself after `maxMs` (and on `stop()` or the signal).
 */
export function startNamespaceProbe(options: {
  readonly namespace: string;
  readonly host: string;
  readonly port: number;
  readonly path: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly maxMs: number;
  readonly signal: AbortSignal;
}): RunningProbe {
  const records: ProbeRecord[] = [];
  const child = spawn('ip', ['netns', 'exec', options.namespace, process.execPath, '--input-type=module', '-e', PROBE_SCRIPT,
    options.host, String(options.port), options.path, String(options.intervalMs), String(options.timeoutMs), String(options.maxMs)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  createInterface({ input: child.stdout }).on('line', (line) => {
    const [s, e, st, err] = line.split(' ');
    records.push({ start: Number(s), end: Number(e), status: Number(st), ...(err ? { error: err } : {}) });
  });
  const stop = async (): Promise<void> => {
    stopChild(child, 'SIGTERM');
    await exited;
  };
  options.signal.addEventListener('abort', () => void stop(), { once: true });
  return { records, stop };
}

/** wrk inside a namespace, for background load; `stop()` (SIGINT) returns its summary. */
export function startNamespaceWrk(options: {
  readonly namespace: string;
  readonly url: string;
  readonly connections: number;
  readonly threads: number;
  readonly maxSeconds: number;
  readonly signal: AbortSignal;
}): { stop(): Promise<WrkResult> } {
  const child = spawn('ip', ['netns', 'exec', options.namespace, 'wrk', '--latency', '-t', String(options.threads), '-c', String(options.connections),
    '-d', `${options.maxSeconds}s`, '--timeout', '2s', options.url], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  const exited = once(child, 'exit');
  const stop = async (): Promise<WrkResult> => {
    stopChild(child, 'SIGINT');
    await exited;
    return parseWrk(out);
  };
  options.signal.addEventListener('abort', () => void stop(), { once: true });
  return { stop };
}

function stopChild(child: ChildProcess, sig: NodeJS.Signals): void {
  if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, sig);
}

/** What the probe saw in one window. */
export interface WindowStats {
  /** The longest time without a successful answer: last success before -> first success after (ms). */
  readonly outageMs: number;
  /** Requests started in the window that failed (error, timeout or non-2xx). */
  readonly failed: number;
  readonly requests: number;
  /** The first failures: when each started (ms after the window's start), how long it took, what it was. */
  readonly failures: readonly { readonly atMs: number; readonly ms: number; readonly what: string }[];
}

/**
 * The outage in `[from, to]`: successes ordered by completion; the anchor is the last success
 * completed at or before `from`; the outage is the longest gap between consecutive successes
 * from the anchor to `to`. A window with no success after the anchor counts up to `to`.
 */
export function windowStats(records: readonly ProbeRecord[], from: number, to: number): WindowStats {
  const ok = (r: ProbeRecord): boolean => r.status >= 200 && r.status < 400;
  const successes = records.filter(ok).map((r) => r.end).sort((a, b) => a - b);
  let prev = -Infinity;
  for (const e of successes) if (e <= from) prev = e;
  if (prev === -Infinity) prev = from;
  let outage = 0;
  for (const e of successes) {
    if (e <= prev || e > to) continue;
    outage = Math.max(outage, e - prev);
    prev = e;
  }
  // No success since the last one up to the window's end: that gap is an outage too.
  outage = Math.max(outage, to - prev);
  const inWindow = records.filter((r) => r.start >= from && r.start <= to);
  const failed = inWindow.filter((r) => !ok(r));
  const failures = failed.slice(0, 10).map((r) => ({ atMs: Math.round(r.start - from), ms: Math.round(r.end - r.start), what: r.status === 0 ? (r.error ?? 'error') : `HTTP ${r.status}` }));
  return { outageMs: Math.round(outage * 10) / 10, failed: failed.length, requests: inWindow.length, failures };
}
