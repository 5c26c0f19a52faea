/**
 * A failover probe for lab tests and benchmarks: a client in a lab client namespace sends a GET
 * through the VIP every `intervalMs` (a new connection each time) until stopped, and the report
 * tells what it saw: successes, failures by kind, outages as (last success before -> first
 * success after) intervals, and which LB node answered when.
 *
 * ```ts
 * const probe = await startProbe(lab, { clientAz: 'az-a', signal });
 * await lab.faults.kill('lb-a', 'haproxy', { signal });
 * ... wait for the routes to move ...
 * const report = await probe.stop();
 * ```
 * The probe process runs inside the namespace (`src/lab/probe.ts`), recorded in the lab's state
 * file (so `lab.close()` stops it too), bounded by `maxDurationMs`. Which node answered comes
 * from the lab backends' `x-remote-address` header.
 */
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { LabHandle } from '../../src/lab/lab.js';
import { killRecordedProcess } from '../../src/lab/netns.js';
import { PROBE_READY_LINE, type ProbeRawReport, type ProbeSample } from '../../src/lab/probe.js';

export type { ProbeSample } from '../../src/lab/probe.js';

const PROBE_SCRIPT = fileURLToPath(new URL('../../src/lab/probe.js', import.meta.url));

export interface ProbeOptions {
  /** The AZ whose lab client sends the requests (to the VIP); `'internet'`: the lab's internet client (to `host`). */
  readonly clientAz: string;
  /** Where the requests go. @default the VIP; from the internet, the Elastic IP. */
  readonly host?: string;
  /** @default 10 */
  readonly intervalMs?: number;
  /** @default "/" */
  readonly path?: string;
  /** @default 80 */
  readonly port?: number;
  readonly headers?: Readonly<Record<string, string>>;
  /** Per-request timeout. @default 1000 */
  readonly timeoutMs?: number;
  /** The probe stops by itself after this long. @default 120000 */
  readonly maxDurationMs?: number;
  readonly signal: AbortSignal;
}

/** A run of failed requests between two successes (from/to null: none before / none after). */
export interface ProbeOutage {
  /** sentAt of the last success before (null: the probe never succeeded before it). */
  readonly from: number | null;
  /** sentAt of the first success after (null: no success after: not restored). */
  readonly to: number | null;
  /** to - from, when both are known. */
  readonly ms: number | null;
  readonly failed: number;
  /** Failure kinds (`timeout`, `ECONNRESET`, `status 503`...) and their counts. */
  readonly errors: Readonly<Record<string, number>>;
}

export interface ProbeReport {
  readonly url: string;
  readonly intervalMs: number;
  readonly startedAt: number;
  readonly stoppedAt: number;
  readonly sent: number;
  readonly succeeded: number;
  readonly failed: number;
  readonly failuresByKind: Readonly<Record<string, number>>;
  readonly outages: readonly ProbeOutage[];
  /** The longest closed outage (0 when none). */
  readonly maxOutageMs: number;
  /** Successful answers per LB node. */
  readonly answeredBy: Readonly<Record<string, number>>;
  /** When the answering node changed (by send time, over successful requests). */
  readonly nodeChanges: readonly { readonly at: number; readonly from: string | null; readonly to: string | null }[];
  /** The node of the last successful answer. */
  readonly lastNode: string | null;
  /** Every request, by send time. */
  readonly samples: readonly ProbeSample[];
}

export interface Probe {
  /** Resolves at the probe's first successful request (a baseline before a fault). @throws Error after `timeoutMs`. */
  firstSuccess(options?: { readonly timeoutMs?: number }): Promise<void>;
  /**
   * Resolves once the probe has seen `count` successful requests in a row (service fully back).
   * @throws Error after `timeoutMs` (default 30000).
   */
  streak(count: number, options?: { readonly timeoutMs?: number }): Promise<void>;
  /** Stops the probe (SIGTERM) and returns its report. Idempotent. */
  stop(): Promise<ProbeReport>;
}

/**
 * Starts a probe in the client namespace of `clientAz`.
 * @throws Error when the AZ has no client or the probe does not start.
 */
export async function startProbe(lab: LabHandle, options: ProbeOptions): Promise<Probe> {
  const client = options.clientAz === 'internet' ? { name: 'internet' } : lab.plan.instances.find((i) => i.role === 'client' && i.az === options.clientAz);
  if (client === undefined) throw new Error(`AZ ${JSON.stringify(options.clientAz)} has no lab client; AZs: ${lab.plan.azs.join(', ')} (or 'internet')`);
  if (options.clientAz === 'internet' && options.host === undefined) throw new Error('a probe from the internet needs a host (the Elastic IP)');
  const dir = await mkdtemp(join(tmpdir(), 'olb-probe-'));
  const out = join(dir, 'report.json');
  const nodes = lab.plan.instances.filter((i) => i.role === 'lb-node').map((i) => `${i.eni.privateIp}=${i.name}`).join(',');
  const timeoutMs = options.timeoutMs ?? 1000;
  const argv = [
    process.execPath, PROBE_SCRIPT,
    '--url', `http://${options.host ?? lab.plan.vip}:${options.port ?? 80}${options.path ?? '/'}`,
    '--out', out,
    '--interval-ms', String(options.intervalMs ?? 10),
    '--timeout-ms', String(timeoutMs),
    '--max-duration-ms', String(options.maxDurationMs ?? 120_000),
    '--nodes', nodes,
    ...Object.entries(options.headers ?? {}).flatMap(([k, v]) => ['--header', `${k}: ${v}`]),
  ];
  let recorded;
  try {
    recorded = await lab.spawn(client.name, argv, { signal: options.signal, label: `probe ${client.name} ${randomBytes(3).toString('hex')}`, readyLine: PROBE_READY_LINE });
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const proc = recorded;
  let stopped: Promise<ProbeReport> | undefined;
  return {
    firstSuccess: async ({ timeoutMs = 30_000 } = {}) => {
      const deadline = Date.now() + timeoutMs;
      for (let i = 0; i < 100_000; i++) {
        if (await access(`${out}.first-ok`).then(() => true, () => false)) return;
        if (Date.now() > deadline) break;
        await sleep(20);
      }
      throw new Error(`the probe in ${client.name} had no successful request within ${timeoutMs} ms`);
    },
    streak: async (count, { timeoutMs = 30_000 } = {}) => {
      const deadline = Date.now() + timeoutMs;
      let seen = 0;
      for (let i = 0; i < 100_000; i++) {
        seen = Number(await readFile(`${out}.streak`, 'utf8').catch(() => '0'));
        if (seen >= count) return;
        if (Date.now() > deadline) break;
        await sleep(50);
      }
      throw new Error(`the probe in ${client.name} did not see ${count} successes in a row within ${timeoutMs} ms (last streak ${seen})`);
    },
    stop: () => {
      stopped ??= (async () => {
        try {
          await killRecordedProcess(proc, { signal: AbortSignal.timeout(timeoutMs + 30_000), graceMs: timeoutMs + 10_000 });
          const text = await readFile(out, 'utf8').catch((cause: unknown) => {
            throw new Error(`the probe in ${client.name} wrote no report at ${out}`, { cause });
          });
          return analyzeProbe(JSON.parse(text) as ProbeRawReport);
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
      })();
      return stopped;
    },
  };
}

/** Turns the probe's raw samples into counts, outages and node changes (pure). */
export function analyzeProbe(raw: ProbeRawReport): ProbeReport {
  const samples = [...raw.samples].sort((a, b) => a.sentAt - b.sentAt);
  const failuresByKind: Record<string, number> = {};
  const answeredBy: Record<string, number> = {};
  const outages: ProbeOutage[] = [];
  const nodeChanges: { at: number; from: string | null; to: string | null }[] = [];
  let lastOk: ProbeSample | null = null;
  let open: { from: number | null; failed: number; errors: Record<string, number> } | null = null;
  let succeeded = 0;
  for (const s of samples) {
    if (s.ok) {
      succeeded++;
      const node = s.node ?? 'unknown';
      answeredBy[node] = (answeredBy[node] ?? 0) + 1;
      if (lastOk !== null && lastOk.node !== s.node) nodeChanges.push({ at: s.sentAt, from: lastOk.node, to: s.node });
      if (open !== null) {
        outages.push({ from: open.from, to: s.sentAt, ms: open.from === null ? null : s.sentAt - open.from, failed: open.failed, errors: open.errors });
        open = null;
      }
      lastOk = s;
    } else {
      const kind = s.error ?? 'unknown';
      failuresByKind[kind] = (failuresByKind[kind] ?? 0) + 1;
      open ??= { from: lastOk?.sentAt ?? null, failed: 0, errors: {} };
      open.failed++;
      open.errors[kind] = (open.errors[kind] ?? 0) + 1;
    }
  }
  if (open !== null) outages.push({ from: open.from, to: null, ms: null, failed: open.failed, errors: open.errors });
  return {
    url: raw.url,
    intervalMs: raw.intervalMs,
    startedAt: raw.startedAt,
    stoppedAt: raw.stoppedAt,
    sent: samples.length,
    succeeded,
    failed: samples.length - succeeded,
    failuresByKind,
    outages,
    maxOutageMs: Math.max(0, ...outages.map((o) => o.ms ?? 0)),
    answeredBy,
    nodeChanges,
    lastNode: lastOk?.node ?? null,
    samples,
  };
}

/** A one-line summary for t.diagnostic (no samples). */
export function summarizeProbe(report: ProbeReport): string {
  const { samples: _samples, ...rest } = report;
  return JSON.stringify({ ...rest, nodeChanges: rest.nodeChanges.slice(0, 10), outages: rest.outages.slice(0, 10) });
}
