/**
 * The client of the real-account smoke run (smoke.ts), pure: the user-data of an instance that
 * sends a bounded loop of requests to the VIP and prints what it saw, and the reading of those
 * lines back from its console output (GetConsoleOutput) into the failover figures of the report.
 * The VIP is only reachable inside the VPC, so the client must be an instance there; its console
 * is the one channel back to an operator outside the VPC that needs no SSH and no extra IAM.
 *
 * The line format (one line per change of answered/failed, and every {@link EVERY_NTH_LINE}th
 * request, so a run of many minutes stays well within the console's newest 64 KiB):
 * `olb-smoke SEQ EPOCH_MS HTTP_CODE ANSWERED FAILED` (code 000: no answer), and at the end
 * `olb-smoke-end SEQ ANSWERED FAILED`.
 */
import { OverlayError } from '../util/errors.js';

/** A request every this many is printed even without a change (progress, and the counts). */
export const EVERY_NTH_LINE = 25;

export interface ClientLoop {
  /** The VIP (a dotted IPv4 address) and the port of an http frontend bound on it. */
  readonly vip: string;
  readonly port: number;
  /** The pause between two requests. */
  readonly intervalMs: number;
  /** Each request's own limit (curl --max-time). */
  readonly requestTimeoutMs: number;
  /** The loop stops after this long whatever happens (the client never runs unbounded). */
  readonly maxSeconds: number;
}

/**
 * The client's user-data: a `/bin/sh` script (curl and GNU date, as on Debian's cloud images).
 * The values are numbers and an IPv4 address checked here, never text from elsewhere: nothing can
 * add a line or a command to the script.
 */
export function clientUserData(loop: ClientLoop): string {
  if (!/^(\d{1,3}\.){3}\d{1,3}$/.test(loop.vip)) throw new OverlayError('INTERNAL', `clientUserData: ${JSON.stringify(loop.vip)} is not an IPv4 address`);
  for (const [name, v] of [['port', loop.port], ['intervalMs', loop.intervalMs], ['requestTimeoutMs', loop.requestTimeoutMs], ['maxSeconds', loop.maxSeconds]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new OverlayError('INTERNAL', `clientUserData: ${name} ${v} is not a positive integer`);
  }
  const sleep = (loop.intervalMs / 1000).toFixed(3);
  const maxTime = (loop.requestTimeoutMs / 1000).toFixed(3);
  return `#!/bin/sh
# overlay-lb smoke run client: requests to the VIP for at most ${loop.maxSeconds} s, lines on the console.
url='http://${loop.vip}:${loop.port}/'
end=$(( $(date +%s) + ${loop.maxSeconds} ))
seq=0; ok=0; failed=0; last=''
while [ "$(date +%s)" -lt "$end" ]; do
  seq=$((seq + 1))
  code=$(curl -s -o /dev/null --max-time ${maxTime} -w '%{http_code}' "$url" 2>/dev/null)
  now=$(date +%s%3N)
  case "$code" in [1-4][0-9][0-9]) state=ok; ok=$((ok + 1)) ;; *) state=failed; failed=$((failed + 1)) ;; esac
  if [ "$state" != "$last" ] || [ $((seq % ${EVERY_NTH_LINE})) -eq 0 ]; then
    echo "olb-smoke $seq $now \${code:-000} $ok $failed"
    last=$state
  fi
  sleep ${sleep}
done
echo "olb-smoke-end $seq $ok $failed"
`;
}

/** One printed request. */
export interface ClientLine {
  readonly seq: number;
  readonly at: number;
  readonly code: string;
  /** An HTTP answer below 500 (the VIP, HAProxy and a backend answered). */
  readonly answered: boolean;
  /** Counts up to and including this request. */
  readonly answeredSoFar: number;
  readonly failedSoFar: number;
}

/** What the client printed so far; `end` once its loop ended. */
export interface ClientLog {
  readonly lines: readonly ClientLine[];
  readonly end: { readonly seq: number; readonly answered: number; readonly failed: number } | null;
}

/**
 * Merges the client's lines found in `consoleText` into `log` (by sequence number: console reads
 * overlap, and the console keeps only its newest 64 KiB, so lines are collected while they pass).
 */
export function mergeClientLines(log: ClientLog, consoleText: string): ClientLog {
  const bySeq = new Map(log.lines.map((l) => [l.seq, l]));
  let end = log.end;
  for (const m of consoleText.matchAll(/^olb-smoke (\d+) (\d{10,}) (\d{3}) (\d+) (\d+)\r?$/gm)) {
    const code = m[3]!;
    bySeq.set(Number(m[1]), { seq: Number(m[1]), at: Number(m[2]), code, answered: /^[1-4]\d\d$/.test(code), answeredSoFar: Number(m[4]), failedSoFar: Number(m[5]) });
  }
  const e = /^olb-smoke-end (\d+) (\d+) (\d+)\r?$/m.exec(consoleText);
  if (e !== null) end = { seq: Number(e[1]), answered: Number(e[2]), failed: Number(e[3]) };
  return { lines: [...bySeq.values()].sort((a, b) => a.seq - b.seq), end };
}

/** An interval without answers: from the first failed request to the first answered again. */
export interface Outage {
  readonly from: number;
  /** Null: no answer since. */
  readonly to: number | null;
  readonly ms: number | null;
  readonly failedRequests: number;
}

/** The client's figures for the report. */
export interface ClientSummary {
  readonly requests: number;
  readonly answered: number;
  readonly failed: number;
  /** When the client first had an answer from the VIP (its clock). */
  readonly firstAnswerAt: number | null;
  /** The outages after the first answer, in order. */
  readonly outages: readonly Outage[];
}

/**
 * The figures of a client log. Failures before the first answer are the cluster still booting and
 * are not outages. An outage starts at the first failed request (printed: a change) and ends at the
 * next answered one (printed: a change); its failed requests come from the counts on those lines.
 */
export function summarizeClient(log: ClientLog): ClientSummary {
  const last = log.lines.at(-1);
  const first = log.lines.find((l) => l.answered);
  const outages: Outage[] = [];
  let open: ClientLine | null = null;
  for (const l of log.lines) {
    if (first === undefined || l.seq < first.seq) continue;
    if (!l.answered && open === null) open = l;
    if (l.answered && open !== null) {
      outages.push({ from: open.at, to: l.at, ms: l.at - open.at, failedRequests: l.failedSoFar - open.failedSoFar + 1 });
      open = null;
    }
  }
  if (open !== null) outages.push({ from: open.at, to: null, ms: null, failedRequests: (last?.failedSoFar ?? open.failedSoFar) - open.failedSoFar + 1 });
  const answered = log.end?.answered ?? last?.answeredSoFar ?? 0;
  const failed = log.end?.failed ?? last?.failedSoFar ?? 0;
  return { requests: log.end?.seq ?? last?.seq ?? 0, answered, failed, firstAnswerAt: first?.at ?? null, outages };
}

/**
 * The outage of the failover: the first one that ends after `terminatedAt` or is still open, among
 * those that start no earlier than `terminatedAt - slackMs` (the client's and the operator's
 * clocks differ a little); null when the client saw no failed request then.
 */
export function failoverOutage(summary: ClientSummary, terminatedAt: number, slackMs = 5_000): Outage | null {
  return summary.outages.find((o) => o.from >= terminatedAt - slackMs && (o.to === null || o.to >= terminatedAt)) ?? null;
}
