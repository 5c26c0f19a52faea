/**
 * Which of a VPC's route tables the cluster owns, from the spec's selector: the one rule the
 * failover (src/failover/route-claimer.ts), `overlay-lb up`'s VIP routes and `overlay-lb doctor`
 * apply, so up creates and doctor checks exactly the tables the agents write. Pure.
 */
import type { RouteTableSelector } from '../model/spec.js';

/** Applies the spec's route-table selector to the tables of the VPC (ids and tags); sorted ids. */
export function selectTables(tables: readonly { readonly id: string; readonly tags: Readonly<Record<string, string>> }[], selector: RouteTableSelector): string[] {
  if (selector.kind === 'ids') return [...selector.ids];
  const excluded = new Set(selector.exclude);
  return tables
    .filter((t) => !excluded.has(t.id))
    .filter((t) => selector.kind === 'all' || Object.entries(selector.tags).every(([k, v]) => t.tags[k] === v))
    .map((t) => t.id)
    .sort();
}
