/**
 * HTTP backends for drain and slow-start tests: each answers `GET /?id=N` with 200, its name in
 * an `x-backend` header and at the end of the body. With `hold=1` it streams a chunk every 100 ms
 * until the test calls `release()` (a long-running request that ends when the test says so, not
 * after a guessed time), then ends with its name. Keep-alive on the server side (node's
 * default), so HAProxy may reuse its connections. Each backend records every request it received
 * and counts those in flight, which tests wait on (observable state, no timing thresholds).
 */
import { once } from 'node:events';
import { createServer, request, type Agent, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface SlowBackendSet {
  portOf(name: string): number;
  /** Requests in flight on `name` now. */
  active(name: string): number;
  /** Request ids `name` received, in arrival order. */
  received(name: string): readonly string[];
  /** Ends the held requests open now whose id passes `which` (default: all of them). */
  release(which?: (id: string) => boolean): void;
  close(): Promise<void>;
}

/** Starts one backend per name on 127.0.0.1 (ephemeral ports). Close with `close()` in t.after. */
export async function startSlowBackends(options: { readonly names: readonly string[]; readonly signal: AbortSignal }): Promise<SlowBackendSet> {
  const servers = new Map<string, Server>();
  const sockets = new Set<Socket>();
  const active = new Map<string, number>();
  const received = new Map<string, string[]>();
  const timers = new Set<NodeJS.Timeout>();
  const holds = new Map<() => void, string>();
  const close = async (): Promise<void> => {
    for (const t of timers) clearInterval(t);
    for (const s of sockets) s.destroy();
    await Promise.all([...servers.values()].filter((s) => s.listening).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  };
  try {
    for (const name of options.names) {
      active.set(name, 0);
      received.set(name, []);
      const server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', 'http://x');
        received.get(name)?.push(url.searchParams.get('id') ?? '');
        res.setHeader('x-backend', name);
        res.setHeader('content-type', 'text/plain');
        req.resume();
        const id = url.searchParams.get('id') ?? '';
        if (url.searchParams.get('hold') !== '1') {
          res.end(name);
          return;
        }
        active.set(name, (active.get(name) ?? 0) + 1);
        let done = false;
        const finish = (): void => {
          if (done) return;
          done = true;
          clearInterval(timer);
          timers.delete(timer);
          holds.delete(releaseThis);
          active.set(name, (active.get(name) ?? 0) - 1);
        };
        const releaseThis = (): void => {
          res.end(name);
          finish();
        };
        res.flushHeaders();
        const timer = setInterval(() => res.write('.'.repeat(64)), 100);
        timers.add(timer);
        holds.set(releaseThis, id);
        res.once('close', finish);
      });
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.once('close', () => sockets.delete(s));
      });
      servers.set(name, server);
      server.listen({ host: '127.0.0.1', port: 0, signal: options.signal });
      await once(server, 'listening', { signal: options.signal });
    }
  } catch (err) {
    await close();
    throw err;
  }
  const of = <T>(map: Map<string, T>, name: string): T => {
    const v = map.get(name);
    if (v === undefined) throw new Error(`no slow backend named ${name}`);
    return v;
  };
  return {
    portOf: (name) => (of(servers, name).address() as AddressInfo).port,
    active: (name) => of(active, name),
    received: (name) => of(received, name),
    release: (which = () => true) => {
      for (const [r, id] of [...holds]) if (which(id)) r();
    },
    close,
  };
}

/** One request's outcome as the client saw it. */
export interface Outcome {
  readonly id: string;
  /** Client clock when the request was sent. */
  readonly sentAt: number;
  /** `x-backend` of the answer; undefined when it failed. */
  readonly backend?: string;
  /** Why it failed (an error, a status other than 200, or a body that did not end with the backend's name). */
  readonly error?: string;
}

/** Sends one GET through HAProxy and reports the outcome (never throws, except on abort). */
export async function send(options: { readonly port: number; readonly path: string; readonly id: string; readonly agent: Agent | false; readonly signal: AbortSignal }): Promise<Outcome> {
  const sentAt = Date.now();
  const sep = options.path.includes('?') ? '&' : '?';
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: options.port, path: `${options.path}${sep}id=${options.id}`, agent: options.agent, signal: options.signal }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('error', reject);
        res.on('end', () => {
          const backend = res.headers['x-backend'];
          if (res.statusCode !== 200 || typeof backend !== 'string' || !body.endsWith(backend)) {
            resolve({ id: options.id, sentAt, error: `HTTP ${res.statusCode ?? 0}, backend ${String(backend)}, body ${JSON.stringify(body.slice(-40))}` });
          } else resolve({ id: options.id, sentAt, backend });
        });
      });
      req.on('error', reject);
      req.end();
    });
  } catch (err) {
    if (options.signal.aborted) throw err;
    return { id: options.id, sentAt, error: (err as Error).message };
  }
}
