#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { OverlayError, SpecInvalidError, formatDiagnostic } from '../util/errors.js';
import { EXIT, processIo } from './io.js';
import type { CliIo } from './io.js';
import { runValidate } from './commands/validate.js';
import { runRender } from './commands/render.js';
import { runExplain } from './commands/explain.js';
import { runLab } from './commands/lab.js';
import { runApply } from './commands/apply.js';
import { runAgentCommand } from './commands/agent.js';
import { runSwitchoverCommand } from './commands/switchover.js';
import { runStatusCommand } from './commands/status.js';

type Command = (argv: readonly string[], io: CliIo, signal: AbortSignal) => Promise<number>;

const commands: Readonly<Record<string, { summary: string; run: Command }>> = {
  validate: { summary: 'check a spec; every error at once as file:line:col', run: runValidate },
  render: { summary: "write a node's haproxy.cfg, maps and keepalived.conf (validated)", run: runRender },
  explain: { summary: 'which route and backend a request reaches', run: runExplain },
  lab: { summary: 'a multi-AZ VPC lab on this machine: up, status, down, exec, fault', run: runLab },
  apply: { summary: 'roll a changed spec out to a running haproxy (runtime API where possible)', run: runApply },
  agent: { summary: 'the node agent: haproxy, keepalived and VIP failover on one LB node', run: runAgentCommand },
  switchover: { summary: 'move the VIP to a named node without failing a request', run: runSwitchoverCommand },
  status: { summary: 'every node: who is master, where each route table points, what is wrong', run: runStatusCommand },
};

export const mainHelp = `overlay-lb: a highly available layer-7 load balancer for cloud VPCs

Usage: overlay-lb COMMAND [options]   (overlay-lb COMMAND --help for details)

Commands:
${Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`).join('\n')}`;

/**
 * Runs the CLI in-process and returns the exit status. Errors become one clear line on stderr:
 * user errors without a stack trace, bugs with one.
 */
export async function runCli(argv: readonly string[], io: CliIo, signal: AbortSignal): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(mainHelp);
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands[name];
  if (command === undefined) {
    io.err(`overlay-lb: unknown command "${name}"; commands: ${Object.keys(commands).join(', ')}. See: overlay-lb --help`);
    return EXIT.usage;
  }
  try {
    return await command.run(rest, io, signal);
  } catch (err) {
    if (err instanceof SpecInvalidError) {
      for (const d of err.diagnostics) io.err(formatDiagnostic(d));
      return EXIT.invalid;
    }
    if (err instanceof OverlayError) {
      io.err(`overlay-lb ${name}: ${err.message} [${err.code}]`);
      return err.code === 'CLI_USAGE' ? EXIT.usage : EXIT.failure;
    }
    io.err(`overlay-lb ${name}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    return EXIT.failure;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  const controller = new AbortController();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => controller.abort(new Error(`received ${sig}`)));
  process.exitCode = await runCli(process.argv.slice(2), processIo(), controller.signal);
}
