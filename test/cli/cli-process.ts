/**
 * The real CLI (dist/src/cli/main.js) as a child process, for tests of what a person sees: exit
 * status, stdout, stderr, and how it stops on a signal.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI_MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

export interface CliExit {
  /** The exit status, or null when a signal ended the process. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunningCli {
  readonly child: ChildProcess;
  /** Settles when the process has exited; rejects when it is still running at `deadline` (then it is SIGKILLed). */
  readonly exited: Promise<CliExit>;
  stdout(): string;
  stderr(): string;
}

/**
 * Starts the CLI with `args`. Every process is bounded: when `deadline` aborts first, it is
 * killed with SIGKILL and `exited` rejects with what it printed so far.
 */
export function startCli(args: readonly string[], options: { deadline: AbortSignal; cwd?: string; stdin?: 'ignore' | 'pipe'; env?: NodeJS.ProcessEnv }): RunningCli {
  const child = spawn(process.execPath, [CLI_MAIN, ...args], {
    stdio: [options.stdin ?? 'ignore', 'pipe', 'pipe'],
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    // Extra variables on top of this process's environment (credentials for a command that calls an API).
    ...(options.env === undefined ? {} : { env: { ...process.env, ...options.env } }),
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (c: string) => { out += c; });
  child.stderr?.setEncoding('utf8').on('data', (c: string) => { err += c; });
  const exited = new Promise<CliExit>((resolve, reject) => {
    const onDeadline = (): void => {
      child.kill('SIGKILL');
      reject(new Error(`overlay-lb ${args.join(' ')} was still running at the test's deadline\nstdout: ${out}\nstderr: ${err}`));
    };
    if (options.deadline.aborted) onDeadline();
    options.deadline.addEventListener('abort', onDeadline, { once: true });
    child.once('close', (code, signal) => {
      options.deadline.removeEventListener('abort', onDeadline);
      resolve({ code, signal, stdout: out, stderr: err });
    });
  });
  exited.catch(() => undefined);
  return { child, exited, stdout: () => out, stderr: () => err };
}

/** Runs the CLI to its end (see `startCli`). */
export async function runCliProcess(args: readonly string[], options: { deadline: AbortSignal; cwd?: string; env?: NodeJS.ProcessEnv }): Promise<CliExit> {
  return startCli(args, options).exited;
}

/** A stack frame line as V8 prints it ("    at fn (file:1:2)"). */
export const STACK_FRAME_RE = /^\s+at \S/m;
