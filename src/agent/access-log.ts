/**
 * Where HAProxy's access log and keepalived's log go on a node (`admin.accessLog`), and the count
 * of lines HAProxy could not deliver. The agent asks `prepareAccessLog` before it starts haproxy
 * and keepalived, and runs the drains and the dropped-lines watch as supervised tasks.
 */
import { lstat, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { DEFAULT_ACCESS_LOG } from '../model/spec.js';
import type { AccessLogTarget, Spec } from '../model/spec.js';
import type { KeepalivedLog } from '../keepalived/process.js';
import { HAPROXY_WORKER_USER } from '../render/haproxy.js';
import type { RuntimeApi } from '../haproxy/runtime-api.js';
import { runCommand } from '../util/exec.js';
import type { Logger } from '../util/log.js';
import type { Counter, Registry } from '../util/metrics.js';
import { systemClock } from '../util/clock.js';
import { nodePaths } from '../util/node-paths.js';
import { drainLogFifo } from './log-file.js';
import type { AgentTasks } from './tasks.js';

/** How often the agent reads HAProxy's `DroppedLogs`. */
export const DROPPED_LOGS_POLL_MS = 10_000;

/** A FIFO the agent drains into a file rotated at `maxBytes`, `keep` old files kept. */
export interface LogDrain {
  readonly fifo: string;
  readonly file: string;
  readonly maxBytes: number;
  readonly keep: number;
}

export interface AccessLogPlan {
  readonly target: AccessLogTarget;
  /** haproxy's stdout (the FIFO in file mode); absent: its run-dir log, as today. */
  readonly haproxyOutput?: string;
  readonly keepalived: KeepalivedLog;
  /** What the agent drains (file mode): haproxy's and keepalived's FIFOs. */
  readonly drains: readonly LogDrain[];
}

/**
 * Makes what the spec's `admin.accessLog` needs on this node. `file`: the two FIFOs in the run
 * dir (`haproxy-log.fifo`, `keepalived-log.fifo`, mode 0600), drained into `path` (default
 * `haproxy-access.log` in the run dir) and `keepalived.log` beside it. `syslog`: nothing to make;
 * a syslog socket missing inside HAProxy's chroot is logged as an error (HAProxy would only say
 * so once, in its own output), since every access-log line would be lost.
 */
export async function prepareAccessLog(spec: Spec, runDir: string, options: { signal: AbortSignal; log: Logger }): Promise<AccessLogPlan> {
  const target = spec.admin.accessLog ?? DEFAULT_ACCESS_LOG;
  const paths = nodePaths(runDir);
  if (target.to === 'syslog') {
    const inChroot = join(HAPROXY_WORKER_USER.chroot, target.socket);
    const isSocket = await lstat(inChroot).then((s) => s.isSocket(), () => false);
    if (!isSocket) {
      options.log.error({ event: 'access-log-socket-missing', socket: target.socket, path: inChroot },
        `HAProxy's workers (chrooted in ${HAPROXY_WORKER_USER.chroot}) find no syslog socket at ${inChroot}: access-log lines are lost. The packaged unit binds journald's socket there; elsewhere give admin.accessLog a socket that exists in the chroot, or use {to: file}`);
    }
    return { target, keepalived: { to: 'syslog', facility: target.facility }, drains: [] };
  }
  const haproxyFifo = join(runDir, 'haproxy-log.fifo');
  const keepalivedFifo = join(runDir, 'keepalived-log.fifo');
  for (const fifo of [haproxyFifo, keepalivedFifo]) {
    const isFifo = await lstat(fifo).then((s) => s.isFIFO(), () => false);
    if (!isFifo) await runCommand(['mkfifo', '-m', '0600', fifo], { signal: options.signal });
  }
  const accessFile = target.path ?? join(runDir, 'haproxy-access.log');
  const keepalivedFile = target.path === undefined ? paths.keepalivedLog : join(dirname(accessFile), 'keepalived.log');
  return {
    target,
    haproxyOutput: haproxyFifo,
    keepalived: { to: 'console', output: keepalivedFifo, tail: keepalivedFile },
    drains: [
      { fifo: haproxyFifo, file: accessFile, maxBytes: target.maxBytes, keep: target.keep },
      { fifo: keepalivedFifo, file: keepalivedFile, maxBytes: target.maxBytes, keep: target.keep },
    ],
  };
}

/**
 * Where a process found running (an agent restart) sends its output is fixed since it started: when
 * `admin.accessLog` changed between syslog and file meanwhile, its log does not go where the spec
 * says until it restarts. Says so (event `access-log-output-stale`) instead of leaving the operator
 * to wonder where the lines went; changes nothing (restarting haproxy or keepalived here would
 * drop connections or fail the node over).
 */
export async function warnIfOutputStale(options: { pid: number; what: 'haproxy' | 'keepalived'; plan: AccessLogPlan; runDir: string; log: Logger }): Promise<void> {
  const paths = nodePaths(options.runDir);
  const fifo = options.plan.drains.find((d) => d.fifo.endsWith(`${options.what}-log.fifo`))?.fifo;
  const expected = fifo ?? (options.what === 'haproxy' ? paths.haproxyLog : paths.keepalivedLog);
  const actual = await readlink(`/proc/${options.pid}/fd/1`).catch(() => null);
  if (actual === null || actual === expected) return;
  options.log.warn({ event: 'access-log-output-stale', process: options.what, pid: options.pid, output: actual, wanted: expected, to: options.plan.target.to },
    `${options.what} (pid ${options.pid}) was started before admin.accessLog changed: its log goes to ${actual} until it restarts (reboot, or stop it on a backup node: the agent starts it again)`);
}

/** `overlay_lb_haproxy_dropped_logs_total`, at 0 from the start so that it is always scraped. */
export function createDroppedLogsCounter(registry: Registry): Counter {
  const counter = registry.counter('overlay_lb_haproxy_dropped_logs_total', 'Log lines HAProxy could not deliver (a full log pipe or syslog socket queue: HAProxy never waits for its log), read from show info DroppedLogs of each worker.');
  counter.inc({}, 0);
  return counter;
}

/**
 * Folds HAProxy's per-worker `DroppedLogs` into one total that survives reloads: each reload
 * starts a worker counting from 0, so the total is what earlier workers counted (as last read)
 * plus what the current one counts. Pure; `DroppedLogsWatch` feeds it.
 */
export class DroppedLogsTotal {
  #done = 0;
  #pid: string | undefined;
  #current = 0;

  /** Takes one `show info` answer; returns how much the total grew. */
  observe(info: Readonly<Record<string, string>>): number {
    const pid = info['Pid'];
    const dropped = Number(info['DroppedLogs']);
    if (pid === undefined || !Number.isSafeInteger(dropped) || dropped < 0) return 0;
    if (pid !== this.#pid) {
      this.#done += this.#current;
      this.#pid = pid;
      this.#current = 0;
    }
    const grew = Math.max(0, dropped - this.#current);
    this.#current = Math.max(this.#current, dropped);
    return grew;
  }

  get total(): number {
    return this.#done + this.#current;
  }
}

/**
 * Reads HAProxy's `DroppedLogs` every `intervalMs` through the Runtime API and adds what it grew
 * to `counter`. A worker's drops after its last read before a reload are not seen (at most one
 * interval's worth). A round in which haproxy does not answer (restarting) is skipped: a dead
 * haproxy is reported by the health monitor. Resolves when `signal` aborts.
 */
export async function watchDroppedLogs(options: { runtime: RuntimeApi; counter: Counter; signal: AbortSignal; intervalMs?: number; log: Logger }): Promise<void> {
  const total = new DroppedLogsTotal();
  const interval = options.intervalMs ?? DROPPED_LOGS_POLL_MS;
  while (!options.signal.aborted) {
    const info = await options.runtime.showInfo({ signal: options.signal, timeoutMs: 5000 }).catch(() => null);
    if (info !== null) {
      const grew = total.observe(info);
      if (grew > 0) {
        options.counter.inc({}, grew);
        options.log.warn({ event: 'haproxy-dropped-logs', dropped: grew, total: total.total }, 'HAProxy could not deliver access-log lines (its log pipe or syslog socket was full)');
      }
    }
    await systemClock.sleep(interval, options.signal).catch(() => undefined);
  }
}

/**
 * The access log's long-running tasks, each restarted after a backoff when it fails (a log that
 * cannot be written says nothing about the node's ability to serve): file mode's drains (one per
 * FIFO) and the `DroppedLogs` watch.
 */
export function superviseAccessLog(plan: AccessLogPlan, options: { tasks: AgentTasks; runtime: RuntimeApi; droppedLogs: Counter; log: Logger }): void {
  const { tasks, runtime, droppedLogs, log } = options;
  for (const drain of plan.drains) tasks.superviseRestarting(`log-drain:${drain.fifo}`, (s) => drainLogFifo({ ...drain, signal: s, log }));
  tasks.superviseRestarting('dropped-logs', (s) => watchDroppedLogs({ runtime, counter: droppedLogs, signal: s, log }));
}
