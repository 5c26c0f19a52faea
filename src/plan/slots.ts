/**
 * Deterministic, stable assignment of discovered servers to a backend's spare slots.
 *
 * Rules (every node computes the same result from the same inputs; no I/O, no clock of its own):
 * 1. A server is identified by `address:port` (`[v6]:port`); its weight may change in place.
 * 2. A server that held a slot in the previous state keeps it.
 * 3. New servers, in (address, port) order, take the lowest free slot. Slots freed by this very
 *    step are used last, so a removal and an addition do not share a slot in one step unless
 *    nothing else is free (keeps "fill new, then empty old" as separate, ordered operations).
 * 4. Without a previous state the assignment is the sorted order: slot 1, 2, 3... (a restart).
 * 5. With a drain period, a removed server stays in its slot in state `drain` until its deadline,
 *    then the slot is freed; it comes back to `ready` in the same slot if it reappears meanwhile.
 * 6. The slot count is max(the spec's `spareSlots`, the next power of two >= occupied slots), and
 *    never shrinks below a count the previous state had grown to (no reload flapping around a
 *    power of two); a restart (no previous state) starts again from the pure formula.
 */
import { EMPTY_SLOT, SPARE_PREFIX } from '../render/haproxy-config.js';

/** A server's administrative state, as `set server <b>/<s> state` takes it. */
export type ServerState = 'ready' | 'drain' | 'maint';

/** One `server` line of a backend: a static server of the spec or a spare slot. */
export interface SlotIntent {
  /** The HAProxy server name: the spec's name, or `olb-spare-<n>`. */
  readonly server: string;
  readonly spare: boolean;
  /** `0.0.0.0` (port 0) for a free spare slot. */
  readonly address: string;
  readonly port: number;
  /** 0-256. */
  readonly weight: number;
  /** `maint` for a free spare slot; static servers are always `ready`. */
  readonly state: ServerState;
  /** The discovered server (`address:port`) occupying a spare slot; absent when free or static. */
  readonly member?: string;
  /** Clock time until which a removed server drains in this slot (state `drain`). */
  readonly drainUntil?: number;
}

/** One server of a discovery membership (structurally the discovery layer's `DiscoveredServer`). */
export interface MemberServer {
  readonly address: string;
  readonly port: number;
  /** 0-256. Absent: 100, the weight the renderer gives spare slots. */
  readonly weight?: number;
}

/** The address and port a free spare slot holds in the rendered config. */
export const FREE_ADDRESS = EMPTY_SLOT.address;
/** The weight spare slots are rendered with (`server olb-spare-<n> 0.0.0.0:0 weight 100 disabled`). */
export const SPARE_WEIGHT = EMPTY_SLOT.weight;

/** `address:port`, with IPv6 addresses lower-cased and bracketed (the discovery layer's key). */
export function memberKey(server: Pick<MemberServer, 'address' | 'port'>): string {
  return server.address.includes(':') ? `[${server.address.toLowerCase()}]:${server.port}` : `${server.address}:${server.port}`;
}

export function spareName(index: number): string {
  return `${SPARE_PREFIX}${index}`;
}

/** The smallest power of two >= n (0 for 0). */
export function nextPowerOfTwo(n: number): number {
  if (n <= 0) return 0;
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

export interface PreviousBackend {
  readonly minSpareSlots: number;
  readonly spareSlots: number;
  readonly slots: readonly SlotIntent[];
}

export interface AssignOptions {
  /** The spec's `spareSlots` (the minimum). */
  readonly minSlots: number;
  readonly members: readonly MemberServer[];
  readonly previous?: PreviousBackend;
  /** Keep removed servers draining until `now + drainMs`. Absent: removed servers are freed at once. */
  readonly drain?: { readonly now: number; readonly drainMs: number };
}

export interface Assignment {
  readonly spareSlots: number;
  readonly slots: SlotIntent[];
}

interface Held {
  readonly member: string;
  readonly server: MemberServer;
  readonly state: ServerState;
  readonly drainUntil?: number;
}

function compareMembers(a: MemberServer, b: MemberServer): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port;
}

function slotIndex(name: string): number | undefined {
  if (!name.startsWith(SPARE_PREFIX)) return undefined;
  const n = Number(name.slice(SPARE_PREFIX.length));
  return Number.isSafeInteger(n) && n >= 1 ? n : undefined;
}

/** Assigns the members of one discovery backend to spare slots (see the module comment). O(n log n). */
export function assignSpareSlots(options: AssignOptions): Assignment {
  const { drain, previous } = options;
  const members = new Map<string, MemberServer>();
  for (const s of [...options.members].sort(compareMembers)) {
    const key = memberKey(s);
    if (!members.has(key)) members.set(key, s);
  }

  // Slots held in the previous state: kept (member still present) or draining (member gone).
  const held = new Map<number, Held>();
  const freedNow = new Set<number>();
  const seen = new Set<string>();
  for (const slot of previous?.slots ?? []) {
    const index = slotIndex(slot.server);
    // A member listed twice (a corrupt previous state) keeps only its first slot.
    if (index === undefined || slot.member === undefined || slot.state === 'maint' || held.has(index) || seen.has(slot.member)) continue;
    seen.add(slot.member);
    const server = members.get(slot.member);
    if (server !== undefined) {
      held.set(index, { member: slot.member, server, state: 'ready' });
      continue;
    }
    const until = slot.drainUntil ?? (drain === undefined ? undefined : drain.now + drain.drainMs);
    if (drain !== undefined && until !== undefined && until > drain.now) {
      held.set(index, { member: slot.member, server: { address: slot.address, port: slot.port, weight: slot.weight }, state: 'drain', drainUntil: until });
    } else {
      freedNow.add(index);
    }
  }

  const heldMembers = new Set([...held.values()].map((h) => h.member));
  const fresh = [...members.entries()].filter(([key]) => !heldMembers.has(key));

  const previousGrown = previous !== undefined && previous.spareSlots > previous.minSpareSlots ? previous.spareSlots : 0;
  const spareSlots = Math.max(options.minSlots, nextPowerOfTwo(held.size + fresh.length), previousGrown);

  // Held slots beyond a (spec-lowered) count lose their place: their members are placed again.
  for (const [index, h] of held) {
    if (index <= spareSlots) continue;
    held.delete(index);
    if (h.state === 'ready') fresh.push([h.member, h.server]);
  }
  fresh.sort(([, a], [, b]) => compareMembers(a, b));

  const free: number[] = [];
  for (let i = 1; i <= spareSlots; i++) if (!held.has(i) && !freedNow.has(i)) free.push(i);
  for (let i = 1; i <= spareSlots; i++) if (!held.has(i) && freedNow.has(i)) free.push(i);
  let next = 0;
  for (const [member, server] of fresh) {
    const index = free[next++];
    if (index === undefined) break; // cannot happen: spareSlots >= held + fresh
    held.set(index, { member, server, state: 'ready' });
  }

  const slots: SlotIntent[] = [];
  for (let i = 1; i <= spareSlots; i++) {
    const h = held.get(i);
    if (h === undefined) {
      slots.push({ server: spareName(i), spare: true, address: FREE_ADDRESS, port: 0, weight: SPARE_WEIGHT, state: 'maint' });
      continue;
    }
    const slot: SlotIntent = {
      server: spareName(i),
      spare: true,
      address: h.server.address,
      port: h.server.port,
      weight: h.server.weight ?? SPARE_WEIGHT,
      state: h.state,
      member: h.member,
      ...(h.drainUntil === undefined ? {} : { drainUntil: h.drainUntil }),
    };
    slots.push(slot);
  }
  return { spareSlots, slots };
}
