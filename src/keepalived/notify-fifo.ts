import { constants, open } from 'node:fs';
import { promisify } from 'node:util';
import { Socket } from 'node:net';
import { createInterface } from 'node:readline';

/** VRRP states keepalived reports, plus its "master received lower priority advert" event. */
export type VrrpState = 'MASTER' | 'BACKUP' | 'FAULT' | 'STOP' | 'INIT' | 'DELETED' | 'MASTER_RX_LOWER_PRI';

export interface VrrpTransition {
  readonly kind: 'INSTANCE' | 'GROUP';
  readonly name: string;
  readonly state: VrrpState;
  readonly priority: number | null;
}

const STATES = new Set<string>(['MASTER', 'BACKUP', 'FAULT', 'STOP', 'INIT', 'DELETED', 'MASTER_RX_LOWER_PRI']);

/**
 * Parses one line keepalived writes to its `vrrp_notify_fifo`, for example
 * `INSTANCE "OLB_DEMO" MASTER 200` (keepalived.conf(5), "notify_fifo"). Returns null for lines
 * that are not a VRRP transition (keepalived also writes lines for other subsystems).
 */
export function parseNotifyLine(line: string): VrrpTransition | null {
  const m = /^(INSTANCE|GROUP) "([^"]*)" ([A-Z_]+)(?: (\d+))?\s*$/.exec(line.trim());
  if (!m || !STATES.has(m[3]!)) return null;
  return { kind: m[1] as 'INSTANCE' | 'GROUP', name: m[2]!, state: m[3] as VrrpState, priority: m[4] === undefined ? null : Number(m[4]) };
}

/**
 * Reads transitions from keepalived's notify FIFO, in order, until the signal aborts. The FIFO is
 * opened read-write so the read end never sees EOF when keepalived restarts (it reopens its write
 * end); lines are delivered exactly as keepalived wrote them.
 */
export async function* readNotifyFifo(path: string, options: { signal: AbortSignal }): AsyncGenerator<VrrpTransition> {
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
      if (t) yield t;
    }
  } catch (err) {
    if (!options.signal.aborted) throw err;
  } finally {
    options.signal.removeEventListener('abort', abort);
    socket.destroy();
  }
}
