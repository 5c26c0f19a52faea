#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OverlayError, SpecInvalidError, formatDiagnostic } from '../util/errors.js';
import { describeErrno } from '../ops/paths.js';
import { EXIT, processIo } from './io.js';
import type { CliIo } from './io.js';
import { runAgentCommand } from './commands/agent.js';
import { versionLine } from '../util/build-info.js';
import { runningAsSingleExecutable } from '../util/own-program.js';

export type Command = (argv: readonly string[], io: CliIo, signal: AbortSignal) => Promise<number>;

/**
 * Every command but the agent is imported when it runs, so that the agent, a long-running daemon,
 * does not carry the lab, its EC2 API server or `explain` in its memory (docs/BENCHMARKS.md,
 * "Agent footprint"). The agent itself is imported statically: in the single executable esbuild
 * wraps a dynamically imported module graph in lazy initializers and then cannot tree-shake it,
 * which would bring every EC2 operation of the AWS SDK back into the agent's memory.
 */
const commands: Readonly<Record<string, { summary: string; run: Command }>> = {
  validate: { summary: 'check a spec; every error at once as file:line:col', run: async (...a) => (await import('./commands/validate.js')).runValidate(...a) },
  render: { summary: "write a node's haproxy.cfg, maps and keepalived.conf (validated)", run: async (...a) => (await import('./commands/render.js')).runRender(...a) },
  explain: { summary: 'which route and backend a request reaches', run: async (...a) => (await import('./commands/explain.js')).runExplain(...a) },
  lab: { summary: 'a multi-AZ VPC lab on this machine: up, status, down, exec, fault', run: async (...a) => (await import('./commands/lab.js')).runLab(...a) },
  apply: { summary: 'roll a changed spec out: to a local haproxy, or --cluster to every node', run: async (...a) => (await import('./commands/apply.js')).runApply(...a) },
  agent: { summary: 'the node agent: haproxy, keepalived and VIP failover on one LB node', run: runAgentCommand },
  switchover: { summary: 'move the VIP to a named node without failing a request', run: async (...a) => (await import('./commands/switchover.js')).runSwitchoverCommand(...a) },
  status: { summary: 'every node: who is master, where each route table points, what is wrong', run: async (...a) => (await import('./commands/status.js')).runStatusCommand(...a) },
  doctor: { summary: 'read-only checks of what failover needs, each problem with its fix', run: async (...a) => (await import('./commands/doctor.js')).runDoctorCommand(...a) },
  rollback: { summary: 'return every node to the previous spec version, one node at a time', run: async (...a) => (await import('./commands/rollback.js')).runRollbackCommand(...a) },
  up: { summary: 'provision what the spec asks for (IAM role, S3 bucket...), plan first', run: async (...a) => (await import('./commands/up.js')).runUpCommand(...a) },
  down: { summary: 'remove exactly what up made for the spec (plan first; refuses while the VIP carries traffic)', run: async (...a) => (await import('./commands/down.js')).runDownCommand(...a) },
};

export const mainHelp = `overlay-lb: a highly available layer-7 load balancer for cloud VPCs

Usage: overlay-lb COMMAND [options]   (overlay-lb COMMAND --help for details)
       overlay-lb --version              version, git commit and Node.js runtime

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}`;

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
 * Runs the CLI in-process and returns the exit status. Errors become one clear line on stderr:
 * a user error (fault `user`) one line without a stack trace; a failed system call on a path
 * (a foreign error that escaped a boundary) one line naming the path; only a bug carries a stack.
 * When `signal` aborts (SIGINT/SIGTERM), the command stops and the status is 128 + the signal.
 */
export async function runCli(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(mainHelp);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  if (name === '--version' || name === '-V' || name === 'version') {
    io.out(versionLine());
    return EXIT.ok;
  }
  const command = commands[name];
  if (command === undefined) {
    io.err(`overlay-lb: unknown command ${JSON.stringify(name)}; commands: ${Object.keys(commands).join(', ')}. See: overlay-lb --help`);
    return EXIT.usage;
  }
  return runCommand(name, command.run, rest, io, signal);
}

/**
 * Runs one command and turns its errors into the CLI's lines and exit statuses (as {@link runCli}
 * does for every command): also for entry points outside the command table (scripts/aws-smoke.sh).
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

function isEntryPoint(): boolean {
  // The single executable runs the CLI from its own entry point (sea-main.ts).
  if (runningAsSingleExecutable()) return false;
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
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
 * Runs the CLI as this process: SIGINT/SIGTERM abort the command (a second one, or a stop that
 * hangs for the grace time, exits at once), and the exit status is the command's. Used by this
 * file as a script (dist/), by the single executable's entry point (`sea-main.ts`) and by
 * `aws-smoke.ts` (scripts/aws-smoke.sh), whose clean-up after a signal needs longer.
 */
export async function runCliProcess(argv: readonly string[], options: {
  /** What runs. @default {@link runCli} */
  readonly run?: (argv: readonly string[], io: CliIo, signal: AbortSignal) => Promise<number>;
  /** @default STOP_GRACE_MS */
  readonly graceMs?: number;
} = {}): Promise<void> {
  const run = options.run ?? runCli;
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

// No top-level await: the single executable bundles this module as CommonJS.
if (isEntryPoint()) void runCliProcess(process.argv.slice(2));
