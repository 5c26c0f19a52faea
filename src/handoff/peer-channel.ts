/**
 * The agents' only network channel to each other: one UDP socket on this node's handoff-link
 * address (169.254.79.n, src/handoff/handoff.ts) and the agent's port. A peer sends
 * `{"q":"vrrp","id":N}`; the answer is this node's view, `{"id":N,"node":...,"vrrp":...,"healthy":...}`.
 *
 * Reachable from the peers only: the link admits UDP 4789 from the peers' addresses alone, and
 * packets for the link's addresses that arrive on any other interface are dropped (iptables, set
 * up with the link); requests from outside the link network are ignored here too. Read-only:
 * nothing a peer sends changes anything on this node.
 *
 * Why UDP and not HTTP: a node asks its lower-priority peers up to twice per VRRP advert interval
 * (20 times a second at 100 ms; ./peer-questions.ts says when); a datagram each way costs about a
 * quarter of the CPU of an HTTP exchange in Node.js (measured here: 0.7% against 2.7% of a CPU at
 * 20 exchanges a second).
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { once } from 'node:events';
import type { VrrpState } from '../keepalived/notify-fifo.js';
import { HANDOFF_LINK_NET } from './handoff.js';

/** What a node says about itself to its peers. */
export interface PeerView {
  readonly node: string;
  readonly vrrp: VrrpState;
  /** Its HAProxy answers its health URI. */
  readonly healthy: boolean;
}

const VRRP_STATES: ReadonlySet<string> = new Set<VrrpState>(['INIT', 'BACKUP', 'MASTER', 'FAULT', 'STOP', 'MASTER_RX_LOWER_PRI']);
/** Larger datagrams are not ours: ignored. */
const MAX_DATAGRAM = 512;
const LINK_PREFIX = HANDOFF_LINK_NET.slice(0, HANDOFF_LINK_NET.lastIndexOf('.') + 1);

export class PeerChannel {
  readonly #socket: Socket;
  readonly #port: number;
  readonly #pending = new Map<number, (view: PeerView) => void>();
  #nextId = 1;
  #closed = false;

  private constructor(socket: Socket, port: number, view: () => PeerView) {
    this.#socket = socket;
    this.#port = port;
    socket.on('message', (msg, rinfo) => {
      if (msg.length > MAX_DATAGRAM || !rinfo.address.startsWith(LINK_PREFIX)) return;
      let m: unknown;
      try {
        m = JSON.parse(msg.toString('utf8'));
      } catch {
        return;
      }
      if (typeof m !== 'object' || m === null) return;
      const r = m as Record<string, unknown>;
      if (typeof r['id'] !== 'number') return;
      if (r['q'] === 'vrrp') {
        if (this.#closed) return;
        socket.send(JSON.stringify({ id: r['id'], ...view() }), rinfo.port, rinfo.address);
        return;
      }
      const resolve = this.#pending.get(r['id']);
      if (resolve && typeof r['node'] === 'string' && typeof r['vrrp'] === 'string' && VRRP_STATES.has(r['vrrp']) && typeof r['healthy'] === 'boolean') {
        resolve({ node: r['node'], vrrp: r['vrrp'] as VrrpState, healthy: r['healthy'] });
      }
    });
    // A send to a peer whose link is gone reports an error later (ICMP): not ours to handle.
    socket.on('error', () => undefined);
  }

  /**
   * Binds `host:port` (the node's link address) and answers peers with `view()` until `signal`
   * aborts.
   */
  static async open(options: { readonly host: string; readonly port: number; readonly view: () => PeerView; readonly signal: AbortSignal }): Promise<PeerChannel> {
    const socket = createSocket({ type: 'udp4' });
    const bound = once(socket, 'listening');
    const failed = once(socket, 'error').then(([err]) => { throw err as Error; });
    socket.bind(options.port, options.host);
    await Promise.race([bound, failed]);
    const channel = new PeerChannel(socket, options.port, options.view);
    options.signal.addEventListener('abort', () => {
      channel.#closed = true;
      socket.close();
    }, { once: true });
    return channel;
  }

  /**
   * What the peer at `address` says, or null when it does not answer: asked up to `attempts`
   * times, one after the other, each waiting `timeoutMs` (a datagram can be lost, a busy peer late).
   */
  async ask(address: string, timeoutMs: number, signal: AbortSignal, attempts = 1): Promise<PeerView | null> {
    for (let i = 0; i < attempts; i++) {
      const view = await this.#askOnce(address, timeoutMs, signal);
      if (view !== null || signal.aborted) return view;
    }
    return null;
  }

  #askOnce(address: string, timeoutMs: number, signal: AbortSignal): Promise<PeerView | null> {
    if (signal.aborted || this.#closed) return Promise.resolve(null);
    const id = this.#nextId;
    this.#nextId = this.#nextId >= 0x7fffffff ? 1 : this.#nextId + 1;
    return new Promise((resolve) => {
      const finish = (view: PeerView | null): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.#pending.delete(id);
        resolve(view);
      };
      const onAbort = (): void => finish(null);
      const timer = setTimeout(() => finish(null), timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      this.#pending.set(id, finish);
      this.#socket.send(JSON.stringify({ q: 'vrrp', id }), this.#port, address, (err) => {
        if (err) finish(null);
      });
    });
  }
}
