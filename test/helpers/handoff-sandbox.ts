/**
 * Shared by the handoff tests that run the link in a sandbox's namespaces (test/helpers/netns.ts):
 * calling an export of src/handoff/handoff.ts inside a namespace, and reading a sandboxed
 * process's next output line.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { Sandbox, SandboxProcess } from './netns.js';

const HANDOFF_MODULE = fileURLToPath(new URL('../../src/handoff/handoff.js', import.meta.url));

/** Calls one export of src/handoff/handoff.ts inside a namespace; prints its result as JSON. */
const CALL = `
const [mod, fn, args] = process.argv.slice(1);
const m = await import(mod);
const result = await m[fn](...JSON.parse(args), { signal: AbortSignal.timeout(20000) });
process.stdout.write(JSON.stringify(result ?? null));
`;

/** `call(ns, fn, ...args)`: runs `fn(...args, { signal })` of src/handoff/handoff.ts in namespace `ns`, in a process of its own. */
export function handoffCaller(sb: Sandbox, signal: AbortSignal): (ns: string, fn: string, ...args: unknown[]) => Promise<unknown> {
  return async (ns, fn, ...args) =>
    JSON.parse((await sb.exec(ns, [process.execPath, '--input-type=module', '-e', CALL, HANDOFF_MODULE, fn, JSON.stringify(args)], { signal })).stdout) as unknown;
}

/** The first complete, non-empty output line of `p` after offset `from`; fails naming `what` after `timeoutMs`. */
export async function nextLine(p: SandboxProcess, from: number, what: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = p.output().slice(from).split('\n').find((l, i, all) => i < all.length - 1 && l.trim() !== '');
    if (line !== undefined) return line.trim();
    if (Date.now() > deadline) assert.fail(`no ${what} within ${timeoutMs / 1000} s; output: ${p.output()}`);
    await sleep(20);
  }
}
