/**
 * One command over one unix-socket connection to HAProxy (Runtime API `stats socket` or the
 * master CLI `-S`), and the argument validation every command builder uses.
 *
 * Why one command per connection instead of the interactive `prompt` mode with a serial queue:
 * in non-interactive mode HAProxy closes the connection after answering, so the end of the answer
 * is the end of the stream (no framing to guess, no prompt parsing); a timed-out or aborted command
 * cannot desynchronise the next one; callers need no queue to run commands concurrently; and the
 * master CLI behaves the same way. A unix-socket connect costs ~0.1 ms here, and bulk map loads use
 * payload commands (`<<`), so the connection count stays small.
 */
import { connect } from 'node:net';
import { SystemError, UserError } from '../util/errors.js';
import { timeoutSignal } from '../util/abort.js';

export interface SocketCommandOptions {
  readonly signal: AbortSignal;
  /** Give up after this long. @default 10000 */
  readonly timeoutMs?: number;
}

/**
 * Sends `command` (plus an optional `<<` payload, already formatted) and returns everything HAProxy
 * wrote before it closed the connection. The write side is half-closed after the command because
 * the master CLI only answers and closes once it sees end-of-input.
 *
 * @throws SystemError HAPROXY_RUNTIME (retryable) when the socket cannot be reached, resets, or
 *   the deadline passes.
 */
export async function sendSocketCommand(socketPath: string, command: string, options: SocketCommandOptions): Promise<string> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const signal = timeoutSignal(timeoutMs, options.signal);
  signal.throwIfAborted();
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    const socket = connect({ path: socketPath });
    const onAbort = (): void => {
      socket.destroy();
      if (settled) return;
      settled = true;
      if (options.signal.aborted) reject(options.signal.reason as Error);
      else reject(new SystemError('HAPROXY_RUNTIME', `haproxy socket ${socketPath} did not answer "${firstLine(command)}" within ${timeoutMs} ms`, { retryable: true }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      signal.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      reject(new SystemError('HAPROXY_RUNTIME', `haproxy socket ${socketPath} failed on "${firstLine(command)}": ${err.code ?? err.message}; check that haproxy runs and the socket path is right`, { cause: err, retryable: true, details: { socketPath, errno: err.code } }));
    });
    socket.on('close', () => {
      signal.removeEventListener('abort', onAbort);
      if (settled) return;
      settled = true;
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    socket.end(command.endsWith('\n') ? command : `${command}\n`);
  });
}

function firstLine(command: string): string {
  const line = command.split('\n', 1)[0] ?? '';
  return line.length > 120 ? `${line.slice(0, 120)}...` : line;
}

// The CLI splits arguments on blanks, commands on `;`, treats `\` as an escape and ends a payload
// at an empty line: none of these may reach it inside a value.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\s;\\\u0000-\u001f\u007f]/u;

/**
 * Rejects a value that the Runtime API would split or reinterpret. Every argument of every command
 * goes through this before it is placed in a command line.
 *
 * @throws UserError HAPROXY_RUNTIME_ARGUMENT naming the field and the value.
 */
export function assertCliToken(field: string, value: string): string {
  if (value.length === 0 || value.length > 4096 || UNSAFE.test(value)) {
    throw new UserError(
      'HAPROXY_RUNTIME_ARGUMENT',
      `${field} ${JSON.stringify(value)} cannot be sent to the HAProxy Runtime API: it must be 1-4096 characters without whitespace, ';', '\\' or control characters`,
      { details: { field, value } },
    );
  }
  return value;
}
