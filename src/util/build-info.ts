import { readFileSync } from 'node:fs';

/** What this build of overlay-lb is, for `overlay_lb_build_info` (and `--version`). */
export interface BuildInfo {
  readonly version: string;
  /** The git commit it was built from, or `unknown` (a build from a checkout). */
  readonly commit: string;
  /** The Node.js runtime running it (`process.version`). */
  readonly runtime: string;
}

/**
 * Set by the package build (esbuild `define`: `__OLB_BUILD__` = `{"version":..,"commit":..}`), so the
 * single executable knows its version and commit without files beside it. Undeclared in a plain
 * `tsc` build: then the version comes from package.json and the commit is `unknown`.
 */
declare const __OLB_BUILD__: { readonly version: string; readonly commit: string } | undefined;

/** This build's version, commit and runtime. Reads package.json at most once per call; cheap. */
export function buildInfo(): BuildInfo {
  const defined = typeof __OLB_BUILD__ === 'undefined' ? undefined : __OLB_BUILD__;
  if (defined !== undefined) return { version: defined.version, commit: defined.commit, runtime: process.version };
  return { version: packageVersion(), commit: 'unknown', runtime: process.version };
}

function packageVersion(): string {
  try {
    // dist/src/util/build-info.js -> the package root.
    const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}
