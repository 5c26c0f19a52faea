import { constants, open } from 'node:fs';
import { promisify } from 'node:util';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';
import { parseNotifyLine } from './notify-line.js';
import type { VrrpState as NotifyWord, VrrpTransition as NotifyTransition } from './notify-line.js';

/**
 * A VRRP state as the agent tracks it: a word of a notify line, or INIT before keepalived said
 * anything. The line grammar itself lives in notify-line.ts, shared with the renderer.
 */
export type VrrpState = NotifyWord | 'INIT';
/** A transition as the agent handles it: a parsed line, or one it synthesizes (STOP when keepalived died). */
export interface VrrpTransition extends Omit<NotifyTransition, 'state'> {
  readonly state: VrrpState;
}
export { parseNotifyLine };

/**
 * Reads transitions from keepalived's notify FIFO, in order, until the signal aborts. The FIFO is
 * opened read-write so the read end never sees EOF when keepalived restarts (it reopens its write
 * end); lines are delivered exactly as keepalived wrote them. A line outside the grammar goes to
 * `onUnknownLine` (to log), never guessed at.
 */
export async function* readNotifyFifo(path: string, options: { signal: AbortSignal; onUnknownLine?: (line: string) => void }): AsyncGenerator<NotifyTransition> {
  // O_RDWR: opening a FIFO read-write never blocks and keeps a writer on it, so keepalived's
  // restarts never hand us an EOF. A net.Socket over the fd reads it through the event loop
  // (a plain fs stream would park a thread-pool thread in a blocking read that cannot be aborted).
  // The socket owns the descriptor from here on and closes it once (a FileHandle closing it
  // again could close a descriptor number reused meanwhile).
  const fd = await promisify(open)(path, constants.O_RDWR | constants.O_NONBLOCK);
  const socket = new Socket({ fd, readable: true, writable: false });
  const lines = createInterface({ input: socket.setEncoding('utf8'), crlfDelay: Infinity });
  const abort = (): void => {
    lines.close();
    socket.destroy();
  };
  options.signal.addEventListener('abort', abort, { once: true });
  try {
    for await (const line of lines) {
      const t = parseNotifyLine(line);
      if (t === null) {
        if (line.trim() !== '') options.onUnknownLine?.(line);
        continue;
      }
      // Priority-change events come only with notify_priority_changes, which is not rendered;
      // they are not transitions.
      if (t.state === 'MASTER_PRIORITY' || t.state === 'BACKUP_PRIORITY') continue;
      yield t;
    }
  } catch (err) {
    if (!options.signal.aborted) throw err;
  } finally {
    options.signal.removeEventListener('abort', abort);
    socket.destroy();
  }
}
