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
 * Script usage (inside a namespace): node netns-relay.js ADDRESS:PORT UNIX_PATH
 * Prints `ready` once listening.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
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

async function main(argv: readonly string[]): Promise<void> {
  const [listen, path] = argv;
  const match = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(listen ?? '');
  if (match === null || path === undefined) throw new Error('usage: netns-relay ADDRESS:PORT UNIX_PATH');
  const server = createServer((client) => pipeBoth(client, createConnection({ path })));
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

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  });
}
