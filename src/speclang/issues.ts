/**
 * Turns zod issues into our findings: our error codes and our wording (the bad value, what is
 * allowed, the fix), each with the path it is about and whether it points at a value, a key or
 * the map that misses a field.
 */
import { z } from 'zod';
import type { ErrorCode } from '../util/errors.js';
import { describeValue, didYouMean, formatPath, quoteForMessage } from './names.js';
import type { IssueParams } from './schema.js';
import type { SpecPath } from './locate.js';

/** The message zod uses when a schema gives none (passed as the per-parse error map). */
export const DEFAULT_MESSAGE = '\u0000default';

export interface Finding {
  readonly code: ErrorCode;
  readonly message: string;
  readonly path: SpecPath;
  /** `key`: the key of the last element; `value`: the value (or nearest existing ancestor). */
  readonly at: 'key' | 'value';
}

/** The value at `path` in plain data, or undefined. */
export function valueAt(data: unknown, path: SpecPath): unknown {
  let v = data;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string | number, unknown>)[seg];
  }
  return v;
}

function kindOf(v: unknown): 'object' | 'array' | 'other' {
  return Array.isArray(v) ? 'array' : v !== null && typeof v === 'object' ? 'object' : 'other';
}

/** Picks the schema that applies to `value`: unwraps optionals and chooses a union's option. */
function resolveSchema(schema: z.ZodType, value: unknown): z.ZodType {
  let s = schema;
  for (let i = 0; i < 10; i++) {
    if (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodUnion) {
      const options = s.options as readonly z.ZodType[];
      const byKind = options.filter((o) => (o instanceof z.ZodObject ? 'object' : o instanceof z.ZodArray ? 'array' : 'other') === kindOf(value));
      // The tag: a discriminated union's own (`to` for admin.accessLog), else `type`.
      const tag = s instanceof z.ZodDiscriminatedUnion ? String((s.def as { discriminator: unknown }).discriminator) : 'type';
      const tagged = byKind.find((o) => {
        if (!(o instanceof z.ZodObject)) return false;
        const t = (o.shape as Record<string, z.ZodType>)[tag];
        return t instanceof z.ZodLiteral && value !== null && typeof value === 'object' && t.values.has((value as Record<string, unknown>)[tag] as never);
      });
      const chosen = tagged ?? byKind[0];
      if (chosen === undefined) return s;
      s = chosen;
    } else return s;
  }
  return s;
}

/** The field names allowed in the map at `path`, or undefined when it is not a known map. */
export function allowedKeysAt(root: z.ZodType, data: unknown, path: SpecPath): string[] | undefined {
  let s = resolveSchema(root, data);
  let v = data;
  for (const seg of path) {
    v = valueAt(v, [seg]);
    if (s instanceof z.ZodObject) s = (s.shape as Record<string, z.ZodType>)[String(seg)] ?? s;
    else if (s instanceof z.ZodArray) s = s.element as z.ZodType;
    else if (s instanceof z.ZodRecord) s = s.valueType as z.ZodType;
    else return undefined;
    s = resolveSchema(s, v);
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : undefined;
}

function expectedWord(expected: string): string {
  const words: Record<string, string> = {
    string: 'a string',
    number: 'a number',
    int: 'an integer',
    boolean: 'true or false',
    array: 'a list',
    object: 'a map',
    record: 'a map',
  };
  return words[expected] ?? expected;
}

function describeGot(v: unknown): string {
  if (typeof v === 'string') return `the string ${quoteForMessage(v)}`;
  if (typeof v === 'number') return `the number ${v}`;
  if (typeof v === 'boolean') return `${v}`;
  return describeValue(v);
}

type Issue = z.core.$ZodIssue;

function toPath(path: readonly PropertyKey[]): (string | number)[] {
  return path.map((p) => (typeof p === 'number' ? p : String(p)));
}

/** Maps one zod issue (with paths relative to the root of `data`) to findings. */
export function issueToFindings(issue: Issue, context: { schema: z.ZodType; data: unknown; prefix?: SpecPath }): Finding[] {
  const path = [...(context.prefix ?? []), ...toPath(issue.path)];
  const p = formatPath(path);
  const input = valueAt(context.data, path);
  const custom = issue.message !== DEFAULT_MESSAGE;
  switch (issue.code) {
    case 'custom': {
      const params = (issue.params ?? {}) as Partial<IssueParams>;
      return [{ code: params.code ?? 'SPEC_FORMAT', message: `${p}: ${issue.message}`, path, at: params.at ?? 'value' }];
    }
    case 'invalid_type': {
      if (input === undefined && path.length > 0) {
        const parent = path.slice(0, -1);
        const field = String(path[path.length - 1]);
        return [{ code: 'SPEC_REQUIRED', message: `${formatPath(parent)}: missing required field "${field}"`, path: parent, at: 'value' }];
      }
      if (path.length === 0 && (input === null || input === undefined)) {
        return [{ code: 'SPEC_TYPE', message: 'the spec is empty: expected a map with cluster, frontends and backends (see examples/demo.yaml)', path, at: 'value' }];
      }
      const quoteHint = issue.expected === 'string' && (typeof input === 'number' || typeof input === 'boolean') ? `; quote it: "${String(input)}"` : '';
      return [{ code: 'SPEC_TYPE', message: `${p}: expected ${expectedWord(issue.expected)}, got ${describeGot(input)}${quoteHint}`, path, at: 'value' }];
    }
    case 'unrecognized_keys': {
      const allowed = allowedKeysAt(context.schema, context.data, path) ?? [];
      return issue.keys.map((key) => ({
        code: 'SPEC_UNKNOWN_FIELD' as const,
        message: `${formatPath([...path, key])}: unknown field ${quoteForMessage(key)}; allowed fields: ${allowed.join(', ')}.${didYouMean(key, allowed)}`,
        path: [...path, key],
        at: 'key' as const,
      }));
    }
    case 'invalid_value': {
      const allowed = issue.values.map((v) => String(v));
      const hint = typeof input === 'string' ? didYouMean(input, allowed) : '';
      return [{ code: 'SPEC_ENUM', message: `${p}: ${describeValue(input)} is not allowed; allowed: ${allowed.join(', ')}.${hint}`, path, at: 'value' }];
    }
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? `minimum ${String(issue.minimum)}` : `maximum ${String(issue.maximum)}`;
      const detail = custom ? issue.message : bound;
      if (issue.origin === 'number' || issue.origin === 'int') return [{ code: 'SPEC_RANGE', message: `${p}: ${String(input)} is out of range; ${detail}`, path, at: 'value' }];
      if (issue.origin === 'array') return [{ code: 'SPEC_RANGE', message: `${p}: ${custom ? issue.message : `needs ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(issue.code === 'too_small' ? issue.minimum : issue.maximum)} items`}`, path, at: 'value' }];
      return [{ code: 'SPEC_RANGE', message: `${p}: ${describeValue(input)} has the wrong length; ${detail}`, path, at: 'value' }];
    }
    case 'invalid_union': {
      const tagged = issue as Issue & { discriminator?: string; options?: readonly unknown[] };
      if (tagged.discriminator !== undefined) {
        const allowed = (tagged.options ?? []).map((o) => String(o));
        const tagPath = path[path.length - 1] === tagged.discriminator ? path : [...path, tagged.discriminator];
        const tag = valueAt(context.data, tagPath);
        if (tag === undefined) {
          const parent = tagPath.slice(0, -1);
          return [{ code: 'SPEC_REQUIRED', message: `${formatPath(parent)}: missing required field "${tagged.discriminator}"; allowed: ${allowed.join(', ')}`, path: parent, at: 'value' }];
        }
        const hint = typeof tag === 'string' ? didYouMean(tag, allowed) : '';
        return [{ code: 'SPEC_ENUM', message: `${formatPath(tagPath)}: ${describeValue(tag)} is not allowed; allowed: ${allowed.join(', ')}.${hint}`, path: tagPath, at: 'value' }];
      }
      // Choose the alternative that fits the value's type and report its own issues; when none
      // fits, say which types would.
      const fits = (branch: readonly Issue[]): boolean =>
        !branch.some(
          (i) =>
            i.path.length === 0 &&
            (i.code === 'invalid_type' || (i.code === 'invalid_value' && i.values.every((x) => typeof x !== typeof input))),
        );
      const branch = issue.errors.find(fits);
      if (branch !== undefined) return branch.flatMap((i) => issueToFindings(i, { ...context, prefix: path }));
      const wanted = issue.errors.flatMap((b) =>
        b.filter((i) => i.path.length === 0).map((i) => (i.code === 'invalid_type' ? expectedWord(i.expected) : i.code === 'invalid_value' ? i.values.map((x) => JSON.stringify(x)).join(', ') : '')),
      );
      const unique = [...new Set(wanted.filter((w) => w !== ''))];
      return [{ code: 'SPEC_TYPE', message: `${p}: expected ${unique.join(' or ')}, got ${describeGot(input)}`, path, at: 'value' }];
    }
    case 'invalid_key':
      return issue.issues.flatMap((i) => issueToFindings(i, { ...context, prefix: path }).map((f) => ({ ...f, path, at: 'key' as const })));
    default:
      return [{ code: 'SPEC_FORMAT', message: `${p}: ${custom ? `${describeValue(input)} ${issue.message}` : `${describeValue(input)} is invalid`}`, path, at: 'value' }];
  }
}

/**
 * Every finding for a failed parse, without follow-on noise: once a value has the wrong type,
 * other issues about that same value are dropped.
 */
export function issuesToFindings(issues: readonly Issue[], context: { schema: z.ZodType; data: unknown }): Finding[] {
  const typeErrors = new Set(issues.filter((i) => i.code === 'invalid_type').map((i) => JSON.stringify(toPath(i.path))));
  return issues
    .filter((i) => i.code === 'invalid_type' || !typeErrors.has(JSON.stringify(toPath(i.path))))
    .flatMap((i) => issueToFindings(i, context));
}
