/**
 * The EC2 Query protocol's request side (pure): flat `Name.N.Sub` parameters into lists and
 * filters, typed getters that answer EC2's MissingParameter / InvalidParameterValue, filter
 * matching with `*` / `?` wildcards, and MaxResults / NextToken pagination.
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/Query-Requests.html
 */
import { ec2Errors } from './errors.js';
import { wildcardMatch } from './policy.js';
import { compareCodeUnits } from '../../util/compare.js';

/** The decoded parameters of one request. */
export class QueryParams {
  constructor(private readonly values: ReadonlyMap<string, string>) {}

  /** Parse an `application/x-www-form-urlencoded` body or a query string (later values win). */
  static parse(...sources: readonly string[]): QueryParams {
    const values = new Map<string, string>();
    for (const source of sources) for (const [k, v] of new URLSearchParams(source)) values.set(k, v);
    return new QueryParams(values);
  }

  /** Every parameter, sorted by name (for RunInstances' idempotency fingerprint). */
  entries(): [string, string][] {
    return [...this.values.entries()].sort(([a], [b]) => compareCodeUnits(a, b));
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  /** A parameter the action cannot do without (EC2 names it in camelCase in the message). */
  require(name: string): string {
    const value = this.values.get(name);
    if (value === undefined || value === '') throw ec2Errors.missingParameter(name.charAt(0).toLowerCase() + name.slice(1));
    return value;
  }

  bool(name: string): boolean | undefined {
    const value = this.values.get(name);
    if (value === undefined) return undefined;
    if (value === 'true' || value === 'false') return value === 'true';
    throw ec2Errors.invalidParameterValue(`Value (${value}) for parameter ${name} is invalid. Expected: 'true' or 'false'.`);
  }

  /** `Name.1`, `Name.2`, ... in numeric order. */
  list(name: string): string[] {
    return this.indexed(name).map(([, key]) => this.values.get(key)!);
  }

  /** Members of a structure list: `Name.N.Field` -> one record per N. */
  structs(name: string): Record<string, string>[] {
    const byIndex = new Map<number, Record<string, string>>();
    const prefix = `${name}.`;
    for (const [key, value] of this.values) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      const dot = rest.indexOf('.');
      if (dot < 0) continue;
      const index = Number(rest.slice(0, dot));
      if (!Number.isInteger(index)) continue;
      const record = byIndex.get(index) ?? {};
      record[rest.slice(dot + 1)] = value;
      byIndex.set(index, record);
    }
    return [...byIndex.entries()].sort(([a], [b]) => a - b).map(([, r]) => r);
  }

  private indexed(name: string): [number, string][] {
    const out: [number, string][] = [];
    for (const key of this.values.keys()) {
      const m = key.startsWith(`${name}.`) ? /^(\d+)$/.exec(key.slice(name.length + 1)) : null;
      if (m !== null) out.push([Number(m[1]), key]);
    }
    return out.sort(([a], [b]) => a - b);
  }

  /** `Filter.N.Name` with `Filter.N.Value.M`. */
  filters(): Filter[] {
    return this.structs('Filter').map((record) => {
      const name = record['Name'];
      if (name === undefined) throw ec2Errors.missingParameter('filter.name');
      const values = Object.entries(record)
        .filter(([k]) => /^Value\.\d+$/.test(k))
        .sort(([a], [b]) => Number(a.slice(6)) - Number(b.slice(6)))
        .map(([, v]) => v);
      return { name, values };
    });
  }
}

export interface Filter {
  readonly name: string;
  readonly values: readonly string[];
}

/** How to read a filterable attribute from a resource: its values (any of them may match). */
export type FilterFields<T> = Readonly<Record<string, (item: T) => readonly (string | undefined)[]>>;

/** `tag:KEY`, `tag-key` and `tag-value` for any tagged resource. */
function tagValues(name: string, tags: Readonly<Record<string, string>>): readonly string[] | undefined {
  if (name.startsWith('tag:')) {
    const value = tags[name.slice(4)];
    return value === undefined ? [] : [value];
  }
  if (name === 'tag-key') return Object.keys(tags);
  if (name === 'tag-value') return Object.values(tags);
  return undefined;
}

/**
 * Keep the items every filter matches (filters AND, values OR, `*` and `?` wildcards as EC2).
 * An unknown filter name is InvalidParameterValue, as EC2 answers.
 */
export function applyFilters<T>(options: {
  items: readonly T[]; filters: readonly Filter[]; fields: FilterFields<T>; tags: (item: T) => Readonly<Record<string, string>>;
}): T[] {
  for (const f of options.filters) {
    if (!(f.name in options.fields) && tagValues(f.name, {}) === undefined) {
      throw ec2Errors.invalidParameterValue(`The filter '${f.name}' is invalid`);
    }
  }
  return options.items.filter((item) => options.filters.every((f) => {
    const actual = tagValues(f.name, options.tags(item)) ?? options.fields[f.name]!(item).filter((v): v is string => v !== undefined);
    return f.values.some((pattern) => actual.some((a) => wildcardMatch(pattern, a, { ignoreCase: false })));
  }));
}

/**
 * One page of `items` (already in a stable order). NextToken is the opaque offset of the next
 * item; MaxResults must lie in [min, max] as the action documents.
 */
export function paginate<T>(options: { items: readonly T[]; params: QueryParams; min: number; max: number }): { page: T[]; nextToken: string | undefined } {
  const maxText = options.params.get('MaxResults');
  const tokenText = options.params.get('NextToken');
  let start = 0;
  if (tokenText !== undefined && tokenText !== '') {
    const decoded = Number(Buffer.from(tokenText, 'base64url').toString('utf8').replace(/^lab:/, ''));
    if (!Number.isInteger(decoded) || decoded < 0) throw ec2Errors.invalidParameterValue(`Invalid value '${tokenText}' for NextToken`);
    start = decoded;
  }
  if (maxText === undefined) return { page: options.items.slice(start), nextToken: undefined };
  const max = Number(maxText);
  if (!Number.isInteger(max) || max < options.min || max > options.max) {
    throw ec2Errors.invalidParameterValue(`Value ( ${maxText} ) for parameter maxResults is invalid. Parameter must be between ${options.min} and ${options.max}.`);
  }
  const page = options.items.slice(start, start + max);
  const next = start + max;
  return { page, nextToken: next < options.items.length ? Buffer.from(`lab:${next}`, 'utf8').toString('base64url') : undefined };
}
