/**
 * Validated, atomic installation of haproxy.cfg and its map files, with a last-known-good copy
 * and a verified seamless reload.
 *
 * Layout under `dir` (see `haproxyPaths`):
 * ```
 * haproxy.cfg        what haproxy loads: always a config that passed `haproxy -c`
 * maps/<name>        map files the config refers to as <dir>/maps/<name>
 * haproxy.cfg.lkg    the config that was running before the last change
 * maps.lkg/<name>    its maps
 * .staging-<id>/     scratch space of one apply (removed after)
 * ```
 * Callers serialise `applyConfig` per directory (the agent's keyed queue): two concurrent applies
 * would race on the last-known-good copy and on the reload verification.
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { checkHaproxyConfig } from './check.js';
import type { Reloader, ReloadResult } from './master-cli.js';
import { writeFileAtomic } from '../util/fs-atomic.js';
import { SystemError, UserError } from '../util/errors.js';
import { systemClock } from '../util/clock.js';

/** The files of one desired configuration. */
export interface HaproxyFiles {
  readonly dir: string;
  readonly config: string;
  /** Map files, written to `<dir>/maps/<name>`; the config must refer to them by that path. */
  readonly maps: readonly { readonly name: string; readonly content: string }[];
}

export interface ApplyConfigOptions {
  readonly signal: AbortSignal;
  /** How to reload (a `MasterCli` or `HaproxyProcess`); `null` installs only (before first start). */
  readonly reload: Reloader | null;
  /** Why this change needs a reload; returned with the id, for logs and metrics. */
  readonly reason: string;
  /** Reload even when the files on disk already match. @default false */
  readonly force?: boolean;
  /** @default "haproxy" */
  readonly haproxy?: string;
  /** @default 30000 */
  readonly reloadTimeoutMs?: number;
}

export type ApplyConfigResult =
  | { readonly changed: false; readonly reloadId: string; readonly reason: string }
  | { readonly changed: true; readonly reloadId: string; readonly reason: string; readonly reload: (ReloadResult & { readonly ok: true }) | null };

export interface HaproxyPaths {
  readonly config: string;
  readonly mapDir: string;
  readonly lkgConfig: string;
  readonly lkgMapDir: string;
}

/** Where applyConfig puts each file under `dir`. Pass `mapDir` to the renderer. */
export function haproxyPaths(dir: string): HaproxyPaths {
  return { config: join(dir, 'haproxy.cfg'), mapDir: join(dir, 'maps'), lkgConfig: join(dir, 'haproxy.cfg.lkg'), lkgMapDir: join(dir, 'maps.lkg') };
}

const MAP_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/u;

/**
 * Makes `files` the running configuration:
 * 1. nothing to do when the files on disk already match (unless `force`);
 * 2. stage config and maps in `<dir>/.staging-<id>/` and run `haproxy -c` on them (the config copy
 *    that is checked has `<dir>/maps/` rewritten to the staged maps, nothing else differs);
 * 3. copy the current files to the last-known-good names;
 * 4. rename the maps, then write the config, into place (each file atomically);
 * 5. reload and verify a new worker answers;
 * 6. on a failed reload, put the last-known-good files back (the old workers never stopped
 *    serving: HAProxy 2.6 keeps them when the new config does not load) and throw.
 *
 * @throws UserError HAPROXY_RUNTIME_ARGUMENT for a map name that is not a plain file name.
 * @throws SystemError HAPROXY_CONFIG_INVALID with haproxy's output when the check fails; nothing
 *   on disk changed.
 * @throws SystemError HAPROXY_RELOAD_FAILED when haproxy did not load it; the previous files are
 *   back in place.
 * @throws SystemError FILE_WRITE when a file cannot be written.
 */
export async function applyConfig(files: HaproxyFiles, options: ApplyConfigOptions): Promise<ApplyConfigResult> {
  const { signal, reason } = options;
  signal.throwIfAborted();
  const reloadId = `${systemClock.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const paths = haproxyPaths(files.dir);
  const names = assertMapNames(files.maps);
  await mkdir(paths.mapDir, { recursive: true });

  const current = await readTree(paths.config, paths.mapDir, signal);
  if (!options.force && current.config === files.config && sameMaps(current.maps, files.maps)) {
    return { changed: false, reloadId, reason };
  }

  await stageCheckInstall(files, {
    signal,
    id: reloadId,
    // Maps the new config no longer refers to go once it is loaded (a failed reload restores them).
    removeStaleMaps: false,
    check: async (staged) => {
      const check = await checkHaproxyConfig(staged.config, { signal, ...(options.haproxy === undefined ? {} : { haproxy: options.haproxy }) });
      if (!check.ok) {
        const output = check.output;
        throw new SystemError('HAPROXY_CONFIG_INVALID', `haproxy -c rejected the new configuration (reload ${reloadId}, ${reason}); nothing was changed. haproxy said:\n${output}`, {
          details: { reloadId, reason, output },
        });
      }
    },
    // Keep what runs now as last known good, before anything live changes.
    beforeInstall: async () => {
      if (current.config === undefined) return;
      await writeFileAtomic(paths.lkgConfig, current.config, { signal });
      await replaceDir(paths.lkgMapDir, current.maps, signal);
    },
  });

  if (options.reload === null) {
    await removeExtraMaps(paths.mapDir, names);
    return { changed: true, reloadId, reason, reload: null };
  }
  let result: ReloadResult;
  try {
    result = await options.reload.reload({ signal, timeoutMs: options.reloadTimeoutMs ?? 30_000 });
  } catch (err) {
    await restore(paths, current);
    throw err;
  }
  if (!result.ok) {
    await restore(paths, current);
    throw new SystemError('HAPROXY_RELOAD_FAILED', `haproxy did not load the new configuration (reload ${reloadId}, ${reason}): ${result.reason}: ${result.detail}. The last known good files were restored; the running workers were not touched.`, {
      details: { reloadId, reason, result },
    });
  }
  await removeExtraMaps(paths.mapDir, names);
  return { changed: true, reloadId, reason, reload: result };
}

/** The staged copy of one configuration: paths inside the staging directory. */
export interface StagedFiles {
  /** The staging directory (`<dir>/.staging-<id>-*`); `extra` files are here under their names. */
  readonly dir: string;
  /** The staged haproxy.cfg: the config with `<dir>/maps/` pointed at `mapDir`, nothing else changed. */
  readonly config: string;
  readonly mapDir: string;
}

export interface StageCheckInstallOptions<T> {
  readonly signal: AbortSignal;
  /** Checks the staged files (`haproxy -c`, ...); throw to stop with nothing installed. */
  readonly check: (staged: StagedFiles) => Promise<T>;
  /** Other files staged beside haproxy.cfg and installed after it (`keepalived.conf` for `overlay-lb render`). */
  readonly extra?: readonly { readonly name: string; readonly content: string }[];
  /** Runs after a passed check, before anything is installed (applyConfig keeps the last known good here). */
  readonly beforeInstall?: () => Promise<void>;
  /** Remove map files of `<dir>/maps` the config does not list, once installed. @default true */
  readonly removeStaleMaps?: boolean;
  /** Names the staging directory (`.staging-<id>-`). */
  readonly id?: string;
}

/**
 * The one "stage, check, install" routine, for the agent's applies (`applyConfig`) and for
 * `overlay-lb render` (src/ops/render.ts):
 * 1. write the maps, the config and `extra` into a staging directory under `files.dir` (the
 *    config copy refers to the staged maps);
 * 2. run `check` on them: nothing under `files.dir` changed yet when it throws;
 * 3. install: the maps renamed into `<dir>/maps` first (the config never refers to a map that is
 *    not there yet), then haproxy.cfg and `extra`, each atomically;
 * 4. remove the staging directory (also on failure).
 *
 * @returns what `check` returned and the paths installed, config files last.
 * @throws UserError HAPROXY_RUNTIME_ARGUMENT for a map name that is not a plain file name;
 *   whatever `check` throws; SystemError FILE_WRITE when a file cannot be written.
 */
export async function stageCheckInstall<T>(files: HaproxyFiles, options: StageCheckInstallOptions<T>): Promise<{ readonly check: T; readonly installed: readonly string[] }> {
  const { signal } = options;
  const names = assertMapNames(files.maps);
  const paths = haproxyPaths(files.dir);
  await mkdir(paths.mapDir, { recursive: true });
  const staging = await mkdtemp(join(files.dir, `.staging-${options.id ?? randomBytes(4).toString('hex')}-`));
  try {
    const stagedMapDir = join(staging, 'maps');
    await mkdir(stagedMapDir);
    for (const m of files.maps) await writeFileAtomic(join(stagedMapDir, m.name), m.content, { signal });
    const stagedConfig = join(staging, 'haproxy.cfg');
    await writeFileAtomic(stagedConfig, files.config.split(`${paths.mapDir}/`).join(`${stagedMapDir}/`), { signal });
    for (const f of options.extra ?? []) await writeFileAtomic(join(staging, f.name), f.content, { signal });
    const check = await options.check({ dir: staging, config: stagedConfig, mapDir: stagedMapDir });
    await options.beforeInstall?.();

    const installed: string[] = [];
    for (const m of files.maps) {
      const path = join(paths.mapDir, m.name);
      await rename(join(stagedMapDir, m.name), path);
      installed.push(path);
    }
    await writeFileAtomic(paths.config, files.config);
    installed.push(paths.config);
    for (const f of options.extra ?? []) {
      const path = join(files.dir, f.name);
      await rename(join(staging, f.name), path);
      installed.push(path);
    }
    if (options.removeStaleMaps !== false) await removeExtraMaps(paths.mapDir, names);
    return { check, installed };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/** The map names of `maps`, each a unique plain file name. */
function assertMapNames(maps: HaproxyFiles['maps']): Set<string> {
  const names = new Set<string>();
  for (const m of maps) {
    if (!MAP_NAME.test(m.name) || names.has(m.name)) {
      throw new UserError('HAPROXY_RUNTIME_ARGUMENT', `map file name ${JSON.stringify(m.name)} is not allowed: use a unique plain file name (letters, digits, '.', '_', '-')`);
    }
    names.add(m.name);
  }
  return names;
}

interface Tree {
  readonly config: string | undefined;
  readonly maps: ReadonlyMap<string, string>;
}

async function readTree(configPath: string, mapDir: string, signal: AbortSignal): Promise<Tree> {
  const config = await readOptional(configPath, signal);
  const maps = new Map<string, string>();
  for (const name of await readdir(mapDir)) {
    if (name.startsWith('.')) continue;
    const content = await readOptional(join(mapDir, name), signal);
    if (content !== undefined) maps.set(name, content);
  }
  return { config, maps };
}

async function readOptional(path: string, signal: AbortSignal): Promise<string | undefined> {
  try {
    return await readFile(path, { encoding: 'utf8', signal });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SystemError('FILE_WRITE', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

function sameMaps(current: ReadonlyMap<string, string>, wanted: HaproxyFiles['maps']): boolean {
  return current.size === wanted.length && wanted.every((m) => current.get(m.name) === m.content);
}

async function replaceDir(dir: string, files: ReadonlyMap<string, string>, signal: AbortSignal): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const [name, content] of files) await writeFileAtomic(join(dir, name), content, { signal });
  await removeExtraMaps(dir, new Set(files.keys()));
}

async function removeExtraMaps(dir: string, keep: ReadonlySet<string>): Promise<void> {
  for (const name of await readdir(dir)) {
    if (!name.startsWith('.') && !keep.has(name)) await rm(join(dir, name), { force: true });
  }
}

/**
 * Puts the files that were live before this apply back. Runs even when the caller's signal was
 * aborted: leaving the new, unloaded files in place would make the next restart load them.
 */
async function restore(paths: HaproxyPaths, previous: Tree): Promise<void> {
  for (const [name, content] of previous.maps) await writeFileAtomic(join(paths.mapDir, name), content);
  if (previous.config === undefined) await rm(paths.config, { force: true });
  else await writeFileAtomic(paths.config, previous.config);
  await removeExtraMaps(paths.mapDir, new Set(previous.maps.keys()));
}
