/**
 * When a node asks its lower-priority peers what they are (pure decisions; the manager in
 * ./handoff-manager.ts carries them out). A takeover hands a serving peer's open connections
 * back to it, and only a fresh answer may say that the peer serves: an unplanned failover must
 * never wait for a dead peer. So while a takeover may come at any moment, each peer is asked
 * twice per VRRP advert interval; while none can (this node has been master for a while, and the
 * peer says it is a backup), once a second, which is most of an idle master's life: 20 questions a
 * second were most of both idle agents' CPU (docs/BENCHMARKS.md, "Agent footprint").
 *
 * A takeover can still come while the questions are slow: this node, master all along, finds a
 * route held by the peer on a re-check (a healed partition the peer's answers had not shown yet,
 * or drift). That claim is no failover (nobody waits on it to end an outage), so it may ask the
 * peer again, with a short timeout, before it decides.
 *
 * A question is one UDP datagram each way: one can be lost, and a busy peer can answer late. No
 * decision that reads silence as "gone" rests on one question: the re-check asks up to
 * {@link PEER_QUESTION_ATTEMPTS} times, and a takeover whose confirming question goes unanswered
 * trusts the fresh answer before it ({@link takeoverHandsOff}).
 */

/** How many questions, one after the other, before a peer counts as not answering a decision's question. */
export const PEER_QUESTION_ATTEMPTS = 3;

/** How often a peer is asked while no takeover from it can come (`slow` of {@link questionIntervalMs}). */
export const SLOW_QUESTION_MS = 1000;
/** After becoming master, the node asks fast this long: its claim, and a flapping VRRP, happen then. */
export const MASTER_SETTLE_MS = 3000;
/**
 * A peer that does not answer is asked fast too: cut off by a partition, it may have taken routes
 * and come back with them (its first answer after the heal is then at most half an interval late).
 * After a peer last said it was master, it is asked fast this long: it may hold routes (a split
 * brain, a failover to it) until this node retakes them, after the preempt delay at the latest.
 */
export const PEER_MASTER_FAST_MS = 60_000;

export interface QuestionFacts {
  readonly now: number;
  /** When this node last became master (null: it is not master). */
  readonly masterSince: number | null;
  /** A takeover handoff towards this peer is on (its end depends on the peer's answers). */
  readonly handoffToPeer: boolean;
  /** The peer's last question went unanswered: cut off or down, it may come back holding routes. */
  readonly peerSilent: boolean;
  /** When the peer last said MASTER (null: never since this agent started). */
  readonly peerMasterAt: number | null;
  /** Extra time the peer may hold routes after saying MASTER (the spec's preempt delay). */
  readonly preemptDelayMs: number;
  readonly advertIntervalMs: number;
}

/** The time between two questions to one peer: twice per advert interval, or {@link SLOW_QUESTION_MS}. */
export function questionIntervalMs(f: QuestionFacts): number {
  const fast = f.advertIntervalMs / 2;
  if (f.masterSince === null || f.now - f.masterSince < MASTER_SETTLE_MS) return fast;
  if (f.handoffToPeer || f.peerSilent) return fast;
  if (f.peerMasterAt !== null && f.now - f.peerMasterAt < PEER_MASTER_FAST_MS + f.preemptDelayMs) return fast;
  return Math.max(fast, SLOW_QUESTION_MS);
}

export interface TakeoverFacts {
  readonly now: number;
  readonly masterSince: number | null;
  /** The peer's last answer: when, and whether it said it serves (MASTER or BACKUP, healthy). */
  readonly lastAnswer: { readonly at: number; readonly serving: boolean } | null;
  readonly advertIntervalMs: number;
}

/**
 * Whether a takeover may ask the peer before it decides on a handoff:
 * - `confirm`: the last answer is fresh (1.5 advert intervals) and says it serves: one more
 *   question catches a peer that went FAULT since (keepalived's priority-0 advert makes this node
 *   master at once); the peer answers within a round trip;
 * - `ask`: not fresh, but this node has been master for a while (so this is a re-check's retake,
 *   not a failover) and the peer answered and served within three slow intervals: ask it;
 * - `none`: no handoff (a dead or silent peer: its connections are gone).
 */
export function takeoverQuestion(f: TakeoverFacts): 'confirm' | 'ask' | 'none' {
  const a = f.lastAnswer;
  if (a === null || !a.serving) return 'none';
  if (f.now - a.at <= 1.5 * f.advertIntervalMs) return 'confirm';
  const settled = f.masterSince !== null && f.now - f.masterSince >= MASTER_SETTLE_MS;
  return settled && f.now - a.at <= 3 * SLOW_QUESTION_MS ? 'ask' : 'none';
}

/**
 * Whether a takeover hands the peer's open connections back to it, from the question it asked
 * ({@link takeoverQuestion}) and the answer (null: none; else whether the peer says it serves):
 * - an answer decides;
 * - `confirm` unanswered: the peer said it served moments ago. A lost datagram or a late answer is
 *   likelier than a death in that time, and the two mistakes differ: no handoff resets every
 *   connection a live peer serves, while a handoff towards a dead peer only holds its dead
 *   connections' packets until the question loop ends it (a second without an answer): hand off;
 * - `ask` unanswered (after its attempts): the last answer is older: no handoff.
 */
export function takeoverHandsOff(question: 'confirm' | 'ask' | 'none', servingNow: boolean | null): boolean {
  if (question === 'none') return false;
  if (servingNow !== null) return servingNow;
  return question === 'confirm';
}
