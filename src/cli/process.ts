/**
 * Running one command as this process: its errors as the CLI's lines and exit statuses, SIGINT
 * and SIGTERM as an abort. Apart from main.ts (the command table) so that the single executable's
 * agent entry (sea-agent-main.ts) runs the agent without bundling every other command.
 */
import { OverlayError, SpecInvalidError, formatDiagnostic } from '../util/errors.js';
import { describeErrno } from '../ops/paths.js';
import { EXIT, processIo } from './io.js';
import type { CliIo } from './io.js';

export type Command = (argv: readonly string[], io: CliIo, signal: AbortSignal) => Promise<number>;

/** The abort reason when the process received SIGINT or SIGTERM. */
export class Interrupted extends Error {
  readonly signal: 'SIGINT' | 'SIGTERM';
  constructor(signal: 'SIGINT' | 'SIGTERM') {
    super(`stopped by ${signal}`);
    this.name = 'Interrupted';
    this.signal = signal;
  }
}

/** 128 + the signal number, the shell's convention for "ended by a signal". */
export function interruptedStatus(signal: 'SIGINT' | 'SIGTERM'): number {
  return 128 + (signal === 'SIGINT' ? 2 : 15);
}

/** System-call failures on a path that the person running the command can fix. */
const USER_ERRNO = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EDQUOT', 'ENAMETOOLONG', 'ELOOP', 'EEXIST', 'ENXIO']);

/**
 * Runs one command and turns its errors into the CLI's lines and exit statuses (as the CLI's
 * `runCli` does for every command): also for entry points outside the command table (scripts/aws-smoke.sh).
 */
export async function runCommand(name: string, run: Command, rest: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  // Messages of a command often start with its name already ("render: --out ...").
  const prefixed = (message: string): string => (message.startsWith(`${name}:`) || message.startsWith(`${name} `) ? `overlay-lb ${message}` : `overlay-lb ${name}: ${message}`);
  try {
    return await run(rest, io, signal);
  } catch (err) {
    if (signal.aborted) {
      const reason: unknown = signal.reason;
      io.err(prefixed(reason instanceof Error ? reason.message : 'stopped'));
      return reason instanceof Interrupted ? interruptedStatus(reason.signal) : EXIT.failure;
    }
    if (err instanceof SpecInvalidError) {
      for (const d of err.diagnostics) io.err(formatDiagnostic(d));
      return EXIT.invalid;
    }
    if (err instanceof OverlayError) {
      // A user error is one line; a system error may carry a tool's output below its first line.
      const message = err.fault === 'user' ? err.message.split('\n').map((l) => l.trim()).filter((l) => l !== '').join(' ') : err.message;
      io.err(`${prefixed(message)} [${err.code}]`);
      return err.code === 'CLI_USAGE' ? EXIT.usage : EXIT.failure;
    }
    const errno = err as Partial<NodeJS.ErrnoException>;
    if (typeof errno.code === 'string' && USER_ERRNO.has(errno.code) && typeof errno.path === 'string') {
      io.err(`${prefixed(`cannot ${errno.syscall ?? 'use'} ${errno.path}: ${describeErrno(err)}; check the path and its permissions`)} [PATH_INVALID]`);
      return EXIT.failure;
    }
    io.err(`overlay-lb ${name}: internal error (a bug in overlay-lb; please report it with this output): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.failure;
  }
}

/**
 * How long a command may take to stop after the first SIGINT/SIGTERM before the process exits
 * anyway. Commands stop through their AbortSignal well within it (the agent's orderly stop and
 * `lab up`'s clean-up of a half-built lab included); this only bounds a stop that hangs. A second
 * signal exits at once.
 */
const STOP_GRACE_MS = 60_000;

/**
 * Runs a command as this process: SIGINT/SIGTERM abort it (a second one, or a stop that hangs for
 * the grace time, exits at once), and the exit status is the command's. Used by the CLI
 * (main.ts `runCliProcess`) and by the single executable's agent entry (`sea-agent-main.ts`).
 */
export async function runProcess(argv: readonly string[], options: {
  /** What runs. */
  readonly run: (argv: readonly string[], io: CliIo, signal: AbortSignal) => Promise<number>;
  /** @default STOP_GRACE_MS */
  readonly graceMs?: number;
}): Promise<void> {
  const { run } = options;
  const graceMs = options.graceMs ?? STOP_GRACE_MS;
  const controller = new AbortController();
  let received: 'SIGINT' | 'SIGTERM' | undefined;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (received !== undefined) {
        process.stderr.write(`overlay-lb: ${sig} again: exiting now\n`);
        process.exit(interruptedStatus(sig));
      }
      received = sig;
      controller.abort(new Interrupted(sig));
      setTimeout(() => {
        process.stderr.write(`overlay-lb: did not stop within ${graceMs / 1000} s after ${sig}: exiting now\n`);
        process.exit(interruptedStatus(sig));
      }, graceMs).unref();
    });
  }
  const status = await run(argv, processIo(), controller.signal);
  // Stopped by a signal: what is still open (a socket, a child's pipe) must not keep us alive.
  if (received !== undefined) process.exit(status);
  process.exitCode = status;
}

