/**
 * String checks of the layer-7 conditions and actions added for issue 21 (query-string and cookie
 * conditions; redirects, fixed responses, header rewrites, LB-issued cookies). Kept beside
 * `strings.ts` (same contract: a problem naming the value, what is allowed and the fix, or
 * undefined) so the two can evolve without touching each other.
 */
import { quoteForMessage } from './names.js';
import { all, matchValueCheck, type Problem, type StringCheck } from './strings.js';

const problem = (code: Problem['code'], message: string): Problem => ({ code, message });

/** A query-string key: what HAProxy's `url_param(<key>)` can take as a bare argument. */
export const QUERY_KEY_RE = /^[A-Za-z0-9_.~-]{1,128}$/;

/** A query-string parameter key (compared case-sensitively, as received). */
export const queryKeyCheck: StringCheck = all(matchValueCheck, (v) =>
  QUERY_KEY_RE.test(v)
    ? undefined
    : problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a valid query-string key: use 1-128 of letters, digits, '_', '.', '~' and '-' (keys are compared as received, without percent-decoding)`),
);

/**
 * The value of an `exact` or `prefix` query condition. Compared as received (no percent-decoding),
 * so a character that never appears in a received value is refused with the encoding to use.
 */
export const queryValueCheck: StringCheck = all(matchValueCheck, (v) => {
  const bad = /[ &;?#]/.exec(v);
  if (bad === null) return undefined;
  const why =
    bad[0] === ' '
      ? "a request never carries a space in its query string: write it as clients send it, %20 (or '+' from an HTML form)"
      : bad[0] === '#'
        ? "'#' starts the fragment, which clients never send: write it as %23"
        : `'${bad[0]}' ends a parameter's value (HAProxy's url_param splits at '&', ';' and '?'), so no value contains it: write it as clients send it, ${bad[0] === '&' ? '%26' : bad[0] === ';' ? '%3B' : '%3F'}`;
  return problem('SPEC_FORMAT', `query value ${quoteForMessage(v)} can never match: ${why} (values are compared as received, without percent-decoding)`);
});

/** The value of an `exact` or `prefix` cookie condition (a cookie value ends at ';' or ','). */
export const cookieValueCheck: StringCheck = all(matchValueCheck, (v) => {
  const bad = /[;,"]/.exec(v);
  if (bad !== null) return problem('SPEC_FORMAT', `cookie value ${quoteForMessage(v)} can never match: a cookie value contains no '${bad[0]}' (it separates cookies or quotes a value): remove it`);
  if (/^[ \t]|[ \t]$/.test(v)) return problem('SPEC_FORMAT', `cookie value ${quoteForMessage(v)} can never match: spaces around a cookie value are dropped: remove them`);
  return undefined;
});

/**
 * The request variables a header value may use, written `${name}`, and what each holds (from the
 * request as received, before any header rewrite). A variable with no value (no Host header, no
 * query string) is written as nothing (measured on HAProxy 2.6.12).
 */
export const HEADER_VARIABLES: Readonly<Record<string, string>> = {
  client_ip: "the client's address",
  client_port: "the client's source port",
  host: 'the last Host header, as received',
  method: 'the request method',
  path: 'the path, without the query string',
  query: "the query string, without the '?'",
  scheme: 'http or https (the connection to the load balancer)',
};

/** Headers whose rewrite would change the message framing or the connection: never touched. */
export const PROTECTED_HEADERS: ReadonlySet<string> = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection']);

/** A header name to add, set or remove. */
export const rewriteHeaderNameCheck: StringCheck = (v) =>
  PROTECTED_HEADERS.has(v.toLowerCase())
    ? problem('SPEC_CONFLICT', `header ${quoteForMessage(v)} frames the HTTP message or the connection, and overlay-lb never rewrites it (${[...PROTECTED_HEADERS].join(', ')}): remove this rewrite`)
    : undefined;

/** A header value for add/set: printable ASCII, no `'`, `${variable}` from HEADER_VARIABLES only. */
export const headerValueCheck: StringCheck = all(matchValueCheck, (v) => {
  if (v === '') return problem('SPEC_FORMAT', 'a header value must not be empty: to drop the header use remove');
  const re = /\$\{([^}]*)\}?/g;
  for (let m = re.exec(v); m !== null; m = re.exec(v)) {
    const name = m[1] ?? '';
    if (!m[0].endsWith('}')) return problem('SPEC_FORMAT', `header value ${quoteForMessage(v)} opens \${ without a closing }: write \${name} with one of ${Object.keys(HEADER_VARIABLES).join(', ')}`);
    if (HEADER_VARIABLES[name] === undefined) return problem('SPEC_FORMAT', `header value ${quoteForMessage(v)} uses the unknown variable \${${name}}; known: ${Object.keys(HEADER_VARIABLES).map((k) => `\${${k}}`).join(', ')}`);
  }
  return undefined;
});

/** A media type for a fixed response, `type/subtype` with optional `; key=value` parameters. */
export const contentTypeCheck: StringCheck = all(matchValueCheck, (v) =>
  /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*( ?; ?[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]+)*$/.test(v)
    ? undefined
    : problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a media type: write type/subtype with optional parameters, for example "text/html; charset=utf-8"`),
);

/** Most characters of a fixed response's body given in the spec (the ALB allows 1,024). */
export const MAX_BODY_LENGTH = 4096;

/** A fixed response's body: printable ASCII, tabs and line breaks, at most MAX_BODY_LENGTH. */
export const bodyCheck: StringCheck = (v) => {
  if (v.length > MAX_BODY_LENGTH) return problem('SPEC_RANGE', `the body is ${v.length} characters long; at most ${MAX_BODY_LENGTH} are allowed in the spec: shorten it or use bodyFile`);
  const bad = /[^\x20-\x7e\t\n\r]/.exec(v);
  if (bad !== null) return problem('SPEC_UNSAFE_VALUE', `the body contains the character U+${(bad[0].codePointAt(0) ?? 0).toString(16).padStart(4, '0').toUpperCase()} at position ${bad.index + 1}; only printable ASCII, tabs and line breaks are allowed: remove it or use bodyFile`);
  return undefined;
};

/** The query string of a redirect target (without '?'): what a request target may carry. */
export const redirectQueryCheck: StringCheck = all(matchValueCheck, (v) => {
  const bad = /[ #?]/.exec(v);
  return bad === null ? undefined : problem('SPEC_FORMAT', `redirect query ${quoteForMessage(v)} contains '${bad[0]}', which a query string cannot hold as is: percent-encode it (${bad[0] === ' ' ? '%20' : bad[0] === '#' ? '%23' : '%3F'}), and leave out the leading '?'`);
});

/**
 * The name of a stickiness cookie the load balancer issues. It is written into a `Set-Cookie`
 * header and read back with `req.cook(name)`: a token of HEADER_NAME_RE (letters, digits, `_`,
 * `.`, `-`), so no `;`, `=`, `,`, space, quote or control character can end the name early or
 * add an attribute. The message suggests the value with the bad characters replaced.
 */
export const stickyCookieNameCheck: StringCheck = all(matchValueCheck, (v) => {
  if (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(v)) return undefined;
  const bad = /[^A-Za-z0-9_.-]/.exec(v);
  const why = v === '' ? 'it is empty' : bad !== null ? `it contains ${JSON.stringify(bad[0])} at position ${bad.index + 1}` : v.length > 128 ? `it is ${v.length} characters long` : 'it does not start with a letter or digit';
  const suggestion = v.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '').slice(0, 128);
  const fix = suggestion === '' ? 'for example "olb-web"' : `for example ${quoteForMessage(suggestion)}`;
  return problem('SPEC_FORMAT', `cookie name ${quoteForMessage(v)} cannot be issued: ${why}; a stickiness cookie name is 1-128 of letters, digits, '_', '.' and '-', starting with a letter or digit (';', '=', ',', spaces and quotes would end the name or add an attribute): ${fix}`);
});
