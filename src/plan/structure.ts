/**
 * The structural part of a rendered haproxy.cfg: everything the Runtime API cannot change.
 *
 * Read from the typed config (src/render/haproxy-config.ts), never from its text. The
 * runtime-changeable parts are masked out so that two configs that differ only in them have the
 * same sections and the same hash:
 * - comment lines (the header carries the spec hash, which changes with every spec edit, and
 *   the map-run comments carry entry counts);
 * - static `server` lines keep their name and options but not their address, port or weight
 *   (`set server ... addr/weight` changes those);
 * - spare slots (`server olb-spare-<n> ...`) are dropped: their number is kept separately
 *   (see `BackendIntent.spareSlots`) so a grown slot count is reported as such, not as a diff.
 * Map contents are never in the config (only their paths and lookup functions are).
 *
 * The masked lines keep the text form of earlier versions (`server s1 <runtime> weight <runtime>
 * check`), so a state persisted by them has the same hash (no reload after an upgrade).
 */
import { createHash } from 'node:crypto';
import { lineText, sectionHeader, serverOptions, type HaproxyConfig } from '../render/haproxy-config.js';

export { SPARE_PREFIX } from '../render/haproxy-config.js';

/** One masked section of the config, for example `backend app` and its directive lines. */
export interface ConfigSection {
  /** The section's opening line, for example `backend app` or `global`. */
  readonly header: string;
  /** Masked directive lines, trimmed, in config order. */
  readonly lines: readonly string[];
}

/** What a masked value reads as. */
export const MASK = '<runtime>';

/** The masked sections of a typed config (see the module comment). */
export function maskConfig(config: Pick<HaproxyConfig, 'sections'>): ConfigSection[] {
  return config.sections.map((s) => {
    const lines: string[] = [];
    for (const line of s.lines) {
      if (line.kind === 'comment') continue;
      if (line.kind === 'server') {
        if (!line.spare) lines.push(`server ${line.name} ${MASK} weight ${MASK}${serverOptions(line)}`);
        continue;
      }
      lines.push(lineText(line).trim());
    }
    return { header: sectionHeader(s), lines };
  });
}

/** sha256 (hex) of a value's JSON form; callers pass arrays and plain objects in a fixed order. */
export function hashJson(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

/** The directive a masked line sets, used to name what changed (`timeout server`, `server s1`, `routes`). */
export function directiveOf(line: string): string {
  // Every routing rule goes through the txn.olb_be variable (src/render/haproxy.ts).
  if (line.includes('txn.olb_be') || line.includes('txn.olb_host')) return 'routes';
  const words = line.split(' ');
  const [first = '', second = ''] = words;
  if (['timeout', 'option', 'server', 'http-check', 'stats', 'monitor', 'hash-type', 'log', 'ssl-default-bind-options'].includes(first)) return `${first} ${second}`;
  if (first === 'no' && second === 'option') return `option ${words[2] ?? ''}`;
  return first;
}

/**
 * Names every difference between two section lists, one entry per section, in the desired
 * order (removed sections last): `{ section: 'backend app', what: ['timeout server'] }`.
 * Linear in the number of lines (multiset difference through maps).
 */
export function diffSections(applied: readonly ConfigSection[], desired: readonly ConfigSection[]): { section: string; what: string[] }[] {
  const before = new Map(applied.map((s) => [s.header, s]));
  const after = new Set(desired.map((s) => s.header));
  // Relative order of the sections present on both sides, to report a section that only moved.
  const oldRank = new Map(applied.filter((s) => after.has(s.header)).map((s, i) => [s.header, i]));
  const newRank = new Map(desired.filter((s) => before.has(s.header)).map((s, i) => [s.header, i]));
  const out: { section: string; what: string[] }[] = [];
  for (const s of desired) {
    const old = before.get(s.header);
    if (old === undefined) {
      out.push({ section: s.header, what: ['added'] });
      continue;
    }
    const what = changedDirectives(old.lines, s.lines);
    if (what.length === 0 && oldRank.get(s.header) !== newRank.get(s.header)) what.push('moved');
    if (what.length > 0) out.push({ section: s.header, what });
  }
  for (const s of applied) if (!after.has(s.header)) out.push({ section: s.header, what: ['removed'] });
  return out;
}

function changedDirectives(before: readonly string[], after: readonly string[]): string[] {
  const counts = new Map<string, number>();
  for (const l of before) counts.set(l, (counts.get(l) ?? 0) + 1);
  const added: string[] = [];
  for (const l of after) {
    const n = counts.get(l) ?? 0;
    if (n > 0) counts.set(l, n - 1);
    else added.push(l);
  }
  const removed: string[] = [];
  for (const l of before) {
    const n = counts.get(l) ?? 0;
    if (n > 0) {
      removed.push(l);
      counts.set(l, n - 1);
    }
  }
  const names = new Set<string>();
  for (const l of [...removed, ...added]) names.add(directiveOf(l));
  // Same lines in another order: directive order matters to HAProxy (rules run top to bottom).
  if (names.size === 0 && before.some((l, i) => after[i] !== l)) names.add('order');
  return [...names].sort();
}
