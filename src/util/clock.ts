import { setTimeout as sleepTimer } from 'node:timers/promises';

/** Time, injected so that retries, debounce and timers are tested without sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await sleepTimer(ms, undefined, signal ? { signal } : {});
  },
};

/**
 * A manual clock for tests: `sleep` resolves when `advance` moves time past its deadline.
 */
export class ManualClock implements Clock {
  #now: number;
  #sleepers: { at: number; resolve: () => void; reject: (e: unknown) => void }[] = [];

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise((resolve, reject) => {
      const entry = { at: this.#now + Math.max(0, ms), resolve, reject };
      this.#sleepers.push(entry);
      signal?.addEventListener('abort', () => {
        this.#sleepers = this.#sleepers.filter((s) => s !== entry);
        reject(signal.reason as Error);
      }, { once: true });
    });
  }

  /** Moves time forward, waking sleepers in deadline order (each after a microtask turn). */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#sleepers.filter((s) => s.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.#now = Math.max(this.#now, next.at);
      this.#sleepers = this.#sleepers.filter((s) => s !== next);
      next.resolve();
      await new Promise((r) => setImmediate(r));
    }
    this.#now = target;
    await new Promise((r) => setImmediate(r));
  }

  /** Number of pending sleeps (tests use it to wait until code under test is parked). */
  get pending(): number {
    return this.#sleepers.length;
  }
}
