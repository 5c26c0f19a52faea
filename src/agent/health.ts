import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { writeFileAtomic } from '../util/fs-atomic.js';
import type { Clock } from '../util/clock.js';
import { systemClock } from '../util/clock.js';
import type { Logger } from '../util/log.js';

/** A probe without a full answer within this long fails. */
const PROBE_TIMEOUT_MS = 500;

/**
 * Four probes a second by default. HAProxy's exit is an event ({@link HealthMonitor.markDown}), so the
 * probe only finds a HAProxy that is alive and fails its monitor (a default backend with no server
 * up, which HAProxy's own checks take seconds to find) or hangs (the 500 ms timeout): 250 ms with
 * fall 2 adds at most 0.3 s to either, and each probe wakes the idle agent twice (about 0.05% of a
 * core per probe a second here: docs/BENCHMARKS.md, "Leaner: no fetch, no ICU collation, no
 * import(), the probe every 250 ms").
 */
const PROBE_INTERVAL_MS = 250;

export interface HealthMonitorOptions {
  /** HAProxy's health URI (monitor-uri on localhost): fails while a default backend has no server up. */
  readonly url: string;
  /** keepalived's track file: "0" healthy, "1" FAULT (weight 0). */
  readonly trackFile: string;
  /** @default 250 ({@link PROBE_INTERVAL_MS}) */
  readonly intervalMs?: number;
  /** Consecutive failures before FAULT. @default 2 */
  readonly fall?: number;
  /** Consecutive successes before healthy again. @default 2 */
  readonly rise?: number;
  readonly log: Logger;
  readonly clock?: Clock;
  /** Called on every change, for /status and metrics. */
  readonly onChange?: (healthy: boolean, reason: string) => void;
}

/**
 * Keeps keepalived's track file in step with HAProxy's health, event-driven for keepalived
 * (track_file is watched with inotify; a vrrp_script would run at most once a second). The file is
 * written only on a change, atomically; `markDown` (HAProxy's process exited) acts at once.
 *
 * The probe is an HTTP/1.1 GET over one kept-alive connection ({@link KeepAliveProbe}), which
 * follows HAProxy's reloads to the new worker. Not `fetch` nor `node:http` on a new connection
 * per probe: at 10 probes a second their per-request cost was the largest part of an idle
 * agent's CPU (docs/BENCHMARKS.md, "Agent footprint").
 */
export class HealthMonitor {
  readonly #o: HealthMonitorOptions;
  readonly #clock: Clock;
  #healthy: boolean | null = null;
  #ok = 0;
  #bad = 0;
  readonly #probe: KeepAliveProbe;

  constructor(options: HealthMonitorOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#probe = new KeepAliveProbe(options.url);
  }

  get healthy(): boolean {
    return this.#healthy === true;
  }

  /** HAProxy is known to be down (its process exited): FAULT now, without waiting for checks. */
  async markDown(reason: string, signal: AbortSignal): Promise<void> {
    this.#ok = 0;
    this.#bad = this.#o.fall ?? 2;
    await this.#set(false, reason, signal);
  }

  async run(signal: AbortSignal): Promise<void> {
    const interval = this.#o.intervalMs ?? PROBE_INTERVAL_MS;
    try {
      await this.#loop(interval, signal);
    } finally {
      this.#probe.close();
    }
  }

  async #loop(interval: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const result = await this.#check(signal);
      if (signal.aborted) break;
      if (result.ok) {
        this.#ok++;
        this.#bad = 0;
        if (this.#healthy !== true && (this.#ok >= (this.#o.rise ?? 2) || this.#healthy === null)) await this.#set(true, 'haproxy health URI answers 200', signal);
      } else {
        this.#bad++;
        this.#ok = 0;
        if (this.#healthy !== false && this.#bad >= (this.#o.fall ?? 2)) await this.#set(false, result.reason, signal);
      }
      await this.#clock.sleep(interval, signal).catch(() => undefined);
    }
  }

  async #check(signal: AbortSignal): Promise<{ ok: true } | { ok: false; reason: string }> {
    try {
      const status = await this.#probe.get(PROBE_TIMEOUT_MS, signal);
      return status === 200 ? { ok: true } : { ok: false, reason: `haproxy health URI answers ${status} (a default backend has no server up)` };
    } catch (err) {
      return { ok: false, reason: `haproxy health URI unreachable: ${(err as Error).message}` };
    }
  }

  async #set(healthy: boolean, reason: string, signal: AbortSignal): Promise<void> {
    if (this.#healthy === healthy) return;
    this.#healthy = healthy;
    await writeFileAtomic(this.#o.trackFile, healthy ? '0\n' : '1\n', { signal });
    this.#o.log.info({ event: 'health', healthy, reason }, healthy ? 'node healthy: keepalived may elect it' : 'node unhealthy: keepalived goes FAULT');
    this.#o.onChange?.(healthy, reason);
  }
}

/** An answer head larger than this is not HAProxy's monitor-uri answer: the probe fails. */
const MAX_ANSWER_BYTES = 16 * 1024;

/**
 * HTTP/1.1 GETs of one URL over one kept-alive TCP connection, one at a time; resolves to the
 * status code once the whole answer is read. A new connection is made when there is none (the
 * first probe, or after HAProxy, an error or a timeout closed it), so a probe after a reload
 * reaches the new worker: at a soft stop HAProxy closes the old worker's idle keep-alive
 * connections at once (its default without `idle-close-on-response`), and a request that still
 * reaches a stopping worker is answered with the connection closed after it; at most that one
 * answer comes from the old worker.
 *
 * Why not a new connection per probe (`node:http`, as before): at ten probes a second the
 * connection setup (socket, connect, epoll registration, close on both sides) and node:http's
 * per-request objects were the idle agent's largest CPU cost; here a probe is one write and
 * one read on an open socket, with a request buffer made once.
 */
export class KeepAliveProbe {
  readonly #host: string;
  readonly #port: number;
  readonly #request: Buffer;
  #socket: Socket | null = null;
  #answer = '';
  #waiting: ((status: number | null, err?: Error) => void) | null = null;

  constructor(url: string) {
    const u = new URL(url);
    if (u.protocol !== 'http:') throw new Error(`health URL ${url}: only http:// is probed`);
    this.#host = u.hostname.replace(/^\[|\]$/g, '');
    this.#port = Number(u.port === '' ? 80 : u.port);
    this.#request = Buffer.from(`GET ${u.pathname}${u.search} HTTP/1.1\r\nhost: ${u.host}\r\nuser-agent: overlay-lb-agent\r\n\r\n`, 'latin1');
  }

  /** One probe: the answer's status code; rejects on no complete answer within `timeoutMs`. */
  get(timeoutMs: number, signal: AbortSignal): Promise<number> {
    return new Promise((resolve, reject) => {
      if (signal.aborted) {
        reject(new Error('aborted'));
        return;
      }
      const onAbort = (): void => finish(null, new Error('aborted'));
      const timer = setTimeout(() => finish(null, new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const finish = (status: number | null, err?: Error): void => {
        if (this.#waiting !== finish) return;
        this.#waiting = null;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#answer = '';
        // A connection whose answer did not end cleanly carries no later answer we could trust.
        if (status === null) this.close();
        if (status === null) reject(err ?? new Error('connection closed before the answer ended'));
        else resolve(status);
      };
      this.#waiting = finish;
      signal.addEventListener('abort', onAbort, { once: true });
      this.#connection().write(this.#request);
    });
  }

  /** Closes the connection (the next probe opens a new one). */
  close(): void {
    this.#socket?.destroy();
    this.#socket = null;
  }

  #connection(): Socket {
    if (this.#socket !== null) return this.#socket;
    const socket = connect({ host: this.#host, port: this.#port, noDelay: true });
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => this.#onData(socket, chunk));
    socket.on('error', (err) => this.#ended(socket, err));
    socket.on('close', () => this.#ended(socket));
    this.#socket = socket;
    return socket;
  }

  #ended(socket: Socket, err?: Error): void {
    if (this.#socket !== socket) return;
    this.#socket = null;
    socket.destroy();
    this.#waiting?.(null, err);
  }

  #onData(socket: Socket, chunk: string): void {
    if (this.#socket !== socket) return;
    if (this.#waiting === null) {
      // Nothing asked: not an answer to anything of ours.
      this.close();
      return;
    }
    this.#answer += chunk;
    const parsed = parseAnswer(this.#answer);
    if (parsed === 'incomplete') {
      if (this.#answer.length > MAX_ANSWER_BYTES) this.#waiting(null, new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
      return;
    }
    if (parsed === 'invalid') {
      this.#waiting(null, new Error('not an HTTP/1.x answer'));
      return;
    }
    const waiting = this.#waiting;
    if (!parsed.keepAlive) {
      this.#socket = null;
      socket.destroy();
    }
    waiting(parsed.status);
  }
}

/**
 * One HTTP/1.x answer in `text` (latin1): its status once complete (by content-length, or a
 * chunked body's last chunk), and whether the connection may carry the next request. An answer
 * with neither length nor chunking ends with its connection (never complete here: the close
 * fails it, as a cut answer would).
 */
export function parseAnswer(text: string): 'incomplete' | 'invalid' | { readonly status: number; readonly keepAlive: boolean } {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return text.length >= 5 && !text.startsWith('HTTP/') ? 'invalid' : 'incomplete';
  const head = text.slice(0, headEnd).toLowerCase();
  const m = /^http\/1\.([01]) (\d{3})[ \r\n]/.exec(head + '\n');
  if (m === null) return 'invalid';
  const status = Number(m[2]);
  const connection = /\r\nconnection:[ \t]*([^\r]*)/.exec(head)?.[1] ?? '';
  const keepAlive = m[1] === '1' ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
  const body = text.slice(headEnd + 4);
  if (status === 204 || status === 304 || (status >= 100 && status < 200)) return { status, keepAlive };
  const length = /\r\ncontent-length:[ \t]*(\d+)/.exec(head);
  if (length !== null) return body.length >= Number(length[1]) ? { status, keepAlive } : 'incomplete';
  if (/\r\ntransfer-encoding:[^\r]*\bchunked\b/.test(head)) return /(^|\r\n)0\r\n(?:[^\r]+\r\n)*\r\n$/.test(body) ? { status, keepAlive } : 'incomplete';
  return 'incomplete';
}
