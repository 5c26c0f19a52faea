/**
 * Tiny HTTP backends for tests: each listens on 127.0.0.1 on an ephemeral port and answers every
 * request with 200 and its own name as the body (plus an `X-Backend` header), so a test can see
 * which backend HAProxy chose, and the request head it received (base64 in `X-Echo-Head`).
 *
 * They speak HTTP/1.1 over raw sockets rather than node:http on purpose: Node's parser rejects
 * methods that HAProxy forwards (any token, for example `get` or `Post`) with 400, and tests send
 * those. Request bodies are not supported (tests send none); each response closes the connection.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface NamedBackend {
  readonly name: string;
  readonly address: '127.0.0.1';
  readonly port: number;
}

export interface BackendSet {
  readonly backends: readonly NamedBackend[];
  /** Port of the backend with this name. */
  portOf(name: string): number;
  /** Close every server and its connections. */
  close(): Promise<void>;
}

/** Start one backend per name. Close them with `close()` (put it in t.after). */
export async function startNamedBackends(options: { readonly names: readonly string[]; readonly signal: AbortSignal }): Promise<BackendSet> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const backends: NamedBackend[] = [];
  const close = async (): Promise<void> => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map(async (s) => (s.listening ? new Promise<void>((resolve) => s.close(() => resolve())) : undefined)));
  };
  try {
    for (const name of options.names) {
      options.signal.throwIfAborted();
      // x-echo-head: the request head as received (base64), for tests of request rewrites.
      const response = (head: string): Buffer =>
        Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nx-backend: ${name}\r\nx-echo-head: ${Buffer.from(head, 'latin1').toString('base64')}\r\ncontent-length: ${Buffer.byteLength(name)}\r\nconnection: close\r\n\r\n${name}`);
      const server = createServer((socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        socket.on('error', () => socket.destroy());
        let head = '';
        let answered = false;
        socket.on('data', (chunk: Buffer) => {
          if (answered) return;
          head += chunk.toString('latin1');
          if (head.includes('\r\n\r\n')) {
            answered = true;
            socket.end(response(head.slice(0, head.indexOf('\r\n\r\n'))));
          }
        });
      });
      servers.push(server);
      server.listen({ host: '127.0.0.1', port: 0, signal: options.signal });
      await once(server, 'listening', { signal: options.signal });
      backends.push({ name, address: '127.0.0.1', port: (server.address() as AddressInfo).port });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return {
    backends,
    portOf(name: string): number {
      const b = backends.find((x) => x.name === name);
      if (b === undefined) throw new Error(`no test backend named ${name}`);
      return b.port;
    },
    close,
  };
}
