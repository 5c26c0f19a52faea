/**
 * Safe placement of values in haproxy.cfg and map files.
 *
 * The spec layer rejects unsafe strings (SPEC_UNSAFE_VALUE, SPEC_FORMAT); these assertions are the
 * renderer's last line of defence: a value that would change the meaning of the generated file
 * (a second line, a closing quote, a comment) is a bug upstream, so it throws SystemError INTERNAL
 * instead of being emitted.
 *
 * HAProxy 2.6 configuration manual, section 2.2 "Quoting and escaping": inside single quotes
 * ("strong quoting") nothing is interpreted — no backslash escapes, no `#` comments, no `$`
 * environment variables — so any printable ASCII string without `'` is taken literally.
 */
import { SystemError } from '../util/errors.js';

/** Printable ASCII without the single quote: what can sit between single quotes. */
const QUOTABLE = /^[\x20-\x26\x28-\x7e]*$/;
/** Names from the spec's safe alphabet (plus `.`/`_` used by generated names). */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
/** A bare token: printable ASCII, no space, quote, backslash or '#'. */
const TOKEN = /^[\x21\x24-\x26\x28-\x5b\x5d-\x7e]+$/;

function fail(what: string, value: string, allowed: string): never {
  throw new SystemError(
    'INTERNAL',
    `${what} ${JSON.stringify(value)} reached the HAProxy renderer but ${allowed}; the spec layer should have rejected it (this is a bug in overlay-lb, please report it)`,
    { details: { what, value } },
  );
}

/** `value` in single quotes, literal for HAProxy. Throws INTERNAL on a quote or a non-printable character. */
export function quoteValue(value: string, what: string): string {
  if (!QUOTABLE.test(value)) fail(what, value, "only printable ASCII without \"'\" may be quoted");
  return `'${value}'`;
}

/** Returns `name` unchanged after checking it is from the safe name alphabet. */
export function assertName(name: string, what: string): string {
  if (!NAME.test(name)) fail(what, name, 'names must match [A-Za-z0-9][A-Za-z0-9._-]*');
  return name;
}

/** Returns `token` unchanged after checking it can stand unquoted (addresses, paths, methods). */
export function assertToken(token: string, what: string): string {
  if (!TOKEN.test(token)) fail(what, token, 'it must be printable ASCII without spaces, quotes, backslashes or "#"');
  return token;
}

/** Absolute paths: names of letters, digits, '.', '_', '-', '+' between single '/' (no HAProxy address syntax). */
const PATH = /^(\/[A-Za-z0-9._+-]+)+$/;

/**
 * Returns `path` unchanged after checking it holds no HAProxy address syntax (`,` lists,
 * `family@` prefixes, `:port`) and no `.`/`..` component: a runtime socket rendered from it is
 * always a Unix socket with the file permissions given next to it, never a network port.
 */
export function assertPath(path: string, what: string): string {
  if (!PATH.test(path) || path.split('/').some((s) => s === '.' || s === '..')) fail(what, path, "it must be an absolute path of letters, digits, '.', '_', '-' and '+' between single '/'");
  return path;
}

/**
 * True when `key` can be a map-file key: map files split a line at the first blank, take a line
 * starting with '#' as a comment and have no quoting, so keys must be non-empty printable ASCII
 * without blanks that do not start with '#'. Callers fall back to inline ACLs otherwise.
 */
export function isMapKey(key: string): boolean {
  return /^[\x21-\x7e]+$/.test(key) && !key.startsWith('#');
}

/**
 * Returns `key` unchanged after checking {@link isMapKey}. A map file has no quoting and no
 * escapes (HAProxy 2.6 pattern.c, `pat_ref_read_from_file_smp`: a line starting with '#' is a
 * comment, the key ends at the first blank, the value runs to the end of the line), so `"`, `\`
 * and a '#' after the first character are literal key characters.
 */
export function assertMapKey(key: string, what: string): string {
  if (!isMapKey(key)) fail(what, key, "map keys must be printable ASCII without blanks and not start with '#'");
  return key;
}
