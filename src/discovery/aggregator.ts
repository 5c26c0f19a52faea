/**
 * The aggregator's pure core: the one place where source snapshots become the desired membership
 * of every discovery-backed backend. No I/O and no timers: time comes in as `now`, and `flush`
 * says when it wants to be called again, so every rule is table-tested with plain numbers.
 *
 * Rules:
 * 1. The latest snapshot of a source wins; a snapshot equal to the latest (canonical, sorted
 *    content) is dropped.
 * 2. Changes are debounced like consul-template's `wait {min, max}`: publish once no change came
 *    for `minWaitMs`, but no later than `maxWaitMs` after the first unpublished change.
 * 3. Removal guard: a change that would remove more than `maxRemovalShare` of a backend's
 *    published servers at once is held back for that backend (reported with a reason) until the
 *    source sends something acceptable or an operator approves it. Other backends proceed.
 * 4. Each publication that changes something carries a generation number one higher than the last.
 */
import type { DiscoveredServer, Snapshot } from './types.js';
import { canonicalServers, serverKey, sortServers } from './validate.js';

/** A backend whose servers come from a discovery source. */
export interface AggregatorBackend {
  readonly name: string;
  readonly source: string;
  /** Largest share (0-1) of published servers one change may remove. 1 disables the guard. @default the aggregator's */
  readonly maxRemovalShare?: number;
}

export interface AggregatorOptions {
  readonly backends: readonly AggregatorBackend[];
  /** Quiet time after the last change before publishing. @default 200 */
  readonly minWaitMs?: number;
  /** Longest delay after the first unpublished change. @default 2000 */
  readonly maxWaitMs?: number;
  /** @default 0.5 */
  readonly maxRemovalShare?: number;
}

/** Backend name -> its servers (canonically sorted). Backends with no snapshot yet are absent. */
export type Membership = ReadonlyMap<string, readonly DiscoveredServer[]>;

export interface Publication {
  readonly generation: number;
  readonly membership: Membership;
  /** Backends whose servers differ from the previous publication. */
  readonly changed: readonly string[];
  readonly at: number;
}

/** Why a backend's change was not published. `REMOVAL_GUARD` is also the metric label. */
export interface HeldChange {
  readonly backend: string;
  readonly source: string;
  readonly reason: 'REMOVAL_GUARD';
  readonly current: number;
  readonly proposed: number;
  readonly removing: number;
  /** removing / current. */
  readonly share: number;
  readonly maxShare: number;
  readonly message: string;
}

export type OfferResult =
  | { readonly kind: 'accepted'; readonly source: string; readonly dueAt: number }
  | { readonly kind: 'unchanged'; readonly source: string }
  | { readonly kind: 'unknown-source'; readonly source: string };

export type FlushResult =
  | { readonly kind: 'idle' }
  | { readonly kind: 'waiting'; readonly dueAt: number }
  | { readonly kind: 'published'; readonly publication: Publication; readonly held: readonly HeldChange[] }
  | { readonly kind: 'held'; readonly held: readonly HeldChange[] }
  /** The pending changes cancelled out (a server went and came back within the window). */
  | { readonly kind: 'unchanged' };

/** The pure aggregator core. Not thread-safe by design: one runner owns it. */
export class AggregatorCore {
  readonly #backends: readonly AggregatorBackend[];
  readonly #minWait: number;
  readonly #maxWait: number;
  readonly #defaultShare: number;
  readonly #latest = new Map<string, { servers: readonly DiscoveredServer[]; canonical: string }>();
  readonly #published = new Map<string, { servers: readonly DiscoveredServer[]; canonical: string }>();
  readonly #approved = new Set<string>();
  #firstChangeAt: number | undefined;
  #lastChangeAt = 0;
  #generation = 0;

  constructor(options: AggregatorOptions) {
    this.#backends = options.backends;
    this.#minWait = options.minWaitMs ?? 200;
    this.#maxWait = Math.max(options.maxWaitMs ?? 2000, this.#minWait);
    this.#defaultShare = options.maxRemovalShare ?? 0.5;
  }

  /** The last published generation (0 before the first publication). */
  get generation(): number {
    return this.#generation;
  }

  /** The last published membership. */
  membership(): Membership {
    return new Map([...this.#published].map(([name, p]) => [name, p.servers]));
  }

  /** Records a source's snapshot. */
  offer(snapshot: Snapshot, now: number): OfferResult {
    if (!this.#backends.some((b) => b.source === snapshot.source)) return { kind: 'unknown-source', source: snapshot.source };
    const canonical = canonicalServers(snapshot.servers);
    if (this.#latest.get(snapshot.source)?.canonical === canonical) return { kind: 'unchanged', source: snapshot.source };
    this.#latest.set(snapshot.source, { servers: sortServers(snapshot.servers), canonical });
    this.#markPending(now);
    return { kind: 'accepted', source: snapshot.source, dueAt: this.#dueAt() as number };
  }

  /** Lets the held change of `backend` through at the next flush (an operator's decision). */
  approve(backend: string, now: number): void {
    this.#approved.add(backend);
    this.#markPending(now);
  }

  /** When `flush` will publish, or undefined when nothing is pending. */
  dueAt(): number | undefined {
    return this.#dueAt();
  }

  /** Publishes the pending changes if the debounce window has closed. */
  flush(now: number): FlushResult {
    const dueAt = this.#dueAt();
    if (dueAt === undefined) return { kind: 'idle' };
    if (now < dueAt) return { kind: 'waiting', dueAt };
    this.#firstChangeAt = undefined;
    const held: HeldChange[] = [];
    const changed: string[] = [];
    for (const backend of this.#backends) {
      const proposed = this.#latest.get(backend.source);
      if (!proposed) continue;
      const current = this.#published.get(backend.name);
      if (current?.canonical === proposed.canonical) continue;
      const guard = current ? this.#guard(backend, current.servers, proposed.servers) : undefined;
      if (guard && !this.#approved.has(backend.name)) {
        held.push(guard);
        continue;
      }
      this.#approved.delete(backend.name);
      this.#published.set(backend.name, proposed);
      changed.push(backend.name);
    }
    if (changed.length === 0) return held.length > 0 ? { kind: 'held', held } : { kind: 'unchanged' };
    this.#generation++;
    return { kind: 'published', publication: { generation: this.#generation, membership: this.membership(), changed, at: now }, held };
  }

  #guard(backend: AggregatorBackend, current: readonly DiscoveredServer[], proposed: readonly DiscoveredServer[]): HeldChange | undefined {
    if (current.length === 0) return undefined;
    const maxShare = backend.maxRemovalShare ?? this.#defaultShare;
    const next = new Set(proposed.map(serverKey));
    const removing = current.filter((s) => !next.has(serverKey(s))).length;
    const share = removing / current.length;
    if (share <= maxShare) return undefined;
    return {
      backend: backend.name,
      source: backend.source,
      reason: 'REMOVAL_GUARD',
      current: current.length,
      proposed: proposed.length,
      removing,
      share,
      maxShare,
      message:
        `backend ${backend.name}: source ${backend.source} would remove ${removing} of ${current.length} servers at once ` +
        `(${Math.round(share * 100)}% > ${Math.round(maxShare * 100)}%); held back, the current servers stay. ` +
        'If the removal is intended, approve it or raise the backend\'s removal limit',
    };
  }

  #markPending(now: number): void {
    this.#firstChangeAt ??= now;
    this.#lastChangeAt = now;
  }

  #dueAt(): number | undefined {
    if (this.#firstChangeAt === undefined) return undefined;
    return Math.min(this.#lastChangeAt + this.#minWait, this.#firstChangeAt + this.#maxWait);
  }
}
