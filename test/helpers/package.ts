/**
 * The Debian package as tests use it: built by the real scripts/build-deb.sh (esbuild, the pinned
 * Node.js 24, postject, dpkg-deb) and extracted with dpkg-deb -x, so that tests run what ships.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/util/exec.js';

/** The repository root (this file is dist/test/helpers/package.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Builds the package with `scripts/build-deb.sh` into `outDir` and returns the .deb's path.
 * @throws Error with the script's output when the build fails.
 */
export async function buildPackage(options: { readonly outDir: string; readonly version?: string; readonly signal: AbortSignal }): Promise<string> {
  const args = ['bash', join(REPO_ROOT, 'scripts/build-deb.sh'), '--out', options.outDir, ...(options.version === undefined ? [] : ['--version', options.version])];
  const r = await runCommand(args, { signal: options.signal, timeoutMs: 10 * 60_000, cwd: REPO_ROOT });
  const deb = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !deb.endsWith('.deb')) throw new Error(`scripts/build-deb.sh failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  return deb;
}

/** Extracts a .deb (`dpkg-deb -x`) into a new temporary directory; returns it and the executable's path. */
export async function extractPackage(deb: string, options: { readonly signal: AbortSignal }): Promise<{ readonly dir: string; readonly executable: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'olb-deb-x-'));
  const r = await runCommand(['dpkg-deb', '-x', deb, dir], { signal: options.signal, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`dpkg-deb -x ${deb} failed: ${r.stderr}`);
  return { dir, executable: join(dir, 'usr/bin/overlay-lb') };
}

/**
 * The .deb for tests that run it in the lab: `OVERLAY_LB_DEB` (a .deb built beforehand, for
 * example by CI or scripts/demo.sh), else one fresh build per test process into a temporary
 * directory (later calls get the same file).
 */
export function debPackage(options: { readonly signal: AbortSignal }): Promise<string> {
  const given = process.env.OVERLAY_LB_DEB;
  if (given !== undefined && given !== '') return Promise.resolve(given);
  built ??= mkdtemp(join(tmpdir(), 'olb-deb-')).then((outDir) => buildPackage({ outDir, signal: options.signal }));
  return built;
}
let built: Promise<string> | undefined;

/** The package for tests that run its executable: {@link debPackage}, extracted. */
export async function packagedExecutable(options: { readonly signal: AbortSignal }): Promise<{ readonly deb: string; readonly dir: string; readonly executable: string }> {
  const deb = await debPackage(options);
  return { deb, ...(await extractPackage(deb, options)) };
}
