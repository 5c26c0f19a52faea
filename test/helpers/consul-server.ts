/**
 * A small Consul-compatible HTTP server for tests (no Consul binary can be installed here). It
 * implements only `GET /v1/health/service/<service>` as documented: `passing` and `tag` filters,
 * `X-Consul-Index`, and blocking queries (`index` + `wait`: hold the request until the index moves
 * past it or the wait ends). Controls let a test change instances, reset the index (as after a
 * Consul snapshot restore), serve garbage, or stop and restart it on the same port.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';

export interface ConsulInstance {
  readonly node: string;
  readonly nodeAddress: string;
  readonly address?: string;
  readonly port: number;
  readonly tags?: readonly string[];
  readonly passing?: boolean;
  readonly weight?: number;
}

export interface ConsulServer {
  readonly address: string;
  /** Replaces a service's instances and bumps the index (wakes blocked queries). */
  setService(service: string, instances: readonly ConsulInstance[]): void;
  /** Sets the raw index (lower than before to simulate a reset) and wakes blocked queries. */
  setIndex(index: number): void;
  /** Serve this body (not a list) from now on, until cleared with undefined. */
  setGarbage(body: string | undefined): void;
  /** How many requests were served (tests check blocking does not busy-loop). */
  requests(): number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const parseWait = (wait: string | null): number => {
  const m = /^(\d+)(ms|s|m)$/.exec(wait ?? '');
  if (!m) return 300_000;
  const n = Number(m[1]);
  return Math.min(600_000, m[2] === 'ms' ? n : m[2] === 's' ? n * 1000 : n * 60_000);
};

/** Starts the server on 127.0.0.1 (a free port, kept across restarts); put `stop()` in t.after. */
export async function startConsul(): Promise<ConsulServer> {
  const services = new Map<string, readonly ConsulInstance[]>();
  let index = 1;
  let garbage: string | undefined;
  let served = 0;
  let waiters: (() => void)[] = [];
  let port = 0;
  let server: Server | undefined;
  const bump = (to: number): void => {
    index = to;
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  };
  const respond = (res: ServerResponse, service: string, passing: boolean, tag: string | null): void => {
    served++;
    res.setHeader('X-Consul-Index', String(index));
    res.setHeader('content-type', 'application/json');
    if (garbage !== undefined) {
      res.end(garbage);
      return;
    }
    const list = (services.get(service) ?? [])
      .filter((i) => !passing || i.passing !== false)
      .filter((i) => tag === null || (i.tags ?? []).includes(tag))
      .map((i) => ({
        Node: { Node: i.node, Address: i.nodeAddress },
        Service: { ID: `${service}-${i.node}`, Service: service, Tags: i.tags ?? [], Address: i.address ?? '', Port: i.port, Weights: { Passing: i.weight ?? 1, Warning: 1 } },
        Checks: [{ Status: i.passing === false ? 'critical' : 'passing' }],
      }));
    res.end(JSON.stringify(list));
  };
  const start = async (): Promise<void> => {
    const s = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const m = /^\/v1\/health\/service\/([^/]+)$/.exec(url.pathname);
      if (req.method !== 'GET' || !m) {
        res.statusCode = 404;
        res.end('not found');
        return;
      }
      const service = decodeURIComponent(m[1] ?? '');
      const passing = url.searchParams.has('passing') && url.searchParams.get('passing') !== 'false';
      const tag = url.searchParams.get('tag');
      const wanted = Number(url.searchParams.get('index') ?? '0');
      if (!(wanted > 0) || index !== wanted) {
        respond(res, service, passing, tag);
        return;
      }
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        respond(res, service, passing, tag);
      };
      const timer = setTimeout(finish, parseWait(url.searchParams.get('wait')));
      waiters.push(finish);
      req.socket.once('close', () => {
        done = true;
        clearTimeout(timer);
      });
    });
    s.listen({ host: '127.0.0.1', port });
    await once(s, 'listening');
    port = (s.address() as AddressInfo).port;
    server = s;
  };
  const stop = async (): Promise<void> => {
    const s = server;
    server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
    waiters = [];
  };
  await start();
  return {
    address: `http://127.0.0.1:${port}`,
    setService: (service, instances) => {
      services.set(service, instances);
      bump(index + 1);
    },
    setIndex: (i) => bump(i),
    setGarbage: (body) => {
      garbage = body;
      bump(index + 1);
    },
    requests: () => served,
    stop,
    start,
  };
}
