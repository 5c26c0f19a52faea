/**
 * The agents' only network channel to each other: `GET /vrrp` on this node's handoff-link address
 * (169.254.79.n, src/switchover/handoff.ts), answering this node's VRRP state and health as JSON.
 * Read-only and reachable from the peers only: the link admits UDP 4789 from the peers' addresses
 * alone, and packets for the link's addresses that arrive on any other interface are dropped.
 * A peer asks it before it retakes a route from this node (is it still master? does it answer at
 * all?) and before it hands connections back to it.
 */
import { Agent, createServer, get } from 'node:http';
import { once } from 'node:events';
import type { VrrpState } from '../keepalived/notify-fifo.js';

export interface PeerView {
  readonly node: string;
  readonly vrrp: VrrpState;
  readonly healthy: boolean;
}

export async function startPeerServer(options: { readonly host: string; readonly port: number; readonly view: () => PeerView; readonly signal: AbortSignal }): Promise<void> {
  const server = createServer((req, res) => {
    if (req.method === 'GET' && (req.url ?? '') === '/vrrp') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(options.view())}\n`);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
    }
  });
  server.keepAliveTimeout = 5000;
  server.listen(options.port, options.host);
  await once(server, 'listening');
  options.signal.addEventListener('abort', () => {
    server.closeAllConnections();
    server.close();
  }, { once: true });
}

/** One kept-alive connection per peer: the agent asks every peer twice per advert interval. */
const keepAlive = new Agent({ keepAlive: true, maxSockets: 1, timeout: 5000 });

/** A peer's view through its peer endpoint, or null when it does not answer within `timeoutMs`. */
export function askPeer(host: string, port: number, timeoutMs: number, signal: AbortSignal): Promise<PeerView | null> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (v: PeerView | null): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      req.destroy();
      resolve(v);
    };
    const onAbort = (): void => finish(null);
    const timer = setTimeout(() => finish(null), timeoutMs);
    signal.addEventListener('abort', onAbort, { once: true });
    const req = get({ host, port, path: '/vrrp', agent: keepAlive }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c.length + body.length > 4096 ? '' : c; });
      res.on('end', () => {
        try {
          const v = JSON.parse(body) as Partial<PeerView>;
          finish(res.statusCode === 200 && typeof v.node === 'string' && typeof v.vrrp === 'string' && typeof v.healthy === 'boolean' ? v as PeerView : null);
        } catch {
          finish(null);
        }
      });
      res.on('error', () => finish(null));
    });
    req.on('error', () => finish(null));
  });
}
