/**
 * Runs the real `haproxy -c` on a rendered config: writes the config and its map files into a
 * directory (the map files into `mapDir`, which must be the directory the config was rendered
 * with) and returns haproxy's verdict and output. Other tests may import it.
 */
import { execFile } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface HaproxyCheckResult {
  /** Exit status 0. */
  readonly ok: boolean;
  readonly exitCode: number;
  /** stdout + stderr. */
  readonly output: string;
  /** The `[WARNING]` and `[ALERT]` lines of the output. */
  readonly warnings: readonly string[];
}

export interface HaproxyCheckOptions {
  readonly config: string;
  readonly maps: readonly { readonly name: string; readonly content: string }[];
  /** Where haproxy.cfg is written. */
  readonly dir: string;
  /** Absolute directory the config was rendered with; created if missing. */
  readonly mapDir: string;
  readonly signal: AbortSignal;
  /** @default "haproxy" */
  readonly binary?: string;
}

/** Write config + maps and run `haproxy -c -f <dir>/haproxy.cfg`. Never throws for a rejected config. */
export async function checkHaproxyConfig(options: HaproxyCheckOptions): Promise<HaproxyCheckResult> {
  await mkdir(options.mapDir, { recursive: true });
  for (const m of options.maps) await writeFile(join(options.mapDir, m.name), m.content, { signal: options.signal });
  const cfg = join(options.dir, 'haproxy.cfg');
  await writeFile(cfg, options.config, { signal: options.signal });
  return new Promise((resolve, reject) => {
    execFile(options.binary ?? 'haproxy', ['-c', '-f', cfg], { signal: options.signal, timeout: 30_000 }, (err, stdout, stderr) => {
      const output = `${stdout}${stderr}`;
      const warnings = output.split('\n').filter((l) => /\[(WARNING|ALERT)\]/.test(l));
      if (err === null) return resolve({ ok: true, exitCode: 0, output, warnings });
      if (typeof err.code === 'number') return resolve({ ok: false, exitCode: err.code, output, warnings });
      reject(new Error('haproxy -c could not run', { cause: err }));
    });
  });
}
