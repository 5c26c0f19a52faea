import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SystemError } from '../util/errors.js';
import { isProcessAlive as isAlive } from '../util/pid.js';
import { systemClock } from '../util/clock.js';
import { nodePaths } from '../util/node-paths.js';
import { openChildOutput } from '../util/output-fd.js';

export interface KeepalivedPaths {
  readonly config: string;
  /** Directory for the pid files and the log. */
  readonly runDir: string;
}

/**
 * Where keepalived logs (`admin.accessLog`). `syslog`: through syslog(3) (`/dev/log`, journald on
 * a systemd node) with `facility`; its console output (start-up errors only) still goes to
 * `<runDir>/keepalived.log`. `console`: everything to `output` (a FIFO the agent drains into a
 * rotated file, `tail`), nothing to syslog.
 * @default console output to `<runDir>/keepalived.log` (the lab's namespaces have no syslog)
 */
export type KeepalivedLog =
  | { readonly to: 'syslog'; readonly facility: string }
  | { readonly to: 'console'; readonly output: string; readonly tail: string };

export interface KeepalivedProcess {
  readonly pid: number;
  /** Whether we started it (a child) or found it running (attached by pid file). */
  readonly attached: boolean;
  /** Resolves when the process exits. */
  readonly exited: Promise<void>;
  /** Reload the configuration (SIGHUP). */
  reload(): void;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(options?: { graceMs?: number }): Promise<void>;
}

const pidFile = (p: KeepalivedPaths): string => nodePaths(p.runDir).keepalivedPid;

/**
 * Starts keepalived (VRRP only, in the foreground, logging as `options.log` says), or
 * attaches to the one a previous agent started (pid file + /proc check), so an agent restart does
 * not restart keepalived and does not move the VIP. keepalived is not a child of the agent's
 * lifetime: it keeps running if the agent dies, and its vrrp_script notices a dead agent.
 *
 * Command line measured to work inside a network namespace (keepalived 2.2.7):
 * `keepalived --vrrp --dont-fork --log-console --log-detail --no-syslog -f CONF -p P -r R -c C`.
 */
export async function startKeepalived(paths: KeepalivedPaths, options: { signal: AbortSignal; binary?: string; log?: KeepalivedLog }): Promise<KeepalivedProcess> {
  const existing = await runningPid(pidFile(paths));
  if (existing !== null) return handle(existing, true);
  await reapOrphans(paths, options.signal);
  // Stopping: start nothing (a keepalived started now would outlive the agent, unsupervised).
  options.signal.throwIfAborted();
  const runLog = nodePaths(paths.runDir).keepalivedLog;
  const target = options.log ?? { to: 'console', output: runLog, tail: runLog };
  const logArgs = target.to === 'syslog' ? ['--log-detail', `--log-facility=${target.facility}`] : ['--log-console', '--log-detail', '--no-syslog'];
  const tailFile = target.to === 'console' ? target.tail : runLog;
  const fd = openChildOutput(target.to === 'console' ? target.output : runLog);
  try {
    const child = spawn(options.binary ?? 'keepalived', [
      '--vrrp', '--dont-fork', ...logArgs,
      '-f', paths.config, '-p', pidFile(paths), '-r', nodePaths(paths.runDir).keepalivedVrrpPid, '-c', nodePaths(paths.runDir).keepalivedCheckersPid,
    ], { stdio: ['ignore', fd, fd], detached: true });
    child.unref();
    const pid = child.pid;
    if (pid === undefined) throw new SystemError('INTERNAL', 'keepalived could not be started');
    // Wait until it wrote its pid file, or died.
    for (let i = 0; i < 100; i++) {
      if (options.signal.aborted) {
        // Stopping while it starts: stop it again rather than leave it behind.
        await stopStarting(child, paths);
        options.signal.throwIfAborted();
      }
      if (child.exitCode !== null) {
        const tail = (await readFile(tailFile, 'utf8').catch(() => '')).split('\n').slice(-10).join('\n');
        throw new SystemError('INTERNAL', `keepalived exited at start (${child.exitCode}):\n${tail}`);
      }
      if ((await runningPid(pidFile(paths))) === pid) break;
      await sleep(50);
    }
    return handle(pid, false, child);
  } finally {
    closeSync(fd);
  }
}

/**
 * Stops a keepalived this agent just started (SIGTERM, SIGKILL after 2 s), and a VRRP child it
 * may have forked already (its pid file, as {@link reapOrphans} does). Not abortable: it runs
 * because the agent is stopping, and bounds itself.
 */
async function stopStarting(child: ChildProcess, paths: KeepalivedPaths): Promise<void> {
  const exited = (): boolean => child.exitCode !== null || child.signalCode !== null;
  child.kill('SIGTERM');
  for (let i = 0; i < 40 && !exited(); i++) await sleep(50);
  if (!exited()) child.kill('SIGKILL');
  await reapOrphans(paths, AbortSignal.timeout(5000)).catch(() => undefined);
}

/**
 * A keepalived parent killed with SIGKILL can leave its VRRP child running, orphaned (measured in
 * the lab: still running seconds later, after the agent died too). A keepalived started then finds
 * the child's pid file and exits 0 ("daemon is already running"), and the orphan may keep
 * advertising. Found by the failback e2e test. Stop such orphans first (SIGTERM: it sends its
 * priority-0 advert; SIGKILL after 2 s): without their parent nothing supervises them.
 */
async function reapOrphans(paths: KeepalivedPaths, signal: AbortSignal): Promise<void> {
  const files = nodePaths(paths.runDir);
  for (const file of [files.keepalivedVrrpPid, files.keepalivedCheckersPid]) {
    const pid = await runningPid(file);
    if (pid === null) continue;
    process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 40 && isAlive(pid); i++) await sleep(50, undefined, { signal });
    if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 40 && isAlive(pid); i++) await sleep(50, undefined, { signal });
  }
  // keepalived's own "already running" test is kill(pid, 0) on the pids in these files, which a
  // zombie passes: a crashed keepalived whose parent (the agent) died too stays a zombie until
  // init reaps it (in a container, maybe never). Its stale pid files would make the new one exit 0.
  for (const file of [files.keepalivedPid, files.keepalivedVrrpPid, files.keepalivedCheckersPid]) {
    if ((await runningPid(file)) === null) await rm(file, { force: true });
  }
}

/**
 * `child`: the keepalived this agent started: its exit is an event (SIGCHLD; libuv reaps it).
 * Without it (attached after an agent restart: not our child) it is polled every 100 ms with an
 * unreferenced timer (watching keepalived must not keep the agent alive), reading /proc to tell
 * a zombie from a live process. The event spares the idle agent ten wake-ups a second.
 */
function handle(pid: number, attached: boolean, child?: ChildProcess): KeepalivedProcess {
  const exited = child !== undefined
    ? new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      else child.once('exit', () => resolve());
    })
    : (async () => {
      while (isAlive(pid)) await sleep(100, undefined, { ref: false });
    })();
  return {
    pid,
    attached,
    exited,
    reload: () => { if (isAlive(pid)) process.kill(pid, 'SIGHUP'); },
    async stop(options = {}) {
      if (!isAlive(pid)) return;
      process.kill(pid, 'SIGTERM');
      const deadline = systemClock.now() + (options.graceMs ?? 5000);
      while (isAlive(pid) && systemClock.now() < deadline) await sleep(50);
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
      await exited;
    },
  };
}

async function runningPid(file: string): Promise<number | null> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  if (!Number.isInteger(pid) || pid <= 1 || !isAlive(pid)) return null;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('keepalived') ? pid : null;
}
