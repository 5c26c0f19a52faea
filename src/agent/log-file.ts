import { constants, open } from 'node:fs';
import { mkdir, open as openFile, rename, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Socket } from 'node:net';
import { promisify } from 'node:util';
import { SystemError } from '../util/errors.js';
import { runCommand } from '../util/exec.js';
import type { Logger } from '../util/log.js';

/** What the agent keeps in memory at most while the disk is slower than the pipe fills. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;
/**
 * How long the drain lets lines gather in the pipe after the first one arrives, before it reads
 * them all at once. HAProxy writes each line with its own write(2): read as they come, a busy
 * frontend (thousands of requests a second) woke the agent's event loop for every few lines and
 * cost it a quarter of a core during a failover, when the claim needs it (docs/BENCHMARKS.md,
 * "The access-log drain in batches"). 100 ms of lines fit the 1 MiB pipe up to about 10 MB/s.
 */
export const LOG_BATCH_MS = 100;
/** A "line" without a newline this long is written as it is (keepalived, HAProxy never write one). */
const MAX_LINE_BYTES = 64 * 1024;
/** The pipe size asked for: Linux's `fs.pipe-max-size` default, allowed without CAP_SYS_RESOURCE. */
export const LOG_PIPE_BYTES = 1024 * 1024;

export interface DrainLogOptions {
  /** The FIFO haproxy or keepalived writes to (their stdout). */
  readonly fifo: string;
  /** The log file; rotated files are `file.1` (newest) .. `file.<keep>`. */
  readonly file: string;
  /** Rotate before the file would grow past this size (between two lines). */
  readonly maxBytes: number;
  /** Rotated files kept. */
  readonly keep: number;
  readonly signal: AbortSignal;
  readonly log: Logger;
  /** Called once per batch read from the pipe, with its size (tests, observability). */
  readonly onBatch?: (bytes: number) => void;
}

/**
 * Drains a process's output FIFO into a log file with size-based rotation (`admin.accessLog:
 * file`): nothing is truncated; before a file would pass `maxBytes` it is renamed to `.1` (older
 * ones shift, the one beyond `keep` is replaced) and a new one started, always between two lines.
 *
 * The FIFO is opened read-write (like keepalived's notify FIFO: never blocks, never sees EOF when a
 * writer restarts) and enlarged to 1 MiB (`enlargePipe`). It is read as fast as the event loop
 * allows, without waiting for the disk (up to 8 MiB queued in memory), because HAProxy never waits:
 * a line that finds the pipe full is dropped and counted (`DroppedLogs`, exported by the agent as
 * `overlay_lb_haproxy_dropped_logs_total`). So is, whatever the drain does, a line whose thread
 * finds another of HAProxy's threads writing to the shared stdout: HAProxy 2.6's
 * `fd_write_frag_line` tries the fd's exclusivity bit 200 times and gives up (EAGAIN), which
 * happens on a busy machine when the writing thread is descheduled in the middle of its write.
 * Lines written while no agent runs wait in the pipe for the next agent. On abort, what was read is written out before this resolves; an agent killed
 * with SIGKILL loses what it had read but not yet written (the lines of one batch, at most about
 * `LOG_BATCH_MS`).
 *
 * Batches: the first line that arrives while the drain is idle stops the reading for
 * `LOG_BATCH_MS` (the lines wait in the pipe), then everything in the pipe is read in one go
 * (libuv reads until the pipe is empty, up to 2 MiB per wake-up) and written with one write. So the
 * agent wakes about 10 times a second under any load instead of once per few lines, and an idle
 * drain costs nothing (no timer while no line comes).
 */
export async function drainLogFifo(options: DrainLogOptions): Promise<void> {
  await mkdir(dirname(options.file), { recursive: true, mode: 0o750 });
  const fd = await promisify(open)(options.fifo, constants.O_RDWR | constants.O_NONBLOCK);
  const reader = new BatchedPipe(new Socket({ fd, readable: true, writable: false }), options.onBatch);
  await enlargePipe(options.fifo, LOG_PIPE_BYTES, options).catch((err: unknown) => {
    options.log.warn({ event: 'log-pipe-size', fifo: options.fifo, err }, 'could not enlarge the log pipe: it holds 64 KiB (HAProxy counts lines it could not write)');
  });
  const stop = (): void => reader.stop();
  options.signal.addEventListener('abort', stop, { once: true });
  const out = new RotatingFile(options);
  await out.open();
  let pending: Buffer = Buffer.alloc(0);
  try {
    for (;;) {
      const chunks = await reader.next();
      if (chunks === null) break;
      const data = Buffer.concat([pending, ...chunks]);
      const end = data.lastIndexOf(0x0a) + 1;
      const cut = end === 0 && data.length >= MAX_LINE_BYTES ? data.length : end;
      pending = data.subarray(cut);
      if (cut > 0) await out.write(data.subarray(0, cut));
    }
    if (reader.failure !== undefined && !options.signal.aborted) throw reader.failure;
  } finally {
    options.signal.removeEventListener('abort', stop);
    reader.stop();
    // A partial line read before a stop: its rest comes through the next agent, appended to it.
    if (pending.length > 0) await out.write(pending).catch(() => undefined);
    await out.close();
  }
}

/**
 * A pipe read in batches (see `drainLogFifo`). Reading is paused for two reasons: while a batch
 * gathers in the pipe (`#timer` set), and while MAX_QUEUED_BYTES wait for the writer (`#full`). It
 * resumes when neither holds.
 */
class BatchedPipe {
  readonly #socket: Socket;
  readonly #onBatch: ((bytes: number) => void) | undefined;
  #queue: Buffer[] = [];
  #queued = 0;
  #closed = false;
  #full = false;
  #burst = false;
  #timer: NodeJS.Timeout | undefined;
  #wake: (() => void) | undefined;
  failure: Error | undefined;

  constructor(socket: Socket, onBatch: ((bytes: number) => void) | undefined) {
    this.#socket = socket;
    this.#onBatch = onBatch;
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('error', (err) => {
      this.failure = err;
      this.#close();
    });
    socket.on('close', () => this.#close());
  }

  /** The chunks read since the last call, once a batch is complete; null once the pipe is closed and everything was taken. */
  async next(): Promise<Buffer[] | null> {
    for (;;) {
      const gathering = (this.#timer !== undefined || this.#burst) && !this.#full && !this.#closed;
      if (this.#queue.length > 0 && !gathering) break;
      if (this.#queue.length === 0 && this.#closed) return null;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    const chunks = this.#queue;
    this.#queue = [];
    this.#queued = 0;
    if (this.#full) {
      this.#full = false;
      this.#flowIfFree();
    }
    return chunks;
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#socket.destroy();
  }

  #data(chunk: Buffer): void {
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (this.#queued >= MAX_QUEUED_BYTES) {
      this.#full = true;
      this.#socket.pause();
      this.#notify();
    }
    if (this.#burst || this.#timer !== undefined) return;
    this.#socket.pause();
    this.#timer = setTimeout(() => this.#readBatch(), LOG_BATCH_MS);
  }

  #readBatch(): void {
    this.#timer = undefined;
    this.#burst = true;
    this.#flowIfFree();
    // The poll phase between now and the check phase reads what the pipe holds; then the writer.
    setImmediate(() => {
      this.#burst = false;
      this.#onBatch?.(this.#queued);
      this.#notify();
    });
  }

  #flowIfFree(): void {
    if (this.#timer === undefined && !this.#full && !this.#closed) this.#socket.resume();
  }

  #close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#notify();
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }
}

/** An append-only file that is rotated between lines before it would pass `maxBytes`. */
class RotatingFile {
  #handle: FileHandle | undefined;
  #size = 0;
  constructor(private readonly options: DrainLogOptions) {}

  async open(): Promise<void> {
    this.#handle = await openFile(this.options.file, 'a', 0o640);
    this.#size = (await this.#handle.stat()).size;
  }

  /** Writes whole lines (`data` ends with a newline unless it is one over-long line). */
  async write(data: Buffer): Promise<void> {
    let rest = data;
    while (rest.length > 0) {
      const room = this.options.maxBytes - this.#size;
      if (rest.length <= room) {
        await this.#append(rest);
        return;
      }
      // The lines that fit; none fit: rotate first (a file never starts with a rotation), and a
      // single line longer than maxBytes gets a file of its own.
      const fit = room > 0 ? rest.subarray(0, room).lastIndexOf(0x0a) + 1 : 0;
      if (fit > 0) await this.#append(rest.subarray(0, fit));
      if (this.#size > 0) await this.#rotate();
      rest = rest.subarray(fit);
      if (fit === 0 && this.#size === 0 && rest.length > this.options.maxBytes) {
        const line = rest.indexOf(0x0a) + 1 || rest.length;
        await this.#append(rest.subarray(0, line));
        rest = rest.subarray(line);
      }
    }
  }

  async close(): Promise<void> {
    await this.#handle?.close().catch(() => undefined);
    this.#handle = undefined;
  }

  async #append(data: Buffer): Promise<void> {
    if (this.#handle === undefined) await this.open();
    await this.#handle?.write(data);
    this.#size += data.length;
  }

  /** `file.<keep-1>` -> `file.<keep>`, ..., `file` -> `file.1` (a missing one is skipped). */
  async #rotate(): Promise<void> {
    await this.close();
    const { file, keep } = this.options;
    for (let i = keep - 1; i >= 1; i--) {
      const from = `${file}.${i}`;
      if (await stat(from).then(() => true, () => false)) await rename(from, `${file}.${i + 1}`);
    }
    await rename(file, `${file}.1`);
    await this.open();
    this.options.log.info({ event: 'log-rotated', file, keep }, 'log file rotated');
  }
}

/**
 * Asks the kernel for a `bytes` pipe buffer on `fifo` (F_SETPIPE_SZ), so a burst of HAProxy's log
 * lines or an agent restart finds room (64 KiB by default: about 60 lines of 1 kB). Node.js has no
 * fcntl: Debian's perl-base (Essential, on every Debian system) does it, with the path and size as
 * arguments (no shell). The size belongs to the pipe, which lives while anyone holds the FIFO
 * open (HAProxy does, for as long as it runs): the caller holds it open.
 */
export async function enlargePipe(fifo: string, bytes: number, options: { signal: AbortSignal }): Promise<number> {
  const script = 'open(my $f, "+<", $ARGV[0]) or die "open: $!\\n"; fcntl($f, 1031, int($ARGV[1])) or die "F_SETPIPE_SZ: $!\\n"; print fcntl($f, 1032, 0);';
  const r = await runCommand(['perl', '-e', script, fifo, String(bytes)], { signal: options.signal, timeoutMs: 10_000 });
  const size = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(size)) throw new SystemError('INTERNAL', `could not set the pipe size of ${fifo} (perl, F_SETPIPE_SZ): ${r.stderr.trim() || `exit ${String(r.code)}`}`);
  return size;
}
