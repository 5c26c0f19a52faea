/**
 * What `overlay-lb --version` prints: the release version, the git commit it was built from and
 * the Node.js runtime it runs on. The package build (scripts/build-deb.sh) bakes the first two
 * into the single executable (esbuild `define` of OVERLAY_LB_BUILD); a build in dist/ reads the
 * version from package.json and reports its commit as unknown (it is not a release).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

declare const OVERLAY_LB_BUILD: { readonly version: string; readonly commit: string } | undefined;

export interface BuildInfo {
  readonly version: string;
  readonly commit: string;
  /** `process.version` of the runtime, e.g. v24.22.3. */
  readonly runtime: string;
}

/** The build's version, commit and runtime (see the module comment). */
export function buildInfo(): BuildInfo {
  if (typeof OVERLAY_LB_BUILD !== 'undefined') return { ...OVERLAY_LB_BUILD, runtime: process.version };
  let version = 'unknown';
  try {
    const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../../../package.json', import.meta.url)), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') version = pkg.version;
  } catch {
    // A build moved away from its package.json: the version stays unknown.
  }
  return { version, commit: 'unknown (a development build, not a package)', runtime: process.version };
}

/** The `--version` line: `overlay-lb 0.1.0 (commit 85ee327…, Node.js v24.22.3)`. */
export function versionLine(info: BuildInfo = buildInfo()): string {
  return `overlay-lb ${info.version} (commit ${info.commit}, Node.js ${info.runtime})`;
}
