/**
 * Checks for every kind of string a spec holds. Each returns a problem (error code and a message
 * fragment that names the bad value, what is allowed and the fix) or undefined when the value is
 * fine. The order is always: printable ASCII, then quoting hazards, then the format.
 */
import type { ErrorCode } from '../util/errors.js';
import { parseDuration, formatDuration } from './duration.js';
import { parseCidr, parseIpv4 } from '../util/ipv4.js';
import {
  HEADER_NAME_RE,
  HEADER_NAME_RULE,
  SAFE_NAME_RE,
  SAFE_NAME_RULE,
  escapeChar,
  firstUnprintable,
  quoteForMessage,
} from './names.js';
import { checkRegexSubset } from './regex-subset.js';

export interface Problem {
  readonly code: ErrorCode;
  readonly message: string;
}

export type StringCheck = (value: string) => Problem | undefined;

const problem = (code: ErrorCode, message: string): Problem => ({ code, message });

/** Control characters, DEL and non-ASCII (U+2028 included) are never placed in a generated file. */
export function checkPrintable(value: string, options: { secret?: boolean } = {}): Problem | undefined {
  const bad = firstUnprintable(value);
  if (bad === undefined) return undefined;
  const shown = options.secret === true ? 'the value' : quoteForMessage(value);
  return problem('SPEC_UNSAFE_VALUE', `${shown} contains the character ${escapeChar(bad.char)} at position ${bad.index + 1}; only printable ASCII (0x20-0x7e) is allowed: remove it`);
}

/** HAProxy single-quoted strings escape nothing, so a `'` would end the string early. */
function checkNoSingleQuote(value: string): Problem | undefined {
  if (!value.includes("'")) return undefined;
  return problem('SPEC_UNSAFE_VALUE', `${quoteForMessage(value)} contains a single quote ('), which cannot be placed inside the single-quoted strings of haproxy.cfg: remove it (in a regex, match it with .)`);
}

/** Chains checks, returning the first problem. */
export function all(...checks: StringCheck[]): StringCheck {
  return (value) => {
    for (const c of checks) {
      const p = c(value);
      if (p !== undefined) return p;
    }
    return undefined;
  };
}

const printable: StringCheck = (v) => checkPrintable(v);

/**
 * Longest value matched against a request (header values, paths, regexes) or written into
 * haproxy.cfg as one word. HAProxy holds a whole request head in one buffer (tune.bufsize, 16384
 * bytes) and reads each map-file line into a buffer of that size, so a longer value could never
 * match and would be cut in a map file.
 */
export const MAX_VALUE_LENGTH = 4096;

const bounded: StringCheck = (v) =>
  v.length <= MAX_VALUE_LENGTH ? undefined : problem('SPEC_RANGE', `the value starting ${quoteForMessage(v.slice(0, 32))} is ${v.length} characters long; at most ${MAX_VALUE_LENGTH} are allowed (HAProxy holds a whole request head in 16384 bytes): shorten it`);

function suggestName(value: string): string | undefined {
  const s = value.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^[^a-z]+/, '').replace(/-+$/, '').slice(0, 63);
  return SAFE_NAME_RE.test(s) ? s : undefined;
}

/** A safe name (see `SAFE_NAME_RE`); `what` is "backend", "node"... for the message. */
export function nameCheck(what: string, maxLength = 63): StringCheck {
  return all(printable, (v) => {
    // Generated sections, servers and lists are named olb-... (olb-stats, olb-health, olb-spare-N).
    if (v.startsWith('olb-')) return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a valid ${what} name: names starting with "olb-" are reserved for what overlay-lb generates; choose another prefix`);
    if (SAFE_NAME_RE.test(v) && v.length <= maxLength) return undefined;
    const rule = maxLength === 63 ? SAFE_NAME_RULE : SAFE_NAME_RULE.replace('63', String(maxLength));
    const s = suggestName(v);
    const hint = s !== undefined && s !== v && s.length <= maxLength ? `, for example ${quoteForMessage(s)}` : '';
    return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a valid ${what} name: use ${rule}${hint}`);
  });
}

/** Header and cookie names. */
export function headerNameCheck(what: string): StringCheck {
  return all(printable, (v) =>
    HEADER_NAME_RE.test(v) ? undefined : problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a valid ${what} name: use ${HEADER_NAME_RULE}`),
  );
}

/** A header value compared by exact or prefix match (single-quoted by the renderer). */
export const matchValueCheck: StringCheck = all(printable, checkNoSingleQuote, bounded);

/** A URL path (path conditions, health-check path). */
export const urlPathCheck: StringCheck = all(printable, checkNoSingleQuote, bounded, (v) => {
  if (!v.startsWith('/')) return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a URL path: it must start with '/', for example ${quoteForMessage(`/${v.replace(/^\/*/, '')}`)}`);
  const bad = /[ #?]/.exec(v);
  if (bad !== null) {
    const why = bad[0] === '?' ? "the path never contains the query string; drop everything from '?'" : `a path contains no ${bad[0] === ' ' ? 'space (encode it as %20)' : "'#' (the fragment is not sent to the server)"}`;
    return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a valid URL path: ${why}`);
  }
  return undefined;
});

/** A regex in the PCRE2/JavaScript common subset. */
export const regexCheck: StringCheck = all(printable, checkNoSingleQuote, bounded, (v) => {
  const why = checkRegexSubset(v);
  return why === undefined ? undefined : problem('SPEC_REGEX', `regex ${quoteForMessage(v)} ${why}`);
});

/** A host name for `exact` (lower-cased before this check). */
export const hostExactCheck: StringCheck = all(printable, checkNoSingleQuote, (v) =>
  /^[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(v) ? undefined : problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a host name: use letters, digits, '-' and '.' (no port, no scheme), for example "api.example.com"`),
);

/** A host suffix (lower-cased before this check); may start with '.'. */
export const hostSuffixCheck: StringCheck = all(printable, checkNoSingleQuote, (v) =>
  /^\.?[a-z0-9-]+(\.[a-z0-9-]+)*$/.test(v) ? undefined : problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a host suffix: use letters, digits, '-' and '.', optionally starting with '.', for example ".example.com"`),
);

/**
 * The variables of HAProxy 2.6's log-format (configuration manual 8.2.4, log.c
 * `logformat_keywords`), each checked against haproxy 2.6.12: `true` when only an http proxy may
 * use it (HAProxy refuses it in a tcp one).
 */
export const LOG_FORMAT_VARIABLES: Readonly<Record<string, boolean>> = {
  o: false, B: false, CC: true, CS: true, H: false, HM: true, HP: true, HPO: true, HQ: true, HU: true, HV: true, ID: false, ST: false,
  T: false, Ta: true, Tc: false, Th: false, Ti: true, Tl: false, Tq: true, Tr: true, Tt: false, Tu: false, Tw: false, U: false,
  ac: false, b: false, bc: false, bi: false, bp: false, bq: false, ci: false, cp: false, f: false, fc: false, fi: false, fp: false,
  ft: false, hr: false, hrl: false, hs: false, hsl: false, lc: false, ms: false, pid: false, r: true, rc: false, rt: false, s: false,
  sc: false, si: false, sp: false, sq: false, sslc: false, sslv: false, t: false, tr: true, trg: true, trl: true, ts: false, tsc: false,
};

/** The `%` variables of a log format (after its syntax passed {@link logFormatCheck}). */
export function logFormatVariables(format: string): string[] {
  const out: string[] = [];
  const re = /%(?:\{[^}]*\})?(?:%|\[[^\]]*\]|([A-Za-z0-9]+))/g;
  for (let m = re.exec(format); m !== null; m = re.exec(format)) if (m[1] !== undefined) out.push(m[1]);
  return out;
}

/**
 * A custom log format (single-quoted by the renderer), in HAProxy's log-format syntax: `%%` is a
 * literal '%'; otherwise '%' takes optional `{flags}` and then a known variable (its name runs
 * over letters and digits: "%cifoo" is the unknown variable "cifoo") or a sample expression
 * `%[...]`. The expression's fetches are not checked here.
 */
export const logFormatCheck: StringCheck = all(printable, checkNoSingleQuote, bounded, (v) => {
  if (v.trim() === '') return problem('SPEC_FORMAT', 'a custom log format must not be empty; use accessLog: default for the default one');
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== '%') continue;
    const at = i + 1;
    let j = at;
    if (v[j] === '%') {
      i = j;
      continue;
    }
    if (v[j] === '{') {
      const close = v.indexOf('}', j);
      if (close < 0) return problem('SPEC_FORMAT', `log format ${quoteForMessage(v)} opens flags with '%{' at position ${at} but never closes them with '}'; HAProxy refuses it: close them, as in %{+Q}r`);
      j = close + 1;
    }
    if (v[j] === '[') {
      const close = v.indexOf(']', j);
      if (close < 0 || close === j + 1) return problem('SPEC_FORMAT', `log format ${quoteForMessage(v)} has a sample expression '%[' at position ${at} without a fetch and a closing ']'; HAProxy refuses it: write it as %[src] (a literal '%' is %%)`);
      i = close;
      continue;
    }
    const name = /^[A-Za-z0-9]*/.exec(v.slice(j))?.[0] ?? '';
    if (name === '') return problem('SPEC_FORMAT', `log format ${quoteForMessage(v)} has a '%' at position ${at} that starts no variable; HAProxy refuses it: write %% for a literal '%'`);
    if (!(name in LOG_FORMAT_VARIABLES)) {
      const prefix = Object.keys(LOG_FORMAT_VARIABLES).filter((k) => name.startsWith(k)).sort((a, b) => b.length - a.length)[0];
      const hint = prefix === undefined ? 'see "Custom log format" in the HAProxy manual for the variables' : `a variable name runs over letters and digits: to follow %${prefix} with text, put a non-alphanumeric character between them (for example %${prefix}-${name.slice(prefix.length)})`;
      return problem('SPEC_FORMAT', `log format ${quoteForMessage(v)} uses the unknown variable %${name} at position ${at}; HAProxy refuses it: ${hint}`);
    }
    i = j + name.length - 1;
  }
  return undefined;
});

/** A crypt(3) hash; never echoed (it may be a plain password by mistake). */
export const passwordHashCheck: StringCheck = (v) => {
  const p = checkPrintable(v, { secret: true });
  if (p !== undefined) return p;
  if (/^\$(1|5|6|y|gy|7|2[aby])\$[./0-9A-Za-z$=,]{8,}$/.test(v)) return undefined;
  return problem('SPEC_FORMAT', 'the value is not a crypt(3) password hash ($5$..., $6$... or $y$...); never put a plain password in the spec: generate a hash with `mkpasswd -m sha-512` or `openssl passwd -6`');
};

/** A pattern-checked token (zones, interfaces, ids...). */
export function tokenCheck(re: RegExp, what: string, example: string): StringCheck {
  return all(printable, (v) => (re.test(v) ? undefined : problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a valid ${what}, for example ${quoteForMessage(example)}`)));
}

/** An http(s) URL. */
export const urlCheck: StringCheck = all(printable, (v) => {
  if (/[\s'"`]/.test(v)) return problem('SPEC_UNSAFE_VALUE', `${quoteForMessage(v)} contains a space or a quote: URLs must not`);
  let u: URL | undefined;
  try {
    u = new URL(v);
  } catch {
    u = undefined;
  }
  if (u === undefined || (u.protocol !== 'http:' && u.protocol !== 'https:')) return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not an http(s) URL, for example "http://10.0.0.5:4566"`);
  return undefined;
});

/** A free printable string without quotes (tags, key prefixes). */
export const plainTextCheck: StringCheck = all(printable, checkNoSingleQuote, (v) =>
  /["`]/.test(v) ? problem('SPEC_UNSAFE_VALUE', `${quoteForMessage(v)} contains a quote character: remove it`) : undefined,
);

/** An upper-case HTTP method token. */
export const methodCheck: StringCheck = all(printable, (v) => {
  if (/^[A-Z]{1,32}$/.test(v)) return undefined;
  const up = v.toUpperCase();
  const hint = /^[A-Z]{1,32}$/.test(up) ? `; methods are case-sensitive: did you mean ${quoteForMessage(up)}?` : '';
  return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not an upper-case HTTP method such as GET or POST${hint}`);
});

export const ipv4Check: StringCheck = all(printable, (v) =>
  parseIpv4(v) === undefined ? problem('SPEC_FORMAT', `${quoteForMessage(v)} is not an IPv4 address, for example "10.0.1.10"`) : undefined,
);

/**
 * A CIDR whose address is its network address. `10.10.0.0/8` would silently mean 10.0.0.0/8 (a
 * network 256 times larger than it reads), so host bits are an error whose fix is the canonical form.
 */
export const cidrCheck: StringCheck = all(printable, (v) => {
  const c = parseCidr(v);
  if (c === undefined) return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not an IPv4 CIDR, for example "10.0.0.0/16"`);
  const written = v.includes('/') ? v : `${v}/32`;
  if (c.canonical !== written) {
    return problem('SPEC_FORMAT', `${quoteForMessage(v)} has host bits set after the /${c.length} prefix, so it means the network ${c.canonical}: write ${quoteForMessage(c.canonical)}, or a longer prefix if you meant a smaller network`);
  }
  return undefined;
});

/** Linux interface names as keepalived takes them: no ':' alias labels (eth0:1 is an address label of eth0, not an interface). */
export const interfaceCheck: StringCheck = all(printable, (v) => {
  if (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/.test(v)) return undefined;
  if (/^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}:/.test(v)) {
    const base = v.slice(0, v.indexOf(':'));
    return problem('SPEC_FORMAT', `${quoteForMessage(v)} is an address label (alias), not an interface: keepalived sends VRRP on the interface itself; write ${quoteForMessage(base)}`);
  }
  return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a valid interface name: use 1 to 15 letters, digits, '_', '.' and '-', starting with a letter or digit, for example "eth0"`);
});

/**
 * A URL path that overlay-lb itself sends or answers (the health URI, a backend's HTTP check),
 * rendered as a bare word in haproxy.cfg: RFC 3986 path characters only, `%` followed by two hex
 * digits, and no `$` (HAProxy would expand `$NAME` in a bare word).
 */
export const requestPathCheck: StringCheck = all(urlPathCheck, (v) => {
  const bad = /[^A-Za-z0-9\-._~!&()*+,;=:@%/]/.exec(v);
  if (bad !== null) {
    const ch = bad[0];
    const code = ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0');
    const why = ch === '$' ? 'HAProxy would expand "$NAME" in it as an environment variable' : 'it is not a URL path character (RFC 3986)';
    return problem('SPEC_FORMAT', `${quoteForMessage(v)} contains ${quoteForMessage(ch)} at position ${bad.index + 1}: ${why}; percent-encode it as %${code}`);
  }
  const pct = /%(?![0-9A-Fa-f]{2})/.exec(v);
  if (pct !== null) return problem('SPEC_FORMAT', `${quoteForMessage(v)} has a '%' at position ${pct.index + 1} that is not followed by two hex digits; write a literal '%' as %25`);
  return undefined;
});

export const bindAddressCheck: StringCheck = all(printable, (v) =>
  v === 'vip' || v === 'node' || parseIpv4(v) !== undefined ? undefined : problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a bind address: use vip, node or an IPv4 address`),
);

/** `200-399`: an inclusive status range. */
export const statusRangeCheck: StringCheck = all(printable, (v) => {
  const m = /^([1-5][0-9]{2})-([1-5][0-9]{2})$/.exec(v);
  if (m !== null && Number(m[1]) <= Number(m[2])) return undefined;
  return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a status range: use "LOW-HIGH" with codes 100-599, for example "200-399"`);
});

export interface DurationRule {
  readonly minMs: number;
  readonly maxMs: number;
  readonly multipleOfMs?: number;
  /** Why the range, appended to range messages. */
  readonly why?: string;
}

/** A duration string within a range. */
export function durationCheck(rule: DurationRule): StringCheck {
  return all(printable, (v) => {
    const ms = parseDuration(v);
    if (ms === undefined) return problem('SPEC_FORMAT', `${quoteForMessage(v)} is not a duration: use a whole number with a unit ms, s, m or h, for example "500ms", "30s", "5m"`);
    const why = rule.why === undefined ? '' : ` (${rule.why})`;
    const range = `${formatDuration(rule.minMs)}..${formatDuration(rule.maxMs)}`;
    if (ms < rule.minMs || ms > rule.maxMs) return problem('SPEC_RANGE', `${quoteForMessage(v)} is out of range; allowed ${range}${why}`);
    if (rule.multipleOfMs !== undefined && ms % rule.multipleOfMs !== 0) {
      const near = Math.max(rule.minMs, Math.round(ms / rule.multipleOfMs) * rule.multipleOfMs);
      return problem('SPEC_RANGE', `${quoteForMessage(v)} is not a multiple of ${rule.multipleOfMs}ms${why}; use ${range} in steps of ${rule.multipleOfMs}ms, for example "${near}ms"`);
    }
    return undefined;
  });
}
