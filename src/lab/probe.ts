/**
 * The lab's failover probe: a client that sends an HTTP GET every `intervalMs` through the VIP
 * and records, per request, when it was sent, how it ended and which LB node answered. Run it
 * inside a client namespace (`lab.spawn`); the host-side helper (test/helpers/lab-probe.ts)
 * starts it, stops it with SIGTERM and reads the report it writes.
 *
 * Every request uses a new connection (`Connection: close`, no agent): a route flip resets every
 * established connection through the VIP (measured), so a keep-alive client would count resets
 * that a real new request would not see.
 *
 * Which node answered: the lab's name servers answer with `x-remote-address` (the address the
 * request came from), which for a request through HAProxy is the LB node's own address.
 *
 * Usage: node probe.js --url URL --out FILE [--interval-ms 10] [--timeout-ms 1000]
 *          [--max-duration-ms 120000] [--nodes ADDR=NAME,...] [--header 'Name: value']...
 * Prints `ready` on stdout once started; creates FILE.first-ok at its first success, keeps the
 * number of successes in a row in FILE.streak (every 100 ms); writes the report (JSON, atomically) to FILE when it
 * gets SIGTERM/SIGINT or reaches its duration bound, then exits 0.
 */
import { isMainScript } from '../util/own-program.js';
import { request } from 'node:http';
import { renameSync, writeFileSync } from 'node:fs';

/** The line printed once the probe runs. */
export const PROBE_READY_LINE = 'ready';

/** One request of the probe. */
export interface ProbeSample {
  /** Wall-clock ms when the request was sent (Date.now(), the host's clock too). */
  readonly sentAt: number;
  /** Milliseconds to the full answer or to the failure. */
  readonly ms: number;
  readonly ok: boolean;
  /** HTTP status, when there was an answer. */
  readonly status?: number;
  /** The failure: `timeout`, a socket error code (ECONNRESET...) or `status 503`. */
  readonly error?: string;
  /** The LB node that answered (null: unknown address or no answer). */
  readonly node: string | null;
}

/** What the probe writes to its `--out` file. */
export interface ProbeRawReport {
  readonly url: string;
  readonly intervalMs: number;
  readonly timeoutMs: number;
  readonly startedAt: number;
  readonly stoppedAt: number;
  /** Why it stopped: `signal` (SIGTERM/SIGINT) or `duration` (its bound). */
  readonly stoppedBy: 'signal' | 'duration';
  /** Requests still in flight when it stopped (not counted either way). */
  readonly unfinished: number;
  /** Ticks skipped because too many requests were in flight (counted as failures too). */
  readonly skipped: number;
  readonly samples: readonly ProbeSample[];
}

interface Args {
  url: string;
  out: string;
  intervalMs: number;
  timeoutMs: number;
  maxDurationMs: number;
  nodes: Map<string, string>;
  headers: Record<string, string>;
}

function parseArgs(argv: readonly string[]): Args {
  const args: Args = { url: '', out: '', intervalMs: 10, timeoutMs: 1000, maxDurationMs: 120_000, nodes: new Map(), headers: {} };
  for (let i = 0; i < argv.length; i += 2) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    switch (flag) {
      case '--url': args.url = value; break;
      case '--out': args.out = value; break;
      case '--interval-ms': args.intervalMs = positive(flag, value); break;
      case '--timeout-ms': args.timeoutMs = positive(flag, value); break;
      case '--max-duration-ms': args.maxDurationMs = positive(flag, value); break;
      case '--nodes':
        for (const pair of value.split(',').filter((p) => p !== '')) {
          const [address, name] = pair.split('=');
          if (address === undefined || name === undefined) throw new Error(`--nodes: bad pair ${JSON.stringify(pair)}: expected ADDRESS=NAME`);
          args.nodes.set(address, name);
        }
        break;
      case '--header': {
        const colon = value.indexOf(':');
        if (colon <= 0) throw new Error(`--header: bad header ${JSON.stringify(value)}: expected 'Name: value'`);
        args.headers[value.slice(0, colon).trim()] = value.slice(colon + 1).trim();
        break;
      }
      default: throw new Error(`unknown flag ${JSON.stringify(flag)}`);
    }
  }
  if (args.url === '' || args.out === '') throw new Error('--url and --out are required');
  return args;
}

function positive(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

async function main(argv: readonly string[]): Promise<void> {
  const args = parseArgs(argv);
  const samples: ProbeSample[] = [];
  const inFlight = new Set<AbortController>();
  // Bounds: in time (maxDurationMs), in concurrency (a black-holed VIP keeps requests hanging
  // until their timeout), and so in count.
  const maxInFlight = Math.max(16, Math.ceil((args.timeoutMs / args.intervalMs) * 2));
  let skipped = 0;
  // The host side waits for this marker file before it injects a fault: a baseline success.
  let firstOk = false;
  // Successes in a row (in completion order; a timeout breaks it when it fires), published in
  // FILE.streak so the host can wait for service to be fully back.
  let streak = 0;
  let published = -1;
  const publish = (): void => {
    if (streak === published) return;
    published = streak;
    writeFileSync(`${args.out}.streak.tmp`, String(streak));
    renameSync(`${args.out}.streak.tmp`, `${args.out}.streak`);
  };
  const startedAt = Date.now();

  const send = (): void => {
    if (inFlight.size >= maxInFlight) {
      skipped++;
      samples.push({ sentAt: Date.now(), ms: 0, ok: false, error: 'probe-overload', node: null });
      return;
    }
    const sentAt = Date.now();
    const controller = new AbortController();
    inFlight.add(controller);
    let done = false;
    const finish = (sample: Omit<ProbeSample, 'sentAt' | 'ms'>): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      inFlight.delete(controller);
      // Aborted only when the probe stops: neither a success nor a failure.
      if (controller.signal.aborted) return;
      samples.push({ sentAt, ms: Date.now() - sentAt, ...sample });
      streak = sample.ok ? streak + 1 : 0;
    };
    const timer = setTimeout(() => {
      finish({ ok: false, error: 'timeout', node: null });
      req.destroy();
    }, args.timeoutMs);
    const req = request(args.url, { agent: false, headers: { ...args.headers, connection: 'close' }, signal: controller.signal }, (res) => {
      res.resume();
      res.on('end', () => {
        const status = res.statusCode ?? 0;
        const from = res.headers['x-remote-address'];
        const node = typeof from === 'string' ? (args.nodes.get(from.replace(/^::ffff:/, '')) ?? from) : null;
        const ok = status >= 200 && status < 300;
        if (ok && !firstOk) {
          firstOk = true;
          writeFileSync(`${args.out}.first-ok`, String(sentAt));
        }
        finish(ok ? { ok: true, status, node } : { ok: false, status, error: `status ${status}`, node });
      });
      res.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, status: res.statusCode ?? 0, error: error.code ?? error.message, node: null }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => finish({ ok: false, error: error.code ?? error.message, node: null }));
    req.end();
  };

  let stoppedBy: ProbeRawReport['stoppedBy'] = 'duration';
  await new Promise<void>((resolve) => {
    const tick = setInterval(send, args.intervalMs);
    const progress = setInterval(publish, 100);
    const bound = setTimeout(stop, args.maxDurationMs);
    function stop(): void {
      clearInterval(tick);
      clearInterval(progress);
      clearTimeout(bound);
      resolve();
    }
    const onSignal = (): void => {
      stoppedBy = 'signal';
      stop();
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    process.stdout.on('error', () => undefined);
    process.stdout.write(`${PROBE_READY_LINE}\n`);
    send();
  });
  const unfinished = inFlight.size;
  for (const c of inFlight) c.abort();
  const report: ProbeRawReport = {
    url: args.url, intervalMs: args.intervalMs, timeoutMs: args.timeoutMs, startedAt, stoppedAt: Date.now(), stoppedBy, unfinished, skipped,
    samples: samples.sort((a, b) => a.sentAt - b.sentAt),
  };
  writeFileSync(`${args.out}.tmp`, JSON.stringify(report));
  renameSync(`${args.out}.tmp`, args.out);
  process.exit(0);
}

if (isMainScript(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(2);
  });
}
