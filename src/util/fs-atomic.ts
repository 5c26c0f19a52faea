import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SystemError } from './errors.js';

/**
 * Writes a file atomically: a temporary file in the same directory, fsync, then rename over the
 * target, so a reader (haproxy, keepalived, a person) sees the old or the new content, never half.
 *
 * @throws SystemError FILE_WRITE
 */
export async function writeFileAtomic(path: string, content: string, options: { mode?: number; signal?: AbortSignal } = {}): Promise<void> {
  options.signal?.throwIfAborted();
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await fh.writeFile(content, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    options.signal?.throwIfAborted();
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof Error && err.name === 'AbortError') throw err;
    throw new SystemError('FILE_WRITE', `could not write ${path}: ${(err as Error).message}`, { cause: err });
  }
}
