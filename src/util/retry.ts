import { systemClock } from './clock.js';
import type { Clock } from './clock.js';
import { OverlayError } from './errors.js';

export interface RetryOptions {
  readonly signal?: AbortSignal;
  /** Give up after this many attempts (including the first). @default Infinity (use a deadline) */
  readonly attempts?: number;
  /** Give up when the next attempt would start after this time (clock ms). */
  readonly deadline?: number;
  /** First backoff. @default 100 */
  readonly baseMs?: number;
  /** Backoff cap. @default 5000 */
  readonly maxMs?: number;
  /** Whether an error is worth another attempt. @default OverlayError.retryable, else false */
  readonly isRetryable?: (err: unknown) => boolean;
  /** Called before each backoff sleep (logs, metrics). */
  readonly onRetry?: (info: { attempt: number; delayMs: number; error: unknown }) => void;
  readonly clock?: Clock;
  /** Random in [0, 1). Injected for deterministic tests. @default Math.random */
  readonly random?: () => number;
}

/**
 * The one retry helper: runs `fn` until it succeeds, the error is not retryable, attempts or the
 * deadline run out, or the signal aborts. Backoff is exponential with "full jitter"
 * (a uniform delay in [0, min(max, base * 2^n)]), as AWS recommends for throttling
 * (https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/).
 * Throws the last error.
 */
export async function retry<T>(fn: (attempt: number, signal?: AbortSignal) => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const base = options.baseMs ?? 100;
  const max = options.maxMs ?? 5000;
  const isRetryable = options.isRetryable ?? ((e: unknown) => e instanceof OverlayError && e.retryable);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt, options.signal);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      if (!isRetryable(err)) throw err;
      if (options.attempts !== undefined && attempt >= options.attempts) throw err;
      const delayMs = Math.floor(random() * Math.min(max, base * 2 ** (attempt - 1)));
      if (options.deadline !== undefined && clock.now() + delayMs > options.deadline) throw err;
      options.onRetry?.({ attempt, delayMs, error: err });
      await clock.sleep(delayMs, options.signal);
    }
  }
}
