/**
 * Seeded generators of rule sets and requests for the differential test. Small shared value pools
 * make routes and requests collide often (matches, shadowing, duplicate keys, case variants).
 */
import type { Condition, HeaderRewrite, Redirect, Route, RouteAction, Switch } from '../../src/model/spec.js';
import type { ExplainRequest } from '../../src/model/explain.js';
import { mulberry32 } from '../../src/util/mulberry32.js';

/** A seeded picker over mulberry32. */
export function makeRng(seed: number): Rng {
  const next = mulberry32(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return {
    next,
    int,
    chance: (p: number) => next() < p,
    pick<T>(items: readonly T[]): T {
      const item = items[int(items.length)];
      if (item === undefined) throw new Error('pick from an empty list');
      return item;
    },
  };
}

export interface Rng {
  next(): number;
  int(n: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
}

export const ROUTE_BACKENDS = ['b0', 'b1', 'b2', 'b3', 'b4', 'b5'] as const;
export const DEFAULT_BACKEND = 'bdef';
export const SWITCH_BACKENDS = ['sw-blue', 'sw-green'] as const;
export const ALL_BACKENDS = [...ROUTE_BACKENDS, DEFAULT_BACKEND, ...SWITCH_BACKENDS];

const HEADER_NAMES = ['x-tenant', 'x-canary', 'x-env'];
const HEADER_VALUES = ['a', 'b', 'ab', 'abc', 'A', '1', '12', 'v1', 'v2-beta', 'beta'];
/**
 * Values where byte and character semantics differ (HAProxy matches UTF-8 bytes): non-ASCII
 * letters, an emoji, a trailing non-breaking space (part of the value: only SP and HT are trimmed).
 */
const ODD_VALUES = ['a\u00e9', '\u00e9', '\u00e9\u00e9', 'caf\u00e9', 'a\u00a0', 'b\u00a0', '\u{1F600}', 'a\u00a0b'];
const HOSTS = ['api.example.com', 'www.example.com', 'example.com', 'shop.test', 'a.shop.test'];
const HOST_SUFFIXES = ['.example.com', 'example.com', '.test', 'shop.test'];
const PATHS = ['/', '/api', '/api/v1', '/api/v1/users', '/api/v2', '/login', '/static/app.js', '/x%41'];
const PATH_REGEXES = ['^/api/v[0-9]+', 'users$', 'p/v', '^/[a-z]+$', '%41', 'app\\.js'];
const VALUE_REGEXES = ['^a', 'b+c?$', '[0-9]{2}', 'beta', '^v[0-9]', 'A'];
/** Regexes whose answer on ODD_VALUES depends on bytes versus characters, and on what \s is. */
const ODD_REGEXES = ['^a.$', '^.{2}$', 'a\\s$', '\\S$', '^[^a]$', '^a\\S+$', '^.{4}$', '\\bb', 'a[\\s]', '^..$'];
const METHOD_SETS: readonly (readonly string[])[] = [['GET'], ['GET', 'HEAD'], ['POST'], ['PUT', 'DELETE'], ['POST', 'PUT']];
const REQUEST_METHODS = ['GET', 'GET', 'GET', 'POST', 'HEAD', 'PUT', 'DELETE', 'get', 'Post'];
const CIDRS = ['127.0.0.0/30', '127.0.0.4/31', '127.0.0.8/29', '127.0.0.2/32', '127.0.0.0/8', '127.0.0.6/32', '10.0.0.0/8'];
/** Sources a client binds (all inside 127.0.0.0/8, all local). */
export const SOURCES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6', '127.0.0.7', '127.0.0.8', '127.0.0.9'];
const STICKY_HEADER = 'x-user';
const STICKY_COOKIE = 'session';
/** The cookie the load balancer issues on generated splits with `stickyCookie` (a later one gets `-2`, `-3`...: names are unique per spec). */
export const ISSUED_COOKIE = 'olb-sid';
/** Backends (of the differential test's spec) that issue their own server cookie (`backends[].stickyCookie`), by name. */
export const BACKEND_COOKIES: Readonly<Record<string, string>> = { b5: 'olb-srv-b5', 'sw-green': 'olb-srv-sw-green' };
const QUERY_KEYS = ['q', 'tag', 'Q'];
const QUERY_VALUES = ['1', 'a', 'ab', 'a%20b', 'a+b', 'v2', '%41', 'beta', '12'];
const QUERY_REGEXES = ['^a', '%2', '^[0-9]+$', 'b$', '\\+'];
const COOKIE_NAMES = ['tier', 'flag', 'Tier'];
const COOKIE_VALUES = ['gold', 'go', 'silver', '1', 'a b', 'gold=x'];
const COOKIE_REGEXES = ['^go', 'er$', '^[0-9]$', '='];
const SPLIT_WEIGHTS: readonly (readonly [number, number])[] = [[50, 50], [70, 30], [95, 5], [0, 100], [1, 99]];

function namedMatch(rng: Rng, values: readonly string[], regexes: readonly string[]): Extract<Condition, { kind: 'query' }>['match'] {
  switch (rng.int(6)) {
    case 0:
    case 1:
      return { type: 'exact', value: rng.chance(0.05) ? '' : rng.pick(values) };
    case 2:
      return { type: 'prefix', value: rng.pick(values).slice(0, 1 + rng.int(2)) };
    case 3:
      return { type: 'regex', value: rng.pick(regexes) };
    case 4:
      return { type: 'present' };
    default:
      return { type: 'absent' };
  }
}

function randomCondition(rng: Rng): Condition {
  // Query and cookie conditions (issue 21) in a quarter of the cases.
  if (rng.chance(0.25)) {
    return rng.chance(0.5)
      ? { kind: 'query', name: rng.pick(QUERY_KEYS), match: namedMatch(rng, QUERY_VALUES, QUERY_REGEXES) }
      : { kind: 'cookie', name: rng.pick(COOKIE_NAMES), match: namedMatch(rng, COOKIE_VALUES.filter((v) => v !== 'a b'), COOKIE_REGEXES) };
  }
  switch (rng.int(9)) {
    case 0:
      return { kind: 'header', name: rng.pick(HEADER_NAMES), match: { type: 'exact', value: rng.pick(HEADER_VALUES) } };
    case 1:
      return { kind: 'header', name: rng.pick(HEADER_NAMES), match: { type: 'prefix', value: rng.pick(HEADER_VALUES) } };
    case 2:
      return { kind: 'header', name: rng.pick(HEADER_NAMES), match: { type: 'regex', value: rng.chance(0.4) ? rng.pick(ODD_REGEXES) : rng.pick(VALUE_REGEXES) } };
    case 3:
      return { kind: 'header', name: rng.pick(HEADER_NAMES), match: rng.chance(0.5) ? { type: 'present' } : { type: 'absent' } };
    case 4:
      return rng.chance(0.5) ? { kind: 'host', match: { type: 'exact', value: rng.pick(HOSTS) } } : { kind: 'host', match: { type: 'suffix', value: rng.pick(HOST_SUFFIXES) } };
    case 5:
      return { kind: 'path', match: { type: rng.pick(['exact', 'prefix'] as const), value: rng.pick(PATHS) } };
    case 6:
      return { kind: 'path', match: { type: 'regex', value: rng.pick(PATH_REGEXES) } };
    case 7:
      return { kind: 'method', methods: rng.pick(METHOD_SETS) };
    default: {
      const cidrs = [rng.pick(CIDRS)];
      if (rng.chance(0.3)) cidrs.push(rng.pick(CIDRS));
      return { kind: 'source', cidrs: [...new Set(cidrs)] };
    }
  }
}

/** A run of same-shaped single-condition routes, so that the renderer compiles it to a map. */
function runConditions(rng: Rng, length: number): Condition[] {
  const shape = rng.int(10);
  const header = rng.pick(HEADER_NAMES);
  const key = rng.pick(QUERY_KEYS);
  const cookie = rng.pick(COOKIE_NAMES);
  return Array.from({ length }, (): Condition => {
    switch (shape) {
      case 6:
        return { kind: 'query', name: key, match: { type: 'exact', value: rng.pick(QUERY_VALUES) } };
      case 7:
        return { kind: 'query', name: key, match: { type: 'prefix', value: rng.pick(QUERY_VALUES).slice(0, 1 + rng.int(3)) } };
      case 8:
        return { kind: 'cookie', name: cookie, match: { type: 'exact', value: rng.pick(COOKIE_VALUES.filter((v) => v !== 'a b')) } };
      case 9:
        return { kind: 'cookie', name: cookie, match: { type: 'prefix', value: rng.pick(COOKIE_VALUES.filter((v) => v !== 'a b')).slice(0, 1 + rng.int(3)) } };
      case 0:
        return { kind: 'header', name: header, match: { type: 'exact', value: rng.pick(HEADER_VALUES) } };
      case 1:
        return { kind: 'header', name: header, match: { type: 'prefix', value: rng.pick(HEADER_VALUES) } };
      case 2:
        return { kind: 'host', match: { type: 'exact', value: rng.pick(HOSTS) } };
      case 3:
        return { kind: 'path', match: { type: 'exact', value: rng.pick(PATHS) } };
      case 4:
        return { kind: 'path', match: { type: 'prefix', value: rng.pick(PATHS) } };
      default:
        return { kind: 'source', cidrs: [rng.pick(CIDRS)] };
    }
  });
}

function randomAction(rng: Rng): RouteAction {
  const roll = rng.next();
  if (roll < 0.72) return { kind: 'backend', backend: rng.pick(ROUTE_BACKENDS) };
  if (roll < 0.84) return { kind: 'switch', switch: 'checkout' };
  const [w0, w1] = rng.pick(SPLIT_WEIGHTS);
  const a = rng.pick(ROUTE_BACKENDS);
  const b = rng.pick(ROUTE_BACKENDS.filter((x) => x !== a));
  const sides = [{ backend: a, weight: w0 }, { backend: b, weight: w1 }];
  if (roll < 0.88) return { kind: 'split', sides, sticky: { kind: 'header', name: STICKY_HEADER } };
  if (roll < 0.91) return { kind: 'split', sides, sticky: { kind: 'cookie', name: STICKY_COOKIE } };
  // An LB-issued cookie (issue 21 item 3); named uniquely per rule set by generateRuleSet.
  if (roll < 0.98) return { kind: 'split', sides, stickyCookie: { name: ISSUED_COOKIE, secure: rng.chance(0.5), httpOnly: rng.chance(0.7), ...(rng.chance(0.6) ? { durationMs: 1000 * (1 + rng.int(86_400)) } : {}), ...(rng.chance(0.5) ? { sameSite: rng.pick(['Strict', 'Lax'] as const) } : {}) } };
  return { kind: 'split', sides };
}

export interface RuleSet {
  readonly routes: readonly Route[];
  readonly switches: readonly Switch[];
}

/** 1-40 routes mixing every condition kind, with runs of same-shaped rules and a switch. */
export function generateRuleSet(rng: Rng): RuleSet {
  const target = 1 + rng.int(40);
  const routes: Route[] = [];
  while (routes.length < target) {
    if (rng.chance(0.3) && target - routes.length >= 2) {
      const length = 2 + rng.int(Math.min(7, target - routes.length - 1));
      for (const c of runConditions(rng, length)) {
        routes.push({ name: `r${routes.length + 1}`, conditions: [c], action: { kind: 'backend', backend: rng.pick(ROUTE_BACKENDS) } });
      }
      continue;
    }
    const n = rng.pick([0, 1, 1, 1, 2, 2, 3]);
    const conditions = Array.from({ length: n }, () => randomCondition(rng));
    // A route without conditions ends all evaluation: keep them rare and late.
    if (n === 0 && routes.length < target - 1) continue;
    const action = randomAction(rng);
    // Every issued cookie has its own name in a spec (SPEC_COOKIE_CLASH): olb-sid, olb-sid-2...
    const issued = routes.filter((r) => r.action.kind === 'split' && r.action.stickyCookie !== undefined).length;
    const named = action.kind === 'split' && action.stickyCookie !== undefined && issued > 0 ? { ...action, stickyCookie: { ...action.stickyCookie, name: `${ISSUED_COOKIE}-${issued + 1}` } } : action;
    routes.push({ name: `r${routes.length + 1}`, conditions, action: named });
  }
  const switches: Switch[] = [
    { name: 'checkout', sides: [{ name: 'blue', backend: 'sw-blue' }, { name: 'green', backend: 'sw-green' }], active: rng.pick(['blue', 'green']) },
  ];
  return { routes, switches };
}

function randomCase(rng: Rng, s: string): string {
  return [...s].map((ch) => (rng.chance(0.3) ? ch.toUpperCase() : rng.chance(0.2) ? ch.toLowerCase() : ch)).join('');
}

/** A request with headers in random case, repeats, hosts with ports, paths with queries. */
export function generateRequest(rng: Rng): ExplainRequest {
  const headers: { name: string; value: string }[] = [];
  if (!rng.chance(0.05)) {
    const base = rng.pick(HOSTS);
    const host = rng.chance(0.4) ? randomCase(rng, base) : base;
    headers.push({ name: rng.pick(['Host', 'host', 'HOST']), value: rng.chance(0.3) ? `${host}:${rng.pick(['80', '8080', '443'])}` : host });
  }
  for (const name of HEADER_NAMES) {
    if (!rng.chance(0.5)) continue;
    const count = rng.chance(0.25) ? 2 : 1;
    for (let i = 0; i < count; i++) headers.push({ name: randomCase(rng, name), value: rng.chance(0.08) ? '' : rng.chance(0.25) ? rng.pick(ODD_VALUES) : rng.pick(HEADER_VALUES) });
  }
  if (rng.chance(0.4)) headers.push({ name: randomCase(rng, STICKY_HEADER), value: `user-${rng.int(1000)}` });
  if (rng.chance(0.4)) {
    const cookie = rng.chance(0.5) ? `session=s${rng.int(1000)}` : `a=1; session=s${rng.int(1000)}; b=2`;
    headers.push({ name: rng.pick(['Cookie', 'cookie']), value: cookie });
    if (rng.chance(0.2)) headers.push({ name: 'Cookie', value: `session=t${rng.int(1000)}` });
  }
  if (rng.chance(0.35)) {
    // Stickiness cookies the load balancer issues: a side (valid or of weight 0), a backend of no
    // side, a server of a backend with a cookie, or garbage.
    const name = rng.chance(0.8) ? ISSUED_COOKIE : rng.pick([`${ISSUED_COOKIE}-2`, ...Object.values(BACKEND_COOKIES)]);
    const value = name.startsWith('olb-srv') ? rng.pick(['s1', 's2', 'S1']) : rng.pick([...ROUTE_BACKENDS, DEFAULT_BACKEND, 'sw-blue', 'B0', 'x']);
    headers.push({ name: rng.pick(['Cookie', 'cookie']), value: rng.chance(0.5) ? `${name}=${value}` : `a=1; ${name}=${value}` });
  }
  // Shuffle (Host stays first half of the time) so order effects are exercised.
  for (let i = headers.length - 1; i > 0; i--) {
    if (rng.chance(0.5)) continue;
    const j = rng.int(i + 1);
    const a = headers[i];
    const b = headers[j];
    if (a !== undefined && b !== undefined) {
      headers[i] = b;
      headers[j] = a;
    }
  }
  if (rng.chance(0.4)) {
    // Cookies of the cookie conditions: repeated names, case variants, empty values, spaces.
    const parts = Array.from({ length: 1 + rng.int(3) }, () => `${rng.pick(COOKIE_NAMES)}=${rng.chance(0.1) ? '' : rng.pick(COOKIE_VALUES)}`);
    headers.push({ name: 'Cookie', value: parts.join(rng.pick(['; ', ';', ', '])) });
  }
  let path = rng.pick(PATHS) + rng.pick(['', '', '/', 'x', '/users']);
  if (rng.chance(0.3)) path += rng.pick(['?a=1', '?next=/api/v1', '?q=users', '?']);
  else if (rng.chance(0.5)) {
    // Query strings for the query conditions: repeated keys, case, ';' separators, keys without
    // '=', empty values, encoded characters (never decoded), a second '?'.
    const params = Array.from({ length: 1 + rng.int(3) }, () => {
      const k = rng.pick([...QUERY_KEYS, 'x', 'qq']);
      return rng.chance(0.1) ? k : `${k}=${rng.chance(0.1) ? '' : rng.pick(QUERY_VALUES)}`;
    });
    path += `?${params.join(rng.pick(['&', '&', ';']))}${rng.chance(0.05) ? '?q=1' : ''}`;
  }
  let method = rng.pick(REQUEST_METHODS);
  // Now and then a request HAProxy answers with 400 itself (explain must say so, not route it).
  if (rng.chance(0.06)) {
    switch (rng.int(5)) {
      case 0: {
        const name = rng.pick([...HEADER_NAMES, 'X-Other']);
        headers.splice(rng.int(headers.length + 1), 0, { name: `${name}${rng.pick([' ', '\t', '  '])}`, value: rng.pick(HEADER_VALUES) });
        break;
      }
      case 1:
        path += rng.pick(['#', '#frag', '?a=#']);
        break;
      case 2:
        path += rng.pick(['\u00e9', '\u00a0', '/\u{1F600}', '\u007f', 'a\u007f', '\u007fb', '%\u007f"']);
        break;
      case 3:
        headers.push({ name: 'Host', value: 'other.test' }, { name: 'Host', value: rng.pick(HOSTS) });
        break;
      default:
        method = rng.pick(['G(T', 'GET/', 'P@ST']);
    }
  }
  return { method, path, headers, source: rng.pick(SOURCES) };
}

const REWRITE_NAMES = ['x-rw-a', 'x-rw-b', 'x-tenant'];
const REWRITE_VALUES = ['1', 'v-${host}', '${client_ip}', '${method} ${path}', 'q=${query}', '${scheme}://${host}${path}', '100%', 'a${path}b'];
const REDIRECT_HOSTS = ['example.org', 'new.example.com'];
const REDIRECT_PATHS = ['/', '/new', '/a%20b'];
const REDIRECT_STATUSES = [301, 302, 303, 307, 308] as const;
const BODIES = ['', 'down for maintenance', '<h1>x</h1>\n"quoted" $HOME 100%\\\n', '{"ok":false}'];

function randomRewrite(rng: Rng): HeaderRewrite {
  const pairs = (): { name: string; value: string }[] => {
    const names = [...new Set(Array.from({ length: rng.int(3) }, () => rng.pick(REWRITE_NAMES)))];
    return names.map((name) => ({ name, value: rng.pick(REWRITE_VALUES) }));
  };
  return { remove: rng.chance(0.4) ? [rng.pick(REWRITE_NAMES)] : [], set: pairs(), add: pairs() };
}

function randomRedirect(rng: Rng): Redirect {
  if (rng.chance(0.2)) return { scheme: 'https', status: 301 };
  return {
    ...(rng.chance(0.4) ? { scheme: rng.pick(['http', 'https'] as const) } : {}),
    ...(rng.chance(0.3) ? { host: rng.pick(REDIRECT_HOSTS) } : {}),
    ...(rng.chance(0.3) ? { port: rng.pick([80, 443, 8443]) } : {}),
    ...(rng.chance(0.4) ? { path: rng.pick(REDIRECT_PATHS) } : {}),
    ...(rng.chance(0.3) ? { query: rng.pick(['', 'a=1', 'x=%20']) } : {}),
    status: rng.pick(REDIRECT_STATUSES),
  };
}

/**
 * Rule sets mixing every condition (old and new) with the actions of issue 21: forwarding with
 * request/response rewrites, redirects, fixed responses, plain forwarding and map runs.
 */
export function generateActionRuleSet(rng: Rng): RuleSet {
  const base = generateRuleSet(rng);
  const routes = base.routes.map((r): Route => {
    const roll = rng.next();
    if (roll < 0.15) return { name: r.name, conditions: r.conditions, action: { kind: 'redirect', redirect: randomRedirect(rng) }, ...(rng.chance(0.3) ? { responseHeaders: randomRewrite(rng) } : {}) };
    if (roll < 0.27) {
      const status = rng.pick([200, 403, 404, 503, 204]);
      const body = status === 204 ? '' : rng.pick(BODIES);
      return { name: r.name, conditions: r.conditions, action: { kind: 'respond', respond: { status, ...(body === '' ? {} : { contentType: rng.pick(['text/plain', 'text/html; charset=utf-8']), body: { kind: 'text', text: body } }) } } };
    }
    if (roll < 0.5 && r.action.kind !== 'redirect') {
      return { ...r, requestHeaders: randomRewrite(rng), ...(rng.chance(0.6) ? { responseHeaders: randomRewrite(rng) } : {}), ...(rng.chance(0.3) ? { timeoutMs: 5000 } : {}) };
    }
    return r;
  });
  return { routes, switches: base.switches };
}
