/**
 * The one way a cloud API call is made (claims, re-checks, the heartbeat, the Elastic IP, peer
 * lookups): under a token bucket, bounded by a per-call timeout and an overall deadline, retried
 * by src/util/retry.ts for the errors the provider marked retryable, and reported as events (the
 * agent counts them as `overlay_lb_cloud_api_*`). Provider drivers (src/cloud/<provider>/) map
 * their errors to OverlayErrors with neutral codes before they get here; an error that is not
 * one (a bug, a network error a driver did not wrap) becomes CLOUD_UNAVAILABLE.
 */
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';
import { timeoutSignal } from '../util/abort.js';
import { OverlayError } from '../util/errors.js';
import type { ErrorCode } from '../util/errors.js';
import { retry } from '../util/retry.js';
import type { TokenBucket } from '../util/token-bucket.js';

/**
 * The per-call timeout of every cloud call of the failover path (claims, re-checks, the heartbeat,
 * the Elastic IP claimer): 3 s, chosen from measurements on a busy node, not guessed. With one busy
 * loop per core beside the lab (bench/lab-api-latency.ts, the agent's calls from an LB node through
 * the lab's relay, AWS SDK, keep-alive), DescribeRouteTables took p50 7.6 ms, p99 32 ms, max 76 ms
 * (quiet: p99 40 ms, max 70 ms); in the e2e tests under the same hog, with both agents running, the
 * lab API's own share was p99 160 ms, max 391 ms. 3 s is ~8x the worst seen: a call still pending
 * then is an unreachable or hanging API (the lab's `api-unreachable --mode hang`), which the claim
 * retries within its deadline. The ECONNRESETs of issue 15 were not timeouts: the lab's API had
 * stopped (fixed in src/lab/lab.ts).
 */
export const DEFAULT_CALL_TIMEOUT_MS = 3000;

/** Progress of cloud calls, for logs and metrics. `table`: the resource a call is about, when one. */
export type CloudCallEvent =
  | { readonly type: 'api-call'; readonly action: string; readonly table?: string }
  | { readonly type: 'api-error'; readonly action: string; readonly code: ErrorCode; readonly retryable: boolean; readonly table?: string };

/** The token buckets of one API account (EC2 has one for mutating calls and one for describes). */
export interface CloudBuckets {
  readonly mutating: TokenBucket;
  readonly describe: TokenBucket;
}

export interface GuardedCallOptions {
  /** The API action, for events and error messages (`DescribeRouteTables`). */
  readonly action: string;
  /** The resource the call is about (a route table), for events. */
  readonly table?: string;
  readonly bucket: TokenBucket;
  /** The caller's: aborts the call, its retries and the wait for a token. */
  readonly signal: AbortSignal;
  /** Give up retrying when the next attempt would start after this time (clock ms). */
  readonly deadline: number;
  /** @default DEFAULT_CALL_TIMEOUT_MS */
  readonly callTimeoutMs?: number;
  /** Attempts including the first. @default unbounded (the deadline bounds them) */
  readonly attempts?: number;
  readonly clock?: Clock;
  readonly random?: () => number;
  readonly onEvent?: (event: CloudCallEvent) => void;
}

/**
 * Runs `fn` (one API call, given the per-call signal) as described above. Throttling empties our
 * bucket too (the API's bucket is shared by every caller of the account). Backoff: 100 ms base,
 * 2 s cap, full jitter. Throws the last error, an OverlayError.
 */
export function guardedCall<T>(options: GuardedCallOptions, fn: (callSignal: AbortSignal) => Promise<T>): Promise<T> {
  const { action, bucket, signal } = options;
  const clock = options.clock ?? systemClock;
  const table = options.table === undefined ? {} : { table: options.table };
  return retry(async () => {
    await bucket.take(signal);
    options.onEvent?.({ type: 'api-call', action, ...table });
    try {
      return await fn(timeoutSignal(options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS, signal));
    } catch (err) {
      const e = err instanceof OverlayError ? err : new OverlayError('CLOUD_UNAVAILABLE', `${action} failed: ${(err as Error).message}`, { cause: err });
      if (e.code === 'CLOUD_THROTTLED') bucket.drain();
      options.onEvent?.({ type: 'api-error', action, code: e.code, retryable: e.retryable, ...table });
      throw e;
    }
  }, {
    signal, deadline: options.deadline, baseMs: 100, maxMs: 2000, clock,
    ...(options.attempts === undefined ? {} : { attempts: options.attempts }),
    ...(options.random ? { random: options.random } : {}),
  });
}

/** The counters `countCloudCall` feeds (a subset of the failover metrics). */
export interface CloudCallCounters {
  readonly apiCalls: { inc(labels: Readonly<Record<string, string>>): void };
  readonly apiErrors: { inc(labels: Readonly<Record<string, string>>): void };
  readonly apiThrottles: { inc(labels: Readonly<Record<string, string>>): void };
}

/** An event handler counting calls, errors (by code) and throttles (by action). */
export function countCloudCall(counters: CloudCallCounters | undefined): ((event: CloudCallEvent) => void) | undefined {
  if (!counters) return undefined;
  return (e) => {
    if (e.type === 'api-call') counters.apiCalls.inc({ action: e.action });
    else {
      counters.apiErrors.inc({ action: e.action, code: e.code });
      if (e.code === 'CLOUD_THROTTLED') counters.apiThrottles.inc({ action: e.action });
    }
  };
}
