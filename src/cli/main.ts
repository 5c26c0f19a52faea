#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EXIT } from './io.js';
import { runCommand, runProcess, type Command } from './process.js';
import type { CliIo } from './io.js';
import { runAgentCommand } from './commands/agent.js';
import { versionLine } from '../util/build-info.js';
import { runningAsSingleExecutable } from '../util/own-program.js';

export type { Command } from './process.js';
export { Interrupted, interruptedStatus, runCommand } from './process.js';

/**
 * Every command but the agent is imported when it runs, so that a command loads only what it
 * uses; the agent, a long-running daemon, must not carry the lab, its EC2 API server, `explain`
 * or provisioning's AWS SDK (docs/BENCHMARKS.md, "Agent footprint"). In the single executable the
 * agent does not even come through this table: its own main script runs it (sea-agent-main.ts).
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
 * Runs the CLI as this process (see {@link runProcess}): by default the whole command table.
 * Used by this file as a script (dist/), by the single executable's CLI bundle (`sea-main.ts`)
 * and by `aws-smoke.ts` (scripts/aws-smoke.sh), whose clean-up after a signal needs longer.
 */
export function runCliProcess(argv: readonly string[], options: {
  /** What runs. @default {@link runCli} */
  readonly run?: (argv: readonly string[], io: CliIo, signal: AbortSignal) => Promise<number>;
  /** @default 60 s */
  readonly graceMs?: number;
} = {}): Promise<void> {
  return runProcess(argv, { run: options.run ?? runCli, ...(options.graceMs === undefined ? {} : { graceMs: options.graceMs }) });
}

// No top-level await: the single executable bundles this module as CommonJS.
if (isEntryPoint()) void runCliProcess(process.argv.slice(2));
