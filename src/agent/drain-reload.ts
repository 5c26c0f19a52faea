import { withApplyLock } from '../apply/state-store.js';
import type { ReloadResult, Reloader } from '../haproxy/master-cli.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { OverlayError } from '../util/errors.js';
import type { ErrorCode } from '../util/errors.js';
import type { Logger } from '../util/log.js';

export interface HaproxyReloadsOptions {
  /** HAProxy's config dir: the apply pipeline's lock lives there. */
  readonly dir: string;
  /** The master CLI (stable across haproxy restarts). */
  readonly reloader: Reloader;
  readonly log: Logger;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * The agent's HAProxy reloads outside the apply pipeline (a drain, a certificate too large for the
 * Runtime API). Each runs under the pipeline's lock: two overlapping reloads cannot be told apart.
 */
export class HaproxyReloads {
  readonly #o: HaproxyReloadsOptions;
  readonly #clock: Clock;

  constructor(options: HaproxyReloadsOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** One reload under the apply pipeline's lock. */
  reload(signal: AbortSignal): Promise<ReloadResult> {
    return withApplyLock(this.#o.dir, () => this.#o.reloader.reload({ signal }), { signal, clock: this.#clock });
  }

  /**
   * A reload to drain: the old worker serves its established connections to their end (keep-alive
   * clients get `Connection: close` with their next response), the new one takes new connections.
   * Logged as `drain` (with `why` when given). Returns the old workers' pids.
   * @throws OverlayError `code` when the reload fails.
   */
  async drain(options: { readonly code: ErrorCode; readonly why?: string; readonly signal: AbortSignal }): Promise<readonly number[]> {
    const r = await this.reload(options.signal);
    if (!r.ok) throw new OverlayError(options.code, `haproxy reload for the drain failed (${r.reason}): ${r.detail}`);
    this.#o.log.info({ event: 'drain', oldWorkers: r.previousWorkerPids, ...(options.why === undefined ? {} : { why: options.why }) }, 'haproxy reloaded to drain established connections');
    return r.previousWorkerPids;
  }
}
