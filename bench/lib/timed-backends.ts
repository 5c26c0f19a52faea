/**
 * HTTP backends for benchmarks that remember when each one served its first request since the
 * last `reset` (process.hrtime based, comparable with `nowMs()` in the same process). Keep-alive
 * is honoured so HAProxy's server-side reuse works as in production.
 */
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TimedBackend {
  readonly name: string;
  readonly port: number;
  /** Milliseconds (`nowMs()` clock) of the first request since the last reset, or undefined. */
  firstSeen(): number | undefined;
  reset(): void;
  requests(): number;
}

/** A monotonic millisecond clock (fractional). */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Starts `count` backends named `<prefix><n>` on 127.0.0.1; `close()` stops them all. */
export async function startTimedBackends(options: { readonly prefix: string; readonly count: number }): Promise<{ backends: TimedBackend[]; close: () => Promise<void> }> {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  const backends: TimedBackend[] = [];
  for (let i = 1; i <= options.count; i++) {
    const name = `${options.prefix}${i}`;
    let first: number | undefined;
    let count = 0;
    const body = Buffer.from(name);
    const response = Buffer.concat([Buffer.from(`HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n`), body]);
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => socket.destroy());
      let buf = '';
      socket.on('data', (chunk: Buffer) => {
        buf += chunk.toString('latin1');
        // Answer every complete request head (requests carry no body here).
        for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
          buf = buf.slice(end + 4);
          first ??= nowMs();
          count++;
          socket.write(response);
        }
      });
    });
    servers.push(server);
    server.listen({ host: '127.0.0.1', port: 0 });
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    backends.push({ name, port, firstSeen: () => first, reset: () => (first = undefined), requests: () => count });
  }
  return {
    backends,
    close: async () => {
      for (const s of sockets) s.destroy();
      await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
