/**
 * Supervises one HAProxy in master-worker mode: start it (`haproxy -W -S <sock>,mode,600 -f <cfg>
 * -p <pidfile>`) or attach to one already running (systemd), wait until its master answers, reload
 * through the master CLI, and stop it (soft-stop, then SIGTERM, then SIGKILL). Only the master pid
 * we spawned, or the one the pid file names *and* the master socket confirms, is ever signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { OverlayError, SystemError, UserError } from '../util/errors.js';
import { MasterCli, type ProcList, type ReloadResult, type Reloader } from './master-cli.js';
import { timeoutSignal } from '../util/abort.js';
import { isProcessAlive } from '../util/pid.js';
import { openChildOutput } from '../util/output-fd.js';
import { systemClock } from '../util/clock.js';

/** Where the supervised haproxy is in its life. */
export type HaproxyState =
  | { readonly state: 'starting' }
  | { readonly state: 'running'; readonly masterPid: number }
  | { readonly state: 'reloading'; readonly masterPid: number }
  | { readonly state: 'stopped'; readonly code: number | null; readonly signal: string | null }
  | { readonly state: 'failed'; readonly error: OverlayError };

export interface StartHaproxyOptions {
  readonly configPath: string;
  /** Master CLI socket path (created with mode 600). */
  readonly masterSocket: string;
  readonly pidFile: string;
  /** @default "haproxy" */
  readonly binary?: string;
  /** How long to wait for the master and a worker to answer. @default 15000 */
  readonly readyTimeoutMs?: number;
  /** Append haproxy's output to this file and detach it from our lifetime (the agent's mode). */
  readonly logFile?: string;
  /**
   * With `logFile`: haproxy's stdout (where `log stdout` sends the access log) goes here instead,
   * a FIFO the agent drains into rotated files (`admin.accessLog: file`); `logFile` keeps its
   * stderr (start-up messages, alerts).
   */
  readonly accessLogOutput?: string;
  readonly signal: AbortSignal;
}

export interface AttachHaproxyOptions {
  readonly masterSocket: string;
  readonly pidFile: string;
  readonly signal: AbortSignal;
}

export interface StopOptions {
  readonly signal: AbortSignal;
  /** Soft-stop (SIGUSR1: workers finish their connections) before SIGTERM. @default 10000 */
  readonly graceMs?: number;
  /** SIGTERM before SIGKILL. @default 3000 */
  readonly termGraceMs?: number;
}

const MAX_OUTPUT = 64 * 1024;

/** One supervised haproxy master. Create it with `startHaproxy` or `attachHaproxy`. */
export class HaproxyProcess implements Reloader {
  readonly masterPid: number;
  readonly master: MasterCli;
  /** True when this process was spawned by us (then its exit is observed directly). */
  readonly owned: boolean;
  private current: HaproxyState;
  private readonly child: ChildProcess | undefined;
  private readonly exit: Promise<void>;
  private out = '';

  /** @internal use startHaproxy / attachHaproxy */
  constructor(init: { masterPid: number; master: MasterCli; child?: ChildProcess }) {
    this.masterPid = init.masterPid;
    this.master = init.master;
    this.child = init.child;
    this.owned = init.child !== undefined;
    this.current = { state: 'starting' };
    const child = init.child;
    if (child === undefined) {
      this.exit = new Promise<void>(() => undefined);
    } else {
      const keep = (d: Buffer): void => {
        this.out = (this.out + d.toString('utf8')).slice(-MAX_OUTPUT);
      };
      child.stdout?.on('data', keep);
      child.stderr?.on('data', keep);
      this.exit = new Promise<void>((resolve) => {
        child.once('exit', (code, sig) => {
          this.current = { state: 'stopped', code, signal: sig };
          resolve();
        });
      });
    }
  }

  /** The current state (for status pages and metrics). */
  get state(): HaproxyState {
    return this.current;
  }

  /** What haproxy printed (last 64 kB), for error messages; empty when attached. */
  output(): string {
    return this.out;
  }

  /** Resolves when the master exits, for a master this agent started (its exit is an event); null when attached (poll `isAlive`). */
  get childExit(): Promise<void> | null {
    return this.owned ? this.exit : null;
  }

  /** Whether the master process still exists. */
  isAlive(): boolean {
    if (this.child !== undefined) return this.child.exitCode === null && this.child.signalCode === null;
    return isProcessAlive(this.masterPid);
  }

  /** @internal */
  markRunning(): void {
    this.current = { state: 'running', masterPid: this.masterPid };
  }

  /** @internal */
  markFailed(error: OverlayError): void {
    this.current = { state: 'failed', error };
  }

  /**
   * Reloads through the master CLI and reports the outcome (see `MasterCli.reload`). The state is
   * `reloading` meanwhile and back to `running` after, also after a failed load (old workers serve).
   */
  async reload(options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<ReloadResult> {
    if (this.current.state !== 'running') {
      throw new SystemError('HAPROXY_RELOAD_FAILED', `cannot reload haproxy (master pid ${this.masterPid}) in state ${this.current.state}; start it first`);
    }
    this.current = { state: 'reloading', masterPid: this.masterPid };
    try {
      return await this.master.reload(options);
    } finally {
      if (this.current.state === 'reloading') this.current = { state: 'running', masterPid: this.masterPid };
    }
  }

  /**
   * Stops haproxy: SIGUSR1 (soft-stop: listeners close, workers finish in-flight requests, the
   * master exits after them), SIGTERM after `graceMs`, SIGKILL after `termGraceMs`. Safe to call
   * twice; returns once the master is gone.
   */
  async stop(options: StopOptions): Promise<void> {
    const steps: [NodeJS.Signals, number][] = [
      ['SIGUSR1', options.graceMs ?? 10_000],
      ['SIGTERM', options.termGraceMs ?? 3000],
      ['SIGKILL', 5000],
    ];
    for (const [sig, waitMs] of steps) {
      if (!this.isAlive()) break;
      try {
        process.kill(this.masterPid, sig);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') break;
        throw new SystemError('HAPROXY_START_FAILED', `could not signal haproxy master ${this.masterPid}: ${(err as Error).message}`, { cause: err });
      }
      if (await this.waitExit(waitMs, options.signal)) break;
    }
    if (this.child === undefined && !this.isAlive()) this.current = { state: 'stopped', code: null, signal: null };
    if (this.isAlive()) throw new SystemError('HAPROXY_START_FAILED', `haproxy master ${this.masterPid} is still alive after SIGKILL`);
  }

  /** Resolves true once the master exited, false after `ms`. */
  private async waitExit(ms: number, signal: AbortSignal): Promise<boolean> {
    if (this.child !== undefined) {
      const timer = new AbortController();
      const both = AbortSignal.any([signal, timer.signal]);
      try {
        return await Promise.race([this.exit.then(() => true), sleep(ms, false, { signal: both })]);
      } finally {
        timer.abort();
      }
    }
    const until = systemClock.now() + ms;
    while (systemClock.now() < until) {
      if (!this.isAlive()) return true;
      await sleep(20, undefined, { signal });
    }
    return !this.isAlive();
  }
}

/**
 * Starts haproxy in master-worker mode in the foreground (so its exit is observed) and waits until
 * the master answers on its socket with our pid and a worker answers through it.
 *
 * @throws SystemError HAPROXY_START_FAILED with haproxy's output when it exits or never answers
 *   (the process is killed then).
 * @throws UserError TOOL_MISSING when haproxy is not installed.
 */
export async function startHaproxy(options: StartHaproxyOptions): Promise<HaproxyProcess> {
  // Stopping: start nothing (a haproxy started now would outlive the agent).
  options.signal.throwIfAborted();
  const binary = options.binary ?? 'haproxy';
  const argv = ['-W', '-S', `${options.masterSocket},mode,600`, '-f', options.configPath, '-p', options.pidFile];
  // With a log file, haproxy is not tied to our lifetime: its output goes to the file (not a pipe
  // that would break when we exit) and it is not waited for, so the agent can restart and attach.
  const log = options.logFile !== undefined ? openSync(options.logFile, 'a', 0o600) : undefined;
  const out = log !== undefined && options.accessLogOutput !== undefined ? openChildOutput(options.accessLogOutput) : log;
  const child = spawn(binary, argv, log !== undefined ? { stdio: ['ignore', out, log], detached: true } : { stdio: ['ignore', 'pipe', 'pipe'] });
  if (log !== undefined) {
    closeSync(log);
    if (out !== log && out !== undefined) closeSync(out);
    child.unref();
  }
  const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
  if (child.pid === undefined) {
    const err = await spawnError;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError('TOOL_MISSING', `${binary} is not installed (or not on PATH); install haproxy 2.6`, { cause: err });
    throw new SystemError('HAPROXY_START_FAILED', `could not start ${binary}: ${err.message}`, { cause: err });
  }
  const proc = new HaproxyProcess({ masterPid: child.pid, master: new MasterCli({ socketPath: options.masterSocket }), child });
  const signal = timeoutSignal(options.readyTimeoutMs ?? 15_000, options.signal);
  try {
    for (;;) {
      if (!proc.isAlive()) {
        const output = options.logFile !== undefined ? await tail(options.logFile) : proc.output();
        throw new SystemError('HAPROXY_START_FAILED', `haproxy exited while starting (${describeExit(proc.state)}); its output:\n${output.trim()}`, { details: { argv: [binary, ...argv] } });
      }
      const procs = await tryShowProc(proc.master, signal);
      if (procs !== undefined && procs.master.pid === proc.masterPid && procs.workers.length > 0) {
        const info = await proc.master.workerCommand('show info', { signal, timeoutMs: 2000 }).catch(() => '');
        if (/^Pid: \d+$/mu.test(info)) break;
      }
      await sleep(25, undefined, { signal });
    }
  } catch (err) {
    await proc.stop({ signal: AbortSignal.timeout(10_000), graceMs: 0, termGraceMs: 2000 });
    if (err instanceof OverlayError) {
      proc.markFailed(err);
      throw err;
    }
    if (options.signal.aborted) throw err;
    const failed = new SystemError('HAPROXY_START_FAILED', `haproxy (pid ${proc.masterPid}) did not answer on ${options.masterSocket} within ${options.readyTimeoutMs ?? 15_000} ms; its output:\n${proc.output().trim()}`, { cause: err });
    proc.markFailed(failed);
    throw failed;
  }
  proc.markRunning();
  return proc;
}

async function tail(file: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.slice(-4096);
}

/**
 * Attaches to a haproxy master started elsewhere (for example by systemd): the pid file must name
 * a live process and the master socket must report that same pid, so a stale pid file never makes
 * us signal an unrelated process.
 *
 * @throws SystemError HAPROXY_START_FAILED when the pid file, the process or the socket disagree.
 */
export async function attachHaproxy(options: AttachHaproxyOptions): Promise<HaproxyProcess> {
  let text: string;
  try {
    text = await readFile(options.pidFile, { encoding: 'utf8', signal: options.signal });
  } catch (err) {
    throw new SystemError('HAPROXY_START_FAILED', `cannot read haproxy pid file ${options.pidFile}: ${(err as Error).message}; is haproxy running with -p ${options.pidFile}?`, { cause: err });
  }
  const pid = Number(text.trim().split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 1) throw new SystemError('HAPROXY_START_FAILED', `haproxy pid file ${options.pidFile} holds ${JSON.stringify(text.trim())}, not a pid`);
  const master = new MasterCli({ socketPath: options.masterSocket });
  let procs: ProcList;
  try {
    procs = await master.showProc({ signal: options.signal, timeoutMs: 5000 });
  } catch (err) {
    throw new SystemError('HAPROXY_START_FAILED', `haproxy master socket ${options.masterSocket} does not answer; start haproxy with -W -S ${options.masterSocket},mode,600`, { cause: err });
  }
  if (procs.master.pid !== pid) {
    throw new SystemError('HAPROXY_START_FAILED', `pid file ${options.pidFile} names ${pid} but the master on ${options.masterSocket} is ${procs.master.pid}; the pid file is stale or belongs to another haproxy`);
  }
  const proc = new HaproxyProcess({ masterPid: pid, master });
  if (!proc.isAlive()) throw new SystemError('HAPROXY_START_FAILED', `haproxy master ${pid} from ${options.pidFile} is not running`);
  proc.markRunning();
  return proc;
}

async function tryShowProc(master: MasterCli, signal: AbortSignal): Promise<ProcList | undefined> {
  try {
    return await master.showProc({ signal, timeoutMs: 2000 });
  } catch (err) {
    if (err instanceof OverlayError && err.code === 'HAPROXY_RUNTIME') return undefined;
    throw err;
  }
}

function describeExit(state: HaproxyState): string {
  return state.state === 'stopped' ? `code ${String(state.code)}, signal ${String(state.signal)}` : state.state;
}
