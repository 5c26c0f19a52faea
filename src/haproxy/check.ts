import { runCommand } from '../util/exec.js';

export interface ConfigCheckResult {
  readonly ok: boolean;
  /** What the tool printed (warnings and errors), trimmed. */
  readonly output: string;
}

/**
 * Checks a configuration file with the real `haproxy -c` (the same binary that will load it).
 * Maps and certificates it references must exist at the paths written in the file. No `-q`:
 * HAProxy 2.6 prints nothing at all for an invalid file with it, and the output is the point.
 *
 * @throws UserError TOOL_MISSING when haproxy is not installed.
 */
export async function checkHaproxyConfig(file: string, options: { signal?: AbortSignal; haproxy?: string } = {}): Promise<ConfigCheckResult> {
  const result = await runCommand([options.haproxy ?? 'haproxy', '-c', '-f', file], { ...(options.signal ? { signal: options.signal } : {}), timeoutMs: 60_000 });
  return { ok: result.code === 0, output: `${result.stdout}${result.stderr}`.trim() };
}
