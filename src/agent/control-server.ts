import { chmod, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { once } from 'node:events';
import { OverlayError } from '../util/errors.js';
import { timeoutSignal } from '../util/abort.js';
import { nodePaths } from '../util/node-paths.js';
import type { ControlApi, ControlError, ControlRoute } from '../agent-api/contract.js';

/** One control operation: the parsed JSON body in (unchecked: the handler checks what it reads), the contract's answer out. */
export type ControlHandler<R extends ControlRoute = ControlRoute> = (body: Readonly<Record<string, unknown>>, signal: AbortSignal) => Promise<ControlApi[R]['response']>;

/** A handler for every operation of the contract (src/agent-api/contract.ts). */
export type ControlHandlers = { readonly [R in ControlRoute]: ControlHandler<R> };

export interface ControlServerOptions {
  /** `<runDir>/agent.sock`: a unix socket, mode 0600, never a network address. */
  readonly socketPath: string;
  /** `METHOD /path` -> handler, for example `POST /switchover/claim`. */
  readonly routes: ControlHandlers;
  readonly signal: AbortSignal;
}

/** The control socket of a run dir. */
export function agentSocketPath(runDir: string): string {
  return nodePaths(runDir).agentSocket;
}

/**
 * The agent's control endpoint for mutating operations (planned switchover): HTTP/1.1 over a unix
 * socket with mode 0600, so only root on the node can use it (file permissions are the
 * authentication; nothing mutating listens on the network). Answers JSON; errors as
 * `{ error: { code, message } }` with 4xx (user fault) or 5xx (system fault).
 */
export async function startControlServer(options: ControlServerOptions): Promise<{ close(): Promise<void> }> {
  await rm(options.socketPath, { force: true });
  const server = createServer((req, res) => {
    const key = `${req.method ?? 'GET'} ${(req.url ?? '/').split('?')[0] ?? '/'}`;
    const routes: Readonly<Record<string, ControlHandler | undefined>> = options.routes;
    const handler = routes[key];
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, value: ControlApi[ControlRoute]['response'] | ControlError | Record<string, never>): void => {
        res.writeHead(status, { 'content-type': 'application/json' }).end(`${JSON.stringify(value)}\n`);
      };
      if (handler === undefined) {
        send(404, { error: { code: 'CLI_USAGE', message: `unknown operation ${key}; known: ${Object.keys(options.routes).join(', ')}` } });
        return;
      }
      let body: Record<string, unknown> = {};
      try {
        const text = Buffer.concat(chunks).toString('utf8');
        const parsed: unknown = text === '' ? {} : JSON.parse(text);
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('expected a JSON object');
        body = parsed as Record<string, unknown>;
      } catch (err) {
        send(400, { error: { code: 'CLI_USAGE', message: `body is not JSON: ${(err as Error).message}` } });
        return;
      }
      const signal = timeoutSignal(120_000, options.signal);
      // Through a promise so that a handler that throws synchronously answers an error instead of
      // crashing the agent.
      Promise.resolve().then(() => handler(body, signal)).then(
        (value) => send(200, value ?? {}),
        (err: unknown) => {
          const e = err instanceof OverlayError ? err : null;
          send(e?.fault === 'user' ? 400 : 500, { error: { code: e?.code ?? 'INTERNAL', message: (err as Error).message } });
        },
      );
    });
  });
  server.listen(options.socketPath);
  await once(server, 'listening');
  await chmod(options.socketPath, 0o600);
  const close = async (): Promise<void> => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(options.socketPath, { force: true });
  };
  options.signal.addEventListener('abort', () => void close(), { once: true });
  return { close };
}
