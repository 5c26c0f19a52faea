import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';
import type { Counter } from '../util/metrics.js';

/** The first wait before restarting an exited process; it doubles after each failed start. */
const FIRST_BACKOFF_MS = 500;
/** The longest wait between two starts. */
const MAX_BACKOFF_MS = 10_000;

export interface ProcessSupervisorOptions<P> {
  /** `haproxy` or `keepalived`: the `process` label of the restart counter and the log events' prefix (`<name>-exited`, `<name>-restart-failed`). */
  readonly name: string;
  /** The process running now (started or attached by the agent). */
  readonly process: P;
  /** Its pid, for the log. */
  readonly pid: (process: P) => number;
  /** Resolves when `process` has exited (or `signal` aborted). */
  readonly exited: (process: P, signal: AbortSignal) => Promise<void>;
  /** Starts a new one; a rejection is logged and tried again after the backoff. */
  readonly start: (signal: AbortSignal) => Promise<P>;
  /** What the node does at once when the process has exited, before anything else (FAULT, stop claiming). */
  readonly onExit: (process: P, signal: AbortSignal) => Promise<void> | void;
  /** The log line's message when it exited (what it means for the node). */
  readonly exitMessage: string;
  /** `overlay_lb_process_restarts_total`. */
  readonly restarts: Counter;
  readonly log: Logger;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * Keeps one of the node's processes (haproxy, keepalived) running: when it exits, the node reacts
 * at once (`onExit`), the exit is counted and logged, and a new one is started after a backoff
 * (0.5 s, doubling up to 10 s while starts fail, back to 0.5 s after one succeeds). A process that
 * keeps failing is retried for as long as the agent runs. Nothing is started once `signal` has
 * aborted: the agent is stopping.
 */
export class ProcessSupervisor<P> {
  readonly #o: ProcessSupervisorOptions<P>;
  readonly #clock: Clock;
  #current: P;

  constructor(options: ProcessSupervisorOptions<P>) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#current = options.process;
  }

  /** The process running now (or the last one started, when it has exited and not been replaced yet). */
  get current(): P {
    return this.#current;
  }

  /** Supervises until `signal` aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const { name, log } = this.#o;
    let backoff = FIRST_BACKOFF_MS;
    while (!signal.aborted) {
      await this.#o.exited(this.#current, signal);
      if (signal.aborted) break;
      await this.#o.onExit(this.#current, signal);
      this.#o.restarts.inc({ process: name });
      log.error({ event: `${name}-exited`, pid: this.#o.pid(this.#current) }, this.#o.exitMessage);
      await this.#clock.sleep(backoff, signal).catch(() => undefined);
      // Stopping (SIGTERM) during the backoff: start nothing. A process started now would outlive
      // the agent (haproxy and keepalived are left running for its next start); on a machine
      // shutting down, its children can exit just before SIGTERM reaches the agent.
      if (signal.aborted) break;
      try {
        this.#current = await this.#o.start(signal);
        backoff = FIRST_BACKOFF_MS;
      } catch (err) {
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
        log.error({ event: `${name}-restart-failed`, err }, `${name} did not start`);
      }
    }
  }
}

/**
 * For a process whose exit cannot be awaited (one the agent attached to: not its child): resolves
 * once `isAlive` says no, looking every `intervalMs`, or when `signal` aborts.
 */
export async function exitedByPolling(isAlive: () => boolean, options: { readonly intervalMs: number; readonly signal: AbortSignal; readonly clock?: Clock }): Promise<void> {
  const clock = options.clock ?? systemClock;
  while (!options.signal.aborted) {
    await clock.sleep(options.intervalMs, options.signal).catch(() => undefined);
    if (!options.signal.aborted && !isAlive()) return;
  }
}
