import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import type { AgentStatus } from '../agent-api/contract.js';

export interface StatusServerOptions {
  /** 127.0.0.1 or the node's own address: never the VIP (the spec layer enforces it). */
  readonly host: string;
  readonly port: number;
  readonly signal: AbortSignal;
  readonly status: () => AgentStatus;
  readonly metrics: () => string;
  /** Whether the agent's loops are alive (for monitoring; keepalived checks the heartbeat file instead). */
  readonly alive: () => boolean;
}

/**
 * The agent's HTTP endpoint: `GET /status` (JSON), `GET /metrics` (Prometheus text format),
 * `GET /alive` (200 while the agent works, 503 otherwise). Read-only: nothing here changes state,
 * so it needs no authentication beyond binding to localhost or the node address.
 */
export async function startStatusServer(options: StatusServerOptions): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      if (path === '/alive') {
        const ok = options.alive();
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(ok ? 'ok\n' : 'not ok\n');
      } else if (path === '/status') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(options.status(), null, 2)}\n`);
      } else if (path === '/metrics') {
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' }).end(options.metrics());
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /status, /metrics or /alive\n');
      }
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
    }
  });
  server.keepAliveTimeout = 2000;
  server.listen(options.port, options.host);
  await once(server, 'listening');
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  options.signal.addEventListener('abort', () => void close(), { once: true });
  const { port } = server.address() as AddressInfo;
  return { url: `http://${options.host}:${port}`, close };
}
