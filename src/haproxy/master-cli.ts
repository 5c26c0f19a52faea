/**
 * Client for the HAProxy 2.6 master CLI (`haproxy -W -S <path>,mode,600`): process list, reload
 * with verification, and commands routed to a worker (`@1 show info`, `@!<pid> ...`).
 *
 * In 2.6 the `reload` command answers nothing and the master re-executes itself (the socket resets
 * meanwhile), so success is read back from `show proc`: the master's reload counter moves, its
 * `[failed: N]` counter moves only when the new config did not load (the master then keeps the old
 * workers, which resume serving), and on success a new worker pid appears.
 * Reference: https://docs.haproxy.org/2.6/management.html#9.4
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { OverlayError, SystemError } from '../util/errors.js';
import { assertCliToken, sendSocketCommand } from './socket.js';

export interface ProcEntry {
  readonly pid: number;
  readonly type: 'master' | 'worker' | 'program';
  /** For a worker: how many reloads it has survived (0 = the current generation). */
  readonly reloads: number;
  readonly uptime: string;
  readonly version: string;
}

export interface ProcList {
  readonly master: ProcEntry & { readonly type: 'master'; /** Failed reloads since start. */ readonly failedReloads: number };
  /** Workers of the current configuration. After a failed reload, the old ones stay here. */
  readonly workers: readonly ProcEntry[];
  /** Workers of previous configurations still finishing their connections. */
  readonly oldWorkers: readonly ProcEntry[];
}

/** The outcome of a reload, read back from `show proc`. */
export type ReloadResult =
  | { readonly ok: true; readonly masterReloads: number; readonly newWorkerPids: readonly number[]; readonly previousWorkerPids: readonly number[] }
  | { readonly ok: false; readonly reason: 'load-failed' | 'no-new-worker' | 'timeout'; readonly detail: string; readonly workerPids: readonly number[] };

export interface MasterCliOptions {
  /** Path given to `-S`. */
  readonly socketPath: string;
  /** Per-command deadline. @default 10000 */
  readonly timeoutMs?: number;
}

/** Something that can reload haproxy and report whether it took; `MasterCli` is one. */
export interface Reloader {
  reload(options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<ReloadResult>;
}

/** Master CLI client. Stateless: one command per connection. */
export class MasterCli implements Reloader {
  readonly socketPath: string;
  readonly timeoutMs: number;

  constructor(options: MasterCliOptions) {
    this.socketPath = options.socketPath;
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** Sends one raw master CLI command. @throws SystemError HAPROXY_RUNTIME */
  async command(command: string, options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<string> {
    return sendSocketCommand(this.socketPath, command, { signal: options.signal, timeoutMs: options.timeoutMs ?? this.timeoutMs });
  }

  /** `show proc`, parsed. @throws SystemError HAPROXY_RUNTIME when unreachable or unparseable. */
  async showProc(options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<ProcList> {
    return parseShowProc(await this.command('show proc', options));
  }

  /**
   * Sends a Runtime API command to a worker through the master: `worker` is a relative process
   * number (1 = the current worker) or `{ pid }` for a specific (possibly old) worker.
   *
   * @default worker 1
   */
  async workerCommand(command: string, options: { readonly signal: AbortSignal; readonly timeoutMs?: number; readonly worker?: number | { readonly pid: number } }): Promise<string> {
    const worker = options.worker ?? 1;
    const prefix = typeof worker === 'number' ? `@${worker}` : `@!${worker.pid}`;
    if (!/^@!?\d+$/u.test(prefix)) throw new SystemError('INTERNAL', `bad worker selector ${prefix}`);
    for (const token of command.split(' ')) assertCliToken('command word', token);
    return this.command(`${prefix} ${command}`, options);
  }

  /**
   * Reloads haproxy (re-reads the config file it was started with) and waits until the outcome is
   * visible: returns `ok: true` with the new worker pids once the master reloaded, did not count a
   * failure, and the new worker answers `show info`; `ok: false` when the load failed (the old
   * workers keep serving) or nothing settles before `timeoutMs`.
   *
   * Callers must serialise reloads: two overlapping reloads cannot be told apart.
   *
   * @param options.timeoutMs whole-operation deadline. @default 30000
   * @throws SystemError HAPROXY_RUNTIME when the master is unreachable before the reload.
   */
  async reload(options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<ReloadResult> {
    const deadline = AbortSignal.timeout(options.timeoutMs ?? 30_000);
    const signal = AbortSignal.any([options.signal, deadline]);
    const before = await this.showProc({ signal });
    const previous = new Set(before.workers.map((w) => w.pid));
    try {
      await this.command('reload', { signal });
    } catch (err) {
      // The master re-executes while answering; a reset connection here is expected.
      if (!(err instanceof OverlayError) || err.code !== 'HAPROXY_RUNTIME' || options.signal.aborted) throw err;
    }
    let last: ProcList = before;
    try {
      for (;;) {
        signal.throwIfAborted();
        let now: ProcList | undefined;
        try {
          now = await this.showProc({ signal, timeoutMs: 2000 });
        } catch (err) {
          // The socket is gone or resets while the master re-executes.
          if (!(err instanceof OverlayError) || err.code !== 'HAPROXY_RUNTIME') throw err;
        }
        if (now !== undefined) {
          last = now;
          if (now.master.reloads > before.master.reloads) {
            if (now.master.failedReloads > before.master.failedReloads) {
              return { ok: false, reason: 'load-failed', detail: `haproxy rejected the configuration while reloading (master pid ${now.master.pid}, failed reloads ${now.master.failedReloads}); the old workers ${now.workers.map((w) => w.pid).join(', ')} keep serving`, workerPids: now.workers.map((w) => w.pid) };
            }
            const fresh = now.workers.filter((w) => !previous.has(w.pid));
            if (fresh.length > 0 && (await this.workersAnswer(fresh, signal))) {
              return { ok: true, masterReloads: now.master.reloads, newWorkerPids: fresh.map((w) => w.pid), previousWorkerPids: [...previous] };
            }
          }
        }
        await sleep(25, undefined, { signal });
      }
    } catch (err) {
      if (options.signal.aborted || !deadline.aborted) throw err;
      const reloaded = last.master.reloads > before.master.reloads;
      return {
        ok: false,
        reason: reloaded ? 'no-new-worker' : 'timeout',
        detail: reloaded ? 'the master reloaded but no new worker answered before the deadline' : 'the master did not report a reload before the deadline',
        workerPids: last.workers.map((w) => w.pid),
      };
    }
  }

  private async workersAnswer(workers: readonly ProcEntry[], signal: AbortSignal): Promise<boolean> {
    for (const w of workers) {
      try {
        const answer = await this.command(`@!${w.pid} show info`, { signal, timeoutMs: 2000 });
        if (!new RegExp(`^Pid: ${w.pid}$`, 'mu').test(answer)) return false;
      } catch (err) {
        if (err instanceof OverlayError && err.code === 'HAPROXY_RUNTIME') return false;
        throw err;
      }
    }
    return true;
  }
}

/**
 * Parses `show proc` of 2.6:
 * ```
 * #<PID>          <type>          <reloads>       <uptime>        <version>
 * 25494           master          1 [failed: 0]   0d00h00m19s     2.6.12-1+deb12u4
 * # workers
 * 26195           worker          0               0d00h00m01s     2.6.12-1+deb12u4
 * # old workers
 * 26001           worker          1               0d00h01m02s     2.6.12-1+deb12u4
 * # programs
 * ```
 * @throws SystemError HAPROXY_RUNTIME when there is no master line.
 */
export function parseShowProc(answer: string): ProcList {
  let section: 'master' | 'workers' | 'old' | 'programs' = 'master';
  let master: ProcList['master'] | undefined;
  const workers: ProcEntry[] = [];
  const oldWorkers: ProcEntry[] = [];
  for (const line of answer.split('\n')) {
    if (line.startsWith('#')) {
      if (/^# workers/u.test(line)) section = 'workers';
      else if (/^# old workers/u.test(line)) section = 'old';
      else if (/^# programs/u.test(line)) section = 'programs';
      continue;
    }
    const m = /^(\d+)\s+(master|worker|program)\s+(\d+)(?:\s+\[failed: (\d+)\])?\s+(\S+)\s*(\S*)/u.exec(line);
    if (m === null) continue;
    const entry: ProcEntry = { pid: Number(m[1]), type: m[2] as ProcEntry['type'], reloads: Number(m[3]), uptime: m[5] ?? '', version: m[6] ?? '' };
    if (entry.type === 'master') master = { ...entry, type: 'master', failedReloads: Number(m[4] ?? '0') };
    else if (section === 'workers' && entry.type === 'worker') workers.push(entry);
    else if (section === 'old' && entry.type === 'worker') oldWorkers.push(entry);
  }
  if (master === undefined) throw new SystemError('HAPROXY_RUNTIME', `unexpected answer to "show proc" from the master CLI: ${JSON.stringify(answer.slice(0, 200))}`, { retryable: true });
  return { master, workers, oldWorkers };
}
