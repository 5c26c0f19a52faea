import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from '../util/exec.js';
import type { ConfigCheckResult } from '../haproxy/check.js';

/**
 * Checks a keepalived configuration with keepalived's own config test (`--config-test=LOG`).
 *
 * keepalived 2.2.7 prints its findings to the log file named in the option (not to stdout) and
 * also checks that the VRRP interface exists on this machine; pid files go to a private temporary
 * directory so a running keepalived is never disturbed.
 *
 * @throws UserError TOOL_MISSING when keepalived is not installed.
 */
export async function checkKeepalivedConfig(file: string, options: { signal?: AbortSignal; keepalived?: string } = {}): Promise<ConfigCheckResult> {
  const first = await configTest(file, options);
  if (!first.killed) return first;
  // keepalived 2.2.7's config test terminates itself (SIGTERM, exit 143) whenever a script runs
  // as a non-root script_user (keepalived bugs #2587/#2617, fixed in 2.2.8), after printing what it
  // found so far. Check the same file without the script_user line to get a real verdict.
  const text = await readFile(file, 'utf8');
  const dir = await mkdtemp(join(tmpdir(), 'olb-kcheck-'));
  try {
    const copy = join(dir, 'keepalived.conf');
    await writeFile(copy, text.split('\n').filter((l) => !/^\s*script_user\s/.test(l)).join('\n'));
    const second = await configTest(copy, options);
    const output = [first.output, second.output].filter((o) => o !== '').join('\n');
    return { ok: first.output === '' && !second.killed && second.ok, output };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function configTest(file: string, options: { signal?: AbortSignal; keepalived?: string }): Promise<ConfigCheckResult & { killed: boolean }> {
  const dir = await mkdtemp(join(tmpdir(), 'olb-kcheck-'));
  try {
    const log = join(dir, 'config-test.log');
    const result = await runCommand(
      [options.keepalived ?? 'keepalived', `--config-test=${log}`, '-f', file, '-p', join(dir, 'k.pid'), '-r', join(dir, 'v.pid'), '-c', join(dir, 'c.pid')],
      { ...(options.signal ? { signal: options.signal } : {}), timeoutMs: 30_000 },
    );
    const logged = await readFile(log, 'utf8').catch(() => '');
    const killed = result.signal === 'SIGTERM' || result.code === 143;
    return { ok: result.code === 0, killed, output: `${logged}${result.stdout}${result.stderr}`.trim() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
