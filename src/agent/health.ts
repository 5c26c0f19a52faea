import { writeFileAtomic } from '../util/fs-atomic.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import { timeoutSignal } from '../util/abort.js';

export interface HealthMonitorOptions {
  /** HAProxy's health URI (monitor-uri on localhost): fails while a default backend has no server up. */
  readonly url: string;
  /** keepalived's track file: "0" healthy, "1" FAULT (weight 0). */
  readonly trackFile: string;
  /** @default 100 */
  readonly intervalMs?: number;
  /** Consecutive failures before FAULT. @default 2 */
  readonly fall?: number;
  /** Consecutive successes before healthy again. @default 2 */
  readonly rise?: number;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Called on every change, for /status and metrics. */
  readonly onChange?: (healthy: boolean, reason: string) => void;
}

/**
 * Keeps keepalived's track file in step with HAProxy's health, event-driven for keepalived
 * (track_file is watched with inotify; a vrrp_script would run at most once a second). The file is
 * written only on a change, atomically; `markDown` (HAProxy's process exited) acts at once.
 */
export class HealthMonitor {
  readonly #o: HealthMonitorOptions;
  readonly #clock: Clock;
  #healthy: boolean | null = null;
  #ok = 0;
  #bad = 0;

  constructor(options: HealthMonitorOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  get healthy(): boolean {
    return this.#healthy === true;
  }

  /** HAProxy is known to be down (its process exited): FAULT now, without waiting for checks. */
  async markDown(reason: string, signal: AbortSignal): Promise<void> {
    this.#ok = 0;
    this.#bad = this.#o.fall ?? 2;
    await this.#set(false, reason, signal);
  }

  async run(signal: AbortSignal): Promise<void> {
    const interval = this.#o.intervalMs ?? 100;
    while (!signal.aborted) {
      const result = await this.#probe(signal);
      if (signal.aborted) break;
      if (result.ok) {
        this.#ok++;
        this.#bad = 0;
        if (this.#healthy !== true && (this.#ok >= (this.#o.rise ?? 2) || this.#healthy === null)) await this.#set(true, 'haproxy health URI answers 200', signal);
      } else {
        this.#bad++;
        this.#ok = 0;
        if (this.#healthy !== false && this.#bad >= (this.#o.fall ?? 2)) await this.#set(false, result.reason, signal);
      }
      await this.#clock.sleep(interval, signal).catch(() => undefined);
    }
  }

  async #probe(signal: AbortSignal): Promise<{ ok: true } | { ok: false; reason: string }> {
    try {
      const res = await fetch(this.#o.url, { signal: timeoutSignal(500, signal) });
      await res.arrayBuffer();
      return res.status === 200 ? { ok: true } : { ok: false, reason: `haproxy health URI answers ${res.status} (a default backend has no server up)` };
    } catch (err) {
      return { ok: false, reason: `haproxy health URI unreachable: ${(err as Error).message}` };
    }
  }

  async #set(healthy: boolean, reason: string, signal: AbortSignal): Promise<void> {
    if (this.#healthy === healthy) return;
    this.#healthy = healthy;
    await writeFileAtomic(this.#o.trackFile, healthy ? '0\n' : '1\n', { signal });
    this.#o.log.info({ event: 'health', healthy, reason }, healthy ? 'node healthy: keepalived may elect it' : 'node unhealthy: keepalived goes FAULT');
    this.#o.onChange?.(healthy, reason);
  }
}
