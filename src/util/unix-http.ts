import { request } from 'node:http';
import { timeoutSignal } from './abort.js';

/**
 * One HTTP request with a JSON body over a unix socket (the agent's and the lab controller's
 * control sockets: mode 0600 files, never the network). Resolves with the status and the body
 * text; rejects with the transport error (callers wrap it in their own code).
 */
export function unixHttpRequest(socketPath: string, method: 'GET' | 'POST', path: string, body: unknown, options: { readonly signal: AbortSignal; readonly timeoutMs?: number }): Promise<{ status: number; text: string }> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      socketPath, method, path,
      signal: timeoutSignal(options.timeoutMs ?? 60_000, options.signal),
      headers: payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(payload);
  });
}
