/**
 * Checks for the spec's file-system paths: HAProxy's runtime and master sockets, the state
 * directory, certificate files and a file discovery source.
 *
 * Each of them ends up as a bare word in haproxy.cfg (`stats socket PATH mode 600 level admin`,
 * `crt PATH`), on haproxy's command line (`-S PATH,mode,600`) or inside keepalived.conf, where
 * HAProxy reads address syntax, not a plain path: a `,` starts a second address (or, after `-S`,
 * bind options such as `mode 666`) and a `family@` prefix (ipv4@, ipv6@, unix@, abns@, fd@,
 * sockpair@...) picks a socket family. `/run/x.sock,ipv4@0.0.0.0:9999` would open the admin
 * Runtime API on a TCP port, `/run/x.sock,abns@x` as an abstract socket without file
 * permissions. So paths use a closed alphabet in which no HAProxy or keepalived syntax exists,
 * and are normalized (no `.`/`..` or empty components, no trailing `/`) so the path the user
 * reads is the path the tools open.
 *
 * HAProxy 2.6 configuration manual, 3.1 "stats socket" and 11 "Address formats".
 */
import { posix } from 'node:path';
import { checkPrintable, type Problem, type StringCheck } from './strings.js';
import { quoteForMessage } from './names.js';

/** What a path may consist of, for messages. */
export const PATH_RULE = "'/' followed by names of letters, digits, '.', '_', '-' and '+', separated by single '/'";

/**
 * Longest runtime or master socket path. HAProxy binds `<path>.<pid>.tmp` first and renames it,
 * and a Unix socket address holds at most 107 bytes: 107 - ".tmp" - '.' - a 7-digit pid = 95.
 */
export const MAX_SOCKET_PATH = 95;
/** Longest other path (files and the state directory); far below PATH_MAX, room for file names below a directory. */
export const MAX_PATH = 1024;

const EXAMPLES: Record<PathKind, string> = { socket: '/run/overlay-lb/haproxy.sock', directory: '/run/overlay-lb', file: '/etc/overlay-lb/tls/site.pem' };

const SEGMENT = /^[A-Za-z0-9._+-]+$/;

/** Kernel pseudo file systems: no socket or state directory belongs there. */
const PSEUDO_FS = ['/proc', '/sys', '/dev'] as const;

/** What HAProxy or keepalived would read in a character of a path, when it is syntax to them. */
function syntaxOf(ch: string, rest: string): string | undefined {
  switch (ch) {
    case ',':
      return `HAProxy reads ',' in an address as the start of another address, so ${quoteForMessage(rest)} would be read as another address (a second socket) or, after haproxy's -S, as socket options such as mode`;
    case '@':
      return "HAProxy reads 'family@' in an address as a socket family (ipv4@, ipv6@, unix@, abns@ for an abstract socket without file permissions, fd@, sockpair@)";
    case ':':
      return "HAProxy reads ':' in an address as the separator of a port";
    case '$':
      return "HAProxy expands '$NAME' in an unquoted word to an environment variable";
    case '#':
      return "HAProxy and keepalived read '#' as the start of a comment";
    case '\\':
      return "HAProxy reads '\\' as an escape";
    case ' ':
      return 'HAProxy and keepalived split words at a space';
    default:
      return undefined;
  }
}

/** The kinds of path a spec holds; each has its own length limit and wording. */
export type PathKind = 'socket' | 'directory' | 'file';

/** Checks one absolute path of `kind` (see the module comment). */
export function pathCheck(kind: PathKind): StringCheck {
  return (v) => checkPath(v, kind);
}

function checkPath(v: string, kind: PathKind): Problem | undefined {
  const printable = checkPrintable(v);
  if (printable !== undefined) return printable;
  const q = quoteForMessage(v);
  if (/['"`]/.test(v)) return { code: 'SPEC_UNSAFE_VALUE', message: `${q} contains a quote character, which cannot be placed safely in a generated file: rename the file` };
  for (const ch of v) {
    const at = v.indexOf(ch);
    const syntax = syntaxOf(ch, v.slice(at));
    if (syntax !== undefined) {
      const cut = v.slice(0, at).replace(/\/+$/, '');
      const after = v.slice(at + 1);
      const fix =
        ch === ',' ? `remove everything from ",", for example ${quoteForMessage(cut.length > 1 ? cut : EXAMPLES[kind])}`
        : ch === '@' ? `write a plain absolute path, for example ${quoteForMessage(after.startsWith('/') && !/[,@]/.test(after) ? after : EXAMPLES[kind])}`
        : 'rename it';
      return { code: 'SPEC_UNSAFE_VALUE', message: `${q} contains ${quoteForMessage(ch)} at position ${at + 1}: ${syntax}; a path is ${PATH_RULE}: ${fix}` };
    }
  }
  if (!v.startsWith('/')) {
    const example = kind === 'file' ? `/etc/overlay-lb/${v.replace(/^(\.\/)+/, '')}` : EXAMPLES[kind];
    return { code: 'SPEC_FORMAT', message: `${q} is not an absolute path: ${kind} paths must start with '/', for example ${quoteForMessage(example)}` };
  }
  const bad = /[^A-Za-z0-9._+/-]/.exec(v);
  if (bad !== null) return { code: 'SPEC_FORMAT', message: `${q} contains ${quoteForMessage(bad[0])} at position ${bad.index + 1}, which a path may not contain; a path is ${PATH_RULE}: rename it` };
  if (v === '/') {
    return { code: 'SPEC_FORMAT', message: `${q} is the root directory; ${kind === 'directory' ? 'use a directory of its own' : 'name a file'}, for example ${quoteForMessage(EXAMPLES[kind])}` };
  }
  const canonical = posix.normalize(v).replace(/\/+$/, '');
  if (v.endsWith('/')) return { code: 'SPEC_FORMAT', message: `${q} ends with '/'; write the ${kind === 'directory' ? 'directory' : 'path'} without it: ${quoteForMessage(canonical)}` };
  const segments = v.slice(1).split('/');
  if (segments.includes('')) return { code: 'SPEC_FORMAT', message: `${q} contains an empty component ("//"); write it with single '/': ${quoteForMessage(canonical)}` };
  const dots = segments.find((s) => s === '.' || s === '..');
  if (dots !== undefined) return { code: 'SPEC_FORMAT', message: `${q} contains a ${quoteForMessage(dots)} component; write the path without it, for example ${quoteForMessage(canonical)}` };
  if (!segments.every((s) => SEGMENT.test(s))) return { code: 'SPEC_FORMAT', message: `${q} is not a usable path; a path is ${PATH_RULE}` };
  // The kernel's pseudo file systems: directories cannot be made there (Node 20's recursive mkdir
  // never returns under /proc), and a socket, state directory, certificate or discovery file
  // there is never what was meant.
  // /dev/shm is an ordinary tmpfs and stays allowed.
  const pseudo = v.startsWith('/dev/shm/') ? undefined : PSEUDO_FS.find((root) => v === root || v.startsWith(`${root}/`));
  if (pseudo !== undefined) {
    return { code: 'SPEC_FORMAT', message: `${q} lies under ${pseudo}, a kernel pseudo file system, where no ${kind} of overlay-lb belongs (and where directories cannot be made): use a path on a real file system, for example ${quoteForMessage(EXAMPLES[kind])}` };
  }
  const max = kind === 'socket' ? MAX_SOCKET_PATH : MAX_PATH;
  if (v.length > max) {
    const why = kind === 'socket' ? ' (a Unix socket path holds 107 bytes, and HAProxy binds "<path>.<pid>.tmp" first)' : '';
    return { code: 'SPEC_RANGE', message: `${q} is ${v.length} characters long; a ${kind} path may have at most ${max}${why}: choose a shorter path` };
  }
  return undefined;
}
