/**
 * A request loop for the demo, run INSIDE a lab client namespace: one GET through the VIP every
 * `interval` ms, each on a new connection, for `seconds` at most (bounded in count and time).
 * Prints one JSON object: successes, failures, the outages (last success before -> first success
 * after) and which backend/node answered.
 *
 * Usage: node demo-probe.js URL SECONDS [INTERVAL_MS] [STOP_FILE]
 * (stops early when STOP_FILE exists; `overlay-lb --own-program demo-probe ...` from the single executable)
 */
import { isMainScript } from '../util/own-program.js';
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

function once(url: string): Promise<string | null> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: 500, headers: { connection: 'close' } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 ? body.trim() : null));
      res.on('error', () => resolve(null));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(null));
    req.end();
  });
}

/** What the probe prints as its last line (JSON), read by the demo (./demo.ts). */
export interface DemoProbeResult {
  readonly ok: number;
  readonly failed: number;
  /** Each outage: the last success before it to the first success after, in ms. */
  readonly outagesMs: readonly number[];
  /** Successful answers by body (the backend that answered). */
  readonly answers: Readonly<Record<string, number>>;
}

/** The probe (usage above); exported for the single executable's `--own-program demo-probe`. */
export async function main(argv: readonly string[]): Promise<void> {
  const [url = 'http://127.0.0.1/', secondsArg = '10', intervalArg = '10', stopFile] = argv;
  const seconds = Math.min(Number(secondsArg), 300);
  const intervalMs = Math.max(Number(intervalArg), 5);
  const end = Date.now() + seconds * 1000;
  const maxRequests = Math.ceil((seconds * 1000) / intervalMs) + 1;
  let ok = 0;
  let failed = 0;
  let lastOkAt = 0;
  let outageStart: number | null = null;
  const outagesMs: number[] = [];
  const answers: Record<string, number> = {};
  for (let i = 0; i < maxRequests && Date.now() < end; i++) {
    if (stopFile !== undefined && existsSync(stopFile)) break;
    const started = Date.now();
    const answer = await once(url);
    if (answer !== null) {
      ok++;
      answers[answer] = (answers[answer] ?? 0) + 1;
      if (outageStart !== null) outagesMs.push(Date.now() - outageStart);
      outageStart = null;
      lastOkAt = Date.now();
    } else {
      failed++;
      outageStart ??= lastOkAt || started;
    }
    const wait = intervalMs - (Date.now() - started);
    if (wait > 0) await sleep(wait);
  }
  const result: DemoProbeResult = { ok, failed, outagesMs, answers };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

if (isMainScript(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  });
}
