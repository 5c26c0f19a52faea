import { request, type IncomingMessage, type RequestOptions } from 'node:http';
import { timeoutSignal } from './abort.js';

/** An answer's whole body; rejects with the stream's error or once it is longer than `maxBytes`. */
export function readAnswer(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    res.on('data', (c: Buffer) => {
      length += c.length;
      if (length > maxBytes) res.destroy(new Error(`the answer is longer than ${maxBytes} bytes`));
      else chunks.push(c);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
  });
}

/**
 * One HTTP/1.1 request with `node:http`, on a connection of its own (no keep-alive: a reused socket
 * the server has just closed would fail the next request). Resolves with the status and the body
 * text once the whole answer is in; rejects with the transport error, the abort or timeout, or an
 * answer longer than `maxBytes` (callers wrap it in their own code).
 *
 * Not `fetch`: its first use loads undici and compiles its WebAssembly HTTP parser, which costs a
 * long-running process about 17 MiB of resident memory (Node 24: docs/BENCHMARKS.md, "Agent
 * footprint"), for the few small requests the agent makes outside the AWS SDK.
 */
export function httpRequest(target: { readonly url: string } | { readonly socketPath: string; readonly path: string }, init: {
  readonly method: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly signal: AbortSignal;
  readonly timeoutMs: number;
  /** @default 1 MiB */
  readonly maxBytes?: number;
}): Promise<{ status: number; text: string }> {
  const headers: Record<string, string | number> = { ...init.headers };
  if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
  const options: RequestOptions = { method: init.method, headers, agent: false, signal: timeoutSignal(init.timeoutMs, init.signal) };
  const maxBytes = init.maxBytes ?? 1024 * 1024;
  return new Promise((resolve, reject) => {
    const onAnswer = (res: IncomingMessage): void => {
      readAnswer(res, maxBytes).then((body) => resolve({ status: res.statusCode ?? 0, text: body.toString('utf8') }), reject);
    };
    const req = 'url' in target ? request(target.url, options, onAnswer) : request({ ...options, socketPath: target.socketPath, path: target.path }, onAnswer);
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * One HTTP request with a JSON body over a unix socket (the agent's and the lab controller's
 * control sockets: mode 0600 files, never the network). Resolves with the status and the body
 * text; rejects with the transport error (callers wrap it in their own code).
 */
export function unixHttpRequest(socketPath: string, method: 'GET' | 'POST', path: string, body: unknown, options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return httpRequest({ socketPath, path }, {
    method, signal: options.signal, timeoutMs: options.timeoutMs ?? 60_000, maxBytes: 64 * 1024 * 1024,
    ...(payload === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: payload }),
  });
}
