import { runCommand } from '../../src/util/exec.js';

export interface WrkResult {
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly errors: number;
  readonly non2xx: number;
}

/**
 * Runs wrk against a loopback URL for a bounded time and parses its summary (`--latency`).
 * Only loopback targets: benchmarks never send traffic off this machine.
 */
export async function runWrk(options: {
  url: string;
  seconds: number;
  connections: number;
  threads: number;
  headers?: readonly string[];
  signal?: AbortSignal;
}): Promise<WrkResult> {
  const host = new URL(options.url).hostname;
  if (!/^127\.\d+\.\d+\.\d+$|^localhost$/.test(host)) throw new Error(`runWrk: only loopback targets are allowed, got ${host}`);
  const args = ['wrk', '--latency', '-t', String(options.threads), '-c', String(options.connections), '-d', `${options.seconds}s`];
  for (const h of options.headers ?? []) args.push('-H', h);
  args.push(options.url);
  const r = await runCommand(args, { timeoutMs: (options.seconds + 30) * 1000, ...(options.signal ? { signal: options.signal } : {}) });
  if (r.code !== 0) throw new Error(`wrk failed (${r.code}): ${r.stderr || r.stdout}`);
  return parseWrk(r.stdout);
}

export function parseWrk(out: string): WrkResult {
  const num = (re: RegExp): number => {
    const m = re.exec(out);
    return m?.[1] === undefined ? 0 : Number(m[1]);
  };
  const latency = (pct: string): number => {
    const m = new RegExp(`^\\s*${pct}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(out);
    if (m?.[1] === undefined) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    requestsPerSec: num(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    requests: num(/(\d+) requests in/),
    errors: errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
  };
}
