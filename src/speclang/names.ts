/**
 * Name and string rules shared by the spec layer and the renderers.
 *
 * The renderers place names unquoted and most free strings inside HAProxy single quotes (where
 * nothing is escaped), so these alphabets are the injection boundary: anything that passes here
 * can be written into haproxy.cfg, map files and keepalived.conf verbatim.
 */

/** Names of nodes, frontends, backends, servers, routes, switches, sides and sources. */
export const SAFE_NAME_RE = /^[a-z][a-z0-9-]{0,62}$/;

/** HTTP header and cookie names (a subset of RFC 7230 token characters). */
export const HEADER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** Printable ASCII, 0x20-0x7e: no control character, no non-ASCII (no U+2028 either). */
export const PRINTABLE_ASCII_RE = /^[\x20-\x7e]*$/;

/** Human description of `SAFE_NAME_RE`, for messages. */
export const SAFE_NAME_RULE = "lower-case letters, digits and '-', starting with a letter, at most 63 characters";

/** Human description of `HEADER_NAME_RE`, for messages. */
export const HEADER_NAME_RULE = "letters, digits, '_', '.' and '-', starting with a letter or digit, at most 128 characters";

/** True when `value` is a safe name (see `SAFE_NAME_RE`). */
export function isSafeName(value: string): boolean {
  return SAFE_NAME_RE.test(value);
}

/** True when `value` is a valid header or cookie name (see `HEADER_NAME_RE`). */
export function isHeaderName(value: string): boolean {
  return HEADER_NAME_RE.test(value);
}

/** The first character outside printable ASCII, with its index, or undefined. */
export function firstUnprintable(value: string): { readonly index: number; readonly char: string } | undefined {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x20 || c > 0x7e) return { index: i, char: value[i] ?? '' };
  }
  return undefined;
}

/** Escapes one character for display: `\n`, `\r`, `\t`, `\0`, else `\xNN` / `\uNNNN`. */
export function escapeChar(char: string): string {
  const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\0': '\\0' };
  const known = named[char];
  if (known !== undefined) return known;
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * Quotes a value for an error message: double quotes, with every character outside printable
 * ASCII escaped, so a hostile value cannot forge lines or terminal escapes in the output.
 */
export function quoteForMessage(value: string): string {
  let out = '"';
  for (const ch of value) {
    const c = ch.charCodeAt(0);
    if (ch === '"' || ch === '\\') out += `\\${ch}`;
    else if (c < 0x20 || c > 0x7e) out += escapeChar(ch);
    else out += ch;
  }
  return `${out}"`;
}

/** Renders a value of any type for a message (strings quoted, objects summarized). */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return quoteForMessage(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' ? String(value) : typeof value;
}

/** `frontends[0].routes[2].backend` from `["frontends", 0, "routes", 2, "backend"]`. */
export function formatPath(path: readonly (string | number | symbol)[]): string {
  let out = '';
  for (const p of path) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (typeof p === 'string' && /^[A-Za-z_][A-Za-z0-9_-]*$/.test(p)) out += out === '' ? p : `.${p}`;
    else out += `[${quoteForMessage(String(p))}]`;
  }
  return out === '' ? '(top level)' : out;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The closest candidate to `input` (case-insensitive edit distance at most 1/3 of its length,
 * at least 1, at most 3), for "Did you mean" hints; undefined when nothing is close.
 */
export function closestMatch(input: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  const needle = input.toLowerCase();
  for (const c of candidates) {
    const d = editDistance(needle, c.toLowerCase());
    if (d < bestDistance) {
      best = c;
      bestDistance = d;
    }
  }
  const limit = Math.min(3, Math.max(1, Math.floor(input.length / 3)));
  return bestDistance <= limit ? best : undefined;
}

/** ` Did you mean "x"?` or the empty string. */
export function didYouMean(input: string, candidates: Iterable<string>): string {
  const m = closestMatch(input, candidates);
  return m === undefined ? '' : ` Did you mean ${quoteForMessage(m)}?`;
}
