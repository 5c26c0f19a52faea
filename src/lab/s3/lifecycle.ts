/**
 * The lab's bucket lifecycle configuration (`?lifecycle`): PutBucketLifecycleConfiguration,
 * GetBucketLifecycleConfiguration and DeleteBucketLifecycle, with S3's XML shapes and errors for
 * the part the lab supports: rules with an `ID`, a `Filter` holding a `Prefix` (or none, or the
 * older rule-level `Prefix`), a `Status`, and a `NoncurrentVersionExpiration` (`NoncurrentDays`,
 * `NewerNoncurrentVersions`): what `overlay-lb up` sets on its release bucket. Other actions and
 * filters are answered NotImplemented, never silently dropped. The lab stores the configuration;
 * it never expires versions (docs/lab-ec2-api.md). Pure: no I/O.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLifecycleConfiguration.html
 */
import { randomBytes } from 'node:crypto';
import { unescapeXml, type XmlNode } from '../ec2/xml.js';
import { s3Errors } from './errors.js';

/** One rule as the lab keeps it. */
export interface LifecycleRule {
  readonly id: string;
  /** The key prefix it applies to ('' for every key). */
  readonly prefix: string;
  /** Whether the rule was given in a `Filter` (the current form) or with a rule-level `Prefix`; answered in the same form. */
  readonly form: 'filter' | 'prefix';
  readonly status: 'Enabled' | 'Disabled';
  readonly noncurrentDays: number;
  readonly newerNoncurrentVersions?: number;
}

/** S3's limit of rules per configuration. */
export const LIFECYCLE_RULES_MAX = 1000;

/** The child elements of an element's content, in order; anything else than elements and whitespace is MalformedXML. */
function children(content: string): { name: string; body: string }[] {
  const out: { name: string; body: string }[] = [];
  const re = /<([A-Za-z]+)(?:\s[^>]*)?(?:\/>|>([\s\S]*?)<\/\1\s*>)/g;
  let at = 0;
  for (const m of content.matchAll(re)) {
    if (content.slice(at, m.index).trim() !== '') throw s3Errors.malformedXml();
    out.push({ name: m[1]!, body: m[2] ?? '' });
    at = m.index + m[0].length;
  }
  if (content.slice(at).trim() !== '') throw s3Errors.malformedXml();
  return out;
}

/** The text of a leaf element (no child elements). */
function text(body: string): string {
  if (body.includes('<')) throw s3Errors.malformedXml();
  return unescapeXml(body);
}

function positiveInteger(value: string, what: string, max?: number): number {
  if (!/^\s*\d+\s*$/.test(value)) throw s3Errors.malformedXml();
  const n = Number(value);
  if (n < 1 || (max !== undefined && n > max)) {
    throw s3Errors.invalidArgument(`'${what}' in NoncurrentVersionExpiration action must be a positive integer${max === undefined ? '' : ` no greater than ${max}`}`, { ArgumentName: what, ArgumentValue: value.trim() });
  }
  return n;
}

/** The lab's S3 knows these rule elements (S3 has them) but does not implement them. */
const NOT_IMPLEMENTED = new Set(['Expiration', 'Transition', 'Transitions', 'NoncurrentVersionTransition', 'AbortIncompleteMultipartUpload']);

function parseRule(body: string): LifecycleRule {
  let id: string | undefined;
  let filterPrefix: string | undefined;
  let rulePrefix: string | undefined;
  let status: string | undefined;
  let expiration: { days: number; newer?: number } | undefined;
  const seen = new Set<string>();
  for (const c of children(body)) {
    if (seen.has(c.name)) throw s3Errors.malformedXml();
    seen.add(c.name);
    switch (c.name) {
      case 'ID': id = text(c.body); break;
      case 'Status': status = text(c.body).trim(); break;
      case 'Prefix': rulePrefix = text(c.body); break;
      case 'Filter': {
        filterPrefix = '';
        for (const f of children(c.body)) {
          if (f.name === 'Prefix') filterPrefix = text(f.body);
          else if (['Tag', 'And', 'ObjectSizeGreaterThan', 'ObjectSizeLessThan'].includes(f.name)) throw s3Errors.notSupported(`the lifecycle filter element ${f.name}`);
          else throw s3Errors.malformedXml();
        }
        break;
      }
      case 'NoncurrentVersionExpiration': {
        let days: number | undefined;
        let newer: number | undefined;
        for (const f of children(c.body)) {
          if (f.name === 'NoncurrentDays' && days === undefined) days = positiveInteger(text(f.body), 'NoncurrentDays');
          else if (f.name === 'NewerNoncurrentVersions' && newer === undefined) newer = positiveInteger(text(f.body), 'NewerNoncurrentVersions', 100);
          else throw s3Errors.malformedXml();
        }
        if (days === undefined) throw s3Errors.invalidArgument("'NoncurrentDays' for NoncurrentVersionExpiration action must be specified", { ArgumentName: 'NoncurrentDays' });
        expiration = { days, ...(newer === undefined ? {} : { newer }) };
        break;
      }
      default:
        if (NOT_IMPLEMENTED.has(c.name)) throw s3Errors.notSupported(`the lifecycle action ${c.name} (only NoncurrentVersionExpiration)`);
        throw s3Errors.malformedXml();
    }
  }
  // A rule has exactly one of Filter and the older rule-level Prefix, and a Status.
  if ((filterPrefix === undefined) === (rulePrefix === undefined) || (status !== 'Enabled' && status !== 'Disabled')) throw s3Errors.malformedXml();
  if (id !== undefined && id.length > 255) throw s3Errors.invalidArgument('ID length should not exceed allowed limit of 255', { ArgumentName: 'ID', ArgumentValue: id.slice(0, 255) });
  if (expiration === undefined) throw s3Errors.invalidRequest('At least one action needs to be specified in a rule');
  return {
    // S3 gives a rule without an ID a generated one.
    id: id === undefined || id === '' ? randomBytes(36).toString('base64url').slice(0, 48) : id,
    prefix: filterPrefix ?? rulePrefix ?? '', form: filterPrefix === undefined ? 'prefix' : 'filter', status,
    noncurrentDays: expiration.days, ...(expiration.newer === undefined ? {} : { newerNoncurrentVersions: expiration.newer }),
  };
}

/**
 * The rules of a PutBucketLifecycleConfiguration body.
 * @throws S3ApiError MalformedXML (not the schema: no rule, more than 1,000, a rule with both or
 *   neither of Filter and Prefix, a Status other than Enabled or Disabled, an unknown element),
 *   InvalidArgument (an ID over 255 characters or given twice, NoncurrentDays below 1,
 *   NewerNoncurrentVersions outside 1-100), InvalidRequest (a rule without an action),
 *   NotImplemented (an action or filter the lab does not implement)
 */
export function parseLifecycleConfiguration(body: string): LifecycleRule[] {
  const root = /^\s*(?:<\?xml[^>]*\?>\s*)?<LifecycleConfiguration(?:\s[^>]*)?>([\s\S]*)<\/LifecycleConfiguration>\s*$/.exec(body);
  if (root === null) throw s3Errors.malformedXml();
  const parts = children(root[1] ?? '');
  if (parts.length === 0 || parts.length > LIFECYCLE_RULES_MAX || parts.some((p) => p.name !== 'Rule')) throw s3Errors.malformedXml();
  const rules = parts.map((p) => parseRule(p.body));
  const ids = new Set<string>();
  for (const r of rules) {
    if (ids.has(r.id)) throw s3Errors.invalidArgument('Rule ID must be unique. Found same ID for more than one rule', { ArgumentName: 'ID', ArgumentValue: r.id });
    ids.add(r.id);
  }
  return rules;
}

/** The `<Rule>` elements of a GetBucketLifecycleConfiguration answer. */
export function lifecycleXml(rules: readonly LifecycleRule[]): XmlNode {
  return {
    Rule: rules.map((r) => ({
      ID: r.id,
      ...(r.form === 'filter' ? { Filter: { Prefix: r.prefix } } : { Prefix: r.prefix }),
      Status: r.status,
      NoncurrentVersionExpiration: { NoncurrentDays: r.noncurrentDays, NewerNoncurrentVersions: r.newerNoncurrentVersions },
    })),
  };
}
