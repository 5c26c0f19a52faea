import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 as zlibCrc32 } from 'node:zlib';
import { crc32, explainRequest, lastCookieInHeader, parseHeaderLine, requestCookie, sideForBucket, type ExplainRequest } from '../../src/model/explain.js';
import { OverlayError } from '../../src/util/errors.js';
import type { Condition, Route, Spec, Switch } from '../../src/model/spec.js';
import { frontend, route, routesSpec, spec } from './model-builder.js';

function req(partial: Partial<ExplainRequest> = {}): ExplainRequest {
  return { method: 'GET', path: '/', headers: [], source: '10.0.0.1', ...partial };
}

function backendFor(s: Spec, r: ExplainRequest): string | null {
  return explainRequest(s, r, {}).backend;
}

const hdr = (name: string, value: string) => ({ name, value });

void test('crc32 equals zlib on assorted inputs', () => {
  const enc = new TextEncoder();
  assert.equal(crc32(new Uint8Array()), 0);
  assert.equal(crc32(enc.encode('123456789')), 0xcbf43926);
  for (let i = 0; i < 200; i++) {
    const bytes = Uint8Array.from({ length: i }, (_, k) => (k * 37 + i * 11) & 0xff);
    assert.equal(crc32(bytes), zlibCrc32(bytes));
  }
});

void test('first match wins; no condition always matches; default backend otherwise', () => {
  const s = routesSpec([
    route('a', [{ kind: 'path', match: { type: 'prefix', value: '/api' } }], 'api'),
    route('b', [{ kind: 'path', match: { type: 'prefix', value: '/api/v2' } }], 'api-v2'),
    route('c', [{ kind: 'method', methods: ['POST'] }], 'writes'),
  ]);
  // Prefix shadowing: /api shadows /api/v2 because it comes first.
  const r = explainRequest(s, req({ path: '/api/v2/x' }), {});
  assert.deepEqual([r.route, r.backend], [{ name: 'a', index: 0 }, 'api']);
  assert.equal(backendFor(s, req({ path: '/x', method: 'POST' })), 'writes');
  const d = explainRequest(s, req({ path: '/x' }), {});
  assert.equal(d.route, null);
  assert.equal(d.backend, 'default');
  assert.deepEqual(d.reasons, [
    'route 1 "a": no match: path prefix "/api": path "/x" does not match',
    'route 2 "b": no match: path prefix "/api/v2": path "/x" does not match',
    'route 3 "c": no match: method in [POST]: method GET is not listed',
    'no route matched: default backend "default"',
  ]);
  const all = routesSpec([route('any', [], 'catch-all'), route('never', [], 'x')]);
  assert.equal(backendFor(all, req()), 'catch-all');
});

void test('header: names case-insensitive, last occurrence whole value, present/absent, empty value', () => {
  const cond = (match: Extract<Condition, { kind: 'header' }>['match']): Condition => ({ kind: 'header', name: 'x-canary', match });
  const s = routesSpec([
    route('exact', [cond({ type: 'exact', value: '1' })], 'exact'),
    route('prefix', [cond({ type: 'prefix', value: 'ab' })], 'prefix'),
    route('regex', [cond({ type: 'regex', value: 'c[0-9]d' })], 'regex'),
    route('present', [cond({ type: 'present' })], 'present'),
    route('absent', [cond({ type: 'absent' })], 'absent'),
  ]);
  assert.equal(backendFor(s, req({ headers: [hdr('X-CANARY', '1')] })), 'exact');
  assert.equal(backendFor(s, req({ headers: [hdr('x-Canary', '1'), hdr('X-Canary', '2')] })), 'present', 'last occurrence counts');
  assert.equal(backendFor(s, req({ headers: [hdr('X-Canary', '2'), hdr('x-canary', '1')] })), 'exact');
  assert.equal(backendFor(s, req({ headers: [hdr('X-Canary', '1,2')] })), 'present', 'whole value, commas included');
  assert.equal(backendFor(s, req({ headers: [hdr('X-Canary', 'abc')] })), 'prefix');
  assert.equal(backendFor(s, req({ headers: [hdr('X-Canary', 'zzc7dzz')] })), 'regex', 'regex is an unanchored search');
  assert.equal(backendFor(s, req({ headers: [hdr('X-Canary', 'C7D')] })), 'present', 'values are case-sensitive');
  assert.equal(backendFor(s, req({ headers: [hdr('X-Canary', '')] })), 'present', 'present with an empty value');
  assert.equal(backendFor(s, req({ headers: [hdr('X-Canary', '  1\t')] })), 'exact', 'surrounding spaces are not part of the value');
  assert.equal(backendFor(s, req({ headers: [hdr('X-Other', '1')] })), 'absent');
});

void test('host: last Host header, lower-cased, port stripped; exact and suffix', () => {
  const s = routesSpec([
    route('exact', [{ kind: 'host', match: { type: 'exact', value: 'api.example.com' } }], 'exact'),
    route('suffix', [{ kind: 'host', match: { type: 'suffix', value: '.example.com' } }], 'suffix'),
  ]);
  assert.equal(backendFor(s, req({ host: 'API.Example.COM:8443' })), 'exact');
  assert.equal(backendFor(s, req({ headers: [hdr('host', 'www.example.com:80')] })), 'suffix');
  assert.equal(backendFor(s, req({ headers: [hdr('Host', 'api.example.com'), hdr('HOST', 'api.example.com')] })), 'exact', 'identical repeated Host');
  // Two different Host headers: HAProxy answers 400 itself (same value in another case: fine).
  assert.deepEqual(explainRequest(s, req({ headers: [hdr('Host', 'api.example.com'), hdr('HOST', 'other.org')] }), {}).rejected, {
    status: 400,
    reason: 'two Host headers differ ("api.example.com", "other.org")',
  });
  assert.equal(explainRequest(s, req({ headers: [hdr('Host', 'API.example.com'), hdr('HOST', 'api.example.com')] }), {}).rejected, undefined);
  assert.equal(backendFor(s, req({ host: 'api.example.com:' })), 'default', 'a port has digits: a bare colon stays');
  assert.equal(backendFor(s, req({ host: 'example.com' })), 'default', 'suffix .example.com needs the dot');
  assert.equal(backendFor(s, req()), 'default', 'no Host header');
  const r = explainRequest(s, req(), {});
  assert.equal(r.reasons[0], 'route 1 "exact": no match: host exact "api.example.com": no Host header');
});

void test('path: query string ignored, no decoding, regex unanchored', () => {
  const s = routesSpec([
    route('exact', [{ kind: 'path', match: { type: 'exact', value: '/a b' } }], 'never'),
    route('exact2', [{ kind: 'path', match: { type: 'exact', value: '/login' } }], 'login'),
    route('enc', [{ kind: 'path', match: { type: 'prefix', value: '/%41' } }], 'encoded'),
    route('re', [{ kind: 'path', match: { type: 'regex', value: '/v[0-9]+/' } }], 'versioned'),
  ]);
  assert.equal(backendFor(s, req({ path: '/login?next=/x' })), 'login');
  assert.equal(backendFor(s, req({ path: '/login/?x' })), 'default');
  assert.equal(backendFor(s, req({ path: '/%41bc' })), 'encoded');
  assert.equal(backendFor(s, req({ path: '/Abc' })), 'default', 'no percent-decoding');
  assert.equal(backendFor(s, req({ path: '/api/v12/users' })), 'versioned');
  assert.equal(backendFor(s, req({ path: '/x?q=/v1/' })), 'default', 'regex sees the path only');
});

void test('method and source CIDR boundaries', () => {
  const s = routesSpec([
    route('src', [{ kind: 'source', cidrs: ['10.1.0.0/16', '192.168.5.7/32'] }, { kind: 'method', methods: ['GET', 'HEAD'] }], 'inside'),
    route('all', [{ kind: 'source', cidrs: ['0.0.0.0/0'] }], 'anywhere'),
  ]);
  assert.equal(backendFor(s, req({ source: '10.1.0.0' })), 'inside');
  assert.equal(backendFor(s, req({ source: '10.1.255.255', method: 'HEAD' })), 'inside');
  assert.equal(backendFor(s, req({ source: '10.2.0.0' })), 'anywhere');
  assert.equal(backendFor(s, req({ source: '10.0.255.255' })), 'anywhere');
  assert.equal(backendFor(s, req({ source: '192.168.5.7' })), 'inside');
  assert.equal(backendFor(s, req({ source: '192.168.5.8' })), 'anywhere');
  assert.equal(backendFor(s, req({ source: '10.1.2.3', method: 'get' })), 'anywhere', 'methods are case-sensitive');
});

/** A string whose zlib CRC-32 mod 100 is `bucket` (found with zlib, an independent oracle). */
function keyWithBucket(bucket: number): string {
  for (let i = 0; i < 100_000; i++) {
    const key = `user-${i}`;
    if (zlibCrc32(key) % 100 === bucket) return key;
  }
  throw new Error(`no key for bucket ${bucket}`);
}

void test('split: bucket boundaries 94 -> first side of 95/5, 95 -> second; sticky via header and cookie', () => {
  const sides = [{ backend: 'stable', weight: 95 }, { backend: 'canary', weight: 5 }];
  const s = routesSpec([
    route('by-header', [{ kind: 'path', match: { type: 'prefix', value: '/h' } }], { kind: 'split', sides, sticky: { kind: 'header', name: 'x-user' } }),
    route('by-cookie', [{ kind: 'path', match: { type: 'prefix', value: '/c' } }], { kind: 'split', sides, sticky: { kind: 'cookie', name: 'session' } }),
    route('random', [], { kind: 'split', sides }),
  ]);
  const k94 = keyWithBucket(94);
  const k95 = keyWithBucket(95);
  const k0 = keyWithBucket(0);
  const k99 = keyWithBucket(99);

  const h94 = explainRequest(s, req({ path: '/h', headers: [hdr('X-User', k94)] }), {});
  assert.equal(h94.backend, 'stable');
  assert.deepEqual(h94.split, { sides, sticky: { kind: 'header', name: 'x-user', value: k94 }, bucket: 94 });
  assert.equal(backendFor(s, req({ path: '/h', headers: [hdr('X-User', k95)] })), 'canary');
  assert.equal(backendFor(s, req({ path: '/h', headers: [hdr('x-user', k0)] })), 'stable');
  assert.equal(backendFor(s, req({ path: '/h', headers: [hdr('X-User', k94), hdr('X-USER', k99)] })), 'canary', 'last occurrence of the sticky header');

  const c95 = explainRequest(s, req({ path: '/c', headers: [hdr('Cookie', `a=1; session=${k95}; b=2`)] }), {});
  assert.equal(c95.backend, 'canary');
  assert.equal(c95.split?.bucket, 95);
  assert.equal(backendFor(s, req({ path: '/c', headers: [hdr('Cookie', `session=${k95}`), hdr('Cookie', `session=${k94}`)] })), 'stable', 'last cookie occurrence');
  assert.equal(backendFor(s, req({ path: '/c', headers: [hdr('Cookie', `Session=${k95}`)] })), null, 'cookie names are case-sensitive');

  const absent = explainRequest(s, req({ path: '/h' }), {});
  assert.equal(absent.backend, null);
  assert.deepEqual(absent.split, { sides, sticky: { kind: 'header', name: 'x-user', value: null }, bucket: null });
  const random = explainRequest(s, req({ path: '/r' }), {});
  assert.equal(random.backend, null);
  assert.deepEqual(random.split, { sides, bucket: null });
  // Present with an empty value is present: crc32("") = 0 -> bucket 0.
  assert.equal(explainRequest(s, req({ path: '/h', headers: [hdr('X-User', '')] }), {}).split?.bucket, 0);
});

void test('sideForBucket covers [0,100) with zero-weight sides skipped', () => {
  const sides = [{ backend: 'a', weight: 0 }, { backend: 'b', weight: 70 }, { backend: 'c', weight: 30 }];
  assert.equal(sideForBucket(sides, 0), 'b');
  assert.equal(sideForBucket(sides, 69), 'b');
  assert.equal(sideForBucket(sides, 70), 'c');
  assert.equal(sideForBucket(sides, 99), 'c');
  assert.throws(() => sideForBucket(sides, 100), (e: unknown) => e instanceof OverlayError && e.code === 'INTERNAL');
});

void test('req.cook semantics (checked against haproxy in test/differential/sample-fetches)', () => {
  assert.equal(lastCookieInHeader('a=1; s=2', 's'), '2');
  assert.equal(lastCookieInHeader('s=1; s=2', 's'), '2');
  assert.equal(lastCookieInHeader('s = 3 ; a=1', 's'), '3');
  assert.equal(lastCookieInHeader('s=1, s=2', 's'), '2');
  assert.equal(lastCookieInHeader('s="a;b"; x=1', 's'), '"a;b"');
  assert.equal(lastCookieInHeader('a=1; s=', 's'), '');
  assert.equal(lastCookieInHeader('a=1;s=', 's'), undefined, 'haproxy skips a bare trailing name= with no room after it');
  assert.equal(lastCookieInHeader('s=', 's'), undefined);
  assert.equal(lastCookieInHeader('$s=1', 's'), undefined);
  assert.equal(lastCookieInHeader('s', 's'), undefined);
  assert.equal(lastCookieInHeader('ss=1', 's'), undefined);
  assert.equal(requestCookie([hdr('Cookie', 's=1'), hdr('cookie', 'a=1')], 's'), '1');
  assert.equal(requestCookie([hdr('Cookie', 's=1'), hdr('COOKIE', 's=3; b=1')], 's'), '3');
});

void test('switch: the active side\'s backend', () => {
  const switches: Switch[] = [{ name: 'checkout', sides: [{ name: 'blue', backend: 'co-blue' }, { name: 'green', backend: 'co-green' }], active: 'green' }];
  const s = routesSpec([route('co', [{ kind: 'path', match: { type: 'prefix', value: '/checkout' } }], { kind: 'switch', switch: 'checkout' })], { switches });
  const r = explainRequest(s, req({ path: '/checkout/pay' }), {});
  assert.equal(r.backend, 'co-green');
  assert.equal(r.reasons.at(-1), 'switch "checkout": active side "green" -> backend "co-green"');
});

void test('frontend selection: first http frontend by default, by name, errors otherwise', () => {
  const routes: Route[] = [route('r', [], 'second-route')];
  const s = spec({ frontends: [frontend({ name: 'raw', mode: 'tcp', routes: [] }), frontend({ name: 'web', routes }), frontend({ name: 'web2', routes: [] })] });
  assert.equal(explainRequest(s, req(), {}).frontend, 'web');
  assert.equal(explainRequest(s, req(), { frontend: 'web2' }).backend, 'default');
  assert.throws(() => explainRequest(s, req(), { frontend: 'nope' }), { code: 'EXPLAIN_REQUEST', message: 'frontend "nope" is not in the spec; http frontends: "web", "web2"' });
  assert.throws(() => explainRequest(s, req(), { frontend: 'raw' }), { code: 'EXPLAIN_REQUEST', message: 'frontend "raw" is in tcp mode and has no HTTP routes; http frontends: "web", "web2"' });
});

void test('malformed requests are UserErrors with code EXPLAIN_REQUEST and a clear message', () => {
  const s = routesSpec([]);
  assert.throws(() => explainRequest(s, req({ source: '10.0.0.256' }), {}), {
    code: 'EXPLAIN_REQUEST',
    message: 'source "10.0.0.256" is not an IPv4 address; give a dotted quad such as 10.0.0.5',
  });
  assert.throws(() => explainRequest(s, req({ source: 'localhost' }), {}), { code: 'EXPLAIN_REQUEST' });
  assert.throws(() => explainRequest(s, req({ headers: [hdr(' ', '1')] }), {}), {
    code: 'EXPLAIN_REQUEST',
    message: 'header name " " is empty or has a line break; write headers as "Name: value", for example "X-Canary: 1"',
  });
  assert.throws(() => explainRequest(s, req({ headers: [hdr('X-A', 'a\r\nX-B: 1')] }), {}), { code: 'EXPLAIN_REQUEST' });
  assert.throws(() => explainRequest(s, req({ path: 'api' }), {}), { code: 'EXPLAIN_REQUEST' });
  assert.throws(() => explainRequest(s, req({ method: 'GE T' }), {}), { code: 'EXPLAIN_REQUEST' });
  assert.throws(() => explainRequest(s, req({ host: 'a', headers: [hdr('Host', 'b')] }), {}), { code: 'EXPLAIN_REQUEST' });
  assert.throws(() => parseHeaderLine('X-Canary 1'), {
    code: 'EXPLAIN_REQUEST',
    message: 'header "X-Canary 1" is not of the form "Name: value"; for example "X-Canary: 1"',
  });
  assert.deepEqual(parseHeaderLine('X-Canary:  1 '), { name: 'X-Canary', value: '1' });
  assert.deepEqual(parseHeaderLine('X-Empty:'), { name: 'X-Empty', value: '' });
});

void test('requests HAProxy 2.6 answers with 400 itself: explain says so instead of routing them', () => {
  const s = routesSpec([route('all', [], 'b1')]);
  const rejected = (r: Partial<ExplainRequest>): string | undefined => {
    const out = explainRequest(s, req(r), {});
    if (out.rejected !== undefined) {
      assert.equal(out.route, null);
      assert.equal(out.backend, null);
      assert.equal(out.reasons[0], `HAProxy rejects this request with 400 Bad Request: ${out.rejected.reason}`);
    }
    return out.rejected?.reason;
  };
  assert.equal(rejected({ headers: [hdr('X-Canary ', '1')] }), 'the header name "X-Canary " has a space or tab before the colon');
  assert.equal(rejected({ headers: [hdr('X-Canary\t', '1')] }), 'the header name "X-Canary\\t" has a space or tab before the colon');
  assert.equal(rejected({ headers: [hdr('X(a)', '1')] }), 'the header name "X(a)" is not an HTTP token');
  assert.equal(rejected({ headers: [hdr('X-é', '1')] }), 'the header name "X-é" is not an HTTP token');
  assert.equal(rejected({ path: '/a#b' }), 'the request target "/a#b" contains a "#" (a fragment is never sent to a server)');
  assert.equal(rejected({ path: '/?q=#' }), 'the request target "/?q=#" contains a "#" (a fragment is never sent to a server)');
  assert.equal(rejected({ path: '/caf\u00e9' }), 'the request target "/café" contains the non-ASCII character "é" (send it percent-encoded)');
  assert.equal(rejected({ path: '/a\u00a0' }), 'the request target "/a\u00a0" contains the non-ASCII character "\u00a0" (send it percent-encoded)');
  assert.equal(rejected({ path: '/a\tb' }), 'the request target "/a\\tb" contains the control character U+0009');
  assert.equal(rejected({ method: 'G(T' }), 'the method "G(T" is not an HTTP token');
  // DEL passes inside a 4-byte word that haproxy's parser skips, and is refused byte by byte
  // (each row measured on 2.6.12; 3,000 random paths agreed with haproxy).
  assert.equal(rejected({ path: '/a\u007f' }), 'the request target "/a\u007f" contains a DEL character (U+007F) where HAProxy checks byte by byte');
  assert.equal(rejected({ path: '/a%23b\u007f"{}' }), 'the request target "/a%23b\u007f\\"{}" contains a DEL character (U+007F) where HAProxy checks byte by byte');
  assert.equal(rejected({ path: '/ab\u007f"{}' }), undefined);
  // What HAProxy accepts is routed.
  for (const ok of [{ path: '/a%23b' }, { path: '/a"b{}|^`' }, { path: '/a\u007fb' }, { method: 'get' }, { headers: [hdr('X-A', 'caf\u00e9\u00a0\u0001')] }]) {
    assert.equal(rejected(ok), undefined, JSON.stringify(ok));
  }
});

void test('regexes match UTF-8 bytes as HAProxy\'s PCRE2 does (no UTF mode): ".", "\\s", non-ASCII literals', () => {
  const header = (re: string): Spec => routesSpec([route('r', [{ kind: 'header', name: 'x-t', match: { type: 'regex', value: re } }], 'hit')]);
  const hits = (re: string, value: string): boolean => backendFor(header(re), req({ headers: [hdr('X-T', value)] })) === 'hit';
  // Each row measured against haproxy 2.6.12 (test/differential checks them on every run).
  assert.equal(hits('^a.$', 'a\u00e9'), false, '"é" is two bytes: "." takes one');
  assert.equal(hits('^a..$', 'a\u00e9'), true);
  assert.equal(hits('^.{2}$', '\u00e9'), true);
  assert.equal(hits('^\u00e9$', '\u00e9'), true, 'a non-ASCII literal matches its own bytes');
  assert.equal(hits('^[\u00e9]$', '\u00e9'), false, 'inside [...] each byte is one member: one byte matched, one left');
  assert.equal(hits('^[\u00e9]{2}$', '\u00e9'), true);
  assert.equal(hits('^a\\s$', 'a\u00a0'), false, 'a non-breaking space is not \\s for PCRE2 without UCP');
  assert.equal(hits('^a\\S\\S$', 'a\u00a0'), true);
  assert.equal(hits('^a[\\s]$', 'a\u00a0'), false);
  assert.equal(hits('^a\\s$', 'a\u000b'), true, 'vertical tab is \\s in both');
  assert.equal(hits('^a\\w$', 'a\u00e9'), false);
  assert.equal(hits('\\bz', '\u00e9z'), true, 'no word boundary inside "é": bytes are not word characters');
  assert.equal(hits('^.{4}$', '\u{1F600}'), true, 'an emoji is four bytes');
  // A trailing non-breaking space is part of the value (only spaces and tabs are trimmed).
  const exact = routesSpec([route('r', [{ kind: 'header', name: 'x-t', match: { type: 'exact', value: 'a' } }], 'hit')]);
  assert.equal(backendFor(exact, req({ headers: [hdr('X-T', 'a\u00a0')] })), 'default');
  assert.equal(backendFor(exact, req({ headers: [hdr('X-T', ' a\t')] })), 'hit');
});
