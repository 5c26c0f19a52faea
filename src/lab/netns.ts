/**
 * Running programs for the lab: `ip`, `iptables`, `sysctl` and lab processes, always spawned with
 * argument arrays (never a shell), and always inside a lab namespace except `ip netns add/del`.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { SystemError } from '../util/errors.js';
import type { LabStateFile } from './state-file.js';
import { timeoutSignal } from '../util/abort.js';

export interface CommandResult {
  readonly stdout: string;
  readonly stderr: string;
  /** Exit code; -1 when killed by a signal. */
  readonly code: number;
}

export interface RunOptions {
  readonly signal: AbortSignal;
  /** Return a failed result instead of throwing. @default false */
  readonly allowFailure?: boolean;
  /** @default 30000 */
  readonly timeoutMs?: number;
  /** Written to the program's stdin (then closed): `ip -batch -`, `iptables-restore`. */
  readonly input?: string;
}

/**
 * Runs a program (argv[0] looked up in PATH) and collects its output.
 * @throws SystemError LAB_COMMAND_FAILED on a non-zero exit unless `allowFailure`; TOOL_MISSING when not installed.
 */
export async function runCommand(argv: readonly string[], options: RunOptions): Promise<CommandResult> {
  const [file, ...args] = argv;
  if (file === undefined) throw new SystemError('INTERNAL', 'runCommand needs a program');
  const signal = timeoutSignal(options.timeoutMs ?? 30_000, options.signal);
  const result = await new Promise<CommandResult & { spawnError?: NodeJS.ErrnoException }>((resolve) => {
    const child = execFile(file, args, { signal, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error === null) resolve({ stdout, stderr, code: 0 });
      else if (typeof error.code === 'number') resolve({ stdout, stderr, code: error.code });
      else resolve({ stdout, stderr, code: -1, spawnError: error as NodeJS.ErrnoException });
    });
    if (options.input !== undefined) {
      child.stdin?.on('error', () => undefined);
      child.stdin?.end(options.input);
    }
  });
  if (result.spawnError?.code === 'ENOENT') {
    throw new SystemError('TOOL_MISSING', `${file} is not installed: the lab needs iproute2 (ip), iptables and procps (sysctl); install them with apt-get install iproute2 iptables procps`);
  }
  if (result.spawnError !== undefined && options.signal.aborted) throw options.signal.reason;
  if (result.code !== 0 && options.allowFailure !== true) {
    throw new SystemError('LAB_COMMAND_FAILED', `lab command failed (exit ${result.code}): ${argv.join(' ')}: ${(result.stderr || result.spawnError?.message || '').trim()}`, {
      details: { argv, code: result.code },
    });
  }
  return { stdout: result.stdout, stderr: result.stderr, code: result.code };
}

/** `ip -n NS ARGS...`: an iproute2 command inside a namespace. */
export function ipIn(namespace: string, args: readonly string[]): string[] {
  return ['ip', '-n', namespace, ...args];
}

/** `ip netns exec NS ARGV...`: any program inside a namespace. */
export function execIn(namespace: string, argv: readonly string[]): string[] {
  return ['ip', 'netns', 'exec', namespace, ...argv];
}

/** `iptables -w` inside a namespace (waits for the xtables lock, shared by every namespace). */
export function iptablesIn(namespace: string, args: readonly string[]): string[] {
  return execIn(namespace, ['iptables', '-w', '5', ...args]);
}

/** Sets IPv4 sysctls inside a namespace (`/proc/sys/net` is per namespace). */
export async function sysctlIn(namespace: string, settings: Readonly<Record<string, string>>, options: { readonly signal: AbortSignal }): Promise<void> {
  await runCommand(execIn(namespace, ['sysctl', '-q', '-w', ...Object.entries(settings).map(([k, v]) => `${k}=${v}`)]), options);
}

/** Names of the existing network namespaces. */
export async function listNamespaces(options: { readonly signal: AbortSignal }): Promise<string[]> {
  const { stdout } = await runCommand(['ip', 'netns', 'list'], options);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter((n) => n !== '');
}

/** PIDs of the processes inside a namespace (empty when it does not exist). */
export async function namespacePids(namespace: string, options: { readonly signal: AbortSignal }): Promise<number[]> {
  const { stdout, code } = await runCommand(['ip', 'netns', 'pids', namespace], { ...options, allowFailure: true });
  if (code !== 0) return [];
  return stdout.split('\n').map(Number).filter((n) => Number.isInteger(n) && n > 0);
}

/** A process's start time (/proc/PID/stat field 22, clock ticks since boot); null when it is gone. */
export async function readProcessStartTime(pid: number, options: { readonly signal: AbortSignal }): Promise<string | null> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, { encoding: 'utf8', signal: options.signal });
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state); field 22 is fields[19]. A zombie counts as gone.
    if (fields[0] === 'Z') return null;
    return fields[19] ?? null;
  } catch {
    return null;
  }
}

/** A process to stop: its pid and, when known, its start time (a mismatch means the PID was reused). */
export interface RecordedProcess {
  readonly pid: number;
  readonly startTime: string | null;
}

/**
 * Stops a recorded process: SIGTERM, then SIGKILL after `graceMs`. Does nothing when the PID is
 * gone or now belongs to another process (different start time).
 * @returns `killed` or `gone`.
 */
export async function killRecordedProcess(
  process_: RecordedProcess,
  options: { readonly signal: AbortSignal; readonly graceMs?: number; readonly killSignal?: NodeJS.Signals },
): Promise<'killed' | 'gone'> {
  const current = await readProcessStartTime(process_.pid, options);
  if (current === null || (process_.startTime !== null && current !== process_.startTime)) return 'gone';
  try {
    process.kill(process_.pid, options.killSignal ?? 'SIGTERM');
  } catch {
    return 'gone';
  }
  const deadline = Date.now() + (options.graceMs ?? 2000);
  for (let i = 0; i < 1000 && Date.now() < deadline; i += 1) {
    if ((await readProcessStartTime(process_.pid, options)) !== current) return 'killed';
    await sleep(20, undefined, { signal: options.signal });
  }
  try {
    process.kill(process_.pid, 'SIGKILL');
  } catch {
    // Exited between the check and the kill.
  }
  return 'killed';
}

/**
 * Stops every process of a namespace as a machine's shutdown does: SIGTERM, SIGKILL after
 * `graceMs`; then again for any process started meanwhile (a supervisor that restarts its child
 * when it gets SIGTERM, a trap), with at most a second's grace, until none is left or `rounds`
 * rounds are done. A namespace outlives `ip netns del` while a process holds it, with its links
 * and addresses: one left behind would answer for an address the next instance gets. Answers how
 * many processes were stopped and the pids still there after the last round.
 */
export async function stopNamespaceProcesses(namespace: string, options: { readonly signal: AbortSignal; readonly graceMs?: number; readonly rounds?: number }): Promise<{ readonly stopped: number; readonly left: readonly number[] }> {
  const { signal } = options;
  const grace = options.graceMs ?? 2000;
  let stopped = 0;
  for (let round = 0; round < (options.rounds ?? 5); round++) {
    const pids = await namespacePids(namespace, { signal });
    if (pids.length === 0) return { stopped, left: [] };
    const results = await Promise.all(pids.map(async (pid) => killRecordedProcess({ pid, startTime: await readProcessStartTime(pid, { signal }) }, { signal, graceMs: round === 0 ? grace : Math.min(grace, 1000) })));
    stopped += results.filter((r) => r === 'killed').length;
  }
  return { stopped, left: await namespacePids(namespace, { signal }) };
}

export interface SpawnInNamespaceOptions {
  readonly signal: AbortSignal;
  readonly stateFile: LabStateFile;
  readonly namespace: string;
  readonly argv: readonly string[];
  readonly label: string;
  /** Wait for this line on stdout before returning (the process prints it when ready). */
  readonly readyLine?: string;
  /** @default 10000 */
  readonly readyTimeoutMs?: number;
  /**
   * Append the process's stdout and stderr to this file (kept for the process's whole life).
   * Without it stdout is read only until `readyLine` and then closed, so a process that keeps
   * writing (the agent's JSON logs) must have a log file.
   */
  readonly logFile?: string;
}

/**
 * Starts a long-running process inside a namespace, detached (it outlives the caller), recorded in
 * the state file before the spawn and updated with its pid and start time after it.
 * @throws SystemError LAB_COMMAND_FAILED when it exits or fails to print `readyLine` in time.
 */
export async function spawnInNamespace(options: SpawnInNamespaceOptions): Promise<RecordedProcess> {
  const argv = execIn(options.namespace, options.argv);
  const id = await options.stateFile.record({ kind: 'process', label: options.label, namespace: options.namespace, argv, pid: null, startTime: null }, options);
  // `ip netns exec` execs the program: the pid we get is the program's own.
  if (options.logFile !== undefined && options.readyLine !== undefined) throw new SystemError('INTERNAL', `${options.label}: readyLine and logFile cannot be combined`);
  const log = options.logFile !== undefined ? openSync(options.logFile, 'a', 0o600) : undefined;
  const child = spawn(argv[0] ?? 'ip', argv.slice(1), { detached: true, stdio: log !== undefined ? ['ignore', log, log] : ['ignore', 'pipe', 'ignore'] });
  if (log !== undefined) closeSync(log);
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid ?? -1));
    child.once('error', reject);
  });
  const startTime = await readProcessStartTime(pid, options);
  await options.stateFile.updateProcess(id, { pid, startTime }, options);
  const recorded = { pid, startTime };
  try {
    if (options.readyLine !== undefined) await waitForLine(child, options.readyLine, options.readyTimeoutMs ?? 10_000, options.signal, options.label);
  } catch (error) {
    await killRecordedProcess(recorded, { signal: AbortSignal.timeout(5000) });
    throw error;
  } finally {
    child.stdout?.destroy();
    child.unref();
  }
  return recorded;
}

async function waitForLine(child: ReturnType<typeof spawn>, line: string, timeoutMs: number, signal: AbortSignal, label: string): Promise<void> {
  const stdout = child.stdout;
  if (stdout === null) return;
  const deadline = timeoutSignal(timeoutMs, signal);
  await new Promise<void>((resolve, reject) => {
    let buffer = '';
    const done = (error?: Error): void => {
      stdout.off('data', onData);
      child.off('exit', onExit);
      deadline.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const onData = (chunk: Buffer): void => {
      buffer += chunk.toString('utf8');
      if (buffer.split('\n').includes(line)) done();
    };
    const onExit = (code: number | null): void => done(new SystemError('LAB_COMMAND_FAILED', `lab process ${label} exited (code ${code}) before it was ready`));
    const onAbort = (): void => done(new SystemError('LAB_COMMAND_FAILED', `lab process ${label} was not ready within ${timeoutMs} ms`));
    stdout.on('data', onData);
    child.once('exit', onExit);
    deadline.addEventListener('abort', onAbort, { once: true });
  });
}
