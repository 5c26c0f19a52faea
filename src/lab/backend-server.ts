/**
 * The lab's name server: a tiny HTTP server, started with node inside a lab namespace, that
 * answers every request with its own name (body `NAME\n`, header `x-served-by: NAME`) and the
 * caller's address (`x-remote-address`: through HAProxy, the LB node that forwarded it). Backends
 * run it so that a response tells which server HAProxy picked; tests run it on an LB node bound
 * to the VIP so that a response tells which node the VPC route reached.
 *
 * `?drip=MS` (at most 60000) makes a long-lived response: the headers at once, then 1 KiB every
 * 100 ms for MS ms, then the name (tests that a connection lives across a route flip use it).
 *
 * Usage: node backend-server.js ADDRESS:PORT=NAME [ADDRESS:PORT=NAME ...]
 * Prints `ready` on stdout once every listener is bound, then never writes to stdout again (the
 * parent closes the pipe). Stops on SIGTERM/SIGINT.
 */
import { isMainScript } from '../util/own-program.js';
import { createServer, type Server } from 'node:http';

/** The line printed once every listener is bound. */
export const NAME_SERVER_READY_LINE = 'ready';
/** The longest `?drip=MS`. */
const MAX_DRIP_MS = 60_000;
/** What `?drip=` sends every 100 ms. */
const DRIP_CHUNK = Buffer.alloc(1024, 46);

/** One listener of the name server. */
export interface NameListener {
  readonly address: string;
  readonly port: number;
  readonly name: string;
}

/** Formats listeners as the server's arguments. */
export function formatNameServerArgs(listeners: readonly NameListener[]): string[] {
  return listeners.map((l) => `${l.address}:${l.port}=${l.name}`);
}

function parseArg(arg: string): NameListener {
  const match = /^(\d+\.\d+\.\d+\.\d+):(\d+)=([A-Za-z0-9._-]+)$/.exec(arg);
  if (match === null) throw new Error(`bad listener ${JSON.stringify(arg)}: expected ADDRESS:PORT=NAME`);
  return { address: match[1] ?? '', port: Number(match[2]), name: match[3] ?? '' };
}

/** The name-server process; exported for the single executable's `--own-program backend-server`. */
export async function main(argv: readonly string[]): Promise<void> {
  const listeners = argv.map(parseArg);
  const servers: Server[] = [];
  for (const l of listeners) {
    const server = createServer((req, res) => {
      req.resume();
      res.setHeader('x-served-by', l.name);
      // Who connected: through HAProxy, the LB node's address (the failover probe reports it).
      res.setHeader('x-remote-address', (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''));
      res.setHeader('content-type', 'text/plain');
      const drip = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('drip') ?? 0);
      if (!(Number.isInteger(drip) && drip > 0)) {
        res.end(`${l.name}\n`);
        return;
      }
      const end = Date.now() + Math.min(drip, MAX_DRIP_MS);
      res.flushHeaders();
      const timer = setInterval(() => {
        if (Date.now() >= end) {
          clearInterval(timer);
          res.end(`${l.name}\n`);
        } else res.write(DRIP_CHUNK);
      }, 100);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: l.address, port: l.port }, () => resolve());
    });
    servers.push(server);
  }
  const stop = (): void => {
    for (const s of servers) s.close();
    for (const s of servers) s.closeAllConnections();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  // The parent stops reading after `ready`: never fail on a closed stdout.
  process.stdout.on('error', () => undefined);
  process.stdout.write(`${NAME_SERVER_READY_LINE}\n`);
}

if (isMainScript(import.meta.url)) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  });
}
