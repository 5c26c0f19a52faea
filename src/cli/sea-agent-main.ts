/**
 * The main script of the single executable (`/usr/bin/overlay-lb` from the .deb), bundled by
 * esbuild into one CommonJS file with the agent and nothing else: `overlay-lb agent ...` runs the
 * agent from it; every other invocation runs the whole CLI (sea-main.ts), bundled apart and
 * stored in the executable as an asset, compiled when it is needed.
 *
 * Why two bundles: V8 keeps a script's source in the heap for as long as the process runs, and
 * the executable's pages that hold it are in its resident memory too. The agent runs for months;
 * the CLI's provisioning (the AWS SDK), the lab and `explain` are three fifths of the whole
 * bundle. Each process runs one bundle only, so no module is ever loaded twice (an error class
 * of one bundle never meets the other's). docs/BENCHMARKS.md, "Agent footprint".
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { getAsset } from 'node:sea';
import { setFlagsFromString } from 'node:v8';
import { compileFunction } from 'node:vm';
import { runAgentCommand } from './commands/agent.js';
import { runCommand, runProcess } from './process.js';

/** The asset holding the CLI's bundle (scripts/build-deb.sh puts it there). */
export const CLI_ASSET = 'overlay-lb-cli.cjs';

/** Runs the CLI's bundle as a CommonJS module of its own, as the executable's main script would be run. */
function runCliBundle(): void {
  const source = getAsset(CLI_ASSET, 'utf8');
  const filename = process.execPath;
  const wrapper = compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename: `${filename}:${CLI_ASSET}` });
  const module = { exports: {} };
  wrapper.call(module.exports, module.exports, createRequire(filename), module, filename, dirname(filename));
}

// In a single executable, process.argv is [executable, executable, ...arguments].
const args = process.argv.slice(2);
if (args[0] === 'agent') {
  // V8's heuristics that favour memory over speed, for the long-running agent only: set before
  // any of its code runs; read by V8 at each decision (heap growth), so no state predates it. Not
  // in the executable's flags: with them a CPU-bound CLI run (validating 10,000 routes) takes
  // twice as long. docs/BENCHMARKS.md, "Agent footprint".
  setFlagsFromString('--optimize-for-size');
  void runProcess(args.slice(1), { run: (argv, io, signal) => runCommand('agent', runAgentCommand, argv, io, signal) });
} else {
  runCliBundle();
}
