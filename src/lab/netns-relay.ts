/**
 * Makes a server in the host's namespace (the lab's EC2 API on 127.0.0.1) reachable from every
 * lab instance without changing the host's network: a relay process inside the router namespace
 * listens on a service address (for example 169.254.169.250:80, on the router's `lo`) and pipes
 * each connection into a unix socket; unix sockets live in the file system, which namespaces
 * share. In the host, `startUnixToTcpRelay` accepts on that socket and connects to the server.
 *
 * The server sees connections from 127.0.0.1, not from the instance: a server that identifies
 * its caller by source address (IMDS) must run inside the router namespace instead.
 *
 * With `--proxy-protocol`, each relayed connection starts with a PROXY protocol v1 header
 * (`PROXY TCP4 <src> <dst> <sport> <dport>\r\n`,
 * https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt) carrying the instance's real
 * address; the host side strips it with `acceptProxyConnection` and serves the request as if it
 * came from the instance (IMDS identity, per-AZ API faults).
 *
 * Script usage (inside a namespace): node netns-relay.js [--proxy-protocol] ADDRESS:PORT UNIX_PATH
 * Prints `ready` once listening.
 */
import { isMainScript } from '../util/own-program.js';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { rm } from 'node:fs/promises';

/** The line the relay script prints once listening. */
export const RELAY_READY_LINE = 'ready';

function pipeBoth(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  a.on('error', () => b.destroy());
  b.on('error', () => a.destroy());
  a.on('close', () => b.destroy());
  b.on('close', () => a.destroy());
}

/**
 * Accepts connections on a unix socket and relays each to a TCP server; stops when `signal`
 * aborts (and removes the socket file). Resolves once listening.
 */
export async function startUnixToTcpRelay(options: {
  readonly path: string;
  readonly target: { readonly host: string; readonly port: number };
  readonly signal: AbortSignal;
}): Promise<Server> {
  await rm(options.path, { force: true });
  const server = createServer((client) => pipeBoth(client, createConnection({ host: options.target.host, port: options.target.port })));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: options.path, signal: options.signal }, () => resolve());
  });
  server.on('close', () => void rm(options.path, { force: true }).catch(() => undefined));
  return server;
}

/** The PROXY protocol v1 header for a TCP connection accepted from an instance. */
export function proxyHeader(socket: Pick<Socket, 'remoteAddress' | 'remotePort' | 'localAddress' | 'localPort'>): string {
  const plain = (a: string | undefined): string => (a ?? '0.0.0.0').replace(/^::ffff:/, '');
  return `PROXY TCP4 ${plain(socket.remoteAddress)} ${plain(socket.localAddress)} ${socket.remotePort ?? 0} ${socket.localPort ?? 0}\r\n`;
}

/** The longest v1 header (the spec's bound: 107 bytes including CRLF). */
const MAX_PROXY_HEADER = 107;
const PROXY_RE = /^PROXY TCP4 (\d{1,3}(?:\.\d{1,3}){3}) (\d{1,3}(?:\.\d{1,3}){3}) (\d{1,5}) (\d{1,5})$/;

/**
 * Reads a PROXY protocol v1 header from a freshly accepted socket and hands on a Duplex stream
 * carrying the rest of the connection, whose `remoteAddress`/`remotePort` are the header's source
 * (so an HTTP server given it with `server.emit('connection', stream)` sees the instance, not the
 * relay). A connection without a valid header within `timeoutMs` is destroyed.
 *
 * A wrapper, not the socket itself: Node's HTTP server reads a real socket's handle directly and
 * would never see bytes pushed back with `unshift`; any Duplex may be injected
 * (https://nodejs.org/docs/latest-v20.x/api/http.html#event-connection).
 */
export function acceptProxyConnection(socket: Socket, handOff: (stream: Duplex) => void, options: { readonly timeoutMs?: number } = {}): void {
  let buffer: Buffer | null = Buffer.alloc(0);
  let wrapped: Duplex | null = null;
  const timer = setTimeout(() => socket.destroy(), options.timeoutMs ?? 5000);
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    clearTimeout(timer);
    wrapped?.destroy();
  });
  socket.on('end', () => wrapped?.push(null));
  socket.on('data', (chunk: Buffer) => {
    if (wrapped !== null) {
      if (!wrapped.push(chunk)) socket.pause();
      return;
    }
    buffer = Buffer.concat([buffer ?? Buffer.alloc(0), chunk]);
    const end = buffer.indexOf('\r\n');
    if (end < 0) {
      if (buffer.length > MAX_PROXY_HEADER) socket.destroy();
      return;
    }
    clearTimeout(timer);
    const match = PROXY_RE.exec(buffer.subarray(0, end).toString('latin1'));
    if (match === null) {
      socket.destroy();
      return;
    }
    const rest = buffer.subarray(end + 2);
    buffer = null;
    const stream = new Duplex({
      read: () => {
        socket.resume();
      },
      write: (data: Buffer, encoding, callback) => {
        socket.write(data, encoding, callback);
      },
      final: (callback) => {
        socket.end(callback);
      },
      destroy: (error, callback) => {
        socket.destroy();
        callback(error);
      },
    });
    Object.assign(stream, { remoteAddress: match[1], remotePort: Number(match[3]), remoteFamily: 'IPv4', localAddress: match[2], localPort: Number(match[4]) });
    wrapped = stream;
    if (rest.length > 0) stream.push(rest);
    handOff(stream);
  });
}

/** The relay process (script usage above); exported for the single executable's `--own-program netns-relay`. */
export async function main(argv: readonly string[]): Promise<void> {
  const proxyProtocol = argv[0] === '--proxy-protocol';
  const [listen, path] = proxyProtocol ? argv.slice(1) : argv;
  const match = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(listen ?? '');
  if (match === null || path === undefined) throw new Error('usage: netns-relay [--proxy-protocol] ADDRESS:PORT UNIX_PATH');
  const server = createServer((client) => {
    const upstream = createConnection({ path });
    if (proxyProtocol) upstream.write(proxyHeader(client));
    pipeBoth(client, upstream);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: match[1], port: Number(match[2]) }, () => resolve());
  });
  const stop = (): void => {
    server.close();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  process.stdout.on('error', () => undefined);
  process.stdout.write(`${RELAY_READY_LINE}\n`);
}

if (isMainScript(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  });
}
