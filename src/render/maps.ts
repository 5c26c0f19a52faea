/**
 * Compiles runs of same-shaped routes into HAProxy map files, preserving first-match semantics.
 *
 * A maximal run of >= 2 consecutive routes that each have exactly one condition of the same
 * shape and a plain backend action becomes ONE map lookup, so 10,000 header rules cost about
 * what one does (a 10,000-line ACL list is linear per request; a map lookup is a tree search).
 *
 * Exact maps (`map_str`) keep the first of duplicate keys. `map_beg` and `map_ip` pick the
 * LONGEST match, not the first, so a later entry that an earlier entry already shadows (an
 * earlier prefix that is a prefix of it, an earlier CIDR that contains it) is dropped: the
 * remaining entries never overlap "the wrong way", and longest match equals first match.
 */
import type { Cidr, Frontend, Route, SplitSide } from '../model/spec.js';
import { SystemError } from '../util/errors.js';
import { isMapKey } from './quote.js';
import { isMarked } from './l7-actions.js';

/** The condition shapes that compile to a map lookup. */
export type MapShape =
  | { readonly kind: 'header-exact'; readonly header: string }
  | { readonly kind: 'header-prefix'; readonly header: string }
  | { readonly kind: 'host-exact' }
  | { readonly kind: 'path-exact' }
  | { readonly kind: 'path-prefix' }
  | { readonly kind: 'source' }
  | { readonly kind: 'query-exact' | 'query-prefix' | 'cookie-exact' | 'cookie-prefix'; readonly name: string };

/** One key -> backend line of a map file. */
export interface MapEntry {
  readonly key: string;
  readonly backend: string;
}

/** How a frontend's routes are emitted, in route order. `index` is 0-based. */
export type RoutePlanItem =
  | { readonly kind: 'inline'; readonly route: Route; readonly index: number }
  | {
      readonly kind: 'map';
      readonly shape: MapShape;
      /** File name inside the map directory: `<frontend>.run-<first route, 1-based>.map`. */
      readonly mapName: string;
      readonly firstIndex: number;
      readonly lastIndex: number;
      readonly entries: readonly MapEntry[];
    };

interface Mappable {
  readonly shape: MapShape;
  readonly shapeKey: string;
  readonly keys: readonly string[];
  readonly backend: string;
}

function mappable(route: Route): Mappable | undefined {
  const [c] = route.conditions;
  if (route.conditions.length !== 1 || c === undefined || route.action.kind !== 'backend' || isMarked(route)) return undefined;
  const backend = route.action.backend;
  const single = (shape: MapShape, shapeKey: string, key: string): Mappable | undefined =>
    isMapKey(key) ? { shape, shapeKey, keys: [key], backend } : undefined;
  switch (c.kind) {
    case 'header':
      if (c.match.type === 'exact') return single({ kind: 'header-exact', header: c.name }, `header-exact:${c.name}`, c.match.value);
      if (c.match.type === 'prefix') return single({ kind: 'header-prefix', header: c.name }, `header-prefix:${c.name}`, c.match.value);
      return undefined;
    case 'host':
      return c.match.type === 'exact' ? single({ kind: 'host-exact' }, 'host-exact', c.match.value) : undefined;
    case 'path':
      if (c.match.type === 'exact') return single({ kind: 'path-exact' }, 'path-exact', c.match.value);
      if (c.match.type === 'prefix') return single({ kind: 'path-prefix' }, 'path-prefix', c.match.value);
      return undefined;
    case 'source':
      return c.cidrs.length > 0 && c.cidrs.every(isMapKey) ? { shape: { kind: 'source' }, shapeKey: 'source', keys: c.cidrs, backend } : undefined;
    case 'query':
    case 'cookie':
      if (c.match.type === 'exact' || c.match.type === 'prefix') {
        const kind = `${c.kind}-${c.match.type}` as const;
        return single({ kind, name: c.name }, `${kind}:${c.name}`, c.match.value);
      }
      return undefined;
    case 'method':
      return undefined;
  }
}

/** Keeps the first entry of each key (for exact maps). */
export function dedupeExactEntries(entries: readonly MapEntry[]): MapEntry[] {
  const seen = new Set<string>();
  return entries.filter((e) => (seen.has(e.key) ? false : (seen.add(e.key), true)));
}

/** Drops every entry whose key starts with the key of an earlier kept entry (for map_beg). */
export function dedupePrefixEntries(entries: readonly MapEntry[]): MapEntry[] {
  const kept = new Set<string>();
  const out: MapEntry[] = [];
  for (const e of entries) {
    let shadowed = false;
    // Checking each prefix of the key against a set is O(length), not O(entries).
    for (let i = 1; i <= e.key.length && !shadowed; i++) shadowed = kept.has(e.key.slice(0, i));
    if (!shadowed) {
      kept.add(e.key);
      out.push(e);
    }
  }
  return out;
}

function parseCidr(cidr: Cidr): { net: number; len: number } {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?:\/(\d{1,2}))?$/.exec(cidr);
  const octets = m ? [m[1], m[2], m[3], m[4]].map(Number) : [];
  const len = m?.[5] === undefined ? 32 : Number(m[5]);
  if (!m || octets.some((o) => o > 255) || len > 32) {
    throw new SystemError('INTERNAL', `CIDR ${JSON.stringify(cidr)} reached the HAProxy renderer but is not a.b.c.d/len; the spec layer should have rejected it`);
  }
  const addr = octets.reduce((acc, o) => acc * 256 + o, 0);
  return { net: maskTo(addr, len), len };
}

/** Returns `cidr` after checking it is `a.b.c.d/len`; throws INTERNAL otherwise. */
export function assertCidr(cidr: Cidr): Cidr {
  parseCidr(cidr);
  return cidr;
}

function maskTo(addr: number, len: number): number {
  return len === 0 ? 0 : (addr & (~0 << (32 - len))) >>> 0;
}

/** Drops every entry whose CIDR lies inside the CIDR of an earlier kept entry (for map_ip). */
export function dedupeCidrEntries(entries: readonly MapEntry[]): MapEntry[] {
  const kept = new Set<string>();
  const out: MapEntry[] = [];
  for (const e of entries) {
    const { net, len } = parseCidr(e.key);
    let shadowed = false;
    for (let l = 0; l <= len && !shadowed; l++) shadowed = kept.has(`${maskTo(net, l)}/${l}`);
    if (!shadowed) {
      kept.add(`${net}/${len}`);
      out.push(e);
    }
  }
  return out;
}

function dedupe(shape: MapShape, entries: readonly MapEntry[]): MapEntry[] {
  switch (shape.kind) {
    case 'header-prefix':
    case 'path-prefix':
    case 'query-prefix':
    case 'cookie-prefix':
      return dedupePrefixEntries(entries);
    case 'source':
      return dedupeCidrEntries(entries);
    default:
      return dedupeExactEntries(entries);
  }
}

/** Splits a frontend's routes into inline routes and map runs, in route order. */
export function planRoutes(frontend: Frontend): RoutePlanItem[] {
  const items: RoutePlanItem[] = [];
  const routes = frontend.routes;
  let i = 0;
  while (i < routes.length) {
    const route = routes[i];
    if (route === undefined) break;
    const first = mappable(route);
    let j = i + 1;
    const run: Mappable[] = first ? [first] : [];
    while (first && j < routes.length) {
      const next = routes[j];
      const m = next === undefined ? undefined : mappable(next);
      if (m === undefined || m.shapeKey !== first.shapeKey) break;
      run.push(m);
      j++;
    }
    if (first && run.length >= 2) {
      const entries = run.flatMap((m) => m.keys.map((key) => ({ key, backend: m.backend })));
      items.push({
        kind: 'map',
        shape: first.shape,
        mapName: `${frontend.name}.run-${i + 1}.map`,
        firstIndex: i,
        lastIndex: j - 1,
        entries: dedupe(first.shape, entries),
      });
      i = j;
    } else {
      items.push({ kind: 'inline', route, index: i });
      i++;
    }
  }
  return items;
}

/** Human description of a map shape for the map file's header comment. */
export function describeShape(shape: MapShape): string {
  switch (shape.kind) {
    case 'header-exact':
      return `header ${shape.header} exact`;
    case 'header-prefix':
      return `header ${shape.header} prefix (longest match; shadowed entries dropped)`;
    case 'host-exact':
      return 'host exact';
    case 'path-exact':
      return 'path exact';
    case 'path-prefix':
      return 'path prefix (longest match; shadowed entries dropped)';
    case 'source':
      return 'source CIDR (longest match; shadowed entries dropped)';
    case 'query-exact':
    case 'cookie-exact':
      return `${shape.kind.slice(0, -6)} ${shape.name} exact`;
    case 'query-prefix':
    case 'cookie-prefix':
      return `${shape.kind.slice(0, -7)} ${shape.name} prefix (longest match; shadowed entries dropped)`;
  }
}

/**
 * Bucket ranges of a split: side i owns [sum of earlier weights, + its weight). Keys are
 * `lo:hi` integer ranges, which `map_int` accepts (checked with HAProxy 2.6.12). Sides of weight 0
 * own no bucket and get no line.
 */
export function splitEntries(sides: readonly SplitSide[]): MapEntry[] {
  const out: MapEntry[] = [];
  let lo = 0;
  for (const side of sides) {
    if (side.weight > 0) out.push({ key: `${lo}:${lo + side.weight - 1}`, backend: side.backend });
    lo += side.weight;
  }
  if (lo !== 100) throw new SystemError('INTERNAL', `split weights add up to ${lo}, not 100; the spec layer should have rejected it`);
  return out;
}
