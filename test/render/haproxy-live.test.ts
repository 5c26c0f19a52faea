/**
 * The rendered config in a real haproxy (master-worker, loopback only) with tiny Node backends
 * that answer with their name: routing reaches the right backend, a switch flips through the
 * Runtime API, and a spare server slot filled through the Runtime API takes traffic.
 */
import { setMaxListeners } from 'node:events';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { crc32 } from 'node:zlib';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Spec } from '../../src/model/spec.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { startNamedBackends, type BackendSet } from '../helpers/backends.js';
import { findFreePort, startHaproxy } from '../helpers/haproxy-process.js';
import { sendRawRequest } from '../differential/raw-http.js';
import {
  headerExact, headerPresent, hostExact, makeAdmin, makeBackend, makeFrontend, makeServer, makeSpec, makeSwitch, method, pathPrefix, route, source, to, toSplit, toSwitch,
} from '../helpers/model-builders.js';

/** One Runtime API command over the unix socket; returns haproxy's answer. */
async function runtimeCommand(socketPath: string, command: string, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ path: socketPath, signal });
    let out = '';
    s.on('connect', () => s.end(`${command}\n`));
    s.on('data', (c: Buffer) => (out += c.toString('utf8')));
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}

interface Running {
  readonly port: number;
  readonly healthPort: number;
  readonly runtimeSocket: string;
  readonly mapDir: string;
  readonly be: BackendSet;
}

/** Render `build(ports)` and run it; everything stops in t.after. */
async function run(t: TestContext, names: string[], build: (ctx: { port: number; healthPort: number; statsPort: number; runtimeSocket: string; be: BackendSet }) => Spec): Promise<Running> {
  const signal = AbortSignal.timeout(60_000);
  setMaxListeners(50, signal); // one shared deadline for every setup step
  const dir = await mkdtemp(join(tmpdir(), 'olb-live-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const be = await startNamedBackends({ names, signal });
  t.after(() => be.close());
  const port = await findFreePort({ host: '127.0.0.1', signal });
  const healthPort = await findFreePort({ host: '127.0.0.1', signal });
  const statsPort = await findFreePort({ host: '127.0.0.1', signal });
  const runtimeSocket = join(dir, 'runtime.sock');
  const spec = build({ port, healthPort, statsPort, runtimeSocket, be });
  const mapDir = join(dir, 'maps');
  const out = renderHaproxy(spec, { node: 'lb-a', specHash: 'test', mapDir });
  await mkdir(mapDir);
  for (const m of out.maps) await writeFile(join(mapDir, m.name), m.content);
  const configPath = join(dir, 'haproxy.cfg');
  await writeFile(configPath, out.config);
  const hp = await startHaproxy({ configPath, dir, probe: { host: '127.0.0.1', port }, signal });
  t.after(() => hp.stop());
  return { port, healthPort, runtimeSocket, mapDir, be };
}

const server = (be: BackendSet, name: string) => makeServer('s1', '127.0.0.1', be.portOf(name));

async function get(port: number, headers: Record<string, string>, options: { target?: string; method?: string; localAddress?: string } = {}): Promise<{ status: number; body: string }> {
  const res = await sendRawRequest({
    host: '127.0.0.1',
    port,
    method: options.method ?? 'GET',
    target: options.target ?? '/',
    headers: Object.entries({ host: 'test.local', ...headers }).map(([name, value]) => ({ name, value })),
    signal: AbortSignal.timeout(10_000),
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  return { status: res.status, body: res.body };
}

void test('real haproxy routes by header, map run, host, source, sticky split and a runtime-flipped switch', async (t) => {
  const names = ['app', 'canary', 'api', 'blue', 'green', 'office'];
  const r = await run(t, names, ({ port, healthPort, statsPort, runtimeSocket, be }) =>
    makeSpec({
      admin: makeAdmin({ runtimeSocket, stats: { enabled: true, bind: 'localhost', port: statsPort }, health: { bind: 'localhost', port: healthPort, path: '/healthz' } }),
      frontends: [
        makeFrontend('web', {
          binds: [{ address: '127.0.0.1', port }],
          requestId: { header: 'x-request-id' },
          accessLog: { enabled: false },
          defaultBackend: 'app',
          routes: [
            route('canary-header', [headerExact('x-canary', '1')], to('canary')),
            route('t-acme', [headerExact('x-tenant', 'acme')], to('api')),
            route('t-globex', [headerExact('x-tenant', 'globex')], to('canary')),
            route('api-host', [hostExact('api.example.com'), method('GET')], to('api')),
            route('office', [source('127.0.0.64/26')], to('office')),
            route('checkout', [pathPrefix('/checkout')], toSwitch('checkout')),
            route('beta', [headerPresent('x-beta')], toSplit([['app', 50], ['canary', 50]], { kind: 'header', name: 'x-user' })),
          ],
        }),
      ],
      switches: [makeSwitch('checkout', { blue: 'blue', green: 'green' }, 'blue')],
      backends: names.map((n) => makeBackend(n, { servers: [server(be, n)] })),
    }),
  );
  const cases: [Record<string, string>, string, string][] = [
    [{}, 'app', 'no rule matches: default backend'],
    [{ 'x-canary': '1' }, 'canary', 'canary header'],
    [{ 'x-canary': '2' }, 'app', 'other canary value'],
    [{ 'x-tenant': 'acme' }, 'api', 'map run entry 1'],
    [{ 'x-tenant': 'globex' }, 'canary', 'map run entry 2'],
    [{ 'x-tenant': 'initech' }, 'app', 'map miss'],
    [{ 'x-canary': '1', 'x-tenant': 'acme' }, 'canary', 'first match wins over the map run'],
    [{ host: 'API.Example.COM:8080' }, 'api', 'host lower-cased, port removed'],
    [{ host: 'api.example.com.evil' }, 'app', 'host exact, not prefix'],
  ];
  for (const [headers, want, why] of cases) assert.equal((await get(r.port, headers)).body, want, why);
  assert.equal((await get(r.port, { host: 'api.example.com' }, { method: 'POST' })).body, 'app', 'host route requires GET');
  assert.equal((await get(r.port, {}, { localAddress: '127.0.0.70' })).body, 'office', 'source inside the CIDR');
  assert.equal((await get(r.port, {}, { localAddress: '127.0.0.10' })).body, 'app', 'source outside the CIDR');

  // Sticky split: crc32(value) mod 100 < 50 -> app, else canary; identical to node:zlib.
  for (const user of ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi']) {
    const want = crc32(user) % 100 < 50 ? 'app' : 'canary';
    assert.equal((await get(r.port, { 'x-beta': '', 'x-user': user })).body, want, `sticky user ${user}`);
  }

  assert.equal((await get(r.port, {}, { target: '/checkout/cart' })).body, 'blue');
  const answer = await runtimeCommand(r.runtimeSocket, `set map ${join(r.mapDir, 'switches.map')} checkout green`, AbortSignal.timeout(5000));
  assert.equal(answer.trim(), '');
  assert.equal((await get(r.port, {}, { target: '/checkout/cart' })).body, 'green', 'switch flipped at run time');

  const health = await get(r.healthPort, {}, { target: '/healthz' });
  assert.equal(health.status, 200);
});

void test('a spare slot filled through the Runtime API takes traffic without a reload; health follows', async (t) => {
  const r = await run(t, ['late'], ({ port, healthPort, statsPort, runtimeSocket }) =>
    makeSpec({
      admin: makeAdmin({ runtimeSocket, stats: { enabled: false, bind: 'localhost', port: statsPort }, health: { bind: 'localhost', port: healthPort, path: '/healthz' } }),
      frontends: [makeFrontend('web', { binds: [{ address: '127.0.0.1', port }], accessLog: { enabled: false }, defaultBackend: 'pool' })],
      discovery: [{ name: 'f', type: 'file', path: '/dev/null' }],
      backends: [
        makeBackend('pool', {
          discovery: { source: 'f' },
          spareSlots: 2,
          healthCheck: { type: 'http', path: '/ready', expectStatus: [[200, 299]], intervalMs: 100, rise: 1, fall: 1 },
        }),
      ],
    }),
  );
  // GIVEN only disabled spare slots: no server, 503, and the health URI fails.
  assert.equal((await get(r.port, {})).status, 503);
  assert.equal((await get(r.healthPort, {}, { target: '/healthz' })).status, 503);

  // WHEN the agent fills a slot through the Runtime API
  const signal = AbortSignal.timeout(5000);
  const addr = await runtimeCommand(r.runtimeSocket, `set server pool/olb-spare-2 addr 127.0.0.1 port ${r.be.portOf('late')}`, signal);
  assert.match(addr, /IP changed from '0\.0\.0\.0' to '127\.0\.0\.1'/);
  assert.equal((await runtimeCommand(r.runtimeSocket, 'set server pool/olb-spare-2 state ready', signal)).trim(), '');

  // THEN requests reach it once its first health check passes (bounded wait).
  let last = { status: 0, body: '' };
  for (let i = 0; i < 100 && last.body !== 'late'; i++) {
    last = await get(r.port, {});
    if (last.body !== 'late') await sleep(50);
  }
  assert.deepEqual(last, { status: 200, body: 'late' });
  assert.equal((await get(r.healthPort, {}, { target: '/healthz' })).status, 200);
});
