/**
 * `file` source: a JSON or YAML list of `{address, port, weight?, name?}`.
 *
 * The *directory* is watched, not the file: editors and `writeFileAtomic` replace the file by a
 * rename, which ends a watch on the old inode. A periodic stat (inode, size, mtime) backs the
 * watch up, because fs.watch can miss events (network file systems, overlay mounts).
 */
import { watch } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Clock } from '../util/clock.js';
import { type BackoffOptions, createSourceRunner, unavailable, commonRunnerOptions } from './source-runner.js';
import type { DiscoverySourceRunner, Logger } from './types.js';

export interface FileSourceOptions {
  readonly name: string;
  /** The list file. `.json` is parsed as JSON, anything else as YAML. */
  readonly path: string;
  /** Stat fallback interval. @default 2000 */
  readonly pollMs?: number;
  /** Wait after a watch event before reading, so a non-atomic writer can finish. @default 50 */
  readonly settleMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly backoff?: BackoffOptions;
  readonly maxEntries?: number;
}

/** Creates a `file` source. */
export function createFileSource(options: FileSourceOptions): DiscoverySourceRunner {
  const pollMs = options.pollMs ?? 2000;
  const settleMs = options.settleMs ?? 50;
  const source = { name: options.name, type: 'file' };
  const isJson = extname(options.path).toLowerCase() === '.json';
  return createSourceRunner({
    ...source,
    ...commonRunnerOptions(options),
    session: async (ctx) => {
      const local = new AbortController();
      const signal = AbortSignal.any([ctx.signal, local.signal]);
      let dirty = true;
      let watchError: unknown;
      let wake: () => void = () => undefined;
      const base = basename(options.path);
      let watcher: ReturnType<typeof watch>;
      try {
        watcher = watch(dirname(options.path), { signal, persistent: false }, (_event, filename) => {
          if (filename === null || filename === base) {
            dirty = true;
            wake();
          }
        });
      } catch (err) {
        // A missing directory: fs.watch throws at once (a missing file alone is caught by stat below).
        local.abort();
        throw unavailable(source, `cannot watch ${dirname(options.path)} for ${options.path} (create the directory and the file, or fix the path)`, err);
      }
      watcher.on('error', (err) => {
        watchError = err;
        wake();
      });
      try {
        let lastSeen: string | undefined;
        for (;;) {
          let fingerprint: string;
          try {
            const st = await stat(options.path);
            fingerprint = `${st.ino}:${st.size}:${st.mtimeMs}`;
          } catch (err) {
            throw unavailable(source, `cannot stat ${options.path} (create the file or fix the path)`, err);
          }
          if (dirty || fingerprint !== lastSeen) {
            dirty = false;
            lastSeen = fingerprint;
            let text: string;
            try {
              text = await readFile(options.path, { encoding: 'utf8', signal });
            } catch (err) {
              throw unavailable(source, `cannot read ${options.path}`, err);
            }
            let raw: unknown;
            let parsed = true;
            try {
              raw = isJson ? JSON.parse(text) : parseYaml(text);
            } catch (err) {
              parsed = false;
              ctx.invalid(`${options.path} is not valid ${isJson ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0] ?? ''}`);
            }
            if (parsed) ctx.emit(raw);
          } else {
            ctx.alive();
          }
          // Sleep until the poll interval passes or the watcher fires, whichever is first.
          const waitCtl = new AbortController();
          const woken = new Promise<void>((resolve) => {
            wake = () => {
              waitCtl.abort();
              resolve();
            };
          });
          // An event that arrived while reading set `dirty` already: do not wait for the next one.
          if (!dirty) await Promise.race([ctx.clock.sleep(pollMs, AbortSignal.any([signal, waitCtl.signal])).catch(() => undefined), woken]);
          wake = () => undefined;
          waitCtl.abort();
          signal.throwIfAborted();
          if (watchError !== undefined) throw unavailable(source, `watching ${dirname(options.path)} failed`, watchError);
          if (dirty) await ctx.clock.sleep(settleMs, signal);
        }
      } finally {
        local.abort();
        watcher.close();
      }
    },
  });
}
