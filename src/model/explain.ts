/**
 * `explain`: the reference evaluator of the routing semantics written at the top of
 * src/model/spec.ts. Given a spec and one HTTP request it says which route wins, which backend
 * serves it, and why (a human-readable trace).
 *
 * It is written independently of the HAProxy renderer on purpose: test/differential runs the
 * compiled config in a real haproxy and checks that it agrees with this module. So this file
 * imports nothing but the model types and the error registry (no shared helpers with render).
 */
import type { Condition, Frontend, HeaderRewrite, Redirect, Route, Spec, StickyCookie, StickyKey } from './spec.js';
import { OverlayError, UserError } from '../util/errors.js';
import { crc32 } from '../util/crc32.js';
import { formatIpv4, parseIpv4 } from '../util/ipv4.js';

/** One HTTP request, as a client sends it. */
export interface ExplainRequest {
  /** Upper-case token, for example `GET`. Compared case-sensitively. */
  readonly method: string;
  /** Origin-form request target starting with `/`; may include `?query` (ignored by path rules). */
  readonly path: string;
  /** Convenience for a `Host` header (sent first). Give it here or in `headers`, not both. */
  readonly host?: string;
  /** Headers in the order sent; repeated names allowed. Values are trimmed of spaces and tabs as HTTP does. */
  readonly headers: readonly { readonly name: string; readonly value: string }[];
  /** The client's IPv4 address. */
  readonly source: string;
  /** The client's source port, for `${client_port}` in header values. */
  readonly sourcePort?: number;
  /** True when the request came over TLS (`${scheme}` and kept redirect schemes are then https). @default false */
  readonly tls?: boolean;
}

/** A header rewrite of the winning route, with its value evaluated for this request. */
export interface ExplainedRewrite {
  readonly op: 'remove' | 'set' | 'add';
  readonly name: string;
  readonly value?: string;
}

/** The outcome of routing one request. */
export interface ExplainResult {
  readonly frontend: string;
  /** The winning route (index is 0-based); null when the default backend serves the request. */
  readonly route: { readonly name: string; readonly index: number } | null;
  /** null only for a split whose choice is random (no sticky key, or the key is absent): see `split.sides`. */
  readonly backend: string | null;
  readonly split?: {
    readonly sides: readonly { readonly backend: string; readonly weight: number }[];
    /** Absent when the split has no sticky key; `value` null when the key is not in the request. */
    readonly sticky?: { readonly kind: 'header' | 'cookie'; readonly name: string; readonly value: string | null };
    /** `crc32(value) mod 100` when the sticky value is present, else null (uniformly random). */
    readonly bucket: number | null;
    /**
     * The split's LB-issued cookie: `value` as the request carries it (null: absent), `side` the
     * backend it keeps the client on (null: absent, or not a side of weight > 0), and `setCookie`
     * the Set-Cookie header the response carries when `side` is null, with `<side>` standing for
     * the backend the draw picks (null when the client keeps its side).
     */
    readonly stickyCookie?: { readonly name: string; readonly value: string | null; readonly side: string | null; readonly setCookie: string | null };
  };
  /**
   * The chosen backend's LB-issued cookie (`backends[].stickyCookie`): `value` in the request,
   * `server` the server or slot it names (it goes there while that server is up), and
   * `setCookie` the header HAProxy adds when the cookie names no server of the backend, with
   * `<server>` for the one balancing picks (null when it names one). Absent when the backend has
   * none or the backend is not known (a random split side).
   */
  readonly backendCookie?: { readonly backend: string; readonly name: string; readonly value: string | null; readonly server: string | null; readonly setCookie: string | null };
  /**
   * Set when HAProxy answers the request itself with 400 Bad Request before any route is
   * evaluated (then `route` and `backend` are null): a header name that is not an HTTP token
   * (a space before the colon included), `#`, a control character or a non-ASCII character in
   * the request target, a method that is not a token, two Host headers that differ. Measured on
   * HAProxy 2.6.12 and kept true by test/differential/routing.test.ts.
   */
  readonly rejected?: { readonly status: 400; readonly reason: string };
  /**
   * Set when the winning route is answered by the load balancer itself (then `backend` is null):
   * a redirect with its status and Location, or a fixed response.
   */
  readonly answer?:
    | { readonly kind: 'redirect'; readonly status: number; readonly location: string }
    | { readonly kind: 'respond'; readonly status: number; readonly contentType?: string; readonly body?: string; readonly bodyFile?: string };
  /** Rewrites of the forwarded request, in the order applied (remove, set, add). */
  readonly requestHeaders?: readonly ExplainedRewrite[];
  /** Rewrites of the response to the client, in the order applied. */
  readonly responseHeaders?: readonly ExplainedRewrite[];
  /** The winning route's `timeout` (HAProxy `timeout server`), in ms. */
  readonly timeoutMs?: number;
  /** Which conditions of which routes matched or failed, in evaluation order. */
  readonly reasons: readonly string[];
}

export interface ExplainOptions {
  /** Frontend name. @default the first frontend in `http` mode */
  readonly frontend?: string;
}

/** A header as HAProxy sees it: name lower-cased, value trimmed. */
interface Header {
  readonly name: string;
  readonly value: string;
}

/** The request after validation, in the form the conditions read it. */
interface NormalizedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: readonly Header[];
  readonly source: number;
}

// RFC 9110 token characters: header names and methods.
const TOKEN_RE = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * Route one request through a frontend of `spec`, following the routing semantics of the model.
 * @throws UserError EXPLAIN_REQUEST for a malformed request or an unknown frontend.
 */
export function explainRequest(spec: Spec, request: ExplainRequest, options: ExplainOptions = {}): ExplainResult {
  const frontend = selectFrontend(spec, options.frontend);
  const req = normalizeRequest(request);
  if ('rejected' in req) {
    return { frontend: frontend.name, route: null, backend: null, rejected: { status: 400, reason: req.rejected }, reasons: [`HAProxy rejects this request with 400 Bad Request: ${req.rejected}`] };
  }
  const reasons: string[] = [];
  for (const [index, route] of frontend.routes.entries()) {
    const label = `route ${index + 1} "${route.name}"`;
    const failed = firstFailedCondition(route, req);
    if (failed !== undefined) {
      reasons.push(`${label}: no match: ${failed}`);
      continue;
    }
    reasons.push(route.conditions.length === 0 ? `${label}: matches (no condition)` : `${label}: matches (${route.conditions.map(describeCondition).join('; ')})`);
    const outcome = resolveAction(spec, route, req, reasons, request);
    return { frontend: frontend.name, route: { name: route.name, index }, ...outcome, ...backendCookie(spec, outcome.backend, req, reasons), ...routeExtras(route, request, req, reasons), reasons };
  }
  reasons.push(`no route matched: default backend "${frontend.defaultBackend}"`);
  return { frontend: frontend.name, route: null, backend: frontend.defaultBackend, ...backendCookie(spec, frontend.defaultBackend, req, reasons), reasons };
}

function selectFrontend(spec: Spec, name: string | undefined): Frontend {
  const http = spec.frontends.filter((f) => f.mode === 'http');
  if (name === undefined) {
    const first = http[0];
    if (first === undefined) throw new UserError('EXPLAIN_REQUEST', 'the spec has no frontend in http mode: explain routes HTTP requests only; add an http frontend');
    return first;
  }
  const found = spec.frontends.find((f) => f.name === name);
  const names = http.map((f) => `"${f.name}"`).join(', ');
  if (found === undefined) throw new UserError('EXPLAIN_REQUEST', `frontend "${name}" is not in the spec; http frontends: ${names}`);
  if (found.mode !== 'http') throw new UserError('EXPLAIN_REQUEST', `frontend "${name}" is in tcp mode and has no HTTP routes; http frontends: ${names}`);
  return found;
}

/**
 * Checks the request as a person gives it (a user error when it cannot be sent at all), then as
 * HAProxy 2.6's HTTP/1 parser does: what it answers with 400 itself is returned as `rejected`.
 */
function normalizeRequest(request: ExplainRequest): NormalizedRequest | { readonly rejected: string } {
  if (request.method === '' || /[\s\0]/.test(request.method)) {
    throw new UserError('EXPLAIN_REQUEST', `method ${JSON.stringify(request.method)} is not an HTTP token; give an upper-case method such as GET or POST`);
  }
  if (!request.path.startsWith('/') || /[ \r\n\0]/.test(request.path)) {
    throw new UserError('EXPLAIN_REQUEST', `path ${JSON.stringify(request.path)} is not an origin-form request target; give a path starting with "/" and without spaces, for example /api/v1?x=1`);
  }
  const source = parseIpv4(request.source);
  if (source === undefined) {
    throw new UserError('EXPLAIN_REQUEST', `source ${JSON.stringify(request.source)} is not an IPv4 address; give a dotted quad such as 10.0.0.5`);
  }
  const raw = request.host === undefined ? request.headers : [{ name: 'Host', value: request.host }, ...request.headers];
  if (request.host !== undefined && request.headers.some((h) => h.name.toLowerCase() === 'host')) {
    throw new UserError('EXPLAIN_REQUEST', `the host is given twice (host ${JSON.stringify(request.host)} and a Host header); give it once`);
  }
  for (const h of raw) {
    if (/[\r\n\0]/.test(h.value)) {
      throw new UserError('EXPLAIN_REQUEST', `header "${h.name}" has a value with CR, LF or NUL (${JSON.stringify(h.value)}); give a single-line value`);
    }
    if (/[\r\n]/.test(h.name) || h.name.trim() === '') {
      throw new UserError('EXPLAIN_REQUEST', `header name ${JSON.stringify(h.name)} is empty or has a line break; write headers as "Name: value", for example "X-Canary: 1"`);
    }
  }
  // What HAProxy 2.6 refuses with 400 before any rule runs (each measured with raw requests).
  if (!TOKEN_RE.test(request.method)) return { rejected: `the method ${JSON.stringify(request.method)} is not an HTTP token` };
  const badTarget = rejectedTargetCharacter(request.path);
  if (badTarget !== undefined) return { rejected: `the request target ${JSON.stringify(request.path)} contains ${badTarget}` };
  for (const h of raw) {
    if (!TOKEN_RE.test(h.name)) {
      const why = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+[ \t]+$/.test(h.name) ? 'has a space or tab before the colon' : 'is not an HTTP token';
      return { rejected: `the header name ${JSON.stringify(h.name)} ${why}` };
    }
  }
  // Host values compared case-insensitively (ASCII), as HAProxy does.
  const hosts = new Set(raw.filter((h) => h.name.toLowerCase() === 'host').map((h) => asciiLower(trimSpHt(h.value))));
  if (hosts.size > 1) return { rejected: `two Host headers differ (${[...hosts].map((h) => JSON.stringify(h)).join(', ')})` };
  const headers = raw.map((h): Header => ({ name: h.name.toLowerCase(), value: trimSpHt(h.value) }));
  return { method: request.method, path: request.path, headers, source };
}

/**
 * The first character of a request target that HAProxy 2.6's HTTP/1 parser answers with 400, in
 * words, or undefined. Measured on 2.6.12: every control character (0x00-0x1F), `#` (a
 * fragment), and any non-ASCII character (the first byte of a character in UTF-8 is 0xC2 or
 * more). DEL (0x7F) is refused only where the parser reads byte by byte: h1.c first skips the
 * target 4 bytes at a time while a word passes a SWAR test (`x = word - 0x24242424`, stop if any
 * high bit; `x -= 0x5b5b5b5b`, stop if no high bit), which lets a DEL through inside such a word;
 * from the first word that fails the test on, every byte must be in 0x21-0x7E. Emulated here
 * exactly (little-endian words, the request line's " HTTP/1.1" following the target).
 */
function rejectedTargetCharacter(target: string): string | undefined {
  for (const ch of target) {
    const code = ch.codePointAt(0) ?? 0;
    if (code < 0x20) return `the control character U+${code.toString(16).padStart(4, '0').toUpperCase()}`;
    if (ch === '#') return 'a "#" (a fragment is never sent to a server)';
    if (code > 0x7f) return `the non-ASCII character ${JSON.stringify(ch)} (send it percent-encoded)`;
  }
  if (!target.includes('\u007f')) return undefined;
  const bytes = new TextEncoder().encode(`${target} HTTP/1.1\r\n`);
  let p = 0;
  while (p + 4 <= bytes.length) {
    const word = ((bytes[p] ?? 0) | ((bytes[p + 1] ?? 0) << 8) | ((bytes[p + 2] ?? 0) << 16) | ((bytes[p + 3] ?? 0) << 24)) >>> 0;
    let x = (word - 0x24242424) >>> 0;
    if ((x & 0x80808080) !== 0) break;
    x = (x - 0x5b5b5b5b) >>> 0;
    if ((x & 0x80808080) === 0) break;
    p += 4;
  }
  const rest = target.slice(p);
  return rest.includes('\u007f') ? 'a DEL character (U+007F) where HAProxy checks byte by byte' : undefined;
}

/** Lower-cases ASCII letters only, as HAProxy's `lower` converter and header comparisons do. */
function asciiLower(value: string): string {
  return value.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}

/**
 * Parse one request header line written `Name: value` (the CLI's `--header`).
 * @throws UserError EXPLAIN_REQUEST when there is no colon or the name is not an HTTP token.
 */
export function parseHeaderLine(line: string): { name: string; value: string } {
  const colon = line.indexOf(':');
  const name = colon < 0 ? '' : line.slice(0, colon);
  if (colon < 0 || !TOKEN_RE.test(name)) {
    throw new UserError('EXPLAIN_REQUEST', `header ${JSON.stringify(line)} is not of the form "Name: value"; for example "X-Canary: 1"`);
  }
  return { name, value: trimSpHt(line.slice(colon + 1)) };
}

/** JSON-quoted, with invisible and non-ASCII space characters escaped (a trailing U+00A0 shows). */
function show(value: string): string {
  return JSON.stringify(value).replace(/[\u007f-\u00a0\u00ad\u1680\u2000-\u200f\u2028-\u202f\u205f\u3000\ufeff]/g, (c) => `\\u${(c.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`);
}

function trimSpHt(value: string): string {
  return value.replace(/^[ \t]+|[ \t]+$/g, '');
}

/** Value of the last occurrence of a header (names compared lower-case), as `req.fhdr(name,-1)`. */
function lastHeader(req: NormalizedRequest, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (let i = req.headers.length - 1; i >= 0; i--) {
    const h = req.headers[i];
    if (h !== undefined && h.name === lower) return h.value;
  }
  return undefined;
}

/**
 * The effective host: last Host header, lower-cased, trailing `:port` removed. A port is one or
 * more digits: a bare trailing colon stays (as the compiled config does; real clients never send it).
 */
function effectiveHost(req: NormalizedRequest): string | undefined {
  const host = lastHeader(req, 'host');
  return host === undefined ? undefined : asciiLower(host).replace(/:[0-9]+$/, '');
}

function pathOf(req: NormalizedRequest): string {
  const q = req.path.indexOf('?');
  return q < 0 ? req.path : req.path.slice(0, q);
}

/** undefined when every condition holds, else a description of the first that does not. */
function firstFailedCondition(route: Route, req: NormalizedRequest): string | undefined {
  for (const c of route.conditions) {
    const failure = evaluateCondition(c, req);
    if (failure !== undefined) return `${describeCondition(c)}: ${failure}`;
  }
  return undefined;
}

/** undefined when the condition holds, else why not. */
function evaluateCondition(c: Condition, req: NormalizedRequest): string | undefined {
  switch (c.kind) {
    case 'header': {
      const value = lastHeader(req, c.name);
      if (c.match.type === 'absent') return value === undefined ? undefined : `header is present (${show(value)})`;
      if (value === undefined) return 'header is absent';
      if (c.match.type === 'present') return undefined;
      return stringMatches(c.match, value) ? undefined : `value ${show(value)} does not match`;
    }
    case 'host': {
      const host = effectiveHost(req);
      if (host === undefined) return 'no Host header';
      const want = c.match.value.toLowerCase();
      const ok = c.match.type === 'exact' ? host === want : host.endsWith(want);
      return ok ? undefined : `host ${show(host)} does not match`;
    }
    case 'path': {
      const path = pathOf(req);
      return stringMatches(c.match, path) ? undefined : `path ${JSON.stringify(path)} does not match`;
    }
    case 'method':
      return c.methods.includes(req.method) ? undefined : `method ${req.method} is not listed`;
    case 'source':
      return c.cidrs.some((cidr) => cidrContains(cidr, req.source)) ? undefined : `source ${formatIpv4(req.source)} is in none of them`;
    case 'query':
    case 'cookie': {
      const value = c.kind === 'query' ? queryParam(req.path, c.name) : requestCookie(req.headers, c.name);
      const what = c.kind === 'query' ? 'parameter' : 'cookie';
      if (c.match.type === 'absent') return value === undefined ? undefined : `${what} is present (${show(value)})`;
      if (value === undefined) return `${what} is absent`;
      if (c.match.type === 'present') return undefined;
      return stringMatches(c.match, value) ? undefined : `value ${show(value)} does not match`;
    }
  }
}

/**
 * The value of the FIRST occurrence of query parameter `key`, as HAProxy 2.6's `url_param(key)`
 * returns it (measured on 2.6.12): the query string is what follows the first `?` of the request
 * target; parameters are separated by `&`, `;` or a further `?`; a parameter is `key=value` with the key
 * compared case-sensitively and byte for byte (no percent-decoding of key or value); a parameter
 * without `=` is not seen; `key=` gives the empty string. undefined when absent.
 */
export function queryParam(target: string, key: string): string | undefined {
  const q = target.indexOf('?');
  if (q < 0) return undefined;
  for (const part of target.slice(q + 1).split(/[&;?]/)) {
    if (part.startsWith(`${key}=`)) return part.slice(key.length + 1);
  }
  return undefined;
}

function stringMatches(match: { readonly type: 'exact' | 'prefix' | 'regex'; readonly value: string }, value: string): boolean {
  switch (match.type) {
    case 'exact':
      return value === match.value;
    case 'prefix':
      return value.startsWith(match.value);
    case 'regex':
      // Unanchored search, as HAProxy's `-m reg`, over bytes (see `pcreByteRegex`).
      return pcreByteRegex(match.value).test(utf8Binary(value));
  }
}

/** The UTF-8 bytes of `value`, one char (U+0000-U+00FF) per byte. */
function utf8Binary(value: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(value)) out += String.fromCharCode(byte);
  return out;
}

const SPACE_CLASS = '\\t\\n\\v\\f\\r ';
const NON_SPACE_CLASS = '\\x00-\\x08\\x0e-\\x1f\\x21-\\xff';

/**
 * A JavaScript regex that matches a binary string (see `utf8Binary`) as HAProxy 2.6's PCRE2
 * matches the same bytes: HAProxy compiles without PCRE2_UTF or UCP, so `.` is one byte, a
 * non-ASCII literal is its UTF-8 bytes (inside [...] each byte a member), and \s is only ASCII
 * white space (JavaScript's \s would also take 0xA0, a non-breaking space's last byte).
 * \d, \w and \b are ASCII in both. The pattern is in the spec's regex subset.
 */
function pcreByteRegex(pattern: string): RegExp {
  let out = '';
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] ?? '';
    if (ch === '\\') {
      const next = pattern[i + 1] ?? '';
      i++;
      if (next === 's') out += inClass ? SPACE_CLASS : `[${SPACE_CLASS}]`;
      else if (next === 'S') out += inClass ? NON_SPACE_CLASS : `[${NON_SPACE_CLASS}]`;
      else out += `\\${next}`;
      continue;
    }
    if (ch === '[' && !inClass) inClass = true;
    else if (ch === ']' && inClass) inClass = false;
    const code = ch.codePointAt(0) ?? 0;
    if (code > 0x7f) {
      // A surrogate pair is one character: encode it whole.
      const whole = String.fromCodePoint(code);
      if (whole.length === 2) i++;
      for (const byte of new TextEncoder().encode(whole)) out += `\\x${byte.toString(16).padStart(2, '0')}`;
      continue;
    }
    out += ch;
  }
  return new RegExp(out);
}

function describeCondition(c: Condition): string {
  switch (c.kind) {
    case 'header':
      return `header ${c.name} ${c.match.type}${'value' in c.match ? ` ${JSON.stringify(c.match.value)}` : ''}`;
    case 'host':
      return `host ${c.match.type} ${JSON.stringify(c.match.value)}`;
    case 'path':
      return `path ${c.match.type} ${JSON.stringify(c.match.value)}`;
    case 'method':
      return `method in [${c.methods.join(', ')}]`;
    case 'source':
      return `source in [${c.cidrs.join(', ')}]`;
    case 'query':
    case 'cookie':
      return `${c.kind} ${c.name} ${c.match.type}${'value' in c.match ? ` ${JSON.stringify(c.match.value)}` : ''}`;
  }
}

type ActionOutcome = Pick<ExplainResult, 'backend' | 'split' | 'answer'>;

/**
 * A request part as HAProxy's log format writes it into a header value or a Location: each byte
 * outside printable ASCII (a DEL in a path, UTF-8 in a header value) as `%XX` (measured on 2.6.12).
 */
function logFormatText(value: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(value)) out += byte >= 0x20 && byte <= 0x7e ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/** What `${name}` holds for this request (src/speclang/l7-strings.ts HEADER_VARIABLES), as HAProxy writes it ('' when it has no value). */
function variableValue(name: string, raw: ExplainRequest, req: NormalizedRequest): string {
  return logFormatText(rawVariableValue(name, raw, req));
}

function rawVariableValue(name: string, raw: ExplainRequest, req: NormalizedRequest): string {
  switch (name) {
    case 'client_ip':
      return formatIpv4(req.source);
    case 'client_port':
      return raw.sourcePort === undefined ? '(client port)' : String(raw.sourcePort);
    case 'host':
      return lastHeader(req, 'host') ?? '';
    case 'method':
      return req.method;
    case 'path':
      return pathOf(req);
    case 'query': {
      const q = req.path.indexOf('?');
      return q < 0 ? '' : req.path.slice(q + 1);
    }
    case 'scheme':
      return raw.tls === true ? 'https' : 'http';
    default:
      throw new OverlayError('INTERNAL', `unknown header variable \${${name}} in a validated spec`);
  }
}

function evaluateRewrites(h: HeaderRewrite, raw: ExplainRequest, req: NormalizedRequest): ExplainedRewrite[] {
  const value = (v: string): string => v.replace(/\$\{([a-z_]+)\}/g, (_m, name: string) => variableValue(name, raw, req));
  return [
    ...h.remove.map((name): ExplainedRewrite => ({ op: 'remove', name })),
    ...h.set.map((x): ExplainedRewrite => ({ op: 'set', name: x.name, value: value(x.value) })),
    ...h.add.map((x): ExplainedRewrite => ({ op: 'add', name: x.name, value: value(x.value) })),
  ];
}

function describeRewrites(what: string, list: readonly ExplainedRewrite[]): string {
  return `${what}: ${list.map((r) => (r.op === 'remove' ? `remove ${r.name}` : `${r.op} ${r.name}: ${JSON.stringify(r.value)}`)).join(', ')}`;
}

function routeExtras(route: Route, raw: ExplainRequest, req: NormalizedRequest, reasons: string[]): Pick<ExplainResult, 'requestHeaders' | 'responseHeaders' | 'timeoutMs'> {
  const out: { requestHeaders?: ExplainedRewrite[]; responseHeaders?: ExplainedRewrite[]; timeoutMs?: number } = {};
  if (route.requestHeaders !== undefined) {
    out.requestHeaders = evaluateRewrites(route.requestHeaders, raw, req);
    reasons.push(describeRewrites('request headers', out.requestHeaders));
  }
  if (route.responseHeaders !== undefined) {
    out.responseHeaders = evaluateRewrites(route.responseHeaders, raw, req);
    reasons.push(describeRewrites('response headers', out.responseHeaders));
  }
  if (route.timeoutMs !== undefined) {
    out.timeoutMs = route.timeoutMs;
    reasons.push(`timeout: the backend has ${route.timeoutMs} ms to answer`);
  }
  return out;
}

/** The Location of a redirect for this request (see `Redirect` in the model). */
function redirectLocation(r: Redirect, raw: ExplainRequest, req: NormalizedRequest): string {
  const scheme = r.scheme ?? (raw.tls === true ? 'https' : 'http');
  const hostHeaderRaw = lastHeader(req, 'host');
  const hostHeader = hostHeaderRaw === undefined ? undefined : logFormatText(hostHeaderRaw);
  let authority: string;
  if (r.host !== undefined) authority = r.host;
  else if (r.port === undefined && r.scheme === undefined) authority = hostHeader ?? '';
  else authority = (hostHeader ?? '').replace(/:[0-9]+$/, '');
  const defaults: Record<string, number> = { http: 80, https: 443 };
  if (r.port !== undefined && !(r.scheme !== undefined && defaults[r.scheme] === r.port)) authority += `:${r.port}`;
  const path = r.path ?? logFormatText(pathOf(req));
  const q = req.path.indexOf('?');
  const query = r.query ?? logFormatText(q < 0 ? '' : req.path.slice(q + 1));
  return `${scheme}://${authority}${path}${query === '' ? '' : `?${query}`}`;
}

function resolveAction(spec: Spec, route: Route, req: NormalizedRequest, reasons: string[], raw?: ExplainRequest): ActionOutcome {
  const action = route.action;
  switch (action.kind) {
    case 'redirect': {
      const location = redirectLocation(action.redirect, raw ?? { method: req.method, path: req.path, headers: [], source: formatIpv4(req.source) }, req);
      reasons.push(`redirect ${action.redirect.status} to ${JSON.stringify(location)}`);
      return { backend: null, answer: { kind: 'redirect', status: action.redirect.status, location } };
    }
    case 'respond': {
      const r = action.respond;
      const body = r.body?.kind === 'text' ? { body: r.body.text } : r.body?.kind === 'file' ? { bodyFile: r.body.path } : {};
      reasons.push(`fixed response ${r.status}${r.contentType === undefined ? '' : ` (${r.contentType})`}${r.body?.kind === 'file' ? ` from ${r.body.path}` : ''}`);
      return { backend: null, answer: { kind: 'respond', status: r.status, ...(r.contentType === undefined ? {} : { contentType: r.contentType }), ...body } };
    }
    case 'backend':
      reasons.push(`backend "${action.backend}"`);
      return { backend: action.backend };
    case 'switch': {
      const sw = spec.switches.find((s) => s.name === action.switch);
      const side = sw?.sides.find((s) => s.name === sw.active);
      if (sw === undefined || side === undefined) {
        // The spec layer guarantees both; reaching here is a bug, not bad input.
        throw new OverlayError('INTERNAL', `switch "${action.switch}" or its active side is missing from a validated spec`);
      }
      reasons.push(`switch "${sw.name}": active side "${sw.active}" -> backend "${side.backend}"`);
      return { backend: side.backend };
    }
    case 'split': {
      const sides = action.sides.map((s) => ({ backend: s.backend, weight: s.weight }));
      const text = sides.map((s) => `${s.backend} ${s.weight}%`).join(', ');
      if (action.stickyCookie !== undefined) return cookieSplit(action.stickyCookie, sides, text, req, reasons);
      if (action.sticky === undefined) {
        reasons.push(`split [${text}] without sticky key: random`);
        return { backend: null, split: { sides, bucket: null } };
      }
      const value = stickyValue(action.sticky, req);
      const sticky = { kind: action.sticky.kind, name: action.sticky.name, value: value ?? null };
      if (value === undefined) {
        reasons.push(`split [${text}]: sticky ${action.sticky.kind} ${action.sticky.name} absent: random`);
        return { backend: null, split: { sides, sticky, bucket: null } };
      }
      const bucket = crc32(new TextEncoder().encode(value)) % 100;
      const backend = sideForBucket(sides, bucket);
      reasons.push(`split [${text}]: sticky ${action.sticky.kind} ${action.sticky.name}=${JSON.stringify(value)}: bucket ${bucket} -> backend "${backend}"`);
      return { backend, split: { sides, sticky, bucket } };
    }
  }
}

/**
 * A split with an LB-issued cookie: a cookie whose value is the backend of a side of weight > 0
 * keeps the client there (no Set-Cookie); otherwise the side is drawn by weight and the response
 * sets the cookie to it.
 */
function cookieSplit(c: StickyCookie, sides: readonly { readonly backend: string; readonly weight: number }[], text: string, req: NormalizedRequest, reasons: string[]): ActionOutcome {
  const value = requestCookie(req.headers, c.name) ?? null;
  const side = value !== null && sides.some((s) => s.weight > 0 && s.backend === value) ? value : null;
  if (side !== null) {
    reasons.push(`split [${text}]: cookie ${c.name}=${show(value ?? '')} names a side: backend "${side}" (no Set-Cookie)`);
    return { backend: side, split: { sides, bucket: null, stickyCookie: { name: c.name, value, side, setCookie: null } } };
  }
  const setCookie = setCookieHeader(c, '<side>', 'split');
  const why = value === null ? 'absent' : `${show(value)} names no side of weight > 0`;
  reasons.push(`split [${text}]: cookie ${c.name} ${why}: random by weight; the response sets ${JSON.stringify(setCookie)}`);
  return { backend: null, split: { sides, bucket: null, stickyCookie: { name: c.name, value, side: null, setCookie } } };
}

/**
 * The Set-Cookie value of an LB-issued cookie, as the compiled config writes it: a split's
 * (`http-response add-header`, attributes in this order) or a backend's (HAProxy's `cookie ...
 * insert`: `path=/`, then HttpOnly, Secure and the `attr` values; measured on 2.6.12).
 */
function setCookieHeader(c: StickyCookie, value: string, where: 'split' | 'backend'): string {
  const maxAge = c.durationMs === undefined ? [] : [`Max-Age=${c.durationMs / 1000}`];
  const flags = [...(c.httpOnly ? ['HttpOnly'] : []), ...(c.secure ? ['Secure'] : [])];
  const sameSite = c.sameSite === undefined ? [] : [`SameSite=${c.sameSite}`];
  const parts = where === 'split' ? ['Path=/', ...maxAge, ...flags, ...sameSite] : ['path=/', ...flags, ...sameSite, ...maxAge];
  return [`${c.name}=${value}`, ...parts].join('; ');
}

/** The chosen backend's stickiness cookie (see `ExplainResult.backendCookie`), or nothing. */
function backendCookie(spec: Spec, backend: string | null, req: NormalizedRequest, reasons: string[]): Pick<ExplainResult, 'backendCookie'> {
  const be = backend === null ? undefined : spec.backends.find((b) => b.name === backend);
  const c = be?.stickyCookie;
  if (be === undefined || c === undefined) return {};
  const value = requestCookie(req.headers, c.name) ?? null;
  const slots = [...be.servers.map((s) => s.name), ...Array.from({ length: be.spareSlots }, (_, i) => `olb-spare-${i + 1}`)];
  const server = value !== null && slots.includes(value) ? value : null;
  const setCookie = server === null ? setCookieHeader(c, '<server>', 'backend') : null;
  reasons.push(
    server !== null
      ? `backend "${be.name}": cookie ${c.name}=${show(server)} names server "${server}" (used while it is up; else another server and a new cookie)`
      : `backend "${be.name}": cookie ${c.name} ${value === null ? 'absent' : `${show(value)} names no server`}: balanced; the response sets ${JSON.stringify(setCookie)}`,
  );
  return { backendCookie: { backend: be.name, name: c.name, value, server, setCookie } };
}

/**
 * The side owning `bucket` (in [0, 100)): side i owns [sum of earlier weights, that sum + its weight).
 * @throws OverlayError INTERNAL when the weights do not cover the bucket (they add up to 100 in a valid spec).
 */
export function sideForBucket(sides: readonly { readonly backend: string; readonly weight: number }[], bucket: number): string {
  let start = 0;
  for (const side of sides) {
    if (bucket >= start && bucket < start + side.weight) return side.backend;
    start += side.weight;
  }
  throw new OverlayError('INTERNAL', `split weights add up to ${start}, not 100: bucket ${bucket} has no side`);
}

function stickyValue(key: StickyKey, req: NormalizedRequest): string | undefined {
  return key.kind === 'header' ? lastHeader(req, key.name) : requestCookie(req.headers, key.name);
}

/**
 * The value of cookie `name` in a request's headers as HAProxy's `req.cook(name)` returns it: the
 * last occurrence over every Cookie header (see `lastCookieInHeader`); undefined when absent.
 */
export function requestCookie(headers: readonly { readonly name: string; readonly value: string }[], name: string): string | undefined {
  let found: string | undefined;
  for (const h of headers) {
    if (h.name.toLowerCase() !== 'cookie') continue;
    const value = lastCookieInHeader(trimSpHt(h.value), name);
    if (value !== undefined) found = value;
  }
  return found;
}

/**
 * HAProxy's `req.cook(name)`: the LAST occurrence of the cookie over every Cookie header, names
 * case-sensitive. Mirrors HAProxy 2.6: each header value is first split on commas outside quotes
 * (`http_find_header` without `full`), then each element is scanned for `name = value` pairs
 * separated by `;` or `,`, spaces around names and values dropped, attributes starting with `$`
 * and pairs without `=` skipped. An element is only scanned while more than `name.length + 1`
 * characters remain from the current position (so a bare trailing `name=` is not seen), as in
 * `http_extract_cookie_value`.
 */
export function lastCookieInHeader(headerValue: string, name: string): string | undefined {
  let found: string | undefined;
  for (const element of splitOutsideQuotes(headerValue)) {
    if (element.length < name.length + 1) continue;
    const value = lastCookieInElement(element, name);
    if (value !== undefined) found = value;
  }
  return found;
}

function isSpHt(ch: string | undefined): boolean {
  return ch === ' ' || ch === '\t';
}

/** Split on commas outside double quotes, trimming spaces and tabs; empty elements are dropped. */
function splitOutsideQuotes(value: string): string[] {
  const out: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i <= value.length; i++) {
    const ch = value[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') {
      quoted = true;
    } else if (ch === ',' || ch === undefined) {
      const part = trimSpHt(value.slice(start, i));
      if (part !== '') out.push(part);
      start = i + 1;
    }
  }
  return out;
}

/** End of a cookie value: the first `,` or `;` outside quotes. */
function cookieValueEnd(s: string, from: number): number {
  let quoted = false;
  for (let i = from; i < s.length; i++) {
    const ch = s[i];
    if (quoted) {
      if (ch === '\\') i++;
      else if (ch === '"') quoted = false;
    } else if (ch === '"') quoted = true;
    else if (ch === ',' || ch === ';') return i;
  }
  return s.length;
}

function lastCookieInElement(s: string, name: string): string | undefined {
  let found: string | undefined;
  const end = s.length;
  for (let attBeg = 0; attBeg + name.length + 1 < end; ) {
    while (attBeg < end && isSpHt(s[attBeg])) attBeg++;
    let equal = attBeg;
    let attEnd = attBeg;
    while (equal < end) {
      const ch = s[equal];
      if (ch === '=' || ch === ';' || ch === ',') break;
      equal++;
      if (!isSpHt(ch)) attEnd = equal;
    }
    let next: number;
    let valBeg: number;
    let valEnd: number;
    if (equal < end && s[equal] === '=') {
      valBeg = equal + 1;
      while (valBeg < end && isSpHt(s[valBeg])) valBeg++;
      next = cookieValueEnd(s, valBeg);
      valEnd = next;
      while (valEnd > valBeg && isSpHt(s[valEnd - 1])) valEnd--;
    } else {
      valBeg = valEnd = next = equal;
    }
    if (s[attBeg] !== '$' && equal !== next && s.slice(attBeg, attEnd) === name) found = s.slice(valBeg, valEnd);
    attBeg = next + 1;
  }
  return found;
}

// Small shared helpers of the spec layer (not the renderer: explain stays independent of the
// compiler it is checked against).
export { crc32 } from '../util/crc32.js';

function cidrContains(cidr: string, address: number): boolean {
  const [base, len] = cidr.split('/');
  const network = base === undefined ? undefined : parseIpv4(base);
  const bits = Number(len);
  if (network === undefined || !Number.isInteger(bits) || bits < 0 || bits > 32) {
    throw new OverlayError('INTERNAL', `CIDR ${JSON.stringify(cidr)} in a validated spec is malformed`);
  }
  const size = 2 ** (32 - bits);
  return Math.floor(address / size) === Math.floor(network / size);
}
