/**
 * YAML text -> validated, normalized, deep-frozen `Spec`, or every diagnostic at once.
 *
 * Steps: YAML (syntax errors and duplicate keys are SPEC_YAML), the zod schema over the whole
 * document (structural issues, in our words), then each list element parsed on its own and
 * normalized so the cross-object rules of `semantic.ts` run on everything that is structurally
 * valid. Diagnostics are sorted by position.
 */
import { createHash } from 'node:crypto';
import { LineCounter, parseDocument } from 'yaml';
import type { Spec } from '../model/spec.js';
import type { Diagnostic } from '../util/errors.js';
import { DEFAULT_MESSAGE, issuesToFindings, type Finding } from './issues.js';
import { createLocator } from './locate.js';
import { quoteForMessage } from './names.js';
import { normalizeAdmin, normalizeBackend, normalizeCluster, normalizeFrontend, normalizeProvision, normalizeSource, normalizeSwitch } from './normalize.js';
import { SpecSchema } from './schema.js';
import { checkSemantics } from './semantic.js';
import { compareCodeUnits } from '../util/compare.js';

export type ParseResult = { readonly ok: true; readonly spec: Spec; readonly hash: string } | { readonly ok: false; readonly diagnostics: readonly Diagnostic[] };

export interface ParseSpecOptions {
  /** The file name put in diagnostics (as the user gave it). */
  readonly file: string;
}

/** Freezes a value and everything it holds. */
export function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** JSON with object keys sorted at every level: the canonical form behind `specHash`. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => compareCodeUnits(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of the canonical JSON of a normalized spec: formatting and comments do not count. */
export function specHash(spec: Spec): string {
  return createHash('sha256').update(canonicalJson(spec)).digest('hex');
}

function yamlMessage(code: string, message: string, source: string, offset: number): string {
  if (code === 'DUPLICATE_KEY') {
    const key = /^[^:\n]*/.exec(source.slice(offset))?.[0]?.trim() ?? '';
    return `duplicate key ${quoteForMessage(key)} in this map; each key may appear once: remove or merge one of them`;
  }
  const first = message.split('\n')[0] ?? message;
  return `YAML syntax error: ${first.replace(/ at line \d+, column \d+:?$/, '')}`;
}

/**
 * Parses and validates a spec. Never throws for bad input: every problem is a diagnostic with a
 * registered code, the file, and the 1-based line and column of the offending YAML node.
 */
export function parseSpec(text: string, options: ParseSpecOptions): ParseResult {
  const { file } = options;
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, version: '1.2' });
  if (doc.errors.length > 0) {
    const diagnostics = doc.errors.map((e): Diagnostic => {
      const at = lineCounter.linePos(e.pos[0]);
      return { code: 'SPEC_YAML', message: yamlMessage(e.code, e.message, text, e.pos[0]), path: [], file, line: at.line, col: at.col };
    });
    return { ok: false, diagnostics: sortDiagnostics(diagnostics) };
  }
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    return { ok: false, diagnostics: [{ code: 'SPEC_YAML', message: `YAML error: ${(e as Error).message} (anchors and aliases expand to too much data: write the values out)`, path: [], file, line: 1, col: 1 }] };
  }

  const findings: Finding[] = [];
  const whole = SpecSchema.safeParse(raw, { reportInput: true, error: () => DEFAULT_MESSAGE });
  if (!whole.success) findings.push(...issuesToFindings(whole.error.issues, { schema: SpecSchema, data: raw }));

  findings.push(...checkSemantics(raw));

  if (findings.length > 0 || !whole.success) {
    const locator = createLocator(doc, lineCounter);
    const seen = new Set<string>();
    const diagnostics: Diagnostic[] = [];
    for (const f of findings) {
      const at = f.at === 'key' ? locator.key(f.path) : locator.value(f.path);
      const d: Diagnostic = { code: f.code, message: f.message, path: f.path, file, line: at.line, col: at.col };
      const k = `${d.line}:${d.col}:${d.message}`;
      if (!seen.has(k)) {
        seen.add(k);
        diagnostics.push(d);
      }
    }
    return { ok: false, diagnostics: sortDiagnostics(diagnostics) };
  }

  const input = whole.data;
  const spec: Spec = {
    version: 1,
    cluster: normalizeCluster(input.cluster),
    admin: normalizeAdmin(input.admin),
    frontends: input.frontends.map(normalizeFrontend),
    backends: input.backends.map(normalizeBackend),
    switches: (input.switches ?? []).map(normalizeSwitch),
    discovery: (input.discovery ?? []).map(normalizeSource),
    ...(input.provision === undefined ? {} : { provision: normalizeProvision(input.provision, input.cluster.name) }),
  };
  deepFreeze(spec);
  return { ok: true, spec, hash: specHash(spec) };
}

function sortDiagnostics(ds: Diagnostic[]): Diagnostic[] {
  return ds.sort((a, b) => a.line - b.line || a.col - b.col || (a.message < b.message ? -1 : a.message > b.message ? 1 : 0));
}
