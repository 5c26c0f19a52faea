/**
 * Paths a person gives overlay-lb (a spec file, an output or run directory): checked up front and
 * reported as one-line user errors that name the option, the value and the fix.
 *
 * Why not `mkdir(dir, { recursive: true })` and `readFile(path)`: Node 20's recursive mkdir never
 * returns for a path under /proc (mkdir(2) answers ENOENT, the parent exists, libuv tries again,
 * forever, in a thread-pool thread that no signal interrupts), and readFile blocks on a FIFO and
 * reads /dev/zero until memory runs out. Everything here works one syscall at a time, opens
 * without blocking and reads at most a bounded number of bytes.
 */
import { close, constants, fstat, open, read } from 'node:fs';
import type { Stats } from 'node:fs';
import { lstat, mkdir, stat } from 'node:fs/promises';
import { Socket } from 'node:net';
import { dirname, resolve } from 'node:path';
import { promisify } from 'node:util';
import { UserError } from '../util/errors.js';

const openFd = promisify(open);
const fstatFd = promisify(fstat);
const closeFd = promisify(close);
const readFd = (fd: number, buf: Buffer, offset: number, length: number, position: number | null): Promise<number> =>
  new Promise((res, rej) => read(fd, buf, offset, length, position, (err, n) => (err ? rej(err) : res(n))));

/** The largest input file overlay-lb reads (a spec): far above any real spec, far below memory. */
export const MAX_INPUT_BYTES = 16 * 1024 * 1024;

/** What a failed system call on a user-given path means, in words. */
export function describeErrno(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT': return 'no such file or directory';
    case 'ENOTDIR': return 'a part of the path is a file, not a directory';
    case 'EISDIR': return 'it is a directory';
    case 'EACCES': case 'EPERM': return 'permission denied';
    case 'EROFS': return 'read-only file system';
    case 'ENOSPC': return 'no space left on the device';
    case 'ENAMETOOLONG': return 'the path is too long';
    case 'ELOOP': return 'too many symbolic links';
    case 'EEXIST': return 'it already exists';
    case 'ENXIO': return 'no such device';
    default: return (err as Error | undefined)?.message ?? String(err);
  }
}

/** /proc, /sys and /dev hold kernel objects, never overlay-lb's files (but /dev/shm and /dev/fd do). */
function isVirtualPath(path: string): boolean {
  return /^\/(proc|sys)(\/|$)/.test(path) || (/^\/dev(\/|$)/.test(path) && !/^\/dev\/(shm|fd)(\/|$)/.test(path));
}

/**
 * Makes sure `dir` is a directory overlay-lb can use: not on /proc, /sys or /dev, and, when it
 * exists, a directory. A missing one is created with its missing parents (`missing: 'create'`),
 * is an error (`'error'`) or is left to the caller (`'allow'`). `what` names the option in
 * messages, for example `render: --out`.
 *
 * @throws UserError PATH_INVALID naming the value, what is wrong and the fix.
 */
export async function ensureWritableDirectory(dir: string, options: { what: string; missing: 'create' | 'error' | 'allow'; signal?: AbortSignal }): Promise<string> {
  const abs = resolve(dir);
  const fail = (why: string, cause?: unknown): never => {
    throw new UserError('PATH_INVALID', `${options.what} ${JSON.stringify(dir)}: ${why}; give a directory on a normal file system that you can write to, for example /tmp/olb`, { ...(cause === undefined ? {} : { cause }), details: { path: abs } });
  };
  if (isVirtualPath(abs)) fail(`${abs.split('/').slice(0, 2).join('/')} is a kernel file system, not a place for files`);
  // The missing components, from the deepest existing ancestor down.
  const missing: string[] = [];
  let cur = abs;
  for (;;) {
    options.signal?.throwIfAborted();
    try {
      const st = await stat(cur);
      if (!st.isDirectory()) fail(cur === abs ? 'it is a file, not a directory' : `${cur} is a file, not a directory`);
      break;
    } catch (err) {
      if (err instanceof UserError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      // ENOTDIR: an ancestor is a file; walking up finds and names it.
      if (code !== 'ENOENT' && code !== 'ENOTDIR') fail(`cannot use ${cur}: ${describeErrno(err)}`, err);
      if (options.missing === 'error' && cur === abs && code === 'ENOENT') fail('no such directory');
      missing.unshift(cur);
      const parent = dirname(cur);
      if (parent === cur) fail('no such directory');
      cur = parent;
    }
  }
  if (options.missing !== 'create') return abs;
  for (const d of missing) {
    options.signal?.throwIfAborted();
    try {
      await mkdir(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await lstat(d).catch(() => null))?.isDirectory() === true) continue;
      fail(`cannot create ${d}: ${describeErrno(err)}`, err);
    }
  }
  return abs;
}

/**
 * Checks that `path` names an existing regular file (for options whose file another part opens).
 * @throws UserError PATH_INVALID naming the option, the value and `fix`.
 */
export async function requireRegularFile(path: string, options: { what: string; fix: string }): Promise<void> {
  let why: string | null = null;
  let cause: unknown;
  try {
    const st = await stat(path);
    if (st.isDirectory()) why = 'it is a directory';
    else if (!st.isFile()) why = 'it is a device or a pipe, not a file';
  } catch (err) {
    why = describeErrno(err);
    cause = err;
  }
  if (why !== null) throw new UserError('PATH_INVALID', `${options.what} ${JSON.stringify(path)}: ${why}; ${options.fix}`, { ...(cause === undefined ? {} : { cause }), details: { path } });
}

/**
 * Reads a text file a person named (a spec): a regular file, or a pipe such as `/dev/stdin` or
 * `<(command)`, at most `MAX_INPUT_BYTES`. Never blocks on a FIFO without a writer, never reads a
 * device, and stops when `signal` aborts.
 *
 * @throws UserError FILE_READ naming the path, what is wrong and `fix`.
 */
export async function readInputFile(path: string, options: { what: string; fix: string; signal?: AbortSignal }): Promise<string> {
  const fail = (why: string, cause?: unknown): never => {
    throw new UserError('FILE_READ', `cannot read ${options.what} ${path}: ${why}; ${options.fix}`, { ...(cause === undefined ? {} : { cause }), details: { path } });
  };
  options.signal?.throwIfAborted();
  let fd: number;
  try {
    // O_NONBLOCK: opening a FIFO without a writer returns at once instead of parking a thread.
    fd = await openFd(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (err) {
    return fail(describeErrno(err), err);
  }
  let st: Stats;
  try {
    st = await fstatFd(fd);
  } catch (err) {
    await closeFd(fd);
    return fail(describeErrno(err), err);
  }
  if (st.isFIFO() || st.isSocket()) return readPipe(fd, fail, options.signal);
  try {
    if (st.isDirectory()) fail('it is a directory');
    if (!st.isFile()) fail('it is a device, not a file');
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      options.signal?.throwIfAborted();
      const buf = Buffer.alloc(64 * 1024);
      const bytesRead = await readFd(fd, buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > MAX_INPUT_BYTES) fail(`it is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MiB`);
      chunks.push(buf.subarray(0, bytesRead));
    }
    return Buffer.concat(chunks).toString('utf8');
  } catch (err) {
    if (err instanceof UserError || options.signal?.aborted === true) throw err;
    return fail(describeErrno(err), err);
  } finally {
    await closeFd(fd);
  }
}

/**
 * A pipe read through the event loop (a thread-pool read could not be interrupted). The socket
 * owns the descriptor and closes it once.
 */
async function readPipe(fd: number, fail: (why: string, cause?: unknown) => never, signal?: AbortSignal): Promise<string> {
  const socket = new Socket({ fd, readable: true, writable: false });
  const chunks: Buffer[] = [];
  let total = 0;
  try {
    return await new Promise<string>((resolvePromise, reject) => {
      const settle = (fn: () => void): void => {
        signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const failWith = (why: string, cause?: unknown): void => {
        try {
          fail(why, cause);
        } catch (err) {
          settle(() => reject(err instanceof Error ? err : new Error(String(err))));
        }
      };
      const onAbort = (): void => settle(() => reject(signal?.reason as Error));
      signal?.addEventListener('abort', onAbort, { once: true });
      socket.on('data', (chunk: Buffer) => {
        total += chunk.length;
        if (total > MAX_INPUT_BYTES) failWith(`it is larger than ${MAX_INPUT_BYTES / 1024 / 1024} MiB`);
        else chunks.push(chunk);
      });
      socket.once('end', () => settle(() => resolvePromise(Buffer.concat(chunks).toString('utf8'))));
      socket.once('error', (err) => failWith(describeErrno(err), err));
      if (signal?.aborted === true) onAbort();
    });
  } finally {
    socket.destroy();
  }
}
