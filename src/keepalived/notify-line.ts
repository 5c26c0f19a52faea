/**
 * The agent's parser of keepalived's `vrrp_notify_fifo` lines. The grammar itself is defined once,
 * beside the configuration that asks keepalived for these lines: `KEEPALIVED_FIFO_LINE_RE` in
 * src/render/keepalived.ts (its TSDoc has the format, every state and event, and which names
 * keepalived accepts). Pure: no I/O. Checked against lines of the real keepalived 2.2.7 by
 * test/keepalived/notify-line-real.test.ts.
 */
import { KEEPALIVED_FIFO_LINE_RE, VRRP_EVENTS, VRRP_STATES } from '../render/keepalived.js';
import type { VrrpNotifyWord } from '../render/keepalived.js';

export { KEEPALIVED_FIFO_LINE_RE, VRRP_EVENTS, VRRP_STATES };

/** A state or an event word of a notify line. */
export type VrrpState = VrrpNotifyWord;

/** One parsed notify line. */
export interface VrrpTransition {
  readonly kind: 'INSTANCE' | 'GROUP';
  /** The instance or group name exactly as configured. */
  readonly name: string;
  readonly state: VrrpState;
  /** The priority keepalived wrote (0-255). */
  readonly priority: number;
}

/** Whether the word is a state change (not an event). */
export function isVrrpStateChange(state: VrrpState): state is (typeof VRRP_STATES)[number] {
  return (VRRP_STATES as readonly string[]).includes(state);
}

/**
 * Parses one line (without its newline; a trailing `\r` or newline is ignored). Returns null for
 * a line that is not a VRRP notify line of this grammar: the caller logs it, never guesses.
 */
export function parseNotifyLine(line: string): VrrpTransition | null {
  const m = KEEPALIVED_FIFO_LINE_RE.exec(line.replace(/[\r\n]+$/, ''));
  if (m === null) return null;
  const priority = Number(m[4]);
  if (priority > 255) return null;
  return { kind: m[1] as 'INSTANCE' | 'GROUP', name: m[2] ?? '', state: m[3] as VrrpState, priority };
}

/** The line keepalived writes for a transition: the inverse of `parseNotifyLine` (tests, docs). */
export function formatNotifyLine(t: VrrpTransition): string {
  return `${t.kind} "${t.name}" ${t.state} ${t.priority}`;
}
