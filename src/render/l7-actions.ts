/**
 * Route actions besides forwarding, and what a route adds to a forwarded request (issue 21):
 * redirects, fixed responses, request and response header rewrites, per-route timeouts.
 *
 * A route that has any of them is "marked": its conditions set `txn.olb_rt` to the route's
 * 1-based number (instead of choosing a backend at once), its forwarding lines and every rewrite
 * are guarded by `{ var(txn.olb_rt) -m int N }`, and the frontend's first-match guard also tests
 * `txn.olb_rt`, so the first matching route still wins. Redirects, fixed responses and request
 * rewrites come after every route (http-request rules run in order, before `use_backend`);
 * response rewrites are `http-after-response` rules, which also reach the answers HAProxy
 * generates itself (redirects, fixed responses).
 *
 * Every spec string lands either single-quoted (printable ASCII without `'`, checked again here)
 * or, for a body, double-quoted with every character outside [A-Za-z0-9 .,:/_-] hex-escaped:
 * nothing can end a word or a line early.
 */
import type { Backend, FixedResponse, Frontend, HeaderRewrite, Redirect, Route, Spec } from '../model/spec.js';
import { SystemError } from '../util/errors.js';
import { assertName, assertPath, quoteValue } from './quote.js';

/** The variable holding the number of the marked route that matched. */
export const TXN_ROUTE = 'txn.olb_rt';

/** The per-route timeout (ms) of the matched route, applied by the backend. */
const TXN_TIMEOUT = 'txn.olb_timeout';

/**
 * The backend line that applies a route's timeout (`http-request set-timeout` is refused in a
 * frontend: it needs backend capability). Only when some route of the spec has a timeout.
 */
export function backendTimeoutLines(spec: Spec, be: Backend): string[] {
  if (be.mode !== 'http' || !spec.frontends.some((f) => f.routes.some((r) => r.timeoutMs !== undefined))) return [];
  return [`  http-request set-timeout server var(${TXN_TIMEOUT}) if { var(${TXN_TIMEOUT}) -m found }`];
}

/** True when the route needs the marked-route form (see the module comment). */
export function isMarked(route: Route): boolean {
  return route.action.kind === 'redirect' || route.action.kind === 'respond' || route.requestHeaders !== undefined || route.responseHeaders !== undefined || route.timeoutMs !== undefined;
}

/** True when any route of the frontend is marked. */
export function hasMarked(fe: Frontend): boolean {
  return fe.routes.some(isMarked);
}

/** The guard of a marked route's lines. */
export function markedGuard(index: number): string {
  return `{ var(${TXN_ROUTE}) -m int ${integer(index + 1)} }`;
}

function integer(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new SystemError('INTERNAL', `${n} reached the HAProxy renderer where a non-negative integer belongs`);
  return String(n);
}

/** The fetch behind each header variable (src/speclang/l7-strings.ts HEADER_VARIABLES). */
const VARIABLE_FETCH: Readonly<Record<string, string>> = {
  client_ip: 'src',
  client_port: 'src_port',
  host: 'req.fhdr(host,-1)',
  // `set-var(x) method` stores an unknown method (Post, get, PROPFIND) as "OPTIONS" in HAProxy
  // 2.6.12 (measured): a converter turns the method into a plain string first.
  method: 'method,concat()',
  path: 'path',
  query: 'query',
  scheme: 'ssl_fc,iif(https,http)',
};

const VARIABLE_RE = /\$\{([a-z_]+)\}/g;

function rewritesOf(fe: Frontend): HeaderRewrite[] {
  return fe.routes.flatMap((r) => [r.requestHeaders, r.responseHeaders]).filter((h): h is HeaderRewrite => h !== undefined);
}

/**
 * `http-request set-var` lines capturing each variable the frontend's header values use, before
 * any rewrite, so values come from the request as received (and response rewrites can read them).
 */
export function headerVariableLines(fe: Frontend): string[] {
  const used = new Set<string>();
  for (const h of rewritesOf(fe)) {
    for (const { value } of [...h.set, ...h.add]) for (const m of value.matchAll(VARIABLE_RE)) used.add(m[1] ?? '');
  }
  return Object.keys(VARIABLE_FETCH)
    .filter((k) => used.has(k))
    .map((k) => `  http-request set-var(txn.olb_v_${k}) ${VARIABLE_FETCH[k] ?? ''}`);
}

/** A literal for a log-format string: '%' doubled (HAProxy's escape for a literal '%'). */
function logFormatLiteral(text: string): string {
  return text.replace(/%/g, '%%');
}

/** A header value as a single-quoted log-format string, `${name}` -> `%[var(txn.olb_v_name)]`. */
export function headerValueFormat(value: string): string {
  let out = '';
  let last = 0;
  for (const m of value.matchAll(VARIABLE_RE)) {
    const name = m[1] ?? '';
    if (VARIABLE_FETCH[name] === undefined) throw new SystemError('INTERNAL', `header variable \${${name}} reached the HAProxy renderer; the spec layer should have rejected it`);
    out += `${logFormatLiteral(value.slice(last, m.index))}%[var(txn.olb_v_${name})]`;
    last = m.index + m[0].length;
  }
  out += logFormatLiteral(value.slice(last));
  if (out === '') throw new SystemError('INTERNAL', 'an empty header value reached the HAProxy renderer; the spec layer should have rejected it');
  return quoteValue(out, 'header value');
}

function rewriteLines(prefix: string, h: HeaderRewrite, guard: string): string[] {
  return [
    ...h.remove.map((n) => `  ${prefix} del-header ${assertName(n, 'header name')} if ${guard}`),
    ...h.set.map((x) => `  ${prefix} set-header ${assertName(x.name, 'header name')} ${headerValueFormat(x.value)} if ${guard}`),
    ...h.add.map((x) => `  ${prefix} add-header ${assertName(x.name, 'header name')} ${headerValueFormat(x.value)} if ${guard}`),
  ];
}

const DEFAULT_PORT: Readonly<Record<string, number>> = { http: 80, https: 443 };

/**
 * The `redirect location` lines of a redirect (see `Redirect` in the model for what is kept).
 * The location is a log-format string: literal parts with '%' doubled, the request's parts read
 * from variables set just before (so no sample expression sits inside the location).
 */
function redirectLines(r: Redirect, index: number, guard: string): string[] {
  const pre: string[] = [];
  const v = (name: string, fetch: string): string => {
    const variable = `txn.olb_r${integer(index + 1)}_${name}`;
    pre.push(`  http-request set-var(${variable}) ${fetch} if ${guard}`);
    return `%[var(${variable})]`;
  };
  const scheme = r.scheme ?? v('scheme', 'ssl_fc,iif(https,http)');
  let authority: string;
  if (r.host !== undefined) authority = logFormatLiteral(quoteCheck(r.host, 'redirect host'));
  else if (r.port === undefined && r.scheme === undefined) authority = v('authority', 'req.fhdr(host,-1)');
  else authority = v('host', 'req.fhdr(host,-1),regsub(:[0-9]+$,)');
  if (r.port !== undefined && !(r.scheme !== undefined && DEFAULT_PORT[r.scheme] === r.port)) authority += `:${integer(r.port)}`;
  const path = r.path === undefined ? v('path', 'path') : logFormatLiteral(quoteCheck(r.path, 'redirect path'));
  const status = integer(r.status);
  const base = `${scheme}://${authority}${path}`;
  if (r.query !== undefined) {
    const loc = r.query === '' ? base : `${base}?${logFormatLiteral(quoteCheck(r.query, 'redirect query'))}`;
    return [...pre, `  http-request redirect location ${quoteValue(loc, 'redirect location')} code ${status} if ${guard}`];
  }
  // The original query string, with its '?' only when it is not empty.
  const query = v('query', 'query');
  return [
    ...pre,
    `  http-request redirect location ${quoteValue(`${base}?${query}`, 'redirect location')} code ${status} if ${guard} { var(txn.olb_r${integer(index + 1)}_query) -m len gt 0 }`,
    `  http-request redirect location ${quoteValue(base, 'redirect location')} code ${status} if ${guard}`,
  ];
}

function quoteCheck(value: string, what: string): string {
  quoteValue(value, what);
  return value;
}

/**
 * A double-quoted HAProxy string holding `text` literally: letters, digits, space and `.,:/_-`
 * as they are, everything else as `\xNN` (HAProxy's configuration parser decodes it; no `$`
 * expansion, no quote, no line break can appear unescaped).
 */
export function doubleQuotedBody(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0) ?? 0;
    if (code > 0x7e || (code < 0x20 && ch !== '\t' && ch !== '\n' && ch !== '\r')) throw new SystemError('INTERNAL', `a body character U+${code.toString(16)} reached the HAProxy renderer; the spec layer should have rejected it`);
    out += /[A-Za-z0-9 .,:/_-]/.test(ch) ? ch : `\\x${code.toString(16).padStart(2, '0')}`;
  }
  return `${out}"`;
}

function respondLine(r: FixedResponse, guard: string): string {
  let line = `  http-request return status ${integer(r.status)}`;
  if (r.contentType !== undefined) line += ` content-type ${quoteValue(r.contentType, 'content type')}`;
  if (r.body?.kind === 'text' && r.body.text !== '') line += ` string ${doubleQuotedBody(r.body.text)}`;
  if (r.body?.kind === 'file') line += ` file ${assertPath(r.body.path, 'body file')}`;
  return `${line} if ${guard}`;
}

/** The lines of every marked route that follow the routes (rewrites, timeouts, answers). */
export function markedActionLines(fe: Frontend): string[] {
  const lines: string[] = [];
  fe.routes.forEach((route, index) => {
    if (!isMarked(route)) return;
    const guard = markedGuard(index);
    lines.push(`  # route ${route.name}: ${route.action.kind === 'redirect' ? 'redirect' : route.action.kind === 'respond' ? 'fixed response' : 'rewrites'}`);
    if (route.requestHeaders !== undefined) lines.push(...rewriteLines('http-request', route.requestHeaders, guard));
    // set-timeout needs a backend: the frontend records the value, every http backend applies it.
    if (route.timeoutMs !== undefined) lines.push(`  http-request set-var(${TXN_TIMEOUT}) int(${integer(route.timeoutMs)}) if ${guard}`);
    if (route.responseHeaders !== undefined) lines.push(...rewriteLines('http-after-response', route.responseHeaders, guard));
    if (route.action.kind === 'redirect') lines.push(...redirectLines(route.action.redirect, index, guard));
    if (route.action.kind === 'respond') lines.push(respondLine(route.action.respond, guard));
  });
  return lines;
}
