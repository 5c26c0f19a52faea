import { systemClock } from './clock.js';
import type { Clock } from './clock.js';

/**
 * A token bucket: `capacity` tokens, refilled continuously at `refillPerSec`. The failover
 * controller mirrors the EC2 API's own buckets with it (mutating actions 50 / 5 per s; describe
 * actions 100 / 20 per s) so that a claim over many route tables runs as fast as the API allows
 * without being throttled. Waiters are served in arrival order.
 */
export class TokenBucket {
  readonly capacity: number;
  readonly refillPerSec: number;
  #tokens: number;
  #updatedAt: number;
  #queue: Promise<void> = Promise.resolve();
  readonly #clock: Clock;

  constructor(options: { capacity: number; refillPerSec: number; clock?: Clock; initial?: number }) {
    this.capacity = options.capacity;
    this.refillPerSec = options.refillPerSec;
    this.#clock = options.clock ?? systemClock;
    this.#tokens = options.initial ?? options.capacity;
    this.#updatedAt = this.#clock.now();
  }

  /** Tokens available now (fractional). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  /** Waits for one token (FIFO). Rejects when the signal aborts; an aborted waiter takes no token. */
  take(signal?: AbortSignal): Promise<void> {
    const turn = this.#queue.then(() => this.#takeNow(signal));
    // The next waiter starts after this one, whether it got its token or was aborted.
    this.#queue = turn.catch(() => undefined);
    return turn;
  }

  /** After the API throttled us anyway (its bucket is shared with other callers): empty ours. */
  drain(): void {
    this.#refill();
    this.#tokens = 0;
  }

  async #takeNow(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      this.#refill();
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      const waitMs = Math.ceil(((1 - this.#tokens) / this.refillPerSec) * 1000);
      await this.#clock.sleep(waitMs, signal);
    }
  }

  #refill(): void {
    const now = this.#clock.now();
    const elapsed = Math.max(0, now - this.#updatedAt) / 1000;
    this.#tokens = Math.min(this.capacity, this.#tokens + elapsed * this.refillPerSec);
    this.#updatedAt = now;
  }
}

/** The EC2 API's request-rate buckets (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html). */
export const EC2_BUCKETS = {
  mutating: { capacity: 50, refillPerSec: 5 },
  describe: { capacity: 100, refillPerSec: 20 },
} as const;
