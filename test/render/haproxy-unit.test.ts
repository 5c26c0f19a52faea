/**
 * Unit tests of the HAProxy renderer: map-run planning and shadowing, hostile values, node
 * selection, runtime map names and the size of a 10,000-rule spec.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition, Spec } from '../../src/model/spec.js';
import { dedupeCidrEntries, dedupeExactEntries, dedupePrefixEntries, planRoutes, splitEntries } from '../../src/render/maps.js';
import { renderHaproxy, runtimeMapNames } from '../../src/render/haproxy.js';
import { OverlayError } from '../../src/util/errors.js';
import {
  headerExact, hostExact, makeAdmin, makeBackend, makeFrontend, makeServer, makeSpec, makeSwitch, method, pathPrefix, route, source, to, toSplit, toSwitch,
  headerPrefix, headerRegex,
} from '../helpers/model-builders.js';

const opts = { node: 'lb-a', specHash: 'abc123', mapDir: '/var/lib/overlay-lb/maps' };
const backends = [makeBackend('app', { servers: [makeServer('s1', '10.0.0.1', 80)] }), makeBackend('b', { servers: [makeServer('s1', '10.0.0.2', 80)] })];
const entries = (pairs: readonly (readonly [string, string])[]) => pairs.map(([key, backend]) => ({ key, backend }));

/** First-match reference for prefix keys: what the routes mean. */
function firstPrefix(list: readonly { key: string; backend: string }[], value: string): string | undefined {
  return list.find((e) => value.startsWith(e.key))?.backend;
}
/** Longest-match, as HAProxy's map_beg does. */
function longestPrefix(list: readonly { key: string; backend: string }[], value: string): string | undefined {
  let best: { key: string; backend: string } | undefined;
  for (const e of list) if (value.startsWith(e.key) && (best === undefined || e.key.length > best.key.length)) best = e;
  return best?.backend;
}

void test('prefix shadowing: table', () => {
  const cases: { name: string; input: [string, string][]; kept: string[] }[] = [
    { name: 'disjoint prefixes all kept', input: [['/a/', 'x'], ['/b/', 'y']], kept: ['/a/', '/b/'] },
    { name: 'later longer prefix shadowed by earlier shorter', input: [['/api', 'x'], ['/api/v2', 'y']], kept: ['/api'] },
    { name: 'earlier longer prefix kept with later shorter', input: [['/api/v2', 'y'], ['/api', 'x']], kept: ['/api/v2', '/api'] },
    { name: 'duplicate keeps first', input: [['/a', 'x'], ['/a', 'y']], kept: ['/a'] },
    { name: 'shadowed by a kept entry only', input: [['/a', 'x'], ['/ab', 'y'], ['/abc', 'z'], ['/b', 'w']], kept: ['/a', '/b'] },
    { name: 'not a prefix when it only shares characters', input: [['/ab', 'x'], ['/ac', 'y'], ['/a', 'z']], kept: ['/ab', '/ac', '/a'] },
  ];
  for (const c of cases) {
    const kept = dedupePrefixEntries(entries(c.input));
    assert.deepEqual(kept.map((e) => e.key), c.kept, c.name);
    // THEN longest match on the kept entries equals first match on the original list.
    for (const probe of ['/a', '/ab', '/abc', '/abcd', '/ac', '/api', '/api/v2/x', '/api/v1', '/b/x', '/a/x', '/zzz']) {
      assert.equal(longestPrefix(kept, probe), firstPrefix(entries(c.input), probe), `${c.name}: ${probe}`);
    }
  }
});

function ipInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}
function inCidr(ip: string, cidr: string): boolean {
  const [net = '', len = '32'] = cidr.split('/');
  const l = Number(len);
  const mask = l === 0 ? 0 : (~0 << (32 - l)) >>> 0;
  return ((ipInt(ip) & mask) >>> 0) === ((ipInt(net) & mask) >>> 0);
}

void test('CIDR shadowing: table', () => {
  const cases: { name: string; input: [string, string][]; kept: string[] }[] = [
    { name: 'disjoint', input: [['10.1.0.0/16', 'x'], ['10.2.0.0/16', 'y']], kept: ['10.1.0.0/16', '10.2.0.0/16'] },
    { name: 'later inside earlier is dropped', input: [['10.0.0.0/8', 'x'], ['10.1.2.0/24', 'y']], kept: ['10.0.0.0/8'] },
    { name: 'earlier inside later is kept', input: [['10.1.2.0/24', 'y'], ['10.0.0.0/8', 'x']], kept: ['10.1.2.0/24', '10.0.0.0/8'] },
    { name: 'duplicate keeps first', input: [['10.0.0.0/8', 'x'], ['10.0.0.0/8', 'y']], kept: ['10.0.0.0/8'] },
    { name: 'default route shadows all', input: [['0.0.0.0/0', 'x'], ['10.0.0.1/32', 'y']], kept: ['0.0.0.0/0'] },
    { name: 'host inside /31', input: [['10.0.0.0/31', 'x'], ['10.0.0.1/32', 'y'], ['10.0.0.2/32', 'z']], kept: ['10.0.0.0/31', '10.0.0.2/32'] },
  ];
  for (const c of cases) {
    const kept = dedupeCidrEntries(entries(c.input));
    assert.deepEqual(kept.map((e) => e.key), c.kept, c.name);
    for (const ip of ['10.0.0.0', '10.0.0.1', '10.0.0.2', '10.1.2.3', '10.1.3.3', '10.2.0.9', '11.0.0.1']) {
      const first = entries(c.input).find((e) => inCidr(ip, e.key))?.backend;
      let best: { key: string; backend: string } | undefined;
      for (const e of kept) if (inCidr(ip, e.key) && (best === undefined || Number(e.key.split('/')[1]) > Number(best.key.split('/')[1]))) best = e;
      assert.equal(best?.backend, first, `${c.name}: ${ip}`);
    }
  }
});

void test('exact maps keep the first of duplicate keys', () => {
  assert.deepEqual(dedupeExactEntries(entries([['a', '1'], ['b', '2'], ['a', '3']])), entries([['a', '1'], ['b', '2']]));
});

void test('split buckets: ranges follow the weights, weight 0 gets none', () => {
  assert.deepEqual(splitEntries([{ backend: 'a', weight: 95 }, { backend: 'b', weight: 5 }]), entries([['0:94', 'a'], ['95:99', 'b']]));
  assert.deepEqual(splitEntries([{ backend: 'a', weight: 0 }, { backend: 'b', weight: 100 }]), entries([['0:99', 'b']]));
  assert.throws(() => splitEntries([{ backend: 'a', weight: 50 }]), (e: unknown) => e instanceof OverlayError && e.code === 'INTERNAL');
});

void test('runs: same shape and plain backend only; unmappable values end a run', () => {
  const fe = makeFrontend('web', {
    defaultBackend: 'app',
    routes: [
      route('a', [headerExact('x-t', 'one')], to('b')),
      route('b', [headerExact('x-t', 'two')], to('app')),
      route('c', [headerExact('x-t', 'has space')], to('b')), // not a map key: inline
      route('d', [headerExact('x-t', 'three')], to('b')), // alone after the break: inline
      route('e', [headerExact('x-u', 'x')], toSwitch('sw')), // not a plain backend
      route('f', [pathPrefix('/a'), method('GET')], to('b')), // two conditions
      route('g', [source('10.0.0.0/8')], to('b')),
      route('h', [source('10.1.0.0/16', '11.0.0.0/8')], to('app')),
      route('i', [headerRegex('x-t', 'a')], to('b')),
      route('j', [headerPrefix('x-t', 'a')], to('b')),
      route('k', [headerPrefix('x-t', '#a')], to('b')),
    ],
  });
  const plan = planRoutes(fe).map((p) => (p.kind === 'inline' ? p.route.name : `${p.mapName}[${p.firstIndex}-${p.lastIndex}]:${p.entries.map((e) => e.key).join(',')}`));
  assert.deepEqual(plan, ['web.run-1.map[0-1]:one,two', 'c', 'd', 'e', 'f', 'web.run-7.map[6-7]:10.0.0.0/8,11.0.0.0/8', 'i', 'j', 'k']);
});

void test('unknown node: UserError SPEC_NODE naming the known nodes', () => {
  const spec = makeSpec({ frontends: [makeFrontend('web')], backends });
  assert.throws(() => renderHaproxy(spec, { ...opts, node: 'lb-z' }), {
    name: 'UserError',
    code: 'SPEC_NODE',
    message: 'node "lb-z" is not in the spec of cluster "demo"; known nodes: lb-a, lb-b. Pass one of them with --node.',
  });
});

void test('runtime map names: switches.map and one map per split', () => {
  const spec = makeSpec({
    frontends: [makeFrontend('web', { routes: [route('s', [], toSplit([['app', 50], ['b', 50]])), route('w', [], toSwitch('sw'))] })],
    switches: [makeSwitch('sw', { x: 'app', y: 'b' }, 'y')],
    backends,
  });
  assert.deepEqual(runtimeMapNames(spec), ['switches.map', 'web.s.split.map']);
  const out = renderHaproxy(spec, opts);
  assert.deepEqual(out.maps.map((m) => m.name), ['switches.map', 'web.s.split.map']);
  assert.match(out.maps.find((m) => m.name === 'switches.map')?.content ?? '', /^sw b$/m);
});

/** Throws INTERNAL, and no output at all. */
function assertRejected(spec: Spec, what: string): void {
  assert.throws(() => renderHaproxy(spec, opts), (e: unknown) => e instanceof OverlayError && e.code === 'INTERNAL' && e.fault === 'system', what);
}

void test('hostile values reaching the renderer throw INTERNAL instead of being emitted', () => {
  const hostileConditions: [string, Condition][] = [
    ['header value with a quote', headerExact('x-a', "a' }  || { always_true")],
    ['header value with a newline', headerExact('x-a', 'a\nbackend evil')],
    ['header value with CR', headerExact('x-a', 'a\rb')],
    ['header value with NUL', headerExact('x-a', 'a\0b')],
    ['header value non-ASCII', headerExact('x-a', 'caf\u00e9')],
    ['header name with a paren', headerExact('x-a),str(evil', 'v')],
    ['header name with a space', headerExact('x a', 'v')],
    ['path regex with a quote', { kind: 'path', match: { type: 'regex', value: "a'b" } }],
    ['host with a newline', hostExact('a.example.com\nb')],
    ['method with a space', method('GET POST')],
    ['source with a space', source('10.0.0.0/8 0.0.0.0/0')],
    ['source not a CIDR in a run', source('10.0.0.0/88')],
  ];
  for (const [what, cond] of hostileConditions) {
    // once inline (with a second condition) and once as a candidate for a map run
    assertRejected(makeSpec({ frontends: [makeFrontend('web', { routes: [route('r', [cond, method('GET')], to('app'))] })], backends }), `${what} (inline)`);
    assertRejected(
      makeSpec({ frontends: [makeFrontend('web', { routes: [route('r', [cond], to('app')), route('r2', [cond], to('b'))] })], backends }),
      `${what} (run)`,
    );
  }
  assertRejected(makeSpec({ frontends: [makeFrontend('web\nfrontend x')], backends }), 'frontend name');
  assertRejected(makeSpec({ frontends: [makeFrontend('web', { defaultBackend: 'app\n' })], backends }), 'backend name');
  assertRejected(makeSpec({ frontends: [makeFrontend('web', { accessLog: { enabled: true, format: 'custom', custom: "%ci' \nlog x" } })], backends }), 'log format');
  assertRejected(makeSpec({ frontends: [makeFrontend('web')], backends: [makeBackend('app', { servers: [makeServer('s1', '10.0.0.1 backup', 80)] })] }), 'server address');
  assertRejected(makeSpec({ frontends: [makeFrontend('web')], backends: [makeBackend('app', { servers: [makeServer('olb-spare-1', '10.0.0.1', 80)] })] }), 'reserved server name');
  assertRejected(
    makeSpec({ frontends: [makeFrontend('web')], backends: [makeBackend('app', { healthCheck: { type: 'http', path: '/h #x', expectStatus: [[200, 200]], intervalMs: 1000, rise: 1, fall: 1 } })] }),
    'health path',
  );
  assertRejected(makeSpec({ admin: makeAdmin({ runtimeSocket: '/run/x.sock level admin' }), frontends: [makeFrontend('web')], backends }), 'socket path');
  assertRejected(makeSpec({ admin: makeAdmin({ accessLog: { to: 'syslog', socket: 'ipv4@10.0.0.1:514', facility: 'local0' } }), frontends: [makeFrontend('web')], backends }), 'access log socket address');
  assertRejected(makeSpec({ admin: makeAdmin({ accessLog: { to: 'syslog', socket: '/dev/log,ipv4@10.0.0.1:514', facility: 'local0' } }), frontends: [makeFrontend('web')], backends }), 'access log socket list');
  assertRejected(makeSpec({ admin: makeAdmin({ accessLog: { to: 'syslog', socket: '/dev/log', facility: 'local0\nlog 10.0.0.1' as 'local0' } }), frontends: [makeFrontend('web')], backends }), 'syslog facility');
  assertRejected(
    makeSpec({ admin: makeAdmin({ stats: { enabled: true, bind: 'node', port: 1, auth: { user: 'ops', passwordHash: "x'\nuser evil" } } }), frontends: [makeFrontend('web')], backends }),
    'password hash',
  );
  assertRejected(makeSpec({ frontends: [makeFrontend('web', { timeouts: { clientMs: 1.5, httpRequestMs: 1, httpKeepAliveMs: 1 } })], backends }), 'duration');
  assertRejected(makeSpec({ frontends: [makeFrontend('web', { mode: 'tcp', routes: [route('r', [pathPrefix('/')], to('app'))] })], backends }), 'http condition in tcp');
  assert.throws(() => renderHaproxy(makeSpec({ frontends: [makeFrontend('web')], backends }), { ...opts, mapDir: 'relative/dir' }), { code: 'INTERNAL' });
  assert.throws(() => renderHaproxy(makeSpec({ frontends: [makeFrontend('web')], backends }), { ...opts, specHash: 'x\ny' }), { code: 'INTERNAL' });
});

void test('a value that is safe only in quotes is quoted, literally', () => {
  const spec = makeSpec({ frontends: [makeFrontend('web', { routes: [route('r', [headerExact('x-a', '$HOME #not-a-comment \\n -i'), method('GET')], to('b'))] })], backends });
  const { config } = renderHaproxy(spec, opts);
  assert.match(config, /\{ req\.fhdr\(x-a,-1\) -m str -- '\$HOME #not-a-comment \\n -i' \}/);
});

void test('10,000 header rules: one map of 10,000 entries and a small config', () => {
  const routes = Array.from({ length: 10_000 }, (_, i) => route(`t${i}`, [headerExact('x-tenant', `tenant-${i}`)], to(i % 2 === 0 ? 'app' : 'b')));
  const spec = makeSpec({ frontends: [makeFrontend('web', { routes })], backends });
  const out = renderHaproxy(spec, opts);
  assert.equal(out.maps.length, 1);
  const lines = (out.maps[0]?.content ?? '').split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  assert.equal(lines.length, 10_000);
  assert.equal(lines[9999], 'tenant-9999 b');
  assert.ok(out.config.length < 5000, `config is ${out.config.length} bytes`);
  assert.equal(out.config.match(/map_str\(/g)?.length, 1);
});

void test('10,000 path-prefix rules with shadowing stay linear and correct', () => {
  const routes = Array.from({ length: 10_000 }, (_, i) => route(`p${i}`, [pathPrefix(i % 10 === 9 ? `/p${i - 9}/sub` : `/p${i}/`)], to('app')));
  const kept = planRoutes(makeFrontend('web', { routes }));
  assert.equal(kept.length, 1);
  const item = kept[0];
  assert.ok(item?.kind === 'map');
  // every tenth key ("/p0/sub") lies under an earlier one ("/p0/") and is dropped
  assert.equal(item.entries.length, 9_000);
  assert.ok(item.entries.every((e) => e.key.endsWith('/')));
});

void test('hard-stop-after covers the longest drainTime: a reload during a drain does not cut the drain short', () => {
  const stopAfter = (drainMs: readonly number[]): string | undefined => {
    const spec = makeSpec({ backends: drainMs.map((ms, i) => makeBackend(`b${i}`, { servers: [makeServer('s1', `10.0.0.${i + 1}`, 80)], drainMs: ms })) });
    return /^ {2}hard-stop-after (\S+)$/m.exec(renderHaproxy(spec, opts).config)?.[1];
  };
  // At least 30 s (the default drain and the bound every reload gives requests in flight).
  assert.equal(stopAfter([30_000]), '30s');
  assert.equal(stopAfter([0, 10_000]), '30s');
  // A longer drain raises it to that drain (whole seconds, rounded up), the longest of all backends.
  assert.equal(stopAfter([120_000, 45_000]), '120s');
  assert.equal(stopAfter([30_000, 90_500]), '91s');
  assert.equal(stopAfter([3_600_000]), '3600s');
});

void test('admin.accessLog: syslog (the default) to a chroot socket with its facility, file to stdout in PIPE_BUF lines', () => {
  const global = (admin: Parameters<typeof makeAdmin>[0]): string[] => renderHaproxy(makeSpec({ admin: makeAdmin(admin), frontends: [makeFrontend('web')], backends }), opts).config.split('\n').filter((l) => /^\s+log /.test(l) && !l.includes('log global'));
  assert.deepEqual(global({}), ['  log /dev/log len 8192 format rfc3164 local0']);
  assert.deepEqual(global({ accessLog: { to: 'syslog', socket: '/run/olb/log.sock', facility: 'local3' } }), ['  log /run/olb/log.sock len 8192 format rfc3164 local3']);
  assert.deepEqual(global({ accessLog: { to: 'file', maxBytes: 1 << 20, keep: 2 } }), ['  log stdout len 4096 format raw local0']);
});
