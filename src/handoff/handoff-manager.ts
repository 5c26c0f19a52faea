/**
 * The agent's side of the connection handoff (src/handoff/handoff.ts): sets up this node's
 * permanent end of the link at start (and the peer channel on it, ./peer-channel.ts) and keeps it
 * in place, turns the target side on for a planned switchover (asked through the control socket)
 * or by itself when a claim takes routes from a lower-priority peer that serves (a failback, a
 * healed partition), and turns it off after a time limit.
 *
 * Whether a peer serves is known before it matters: every lower-priority peer is asked over the
 * link in the background (each peer on its own loop, so a silent one delays nobody): twice per
 * VRRP advert interval while a takeover from it may come, once a second while none can (this node
 * settled as master, the peer a backup: ./peer-questions.ts). A failover's takeover considers only
 * an answer younger than 1.5 advert intervals. A peer that died cannot have answered that recently
 * when this node becomes master (VRRP notices after 3 intervals plus skew from the last advert),
 * so an unplanned failover never waits for a dead node. A fresh answer is confirmed by one more
 * question (it may predate a FAULT that keepalived announced at once with a priority-0 advert); the
 * peer answers within a round trip. A settled master's retake (a re-check found a route on the
 * peer) asks the peer once when its last answer is not fresh.
 * A peer that says it is MASTER or BACKUP and healthy is serving: its open connections are handed
 * back to it, from when the routes have moved for TAKEOVER_HANDOFF_MS, or until it stops
 * answering (a dead peer's connections are better reset at once than black-holed).
 *
 * Why lower-priority peers only: a higher-priority holder means this node takes over because that
 * node failed (haproxy, keepalived, node or AZ lost); its connections are gone with it.
 */
import type { ClusterNode } from '../model/spec.js';
import type { Logger } from '../util/log.js';
import type { Counter } from '../util/metrics.js';
import { UserError } from '../util/errors.js';
import { HANDOFF_MAX_NODES, disableHandoff, enableHandoff, ensureHandoffLink, handoffLinkAddress, readHandoff, setHandoffDeadline } from './handoff.js';
import type { HandoffRecord, HandoffRole } from './handoff.js';
import { PeerChannel } from './peer-channel.js';
import type { PeerView } from './peer-channel.js';
import type { TakeoverFrom } from '../failover/route-claimer.js';
import type { VrrpState } from '../keepalived/notify-fifo.js';
import { PEER_QUESTION_ATTEMPTS, questionIntervalMs, takeoverHandsOff, takeoverQuestion } from './peer-questions.js';
import type { ClaimOutcome } from '../failover/types.js';
import { systemClock } from '../util/clock.js';
import type { Clock } from '../util/clock.js';

/**
 * How long a takeover handoff stays on once the routes have moved: the old node notices that the
 * routes left (its agent looks every 2 s) and reloads; its old worker ends its connections
 * within HAProxy's `hard-stop-after` (30 s).
 */
export const TAKEOVER_HANDOFF_MS = 40_000;
/** How long a switchover's handoff stays on when no switchover turns it off (abandoned CLI). */
export const SWITCHOVER_HANDOFF_MS = 180_000;
/** The link and its firewall are checked (and repaired) this often. */
const LINK_CHECK_MS = 60_000;

export interface HandoffManagerOptions {
  readonly runDir: string;
  readonly vip: string;
  readonly self: ClusterNode;
  /** Every node of the cluster, in spec order (link addresses follow it). */
  readonly nodes: readonly ClusterNode[];
  readonly log: Logger;
  /** The VRRP advert interval: peers are asked up to twice per interval; an answer is fresh for 1.5. */
  readonly advertIntervalMs: number;
  /** The peer channel's UDP port on the link addresses (the agent's status port number). */
  readonly peerPort: number;
  /** This node's view for its peers. */
  readonly view: () => PeerView;
  /** The spec's preempt delay: how long a peer that was master may hold routes before this node retakes them. @default 0 */
  readonly preemptDelayMs?: number;
  /** `overlay_lb_peer_questions_total` (by peer and result). */
  readonly questions?: Counter;
  /** How long a peer may take to answer a direct question. @default 300 */
  readonly answerTimeoutMs?: number;
  /** Every time this manager reads or waits on (answer freshness, deadlines, polling). @default systemClock */
  readonly clock?: Clock;
}

export class HandoffManager {
  readonly #o: HandoffManagerOptions;
  readonly #clock: Clock;
  #current: HandoffRecord | null = null;
  #timer: NodeJS.Timeout | undefined;
  /** When the handoff's timer ends it (epoch ms); the kernel stops handing off then too. */
  #expiresAt = 0;
  /** When `start` ran: a peer this agent has not asked yet is not silent before that. */
  #startedAt = 0;
  /** A failback's handoff kept for a switchover back to its peer: when it would have ended. */
  #keptUntil: number | null = null;
  #channel: PeerChannel | null = null;
  /** on/off/extend run one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  /** The last answer of each peer, and when it came. */
  readonly #seen = new Map<string, { view: PeerView; at: number }>();
  /** When each peer last said MASTER. */
  readonly #peerMasterAt = new Map<string, number>();
  /** The peers whose last question went unanswered (cut off, dead, restarting). */
  readonly #silent = new Set<string>();
  /** When this node last became MASTER (null: it is not master); set by vrrpChanged. */
  #masterSince: number | null = null;
  /** Aborted by vrrpChanged: wakes the question loops out of a slow wait. */
  #wake = new AbortController();

  constructor(options: HandoffManagerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
  }

  /** The handoff in force (null: none). */
  get current(): HandoffRecord | null {
    return this.#current;
  }

  /**
   * Sets up this node's end of the link (idempotent) and its peer channel, picks up a handoff
   * left by a previous agent (it runs on to its deadline: an agent restart does not cut a
   * failback's handoff short), starts asking the lower-priority peers, and re-checks the link every
   * minute (a firewall reload must not leave it open). A link that cannot be set up is logged and
   * tried again; meanwhile this node takes part in no handoff (failover itself does not depend on it).
   */
  async start(signal: AbortSignal): Promise<void> {
    this.#startedAt = this.#clock.now();
    this.#current = await readHandoff(this.#o.runDir);
    if (this.#current !== null) {
      const { role, peer, reason, since, until } = this.#current;
      this.#expireAt(until);
      this.#o.log.info({ event: 'handoff-resumed', role, peer, reason, since, until },
        until > this.#clock.now() ? 'picked up the connection handoff a previous agent turned on: it runs on to its deadline' : 'removing the connection handoff a previous agent left: its deadline has passed');
    }
    const address = handoffLinkAddress(this.#o.nodes, this.#o.self.name);
    if (address === null) {
      this.#o.log.warn({ event: 'handoff-unavailable', reason: `only the first ${HANDOFF_MAX_NODES} nodes of cluster.nodes take part in handoffs` }, 'no connection handoff on this node');
      return;
    }
    const ensure = (): Promise<string[]> => ensureHandoffLink({
      localAddress: this.#o.self.address,
      iface: this.#o.self.interface,
      linkAddress: address,
      peerAddresses: this.#o.nodes.filter((n) => n.name !== this.#o.self.name).map((n) => n.address),
    }, { signal });
    const setUp = async (): Promise<void> => {
      await ensure();
      this.#channel = await PeerChannel.open({ host: address, port: this.#o.peerPort, view: this.#o.view, signal });
      for (const peer of this.#o.nodes) {
        if (peer.priority < this.#o.self.priority && handoffLinkAddress(this.#o.nodes, peer.name) !== null) void this.#pollPeer(peer.name, signal);
      }
    };
    const keepUp = async (): Promise<void> => {
      while (!signal.aborted) {
        await this.#clock.sleep(this.#channel === null ? 30_000 : LINK_CHECK_MS, signal).catch(() => undefined);
        if (signal.aborted) return;
        try {
          if (this.#channel === null) {
            await setUp();
            this.#o.log.info({ event: 'handoff-link' }, 'handoff link set up');
          } else {
            const repaired = await ensure();
            if (repaired.length > 0) this.#o.log.warn({ event: 'handoff-link-repaired', repaired }, 'the handoff link or its firewall had changed: restored');
          }
        } catch (err) {
          if (!signal.aborted) this.#o.log.error({ event: 'handoff-link-failed', err }, 'could not set up or check the handoff link');
        }
      }
    };
    try {
      await setUp();
    } catch (err) {
      this.#o.log.error({ event: 'handoff-link-failed', err }, 'could not set up the handoff link: no connection handoff on this node until it works (retrying every 30 s)');
    }
    void keepUp();
  }

  /**
   * Turns the handoff on towards `peer` for at most `ttlMs` (it ends by itself after that).
   * @throws UserError SWITCHOVER_INVALID when the peer is not another node of the cluster, the
   *   link is not up, or a failback's handoff is still on.
   */
  on(role: HandoffRole, peer: string, reason: HandoffRecord['reason'], ttlMs: number, signal: AbortSignal): Promise<HandoffRecord> {
    return this.#serial(async () => {
      const node = this.#o.nodes.find((n) => n.name === peer && n.name !== this.#o.self.name);
      if (!node) throw new UserError('SWITCHOVER_INVALID', `peer ${JSON.stringify(peer)} is not another node of the spec; nodes: ${this.#o.nodes.map((n) => n.name).join(', ')}`);
      const peerLinkAddress = handoffLinkAddress(this.#o.nodes, node.name);
      if (peerLinkAddress === null || this.#channel === null) {
        throw new UserError('SWITCHOVER_INVALID', `no handoff link between ${this.#o.self.name} and ${peer}: it works between the first ${HANDOFF_MAX_NODES} nodes of cluster.nodes, once the link is up (see the agent's log)`);
      }
      if (reason === 'switchover' && this.#current?.reason === 'takeover') {
        if (role === 'origin' && this.#current.peer === node.name) {
          // A switchover back to the node whose connections this one hands back: they are local
          // there again once the routes move, so the handoff stays until the switchover ends it.
          this.#keptUntil ??= this.#expiresAt;
          await this.#moveDeadline(this.#clock.now() + ttlMs);
          this.#o.log.info({ event: 'handoff-kept', peer: node.name, reason, ttlMs }, 'switchover to the peer this node hands connections back to: handoff kept until the switchover ends');
          return this.#current;
        }
        const left = Math.ceil((this.#expiresAt - this.#clock.now()) / 1000);
        throw new UserError('SWITCHOVER_INVALID', `${this.#o.self.name} is still handing connections back to ${this.#current.peer} after a failback (about ${Math.max(1, left)} s more); a switchover to another node now would reset them: retry after that, or switch over to ${this.#current.peer}`);
      }
      clearTimeout(this.#timer);
      const until = this.#clock.now() + ttlMs;
      try {
        this.#current = await enableHandoff(this.#o.runDir, { role, vip: this.#o.vip, peer: node.name, peerAddress: node.address, peerLinkAddress, iface: this.#o.self.interface, reason, until }, { signal });
      } catch (err) {
        this.#current = await readHandoff(this.#o.runDir).catch(() => null);
        if (this.#current !== null) this.#expireAt(0);
        throw err;
      }
      this.#expireAt(until);
      this.#o.log.info({ event: 'handoff-on', role, peer: node.name, reason, ttlMs }, 'connection handoff on');
      // Its end needs the peer's answers (silent for a second: off): the peer's loop asks fast now.
      if (reason === 'takeover') this.#wakeLoops();
      return this.#current;
    });
  }

  /**
   * A switchover ends (its CLI's last step): the handoff is removed, except a failback's handoff
   * kept for a switchover whose target could not claim: the routes stay here, so it runs on to its
   * own end. Returns whether a handoff was removed.
   */
  endSwitchover(claimFailed: boolean): Promise<boolean> {
    return this.#serial(async () => {
      const keptUntil = this.#keptUntil;
      if (claimFailed && keptUntil !== null && this.#current?.reason === 'takeover') {
        this.#keptUntil = null;
        await this.#moveDeadline(keptUntil);
        this.#o.log.info({ event: 'handoff-kept', peer: this.#current.peer, reason: 'switchover failed', ttlMs: Math.max(0, keptUntil - this.#clock.now()) }, 'the switchover failed: the handoff to the failback\'s peer runs on to its own end');
        return false;
      }
      return this.#disable('switchover finished');
    });
  }

  /** Turns the handoff off; returns whether one was on. */
  off(why: string): Promise<boolean> {
    return this.#serial(() => this.#disable(why));
  }

  async #disable(why: string): Promise<boolean> {
    clearTimeout(this.#timer);
    this.#keptUntil = null;
    const had = await disableHandoff(this.#o.runDir, { signal: AbortSignal.timeout(30_000) });
    this.#current = null;
    if (had) this.#o.log.info({ event: 'handoff-off', why }, 'connection handoff removed');
    return had;
  }

  /**
   * This node's VRRP state changed (FailoverUnit.onTransition): a node that left MASTER asks its
   * peers fast again at once; one that became master asks fast while it settles.
   */
  vrrpChanged(state: VrrpState): void {
    this.#masterSince = state === 'MASTER' ? this.#clock.now() : null;
    this.#wakeLoops();
  }

  /** Ends the question loops' slow waits (they decide their pace again at once). */
  #wakeLoops(): void {
    this.#wake.abort();
    this.#wake = new AbortController();
  }

  /** A question of the background loop or a takeover: counted in `overlay_lb_peer_questions_total`. */
  async #question(node: string, signal: AbortSignal, attempts = 1): Promise<PeerView | null> {
    const view = await this.peerState(node, signal, this.#o.advertIntervalMs, attempts);
    if (signal.aborted) return view;
    this.#o.questions?.inc({ peer: node, result: view === null ? 'unanswered' : 'answered' });
    if (view === null) this.#silent.add(node);
    else this.#silent.delete(node);
    return view;
  }

  /**
   * What `node` says, asked up to {@link PEER_QUESTION_ATTEMPTS} times (null: none of the
   * questions was answered within answerTimeoutMs). For the re-check's contest, which retakes a
   * lower-priority holder that does not answer at once: one lost datagram or one late answer of a
   * busy peer must not decide that, and the re-check is no failover (nobody waits on it).
   */
  askPeer(node: string, signal: AbortSignal): Promise<PeerView | null> {
    return this.peerState(node, signal, this.#o.answerTimeoutMs ?? 300, PEER_QUESTION_ATTEMPTS);
  }

  /** What `node` says over the link now (null: no answer to `attempts` questions of `timeoutMs` each). */
  async peerState(node: string, signal: AbortSignal, timeoutMs = this.#o.answerTimeoutMs ?? 300, attempts = 1): Promise<PeerView | null> {
    const address = handoffLinkAddress(this.#o.nodes, node);
    if (address === null || this.#channel === null) return null;
    const view = await this.#channel.ask(address, timeoutMs, signal, attempts);
    // Positions in cluster.nodes give the addresses: a node that answers with another name means
    // the nodes run different node lists (a rolling spec change): no answer.
    if (view === null || view.node !== node) return null;
    this.#seen.set(node, { view, at: this.#clock.now() });
    if (view.vrrp === 'MASTER') this.#peerMasterAt.set(node, this.#clock.now());
    return view;
  }

  /**
   * A claim is about to take routes from peers (RouteClaimer `onTakeover`): hands the open
   * connections of a lower-priority peer that serves back to it. Never waits for a peer that has
   * not answered lately, never fails the claim: a handoff that cannot be set up within 2 s is
   * logged and the routes move anyway (connections open on the peer are then reset).
   */
  async onTakeover(from: readonly TakeoverFrom[], signal: AbortSignal): Promise<void> {
    const peer = from.filter((f) => f.priority < this.#o.self.priority).sort((a, b) => b.tables.length - a.tables.length)[0];
    if (peer === undefined) return;
    if (this.#current?.reason === 'switchover') return; // a switchover runs its own handoff
    const serving = (v: PeerView): boolean => v.healthy && (v.vrrp === 'MASTER' || v.vrrp === 'BACKUP');
    const seen = this.#seen.get(peer.node);
    const question = takeoverQuestion({
      now: this.#clock.now(), masterSince: this.#masterSince, advertIntervalMs: this.#o.advertIntervalMs,
      lastAnswer: seen === undefined ? null : { at: seen.at, serving: serving(seen.view) },
    });
    // A fresh answer is confirmed (one round trip; it catches a peer that went FAULT since); a
    // settled master's retake asks, up to PEER_QUESTION_ATTEMPTS times; otherwise the peer's
    // connections are not waited for (./peer-questions.ts, takeoverHandsOff).
    const now = question === 'none' ? null : await this.#question(peer.node, signal, question === 'ask' ? PEER_QUESTION_ATTEMPTS : 1);
    const lastAnswer = seen ? { ...seen.view, ageMs: this.#clock.now() - seen.at } : null;
    if (!takeoverHandsOff(question, now === null ? null : serving(now))) {
      this.#o.log.warn({ event: 'takeover-no-handoff', peer: peer.node, tables: peer.tables.length, question, lastAnswer, now },
        'taking routes from a peer that does not serve (or did not answer just now): its open connections are reset');
      return;
    }
    if (now === null) {
      this.#o.log.warn({ event: 'takeover-peer-late', peer: peer.node, lastAnswer },
        'the peer served a moment ago and did not answer the confirming question: handing its connections back anyway (ended after a second without an answer)');
    }
    if (this.#handingBackTo(peer.node)) return; // already on; afterTakeover extends it
    const turnOn = this.on('target', peer.node, 'takeover', TAKEOVER_HANDOFF_MS, AbortSignal.timeout(30_000));
    const outcome = await Promise.race([
      turnOn.then(() => 'on' as const, (err: unknown) => err),
      this.#clock.sleep(2000, signal).then(() => 'late' as const, () => 'aborted' as const),
    ]);
    if (outcome === 'late') this.#o.log.warn({ event: 'takeover-handoff-late', peer: peer.node }, 'the handoff took longer than 2 s to set up: the routes move now');
    else if (outcome !== 'on' && outcome !== 'aborted') this.#o.log.error({ event: 'takeover-handoff-failed', peer: peer.node, err: outcome }, 'could not hand connections back to the peer; the routes move anyway');
  }

  /**
   * The claim that called `onTakeover` has ended: the handoff's time starts now that the routes
   * have moved; a claim that moved no route (aborted by a newer transition, or failed) ends it.
   */
  afterTakeover(outcomes: readonly ClaimOutcome[]): Promise<void> {
    return this.#serial(async () => {
      if (this.#current?.reason !== 'takeover' || this.#current.role !== 'target') return;
      if (outcomes.some((o) => o.kind === 'claimed')) {
        await this.#moveDeadline(this.#clock.now() + TAKEOVER_HANDOFF_MS);
        return;
      }
      await this.#disable('the claim moved no route');
    }).catch((err: unknown) => this.#o.log.error({ event: 'handoff-off-failed', err }, 'could not update the handoff after the claim'));
  }

  /**
   * Asks one lower-priority peer, fast or slow (./peer-questions.ts; answers feed `onTakeover`);
   * ends a takeover handoff towards it once it has not answered for a second.
   */
  async #pollPeer(node: string, signal: AbortSignal): Promise<void> {
    const fast = this.#o.advertIntervalMs / 2;
    while (!signal.aborted) {
      const started = this.#clock.now();
      await this.#question(node, signal);
      const c = this.#current;
      const last = this.#seen.get(node)?.at ?? 0;
      if (c !== null && this.#handingBackTo(node) && this.#clock.now() - Math.max(last, c.since, this.#startedAt) > 1000) {
        await this.off(`${node} stopped answering: its connections are gone`).catch((err: unknown) => this.#o.log.error({ event: 'handoff-off-failed', err }, 'could not remove the handoff'));
      }
      const now = this.#clock.now();
      const every = questionIntervalMs({
        now, masterSince: this.#masterSince, handoffToPeer: this.#handingBackTo(node),
        peerSilent: this.#silent.has(node), peerMasterAt: this.#peerMasterAt.get(node) ?? null, preemptDelayMs: this.#o.preemptDelayMs ?? 0, advertIntervalMs: this.#o.advertIntervalMs,
      });
      // A slow wait ends early when this node's VRRP state changes (vrrpChanged).
      const wait = every > fast ? AbortSignal.any([signal, this.#wake.signal]) : signal;
      await this.#clock.sleep(Math.max(10, every - (now - started)), wait).catch(() => undefined);
    }
  }

  /** A takeover handoff towards `node` is on (this node hands that peer's connections back to it). */
  #handingBackTo(node: string): boolean {
    const c = this.#current;
    return c?.reason === 'takeover' && c.role === 'target' && c.peer === node;
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the handoff at `at` (epoch ms; at once when past), by the agent's timer only. */
  #expireAt(at: number): void {
    clearTimeout(this.#timer);
    this.#expiresAt = at;
    this.#timer = setTimeout(() => {
      this.off('time limit reached').catch((err: unknown) => this.#o.log.error({ event: 'handoff-off-failed', err }, 'could not remove the handoff'));
    }, Math.max(0, at - this.#clock.now()));
    this.#timer.unref();
  }

  /** Moves the handoff's end to `at`: the agent's timer and the kernel's deadline (its MARK rule). */
  async #moveDeadline(at: number): Promise<void> {
    this.#expireAt(at);
    try {
      this.#current = await setHandoffDeadline(this.#o.runDir, at, { signal: AbortSignal.timeout(30_000) }) ?? this.#current;
    } catch (err) {
      this.#o.log.error({ event: 'handoff-deadline-failed', err, until: at }, 'could not move the kernel\'s handoff deadline: the handoff may end earlier than planned');
    }
  }
}
