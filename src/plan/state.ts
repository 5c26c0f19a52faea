/**
 * "HAProxy state as we intend it": what the planner compares. Pure, JSON-plain (the agent may
 * persist it and pass it back as `previous` after a restart), deterministic and deep-frozen.
 *
 * It has two halves:
 * - the runtime-changeable half: every server slot (address, port, weight, state) and every map
 *   file's entries;
 * - the structural half: the rendered config with that runtime half masked out
 *   (src/plan/structure.ts), the spare slot counts and the map files' roles, summed up in
 *   `structuralHash`. Two states with equal hashes differ only in what the Runtime API can change.
 *
 * `desiredConfig` renders the typed config once (src/render/haproxy-config.ts) and derives the
 * state from it; the apply path writes that same config (`configForState`), never a second render.
 */
import type { Spec } from '../model/spec.js';
import { renderHaproxyConfig, type RenderHaproxyOptions } from '../render/haproxy.js';
import type { HaproxyConfig, MapMatch, MapRole as FileRole, ServerLine } from '../render/haproxy-config.js';
import { deepFreeze } from '../speclang/parse.js';
import { SystemError } from '../util/errors.js';
import { assignSpareSlots, FREE_ADDRESS, spareName, SPARE_WEIGHT, type MemberServer, type SlotIntent } from './slots.js';
import { hashJson, maskConfig, type ConfigSection } from './structure.js';

/** The slot types live beside the slot assignment (src/plan/slots.ts), which state.ts uses. */
export type { ServerState, SlotIntent } from './slots.js';

export interface BackendIntent {
  readonly name: string;
  /** True when the backend's servers come from service discovery (they live in spare slots). */
  readonly discovery: boolean;
  /** True when its servers are health-checked (a filled spare then starts DOWN until its check passes). */
  readonly healthChecked: boolean;
  /** The spec's `spareSlots`: the minimum. */
  readonly minSpareSlots: number;
  /** The spare slots the config is rendered with (>= the minimum; grows to fit the membership). */
  readonly spareSlots: number;
  /** Static servers in spec order, then `olb-spare-1..spareSlots`. */
  readonly slots: readonly SlotIntent[];
}

/**
 * What a map file is for:
 * - `switches`: `switch backend` lines (blue/green; flipped with `set map`);
 * - `split`: `lo:hi backend` bucket ranges of one weighted split;
 * - `run`: the keys of a run of same-shaped routes (src/render/maps.ts).
 */
export type MapRole = Exclude<FileRole, 'crt-list'>;
export type { MapMatch } from '../render/haproxy-config.js';

export interface MapEntryIntent {
  readonly key: string;
  readonly value: string;
}

export interface MapIntent {
  /** File name inside the map directory, for example `switches.map`. */
  readonly name: string;
  /** The absolute path the config references (how the Runtime API names the map). */
  readonly path: string;
  readonly role: MapRole;
  readonly match: MapMatch;
  /** What the map is, in the user's terms: `switches`, `web/gradual-rollout`, `web.run-1.map`. */
  readonly subject: string;
  /** In file order; keys are unique (the renderer de-duplicates runs). */
  readonly entries: readonly MapEntryIntent[];
}

export interface HaproxyState {
  readonly node: string;
  readonly mapDir: string;
  /** The spec hash the config was rendered from (informational: not part of the comparison). */
  readonly specHash: string;
  /** sha256 of `sections`, the spare slot counts and the map files' names and roles. */
  readonly structuralHash: string;
  /** The masked config, kept so that the planner can name what changed structurally. */
  readonly sections: readonly ConfigSection[];
  /** Sorted by name. */
  readonly backends: readonly BackendIntent[];
  /** Sorted by name. */
  readonly maps: readonly MapIntent[];
  /** The earliest `drainUntil`: call `desiredState` again at that time to free the slot. */
  readonly nextDeadline?: number;
}

/** Backend name -> its discovered servers (the aggregator's `Membership` fits). */
export type MembershipInput = ReadonlyMap<string, readonly MemberServer[]>;

export interface DesiredStateOptions extends RenderHaproxyOptions {
  /**
   * The state computed last time (applied or not). Keeps every server in its slot and keeps
   * grown slot counts. Absent (first start, restart): slots are assigned in sorted order.
   */
  readonly previous?: HaproxyState;
  /**
   * The caller's clock (ms). With it, a discovered server that left the membership drains for its
   * backend's `drainMs` (state `drain`, deadline `drainUntil`) before its slot goes to `maint`.
   * Absent (pure rendering, no clock): removed servers go to `maint` at once, and servers
   * already draining in `previous` are freed.
   */
  readonly now?: number;
}

function compareNames(a: { readonly name: string }, b: { readonly name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/**
 * The spec with each backend's `spareSlots` set to the count `state` renders it with. Render
 * the config to write with `renderHaproxy(specForState(spec, desired), options)`: the slots the
 * plan's operations name then exist in it.
 */
export function specForState(spec: Spec, state: Pick<HaproxyState, 'backends'>): Spec {
  const counts = new Map(state.backends.map((b) => [b.name, b.spareSlots]));
  let changed = false;
  const backends = spec.backends.map((b) => {
    const n = counts.get(b.name);
    if (n === undefined || n === b.spareSlots) return b;
    changed = true;
    return { ...b, spareSlots: n };
  });
  return changed ? deepFreeze({ ...spec, backends }) : spec;
}

/**
 * Computes the intended HAProxy state of one node from the spec and the discovery membership.
 * Deterministic: the same spec, membership, options and previous state give the same state
 * (and the same `structuralHash` on every node). Membership entries for backends that are not
 * discovery backends of `spec` are ignored (a spec change can race the aggregator).
 * @throws UserError SPEC_NODE, SystemError INTERNAL: as `renderHaproxy`.
 */
export function desiredState(spec: Spec, membership: MembershipInput, options: DesiredStateOptions): HaproxyState {
  return desiredConfig(spec, membership, options).state;
}

/** The desired state and the typed config it was computed from (the config's spare slots still empty: see `configForState`). */
export interface DesiredConfig {
  readonly state: HaproxyState;
  readonly config: HaproxyConfig;
}

/**
 * {@link desiredState} and the one render it comes from: write `configForState(config, state)`,
 * so one apply renders the config once.
 * @throws as {@link desiredState}.
 */
export function desiredConfig(spec: Spec, membership: MembershipInput, options: DesiredStateOptions): DesiredConfig {
  const previous = new Map((options.previous?.backends ?? []).map((b) => [b.name, b]));
  const backends: BackendIntent[] = spec.backends.map((be) => {
    const statics: SlotIntent[] = be.servers.map((s) => ({ server: s.name, spare: false, address: s.address, port: s.port, weight: s.weight, state: 'ready' }));
    if (be.discovery === undefined) {
      const spares: SlotIntent[] = [];
      for (let i = 1; i <= be.spareSlots; i++) spares.push({ server: spareName(i), spare: true, address: FREE_ADDRESS, port: 0, weight: SPARE_WEIGHT, state: 'maint' });
      return { name: be.name, discovery: false, healthChecked: be.healthCheck.type !== 'none', minSpareSlots: be.spareSlots, spareSlots: be.spareSlots, slots: [...statics, ...spares] };
    }
    const prev = previous.get(be.name);
    const assigned = assignSpareSlots({
      minSlots: be.spareSlots,
      members: membership.get(be.name) ?? [],
      ...(prev === undefined ? {} : { previous: prev }),
      ...(options.now === undefined ? {} : { drain: { now: options.now, drainMs: be.drainMs } }),
    });
    return { name: be.name, discovery: true, healthChecked: be.healthCheck.type !== 'none', minSpareSlots: be.spareSlots, spareSlots: assigned.spareSlots, slots: [...statics, ...assigned.slots] };
  });
  backends.sort(compareNames);

  const config = renderHaproxyConfig(specForState(spec, { backends }), { node: options.node, specHash: options.specHash, mapDir: options.mapDir });
  const sections = maskConfig(config);
  const mapDir = config.mapDir;
  // crt-lists (src/render/tls.ts) sit beside the maps but are no map: HAProxy reads them at start
  // only, so their content is structure (a changed name -> certificate choice is a reload).
  const crtLists = config.maps.filter((m) => m.role === 'crt-list').map((m) => [m.name, m.content]);
  const maps: MapIntent[] = [];
  for (const m of config.maps) {
    if (m.role === 'crt-list') continue;
    maps.push({ name: m.name, path: `${mapDir}/${m.name}`, role: m.role, match: m.match, subject: m.subject, entries: firstOfEachKey(m.entries ?? []) });
  }
  maps.sort(compareNames);

  let nextDeadline: number | undefined;
  for (const b of backends) {
    for (const s of b.slots) if (s.drainUntil !== undefined && (nextDeadline === undefined || s.drainUntil < nextDeadline)) nextDeadline = s.drainUntil;
  }
  const structuralHash = hashJson({
    sections,
    spareSlots: backends.map((b) => [b.name, b.spareSlots]),
    maps: maps.map((m) => [m.name, m.role, m.match]),
    ...(crtLists.length === 0 ? {} : { crtLists }),
  });
  const state: HaproxyState = {
    node: options.node,
    mapDir,
    specHash: options.specHash,
    structuralHash,
    sections,
    backends,
    maps,
    ...(nextDeadline === undefined ? {} : { nextDeadline }),
  };
  return { state: deepFreeze(state), config };
}

/**
 * The config `state` runs from: the rendered config with every occupied spare slot filled in
 * (address, port, weight, no `disabled`), as data.
 *
 * Why fill them: the renderer starts every spare slot empty, so right after a reload a discovery
 * backend would have NO server until the plan's `after` operations ran; measured under wrk, every
 * structural reload then answered thousands of 503s in that gap. A filled file also means a
 * haproxy restart serves the discovered servers at once. `maskConfig` drops spare slots from the
 * structural hash, so filling them never causes a reload by itself.
 *
 * @throws SystemError INTERNAL when a slot of `state` is not in `config` (another render).
 */
export function configForState(config: HaproxyConfig, state: Pick<HaproxyState, 'backends'>): HaproxyConfig {
  const backends = new Map(state.backends.map((b) => [b.name, b]));
  const sections = config.sections.map((section) => {
    const backend = section.kind === 'backend' && section.name !== undefined ? backends.get(section.name) : undefined;
    if (backend === undefined) return section;
    const slots = new Map(backend.slots.filter((s) => s.spare).map((s) => [s.server, s]));
    let filled = 0;
    const lines = section.lines.map((line) => {
      if (line.kind !== 'server' || !line.spare) return line;
      const slot = slots.get(line.name);
      if (slot === undefined) throw new SystemError('INTERNAL', `spare slot ${backend.name}/${line.name} of the config is not in the desired state (rendered from another state)`);
      filled++;
      if (slot.state === 'maint') return line;
      // A config line cannot say "drain": weight 0 keeps a new worker from sending a draining
      // server anything until the executor's `afterReload` sets its state (and its weight back).
      const out: ServerLine = { ...line, address: slot.address.includes(':') ? `[${slot.address}]` : slot.address, port: slot.port, weight: slot.state === 'drain' ? 0 : slot.weight, disabled: false };
      return out;
    });
    if (filled !== slots.size) throw new SystemError('INTERNAL', `backend ${backend.name} has ${slots.size} spare slots in the desired state and ${filled} in the config (rendered from another state)`);
    return { ...section, lines };
  });
  return { ...config, sections };
}

/** The entries of a map with the first of duplicate keys kept (what HAProxy's exact lookup finds). */
function firstOfEachKey(entries: readonly MapEntryIntent[]): MapEntryIntent[] {
  const seen = new Set<string>();
  const out: MapEntryIntent[] = [];
  for (const e of entries) {
    if (seen.has(e.key)) continue;
    seen.add(e.key);
    out.push({ key: e.key, value: e.value });
  }
  return out;
}
