/**
 * Which route tables the spec's selector (`cluster.cloud.routeTables`) picks among a VPC's: the
 * one rule for the agents' claim (src/failover/route-claimer.ts) and `overlay-lb up`'s VIP routes,
 * so both always write into the same tables.
 */
import type { RouteTableSelector } from '../model/spec.js';
import type { RouteTableInfo } from './types.js';

/** Applies the spec's route-table selector (pure). */
export function selectTables(tables: readonly RouteTableInfo[], selector: RouteTableSelector): string[] {
  if (selector.kind === 'ids') return [...selector.ids];
  const excluded = new Set(selector.exclude);
  return tables
    .filter((t) => !excluded.has(t.id))
    .filter((t) => selector.kind === 'all' || Object.entries(selector.tags).every(([k, v]) => t.tags[k] === v))
    .map((t) => t.id)
    .sort();
}
