#!/usr/bin/env node
/**
 * The entry point of the real-account smoke run (scripts/aws-smoke.sh): the smoke command
 * (commands/smoke.ts) run as this process, with the CLI's error lines and signal handling. Not a
 * command of `overlay-lb` itself: it is an operator's check from a source checkout, and the single
 * executable and the package do not carry it. After SIGINT/SIGTERM the run still terminates its
 * client and removes its cluster, which takes minutes on AWS: it gets 10 minutes for that.
 */
import { isMainScript } from '../util/own-program.js';
import { runCliProcess, runCommand } from './main.js';
import { runSmokeCommand } from './commands/smoke.js';

const CLEANUP_GRACE_MS = 600_000;

// No top-level await, as in main.ts.
if (isMainScript(import.meta.url)) void runCliProcess(process.argv.slice(2), { run: (argv, io, signal) => runCommand('smoke', runSmokeCommand, argv, io, signal), graceMs: CLEANUP_GRACE_MS });
