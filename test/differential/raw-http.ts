/**
 * A raw HTTP/1.1 client for the differential tests: it writes the request bytes itself so the
 * test controls header case, order and duplicates exactly, and can bind a loopback source address.
 */
import { connect } from 'node:net';

export interface RawRequest {
  readonly host: string;
  readonly port: number;
  /** Source address to bind (inside 127.0.0.0/8). */
  readonly localAddress?: string;
  readonly method: string;
  readonly target: string;
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly signal: AbortSignal;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  readonly body: string;
}

/** Send one request with `Connection: close` and read the whole response. */
export async function sendRawRequest(req: RawRequest): Promise<RawResponse> {
  const lines = [`${req.method} ${req.target} HTTP/1.1`, ...req.headers.map((h) => `${h.name}: ${h.value}`), 'Connection: close', '', ''];
  const raw = await new Promise<Buffer>((resolve, reject) => {
    req.signal.throwIfAborted();
    const socket = connect({ host: req.host, port: req.port, ...(req.localAddress === undefined ? {} : { localAddress: req.localAddress }) });
    // Not connect({signal}): that leaves one abort listener per request on a shared signal.
    const onAbort = (): void => {
      socket.destroy(req.signal.reason instanceof Error ? req.signal.reason : new Error('aborted'));
    };
    req.signal.addEventListener('abort', onAbort, { once: true });
    socket.once('close', () => req.signal.removeEventListener('abort', onAbort));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('error', reject);
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('connect', () => socket.write(lines.join('\r\n')));
  });
  const text = raw.toString('latin1');
  const split = text.indexOf('\r\n\r\n');
  if (split < 0) throw new Error(`incomplete HTTP response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine = '', ...headerLines] = text.slice(0, split).split('\r\n');
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(statusLine);
  if (m === null) throw new Error(`bad status line: ${JSON.stringify(statusLine)}`);
  const headers = headerLines.map((l) => {
    const colon = l.indexOf(':');
    return { name: l.slice(0, colon).toLowerCase(), value: l.slice(colon + 1).trim() };
  });
  return { status: Number(m[1]), headers, body: text.slice(split + 4) };
}
