/**
 * The planner: a pure decision core that compares the applied HAProxy state with the desired one
 * and says what to do: nothing, a list of Runtime API operations, or one reload with its reasons.
 * No I/O: an executor turns the plan into Runtime API calls (src/haproxy) and falls back to a
 * reload when any operation fails. The list of runtime-safe changes is docs/runtime-changes.md.
 *
 * Operation order (traffic never sees a state that loses requests):
 * 1. servers that come up or change (address, weight, then `state ready`), backends by name,
 *    slots in config order;
 * 2. map entries: every `add`, then every `set`, then every bulk replace, then every `del`;
 * 3. servers that go away (`state drain` / `state maint`), last.
 * Linear in servers and map entries (maps keyed by name), so 10,000 map entries and 1,000
 * servers plan in milliseconds.
 */
import { deepFreeze } from '../speclang/parse.js';
import type { BackendIntent, HaproxyState, MapEntryIntent, MapIntent, ServerState, SlotIntent } from './state.js';
import { FREE_ADDRESS, SPARE_WEIGHT } from './slots.js';
import { diffSections } from './structure.js';
import { compareCodeUnits } from '../util/compare.js';

/** One Runtime API operation, fully specified (maps are named by `path`, as HAProxy knows them). */
export type RuntimeOp =
  /** `set server <backend>/<server> addr <address> port <port>` */
  | { readonly op: 'set-server-addr'; readonly backend: string; readonly server: string; readonly address: string; readonly port: number }
  /** `set server <backend>/<server> weight <weight>` */
  | { readonly op: 'set-server-weight'; readonly backend: string; readonly server: string; readonly weight: number }
  /** `set server <backend>/<server> state <state>` */
  | { readonly op: 'set-server-state'; readonly backend: string; readonly server: string; readonly state: ServerState }
  /**
   * `set server <backend>/<server> health down`, right after the `state ready` of a newly filled
   * spare in a health-checked backend: HAProxy 2.6 marks a server leaving maintenance UP at once
   * (checked with 2.6.12), so without it a dead server would take traffic until `fall` checks
   * failed. Send it on the same CLI line as the `state ready` (`cmd1; cmd2`).
   */
  | { readonly op: 'set-server-health'; readonly backend: string; readonly server: string; readonly health: 'down' }
  /**
   * `shutdown sessions server <backend>/<server>`: a discovered server leaves its slot (its drain
   * time is over, or the slot is given to another server): requests still open on it are cut, so
   * the drain time bounds how long a removed server is used and a reused slot starts clean.
   */
  | { readonly op: 'shutdown-sessions'; readonly backend: string; readonly server: string }
  /** `add map <path> <key> <value>` (the key is not in the map yet) */
  | { readonly op: 'map-add'; readonly map: string; readonly path: string; readonly key: string; readonly value: string }
  /** `set map <path> <key> <value>` (the key is in the map) */
  | { readonly op: 'map-set'; readonly map: string; readonly path: string; readonly key: string; readonly value: string }
  /** `del map <path> <key>` */
  | { readonly op: 'map-del'; readonly map: string; readonly path: string; readonly key: string }
  /** Atomic replace of the whole map: `prepare map`, `add map @<ver>` (batched), `commit map @<ver>`. */
  | { readonly op: 'map-replace'; readonly map: string; readonly path: string; readonly entries: readonly MapEntryIntent[] };

/** Every reason code; each is also a metric label value. */
export const REASON_CODES = [
  'initial',
  'structure-changed',
  'spare-slots-exhausted',
  'spare-slots-changed',
  'server-added',
  'server-removed',
  'server-changed',
  'server-state-changed',
  'weight-changed',
  'switch-flipped',
  'split-weights-changed',
  'map-entries-changed',
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];

export interface Reason {
  readonly code: ReasonCode;
  /** What changed: `backend app`, `app/olb-spare-3`, `switch checkout`, `web/gradual-rollout`. */
  readonly subject: string;
  readonly detail?: string;
}

/** A backend rendered with more spare slots than the spec's minimum. */
export interface SpareSlotCount {
  readonly backend: string;
  readonly slots: number;
}

export type Plan =
  | { readonly kind: 'none' }
  | { readonly kind: 'runtime'; readonly ops: readonly RuntimeOp[]; readonly reasons: readonly Reason[] }
  | {
      readonly kind: 'reload';
      /** Why the reload happens (structural reasons only; runtime changes ride along). */
      readonly reasons: readonly Reason[];
      /** Backends to render with more slots than the spec says (`specForState` applies them). */
      readonly spareSlots: readonly SpareSlotCount[];
      /**
       * Operations to run once the new config is loaded: the rendered config holds every static
       * server and map entry as desired, but spare slots start empty, so discovered servers are
       * put back into their slots here.
       */
      readonly after: readonly RuntimeOp[];
    };

export interface PlanOptions {
  /** An exact-match map with more changed keys than this is replaced in one bulk operation. @default 64 */
  readonly maxIncrementalMapOps?: number;
}

/** @default value of {@link PlanOptions.maxIncrementalMapOps}: about the cost of one 10,000-entry replace (~0.1 ms per single op, ~11 ms per swap, measured). */
export const DEFAULT_MAX_INCREMENTAL_MAP_OPS = 64;

/**
 * Plans the change from `applied` (what HAProxy runs; `null` when nothing is known, for example
 * at start) to `desired`. After the plan succeeded, `desired` is the new applied state.
 */
export function plan(applied: HaproxyState | null, desired: HaproxyState, options: PlanOptions = {}): Plan {
  if (applied === null) return deepFreeze(reloadPlan(desired, [{ code: 'initial', subject: `node ${desired.node}` }]));
  if (applied.structuralHash !== desired.structuralHash) return deepFreeze(reloadPlan(desired, structuralReasons(applied, desired)));

  const reasons: Reason[] = [];
  const servers = serverOps(applied.backends, desired.backends, reasons);
  const maps = mapOps(applied.maps, desired.maps, options.maxIncrementalMapOps ?? DEFAULT_MAX_INCREMENTAL_MAP_OPS, reasons);
  const ops = [...servers.up, ...maps, ...servers.down];
  if (ops.length === 0) return deepFreeze({ kind: 'none' });
  return deepFreeze({ kind: 'runtime', ops, reasons: sortReasons(reasons) });
}

function reloadPlan(desired: HaproxyState, reasons: Reason[]): Plan {
  // Right after a reload every spare slot is as rendered: empty and in maintenance.
  const rendered: BackendIntent[] = desired.backends.map((b) => ({ ...b, slots: b.slots.map((s) => (s.spare ? freeSlot(s.server) : s)) }));
  const after = serverOps(rendered, desired.backends, []);
  const spareSlots = desired.backends.filter((b) => b.spareSlots !== b.minSpareSlots).map((b) => ({ backend: b.name, slots: b.spareSlots }));
  return { kind: 'reload', reasons: sortReasons(reasons), spareSlots, after: [...after.up, ...after.down] };
}

function freeSlot(server: string): SlotIntent {
  return { server, spare: true, address: FREE_ADDRESS, port: 0, weight: SPARE_WEIGHT, state: 'maint' };
}

function structuralReasons(applied: HaproxyState, desired: HaproxyState): Reason[] {
  const reasons: Reason[] = [];
  const before = new Map(applied.backends.map((b) => [b.name, b]));
  for (const b of desired.backends) {
    const a = before.get(b.name);
    if (a === undefined || a.spareSlots === b.spareSlots) continue;
    const occupied = b.slots.filter((s) => s.spare && s.member !== undefined).length;
    if (b.spareSlots > a.spareSlots && occupied > a.spareSlots) {
      reasons.push({ code: 'spare-slots-exhausted', subject: `backend ${b.name}`, detail: `${occupied} servers for ${a.spareSlots} spare slots; rendering ${b.spareSlots}` });
    } else {
      reasons.push({ code: 'spare-slots-changed', subject: `backend ${b.name}`, detail: `${a.spareSlots} -> ${b.spareSlots} spare slots` });
    }
  }
  for (const d of diffSections(applied.sections, desired.sections)) {
    reasons.push({ code: 'structure-changed', subject: d.section, detail: d.what.join(', ') });
  }
  const oldMaps = new Map(applied.maps.map((m) => [m.name, m]));
  const newMaps = new Set(desired.maps.map((m) => m.name));
  for (const m of desired.maps) {
    const o = oldMaps.get(m.name);
    if (o === undefined) reasons.push({ code: 'structure-changed', subject: `map ${m.name}`, detail: 'added' });
    else if (o.role !== m.role || o.match !== m.match) reasons.push({ code: 'structure-changed', subject: `map ${m.name}`, detail: `${o.role}/${o.match} -> ${m.role}/${m.match}` });
  }
  for (const m of applied.maps) if (!newMaps.has(m.name)) reasons.push({ code: 'structure-changed', subject: `map ${m.name}`, detail: 'removed' });
  // A hash computed from other inputs (another version of the masking) still reloads, with a reason.
  if (reasons.length === 0) reasons.push({ code: 'structure-changed', subject: 'config', detail: 'structural hash differs' });
  return reasons;
}

function serverOps(applied: readonly BackendIntent[], desired: readonly BackendIntent[], reasons: Reason[]): { up: RuntimeOp[]; down: RuntimeOp[] } {
  const up: RuntimeOp[] = [];
  const down: RuntimeOp[] = [];
  const before = new Map(applied.map((b) => [b.name, b]));
  for (const b of desired) {
    const slotsBefore = new Map((before.get(b.name)?.slots ?? []).map((s) => [s.server, s]));
    for (const d of b.slots) {
      const a = slotsBefore.get(d.server) ?? freeSlot(d.server);
      const id = { backend: b.name, server: d.server };
      const subject = `${b.name}/${d.server}`;
      const moved = a.address !== d.address || a.port !== d.port;
      // A discovered server leaves its slot: its drain is over (or it had none), or the slot goes to another server.
      const leaving = d.spare && a.member !== undefined && a.state !== 'maint' && (d.state === 'maint' || a.member !== d.member);
      if (d.state === 'maint') {
        if (a.state === 'maint') continue;
        down.push({ op: 'set-server-state', ...id, state: 'maint' });
        if (leaving) down.push({ op: 'shutdown-sessions', ...id });
        reasons.push({ code: d.spare ? 'server-removed' : 'server-state-changed', subject, detail: a.member ?? `${a.address}:${a.port}` });
        continue;
      }
      const target = d.state === 'ready' ? up : down;
      if (leaving) target.push({ op: 'shutdown-sessions', ...id });
      if (moved) target.push({ op: 'set-server-addr', ...id, address: d.address, port: d.port });
      if (a.weight !== d.weight) target.push({ op: 'set-server-weight', ...id, weight: d.weight });
      if (a.state !== d.state) target.push({ op: 'set-server-state', ...id, state: d.state });
      // A server new to this slot proves itself by its health check before it takes traffic.
      const newcomer = d.spare && (a.state === 'maint' || a.member !== d.member);
      if (d.state === 'ready' && b.healthChecked && newcomer) target.push({ op: 'set-server-health', ...id, health: 'down' });
      slotReasons(a, d, subject, moved, reasons);
    }
  }
  return { up, down };
}

function slotReasons(a: SlotIntent, d: SlotIntent, subject: string, moved: boolean, reasons: Reason[]): void {
  if (!d.spare) {
    if (moved) reasons.push({ code: 'server-changed', subject, detail: `${a.address}:${a.port} -> ${d.address}:${d.port}` });
    if (a.weight !== d.weight) reasons.push({ code: 'weight-changed', subject, detail: `${a.weight} -> ${d.weight}` });
    if (a.state !== d.state) reasons.push({ code: 'server-state-changed', subject, detail: `${a.state} -> ${d.state}` });
    return;
  }
  const sameMember = a.member !== undefined && a.member === d.member && a.state !== 'maint';
  if (!sameMember && a.member !== undefined && a.state !== 'maint') reasons.push({ code: 'server-removed', subject, detail: a.member });
  if (d.state === 'drain') {
    if (!sameMember || a.state !== 'drain') reasons.push({ code: 'server-removed', subject, detail: `${d.member ?? ''} (draining)` });
    return;
  }
  if (!sameMember || a.state !== 'ready') reasons.push({ code: 'server-added', subject, detail: d.member ?? `${d.address}:${d.port}` });
  else if (a.weight !== d.weight) reasons.push({ code: 'weight-changed', subject, detail: `${a.weight} -> ${d.weight}` });
}

function mapOps(applied: readonly MapIntent[], desired: readonly MapIntent[], maxIncremental: number, reasons: Reason[]): RuntimeOp[] {
  const adds: RuntimeOp[] = [];
  const sets: RuntimeOp[] = [];
  const replaces: RuntimeOp[] = [];
  const dels: RuntimeOp[] = [];
  const before = new Map(applied.map((m) => [m.name, m]));
  for (const m of desired) {
    const old = before.get(m.name);
    if (old === undefined) continue; // a new map is a structural change (its config line is new)
    const oldValues = new Map(old.entries.map((e) => [e.key, e.value]));
    const newKeys = new Set(m.entries.map((e) => e.key));
    const added = m.entries.filter((e) => !oldValues.has(e.key));
    const changed = m.entries.filter((e) => oldValues.has(e.key) && oldValues.get(e.key) !== e.value);
    const removed = old.entries.filter((e) => !newKeys.has(e.key));
    const count = added.length + changed.length + removed.length;
    if (count === 0) continue;
    const target = { map: m.name, path: m.path };

    if (m.role === 'switches') {
      for (const e of changed) reasons.push({ code: 'switch-flipped', subject: `switch ${e.key}`, detail: `${oldValues.get(e.key) ?? ''} -> ${e.value}` });
      if (added.length + removed.length > 0) reasons.push({ code: 'map-entries-changed', subject: m.subject, detail: counts(added, changed, removed) });
    } else if (m.role === 'split') {
      reasons.push({ code: 'split-weights-changed', subject: m.subject, detail: `${describeEntries(old.entries)} -> ${describeEntries(m.entries)}` });
    } else {
      reasons.push({ code: 'map-entries-changed', subject: m.subject, detail: counts(added, changed, removed) });
    }

    // Only exact-match maps change key by key: each key is looked up on its own, so every
    // intermediate state answers each request as before or as after. Longest-match keys shadow
    // one another and split ranges must always cover [0,100) once: those swap atomically.
    if (m.match !== 'exact' || count > maxIncremental) {
      replaces.push({ op: 'map-replace', ...target, entries: m.entries });
      continue;
    }
    for (const e of added) adds.push({ op: 'map-add', ...target, key: e.key, value: e.value });
    for (const e of changed) sets.push({ op: 'map-set', ...target, key: e.key, value: e.value });
    for (const e of removed) dels.push({ op: 'map-del', ...target, key: e.key });
  }
  return [...adds, ...sets, ...replaces, ...dels];
}

function counts(added: readonly unknown[], changed: readonly unknown[], removed: readonly unknown[]): string {
  return `+${added.length} ~${changed.length} -${removed.length}`;
}

function describeEntries(entries: readonly MapEntryIntent[]): string {
  return entries.map((e) => `${e.key} ${e.value}`).join(', ');
}

function sortReasons(reasons: readonly Reason[]): Reason[] {
  const key = (r: Reason): string => `${r.code}\u0000${r.subject}\u0000${r.detail ?? ''}`;
  const unique = new Map(reasons.map((r) => [key(r), r]));
  return [...unique.entries()].sort(([a], [b]) => compareCodeUnits(a, b)).map(([, r]) => r);
}
