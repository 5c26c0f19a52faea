/**
 * Validation of raw discovery data. A snapshot is accepted whole or rejected whole: a list with
 * one bad entry is more likely a broken producer than a backend that lost one server, so the
 * previous snapshot stays (the caller keeps it) and the rejection is logged with every problem.
 */
import { isIP } from 'node:net';
import type { DiscoveredServer } from './types.js';

/** @default 10000 entries per snapshot. */
export const DEFAULT_MAX_SNAPSHOT_ENTRIES = 10_000;
const NAME_RE = /^[A-Za-z0-9._:-]{1,64}$/;
/** How many problems a rejection lists (a 10,000-entry garbage list must not make a 10,000-line log). */
const MAX_LISTED_PROBLEMS = 10;

/** One problem in a raw snapshot. */
export interface SnapshotProblem {
  /** Index of the entry, or -1 for the whole list. */
  readonly index: number;
  readonly field: string;
  readonly value: unknown;
  readonly problem: string;
}

export type SnapshotValidation =
  | { readonly ok: true; readonly servers: readonly DiscoveredServer[] }
  | {
      readonly ok: false;
      readonly code: 'DISCOVERY_INVALID_DATA';
      /** One line naming the first problem, what is allowed and the fix. */
      readonly message: string;
      /** The first problems (at most 10). */
      readonly problems: readonly SnapshotProblem[];
      readonly problemCount: number;
    };

/** Canonical identity of a server inside a backend. IPv6 literals are lower-cased. */
export function serverKey(server: Pick<DiscoveredServer, 'address' | 'port'>): string {
  return isIP(server.address) === 6 ? `[${server.address.toLowerCase()}]:${server.port}` : `${server.address}:${server.port}`;
}

/** Sorts by address then port, so equal content compares equal as JSON. */
export function sortServers(servers: readonly DiscoveredServer[]): readonly DiscoveredServer[] {
  return [...servers].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port));
}

/** A canonical string of a server list (sorted, fixed field order): equal lists give equal strings. */
export function canonicalServers(servers: readonly DiscoveredServer[]): string {
  return JSON.stringify(sortServers(servers).map((s) => [s.address, s.port, s.weight ?? null, s.name ?? null]));
}

/**
 * Validates a raw list (already parsed from JSON/YAML or built by a source) and returns the
 * servers in canonical order, or every problem found.
 */
export function validateSnapshot(raw: unknown, options: { readonly maxEntries?: number } = {}): SnapshotValidation {
  const max = options.maxEntries ?? DEFAULT_MAX_SNAPSHOT_ENTRIES;
  const problems: SnapshotProblem[] = [];
  let count = 0;
  const add = (p: SnapshotProblem): void => {
    count++;
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push(p);
  };
  if (!Array.isArray(raw)) {
    add({ index: -1, field: '(list)', value: typeof raw, problem: 'expected a list of {address, port, weight?, name?}' });
    return reject(problems, count);
  }
  if (raw.length > max) {
    add({ index: -1, field: '(list)', value: raw.length, problem: `has ${raw.length} entries, more than the maximum of ${max}; split the service or raise the limit` });
    return reject(problems, count);
  }
  const seen = new Map<string, number>();
  const names = new Map<string, number>();
  const servers: DiscoveredServer[] = [];
  raw.forEach((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      add({ index, field: '(entry)', value: entry, problem: 'expected an object {address, port, weight?, name?}' });
      return;
    }
    const e = entry as Record<string, unknown>;
    const before = count;
    for (const key of Object.keys(e)) {
      if (!['address', 'port', 'weight', 'name'].includes(key)) add({ index, field: key, value: e[key], problem: 'unknown field; allowed: address, port, weight, name' });
    }
    const { address, port, weight, name } = e;
    if (typeof address !== 'string' || isIP(address) === 0) {
      add({ index, field: 'address', value: address, problem: 'must be an IPv4 or IPv6 address literal (host names are not resolved)' });
    }
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      add({ index, field: 'port', value: port, problem: 'must be an integer from 1 to 65535' });
    }
    if (weight !== undefined && (typeof weight !== 'number' || !Number.isInteger(weight) || weight < 0 || weight > 256)) {
      add({ index, field: 'weight', value: weight, problem: 'must be an integer from 0 to 256' });
    }
    if (name !== undefined && (typeof name !== 'string' || !NAME_RE.test(name))) {
      add({ index, field: 'name', value: name, problem: 'must be 1-64 characters of A-Z a-z 0-9 . _ : -' });
    }
    if (count !== before) return;
    const server: DiscoveredServer = {
      address: isIP(address as string) === 6 ? (address as string).toLowerCase() : (address as string),
      port: port as number,
      ...(weight === undefined ? {} : { weight: weight as number }),
      ...(name === undefined ? {} : { name: name as string }),
    };
    const key = serverKey(server);
    const first = seen.get(key);
    if (first !== undefined) {
      add({ index, field: 'address', value: key, problem: `duplicates entry ${first}; each address:port may appear once` });
      return;
    }
    seen.set(key, index);
    if (server.name !== undefined) {
      const firstName = names.get(server.name);
      if (firstName !== undefined) {
        add({ index, field: 'name', value: server.name, problem: `duplicates the name of entry ${firstName}; names must be unique` });
        return;
      }
      names.set(server.name, index);
    }
    servers.push(server);
  });
  if (count > 0) return reject(problems, count);
  return { ok: true, servers: sortServers(servers) };
}

function reject(problems: readonly SnapshotProblem[], count: number): SnapshotValidation {
  const p = problems[0];
  const where = p === undefined ? '' : p.index < 0 ? 'the list ' : `entry ${p.index} field ${p.field} `;
  const message =
    `discovery data rejected (${count} problem${count === 1 ? '' : 's'}): ${where}${p ? `(${JSON.stringify(p.value) ?? String(p.value)}) ${p.problem}` : ''}; ` +
    'the previous snapshot is kept until the source returns valid data';
  return { ok: false, code: 'DISCOVERY_INVALID_DATA', message, problems, problemCount: count };
}
