import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import { OverlayError } from '../util/errors.js';
import type { Logger } from '../util/log.js';
import type { Counter } from '../util/metrics.js';
import { describeError } from './problems.js';
import type { ProblemBoard } from './problems.js';

export interface AgentTasksOptions {
  /** The agent's lifetime: tasks run until it aborts. */
  readonly signal: AbortSignal;
  /** Aborted (with the error) when a task that must not fail fails: the agent stops. */
  readonly fatal: AbortController;
  readonly log: Logger;
  /** Where a restarted task's failure is reported (`task:<name>`). */
  readonly problems: ProblemBoard;
  /** `overlay_lb_agent_task_restarts_total`, by task. */
  readonly restarts: Counter;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * The agent's long-running tasks, and what a failure of each means: `supervise` for a task whose
 * failure means the agent cannot go on (it stops, systemd restarts it; haproxy and keepalived keep
 * serving meanwhile), `superviseRestarting` for one whose failure says nothing about this node's
 * ability to serve (restarted after a backoff, its failure reported, never stopping the agent).
 */
export class AgentTasks {
  readonly #o: AgentTasksOptions;
  readonly #clock: Clock;
  readonly #tasks: Promise<unknown>[] = [];

  constructor(options: AgentTasksOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** A task that must not fail: its failure (not a stop) is logged and stops the agent. */
  supervise(name: string, task: Promise<unknown>): void {
    const { signal, log, fatal } = this.#o;
    this.#tasks.push(task.catch((err: unknown) => {
      if (signal.aborted) return;
      log.error({ event: 'agent-task-failed', task: name, err }, 'an agent task failed: stopping the agent (haproxy and keepalived keep running)');
      fatal.abort(err);
    }));
  }

  /** A task restarted after a backoff (0.5 s doubling to 30 s) whenever it fails or ends before the stop. */
  superviseRestarting(name: string, run: (signal: AbortSignal) => Promise<unknown>): void {
    const { signal, log, problems, restarts } = this.#o;
    this.#tasks.push((async () => {
      let n = 0;
      while (!signal.aborted) {
        try {
          await run(signal);
          if (signal.aborted) break;
          throw new OverlayError('INTERNAL', `the ${name} task ended without being stopped`);
        } catch (err) {
          if (signal.aborted) break;
          n++;
          const waitMs = Math.min(30_000, 500 * 2 ** Math.min(n - 1, 10));
          problems.report({ component: `task:${name}`, ...describeError(err), at: this.#clock.now() });
          restarts.inc({ task: name });
          log.error({ event: 'agent-task-failed', task: name, restartInMs: waitMs, err }, 'an agent task failed: restarting it after a backoff (haproxy keeps serving the last good config)');
          await this.#clock.sleep(waitMs, signal).catch(() => undefined);
        }
      }
    })());
  }

  /** Resolves once every task has ended (after the agent's signal aborted). */
  async settled(): Promise<void> {
    await Promise.allSettled(this.#tasks);
  }
}
