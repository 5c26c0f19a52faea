/**
 * Transaction variables that hold the query-string parameters and cookies a frontend's routes
 * test (issue 21). Every condition and map lookup on a query key or a cookie reads one variable
 * set once per request, so all of them see the same occurrence the routing semantics name
 * (src/model/spec.ts, 10 and 11): `url_param(key)` as a sample gives the FIRST occurrence and
 * `req.cook(name)` the LAST, whereas the same fetches inside an ACL would try every occurrence.
 */
import type { Frontend } from '../model/spec.js';
import { SystemError } from '../util/errors.js';

/** The variable of each query key and cookie name a frontend's routes test. */
export interface L7Vars {
  readonly query: ReadonlyMap<string, string>;
  readonly cookie: ReadonlyMap<string, string>;
}

const QUERY_KEY = /^[A-Za-z0-9_.~-]{1,128}$/;
const COOKIE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Variables numbered in order of first use: `txn.olb_q1`..., `txn.olb_c1`... */
export function l7Vars(fe: Frontend): L7Vars {
  const query = new Map<string, string>();
  const cookie = new Map<string, string>();
  for (const r of fe.routes) {
    for (const c of r.conditions) {
      if (c.kind === 'query' && !query.has(c.name)) query.set(c.name, `txn.olb_q${query.size + 1}`);
      if (c.kind === 'cookie' && !cookie.has(c.name)) cookie.set(c.name, `txn.olb_c${cookie.size + 1}`);
    }
  }
  return { query, cookie };
}

/** The variable of `name` (a query key or cookie of the frontend); INTERNAL when unknown. */
export function l7Var(vars: L7Vars, kind: 'query' | 'cookie', name: string): string {
  const v = (kind === 'query' ? vars.query : vars.cookie).get(name);
  if (v === undefined) throw new SystemError('INTERNAL', `${kind} ${JSON.stringify(name)} has no variable; l7Vars missed it`);
  return v;
}

/**
 * The `http-request set-var` lines, before the first route. A parameter or cookie that is not in
 * the request leaves its variable unset (`-m found` is false); an empty one sets it to "".
 */
export function l7VarLines(vars: L7Vars): string[] {
  const lines: string[] = [];
  for (const [key, v] of vars.query) {
    if (!QUERY_KEY.test(key)) throw new SystemError('INTERNAL', `query key ${JSON.stringify(key)} reached the HAProxy renderer; the spec layer should have rejected it`);
    lines.push(`  http-request set-var(${v}) url_param(${key})`);
  }
  for (const [name, v] of vars.cookie) {
    if (!COOKIE_NAME.test(name)) throw new SystemError('INTERNAL', `cookie name ${JSON.stringify(name)} reached the HAProxy renderer; the spec layer should have rejected it`);
    lines.push(`  http-request set-var(${v}) req.cook(${name})`);
  }
  return lines;
}
