/**
 * The agent's side of the connection handoff (src/switchover/handoff.ts): sets up this node's
 * permanent end of the link at start, turns the target side on for a planned switchover (asked
 * through the control socket) or by itself when a claim takes routes from a lower-priority peer
 * that still answers (a failback, a healed partition), and turns it off after a time limit.
 *
 * Why lower-priority peers only: a higher-priority holder means this node takes over because
 * that node failed (haproxy, keepalived, node or AZ lost), and waiting for a liveness answer from a
 * node that may be down would lengthen the outage. A lower-priority holder means this node
 * returns (keepalived preempted it after the preempt delay, or a partition healed): the holder
 * served until now, a few hundred milliseconds of checking cost no request, and its open
 * connections survive the route flip.
 */
import type { ClusterNode } from '../model/spec.js';
import type { Logger } from '../util/log.js';
import { UserError } from '../util/errors.js';
import { HANDOFF_MAX_NODES, disableHandoff, enableHandoff, ensureHandoffLink, handoffLinkAddress, handoffPeerAnswers, readHandoff } from './handoff.js';
import type { HandoffRecord, HandoffRole } from './handoff.js';
import type { TakeoverFrom } from '../failover/route-claimer.js';
import { timeoutSignal } from '../util/abort.js';

export interface HandoffManagerOptions {
  readonly runDir: string;
  readonly vip: string;
  readonly self: ClusterNode;
  /** Every node of the cluster, in spec order (link addresses follow it). */
  readonly nodes: readonly ClusterNode[];
  readonly log: Logger;
  /** How long a takeover handoff stays on: the old node's connections get this long to end. @default 30000 */
  readonly takeoverDrainMs?: number;
  /** How long a peer may take to answer over the link. @default 300 */
  readonly answerTimeoutMs?: number;
}

export class HandoffManager {
  readonly #o: HandoffManagerOptions;
  #current: HandoffRecord | null = null;
  #timer: NodeJS.Timeout | undefined;
  readonly #linkAddress: string | null;

  constructor(options: HandoffManagerOptions) {
    this.#o = options;
    this.#linkAddress = handoffLinkAddress(options.nodes, options.self.name);
  }

  /** The handoff in force (null: none). */
  get current(): HandoffRecord | null {
    return this.#current;
  }

  /**
   * Sets up this node's end of the link (idempotent) and picks up a handoff left by a previous
   * agent, which is removed after `ttlMs`.
   */
  async start(ttlMs: number, signal: AbortSignal): Promise<void> {
    if (this.#linkAddress !== null) {
      await ensureHandoffLink({
        localAddress: this.#o.self.address,
        iface: this.#o.self.interface,
        linkAddress: this.#linkAddress,
        peerAddresses: this.#o.nodes.filter((n) => n.name !== this.#o.self.name).map((n) => n.address),
      }, { signal });
    }
    this.#current = await readHandoff(this.#o.runDir);
    if (this.#current !== null) this.#expireAfter(ttlMs);
  }

  /**
   * Turns the handoff on towards `peer` for at most `ttlMs` (it ends by itself after that).
   * @throws UserError SWITCHOVER_INVALID when the peer is not another node of the cluster.
   */
  async on(role: HandoffRole, peer: string, reason: HandoffRecord['reason'], ttlMs: number, signal: AbortSignal): Promise<HandoffRecord> {
    const node = this.#o.nodes.find((n) => n.name === peer && n.name !== this.#o.self.name);
    if (!node) throw new UserError('SWITCHOVER_INVALID', `peer ${JSON.stringify(peer)} is not another node of the spec; nodes: ${this.#o.nodes.map((n) => n.name).join(', ')}`);
    const peerLinkAddress = handoffLinkAddress(this.#o.nodes, node.name);
    if (peerLinkAddress === null || this.#linkAddress === null) throw new UserError('SWITCHOVER_INVALID', `a handoff works between the first ${HANDOFF_MAX_NODES} nodes of cluster.nodes only; ${peer} or ${this.#o.self.name} is beyond`);
    clearTimeout(this.#timer);
    this.#current = await enableHandoff(this.#o.runDir, { role, vip: this.#o.vip, peer: node.name, peerAddress: node.address, peerLinkAddress, reason }, { signal });
    this.#expireAfter(ttlMs);
    this.#o.log.info({ event: 'handoff-on', role, peer: node.name, reason, ttlMs }, 'connection handoff on');
    return this.#current;
  }

  /** Turns the handoff off; returns whether one was on. */
  async off(why: string): Promise<boolean> {
    clearTimeout(this.#timer);
    const had = await disableHandoff(this.#o.runDir, { signal: AbortSignal.timeout(30_000) });
    this.#current = null;
    if (had) this.#o.log.info({ event: 'handoff-off', why }, 'connection handoff removed');
    return had;
  }

  /** Whether `node` answers over the handoff link now (bounded by answerTimeoutMs). */
  async peerAnswers(node: string, signal: AbortSignal): Promise<boolean> {
    const address = handoffLinkAddress(this.#o.nodes, node);
    if (address === null || this.#linkAddress === null) return false;
    return handoffPeerAnswers(address, this.#o.answerTimeoutMs ?? 300, signal);
  }

  /**
   * A claim is about to take routes from peers (RouteClaimer `onTakeover`): hands the open
   * connections of a lower-priority peer that still answers back to it until the drain time has
   * passed. Never fails the claim: a handoff that cannot be set up is logged and the routes move
   * anyway (connections open on the peer are then reset, as without a handoff).
   */
  async onTakeover(from: readonly TakeoverFrom[], signal: AbortSignal): Promise<void> {
    const candidates = from.filter((f) => f.priority < this.#o.self.priority).sort((a, b) => b.tables.length - a.tables.length);
    const peer = candidates[0];
    if (peer === undefined) return;
    if (this.#current?.reason === 'switchover') return; // a switchover runs its own handoff
    if (this.#current?.role === 'target' && this.#current.peer === peer.node) {
      this.#expireAfter(this.#o.takeoverDrainMs ?? 30_000); // already handing to that peer: extend
      return;
    }
    const answers = await this.peerAnswers(peer.node, signal);
    if (!answers) {
      this.#o.log.warn({ event: 'takeover-no-handoff', peer: peer.node, tables: peer.tables.length }, 'taking routes from a peer that does not answer over the handoff link: its open connections will be reset');
      return;
    }
    try {
      await this.on('target', peer.node, 'takeover', this.#o.takeoverDrainMs ?? 30_000, timeoutSignal(5000, signal));
    } catch (err) {
      this.#o.log.error({ event: 'takeover-handoff-failed', peer: peer.node, err }, 'could not hand connections back to the peer; the routes move anyway');
    }
  }

  #expireAfter(ms: number): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.off('time limit reached').catch((err: unknown) => this.#o.log.error({ event: 'handoff-off-failed', err }, 'could not remove the handoff'));
    }, ms);
    this.#timer.unref();
  }
}
