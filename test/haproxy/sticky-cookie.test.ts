/**
 * LB-issued stickiness cookies (`stickyCookie`, issue 21 item 3) in a real haproxy 2.6: a spec
 * written as YAML, parsed, rendered and run on loopback with tiny backends that answer with their
 * name. On a split (sides are different backends): a client without the cookie gets Set-Cookie
 * and then stays on that side; a client with another side's cookie goes there; a cookie naming a
 * side of weight 0 or no side is replaced; cookie-less clients still follow the weights. On a
 * backend (HAProxy's `cookie insert`): the cookie keeps a client on one server. Every answer is
 * also compared with `explain`.
 */
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { Spec } from '../../src/model/spec.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { explainRequest, type ExplainRequest } from '../../src/model/explain.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { startNamedBackends } from '../helpers/backends.js';
import { findFreePort, startHaproxy } from '../helpers/haproxy-process.js';
import { sendRawRequest, type RawResponse } from '../differential/raw-http.js';

interface Running {
  readonly spec: Spec;
  readonly get: (path: string, cookie?: string) => Promise<RawResponse>;
}

/** The YAML spec: split /s 70/30 (+ a side of weight 0) with an issued cookie, and /p to a two-server backend with one. */
function yaml(o: { port: number; healthPort: number; dir: string; ports: (name: string) => number }): string {
  return `cluster:
  name: sticky
  vip: 192.168.100.10
  nodes: [{ name: lb-a, address: 127.0.0.1, zone: az-a, interface: lo }]
admin:
  stats: { enabled: false }
  health: { port: ${o.healthPort} }
  runtimeSocket: ${o.dir}/runtime.sock
  masterSocket: ${o.dir}/master.sock
  stateDir: ${o.dir}
frontends:
  - name: web
    binds: [{ address: 127.0.0.1, port: ${o.port} }]
    accessLog: false
    defaultBackend: b0
    routes:
      - name: canary
        when: [{ path: { prefix: /s } }]
        split: [{ backend: b0, weight: 70 }, { backend: b1, weight: 30 }, { backend: b2, weight: 0 }]
        stickyCookie: { name: olb-web, duration: 1h, secure: true, sameSite: Lax }
      - { name: pool, when: [{ path: { prefix: /p } }], backend: pool }
backends:
  - { name: b0, servers: [{ name: s1, address: 127.0.0.1, port: ${o.ports('b0')} }], healthCheck: { type: none } }
  - { name: b1, servers: [{ name: s1, address: 127.0.0.1, port: ${o.ports('b1')} }], healthCheck: { type: none } }
  - { name: b2, servers: [{ name: s1, address: 127.0.0.1, port: ${o.ports('b2')} }], healthCheck: { type: none } }
  - name: pool
    healthCheck: { type: none }
    stickyCookie: { name: OLB_SRV, duration: 30m }
    servers:
      - { name: one, address: 127.0.0.1, port: ${o.ports('one')} }
      - { name: two, address: 127.0.0.1, port: ${o.ports('two')} }
`;
}

async function start(t: TestContext, signal: AbortSignal): Promise<Running> {
  const backends = await startNamedBackends({ names: ['b0', 'b1', 'b2', 'one', 'two'], signal });
  t.after(() => backends.close());
  const dir = await mkdtemp(join(tmpdir(), 'olb-sticky-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await findFreePort({ host: '127.0.0.1', signal });
  const healthPort = await findFreePort({ host: '127.0.0.1', signal });
  const parsed = parseSpec(yaml({ port, healthPort, dir, ports: (n) => backends.portOf(n) }), { file: 'sticky.yaml' });
  if (!parsed.ok) assert.fail(parsed.diagnostics.map(formatDiagnostic).join('\n'));
  const rendered = renderHaproxy(parsed.spec, { node: 'lb-a', specHash: parsed.hash, mapDir: dir });
  await writeFile(join(dir, 'haproxy.cfg'), rendered.config);
  for (const m of rendered.maps) await writeFile(join(dir, m.name), m.content);
  const haproxy = await startHaproxy({ configPath: join(dir, 'haproxy.cfg'), dir, probe: { host: '127.0.0.1', port }, signal });
  t.after(() => haproxy.stop());
  const get = (path: string, cookie?: string): Promise<RawResponse> =>
    sendRawRequest({ host: '127.0.0.1', port, method: 'GET', target: path, headers: [{ name: 'Host', value: 'x' }, ...(cookie === undefined ? [] : [{ name: 'Cookie', value: cookie }])], signal });
  return { spec: parsed.spec, get };
}

function request(path: string, cookie?: string): ExplainRequest {
  return { method: 'GET', path, headers: [{ name: 'Host', value: 'x' }, ...(cookie === undefined ? [] : [{ name: 'Cookie', value: cookie }])], source: '127.0.0.1' };
}

const header = (res: RawResponse, name: string): string[] => res.headers.filter((h) => h.name === name).map((h) => h.value);

function testSignal(ms: number): AbortSignal {
  const signal = AbortSignal.timeout(ms);
  setMaxListeners(1000, signal);
  return signal;
}

async function inBatches<T>(n: number, batch: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i += batch) out.push(...(await Promise.all(Array.from({ length: Math.min(batch, n - i) }, (_, k) => fn(i + k)))));
  return out;
}

void test('split stickyCookie in haproxy: Set-Cookie for a new client, the same side afterwards, the other side on its cookie, weights for cookie-less clients', async (t) => {
  const signal = testSignal(120_000);
  const { spec, get } = await start(t, signal);

  // A client without the cookie: a side by weight and the cookie naming it, exactly as explain says.
  const first = await get('/s/page');
  assert.equal(first.status, 200);
  const side = header(first, 'x-backend')[0] ?? '';
  assert.ok(side === 'b0' || side === 'b1', `side ${side}`);
  const want = explainRequest(spec, request('/s/page'));
  assert.equal(want.backend, null);
  assert.deepEqual(header(first, 'set-cookie'), [want.split?.stickyCookie?.setCookie?.replace('<side>', side)]);
  assert.deepEqual(header(first, 'set-cookie'), [`olb-web=${side}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax`]);

  // With it, 60 requests stay on that side and get no new cookie (30% of them would move otherwise).
  const cookie = `olb-web=${side}`;
  const again = await inBatches(60, 10, () => get('/s/page', `a=1; ${cookie}`));
  assert.deepEqual([...new Set(again.map((r) => header(r, 'x-backend')[0]))], [side]);
  assert.deepEqual(again.flatMap((r) => header(r, 'set-cookie')), []);
  assert.equal(explainRequest(spec, request('/s/page', `a=1; ${cookie}`)).backend, side);

  // The other side's cookie goes to the other side, every time.
  const other = side === 'b0' ? 'b1' : 'b0';
  const moved = await inBatches(20, 10, () => get('/s/x', `olb-web=${other}`));
  assert.deepEqual([...new Set(moved.map((r) => header(r, 'x-backend')[0]))], [other]);
  assert.equal(explainRequest(spec, request('/s/x', `olb-web=${other}`)).backend, other);

  // A cookie naming the side of weight 0, or no side, is replaced by a drawn side's cookie.
  for (const stale of ['b2', 'nope', 'B0']) {
    const res = await get('/s/x', `olb-web=${stale}`);
    const got = header(res, 'x-backend')[0] ?? '';
    assert.ok(got === 'b0' || got === 'b1', `cookie ${stale}: went to ${got}`);
    assert.deepEqual(header(res, 'set-cookie'), [`olb-web=${got}; Path=/; Max-Age=3600; HttpOnly; Secure; SameSite=Lax`], `cookie ${stale}`);
    const e = explainRequest(spec, request('/s/x', `olb-web=${stale}`));
    assert.equal(e.backend, null);
    assert.equal(e.split?.stickyCookie?.side, null);
  }

  // Cookie-less clients still follow 70/30 (binomial, 5 sigma: a false alarm once in 1.7 million runs).
  const n = 1500;
  const fresh = await inBatches(n, 16, () => get('/s/'));
  const b0 = fresh.filter((r) => header(r, 'x-backend')[0] === 'b0').length;
  const b1 = fresh.filter((r) => header(r, 'x-backend')[0] === 'b1').length;
  assert.equal(b0 + b1, n);
  assert.ok(Math.abs(b0 - n * 0.7) < 5 * Math.sqrt(n * 0.21), `b0 got ${b0} of ${n}`);
  // ...and each got the cookie of the side it reached.
  for (const r of fresh) assert.match(header(r, 'set-cookie')[0] ?? '', new RegExp(`^olb-web=${header(r, 'x-backend')[0] ?? '-'}; `));

  // Other routes set no cookie.
  assert.deepEqual(header(await get('/other'), 'set-cookie'), []);
});

void test('backend stickyCookie in haproxy: the cookie keeps a client on one server of a round-robin backend', async (t) => {
  const signal = testSignal(60_000);
  const { spec, get } = await start(t, signal);
  const first = await get('/p');
  const server = header(first, 'x-backend')[0] ?? '';
  assert.ok(server === 'one' || server === 'two', server);
  const want = explainRequest(spec, request('/p'));
  assert.deepEqual(header(first, 'set-cookie'), [want.backendCookie?.setCookie?.replace('<server>', server)]);
  assert.deepEqual(header(first, 'set-cookie'), [`OLB_SRV=${server}; path=/; HttpOnly; Max-Age=1800`]);
  // Round robin alternates; with the cookie every request reaches the same server, without a new cookie.
  const again = await inBatches(30, 10, () => get('/p', `OLB_SRV=${server}`));
  assert.deepEqual([...new Set(again.map((r) => header(r, 'x-backend')[0]))], [server]);
  assert.deepEqual(again.flatMap((r) => header(r, 'set-cookie')), []);
  const other = server === 'one' ? 'two' : 'one';
  const moved = await inBatches(10, 10, () => get('/p', `OLB_SRV=${other}`));
  assert.deepEqual([...new Set(moved.map((r) => header(r, 'x-backend')[0]))], [other]);
  assert.equal(explainRequest(spec, request('/p', `OLB_SRV=${other}`)).backendCookie?.server, other);
  // The backend does not see the cookie (indirect): HAProxy removes it from the forwarded request.
  const echoed = Buffer.from(header(moved[0] ?? first, 'x-echo-head')[0] ?? '', 'base64').toString('latin1');
  assert.doesNotMatch(echoed, /OLB_SRV/);
  // Without the cookie, round robin spreads requests over both servers.
  const spread = await inBatches(10, 1, () => get('/p'));
  assert.deepEqual([...new Set(spread.map((r) => header(r, 'x-backend')[0]))].sort(), ['one', 'two']);
});
