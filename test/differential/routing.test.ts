/**
 * Differential test: real haproxy 2.6 running the config compiled by renderHaproxy must route
 * every generated request exactly as the reference evaluator `explainRequest` predicts.
 *
 * Reproduce one rule set: OLB_DIFF_SEED=<seed> OLB_DIFF_SETS=1 node --test dist/test/differential/routing.test.js
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { setMaxListeners } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Condition, Route, RouteAction, Spec, Switch } from '../../src/model/spec.js';
import { renderHaproxy } from '../../src/render/haproxy.js';
import { parseSpec } from '../../src/speclang/parse.js';
import { explainRequest, type ExplainRequest } from '../../src/model/explain.js';
import { startNamedBackends, type BackendSet } from '../helpers/backends.js';
import { findFreePort, startHaproxy } from '../helpers/haproxy-process.js';
import { ALL_BACKENDS, BACKEND_COOKIES, DEFAULT_BACKEND, generateActionRuleSet, generateRequest, generateRuleSet, makeRng, type RuleSet } from './generate.js';
import { sendRawRequest, type RawResponse } from './raw-http.js';

const BASE_SEED = Number(process.env['OLB_DIFF_SEED'] ?? 20240601);
const SETS = Number(process.env['OLB_DIFF_SETS'] ?? 30);
const REQUESTS_PER_SET = 200;
const PARALLEL = 8;

/** What haproxy answered: its status and, for a routed request, the backend that served it. */
interface Answer {
  readonly status: number;
  readonly backend: string | null;
}

interface Harness {
  readonly port: number;
  send(r: ExplainRequest): Promise<Answer>;
  /** The whole response, whatever its status (redirects, fixed responses). */
  sendRaw(r: ExplainRequest): Promise<RawResponse>;
}

/** Compares haproxy's answer with explain's, field by field; a description of the first difference, or undefined. */
function disagreement(got: Answer, want: ReturnType<typeof explainRequest>): string | undefined {
  const status = want.rejected?.status ?? 200;
  if (got.status !== status) return `status: haproxy ${got.status}, explain ${status}`;
  if (want.rejected !== undefined) return undefined;
  const ok = want.backend !== null ? got.backend === want.backend : (want.split?.sides ?? []).some((s) => s.weight > 0 && s.backend === got.backend);
  return ok ? undefined : `backend: haproxy ${String(got.backend)}, explain ${String(want.backend)}`;
}

function buildSpec(options: { ruleSet: RuleSet; backends: BackendSet; port: number; healthPort: number; dir: string }): Spec {
  const { ruleSet, backends, port, healthPort, dir } = options;
  return {
    version: 1,
    cluster: {
      name: 'diff',
      vip: '192.168.100.10',
      vpcCidrs: ['10.0.0.0/16'],
      peerCidrs: [],
      nodes: [{ name: 'lb-a', address: '127.0.0.1', zone: 'az-a', priority: 200, interface: 'lo' }],
      vrrp: { virtualRouterId: 51, advertIntervalMs: 100, preempt: true, preemptDelayMs: 10000, markerAddress: '169.254.240.51' },
      cloud: { provider: 'none', routeTables: { kind: 'all', exclude: [] }, failover: 'route', recheckIntervalMs: 10000 },
    },
    admin: {
      stats: { enabled: false, bind: 'localhost', port: 8404 },
      health: { bind: 'localhost', port: healthPort, path: '/healthz' },
      runtimeSocket: join(dir, 'runtime.sock'),
      masterSocket: join(dir, 'master.sock'),
      stateDir: dir,
      agent: { bind: 'localhost', port: 8406 },
    },
    frontends: [
      {
        name: 'web',
        mode: 'http',
        binds: [{ address: '127.0.0.1', port }],
        timeouts: { clientMs: 10000, httpRequestMs: 5000, httpKeepAliveMs: 1000 },
        accessLog: { enabled: false },
        forwardedFor: false,
        defaultBackend: DEFAULT_BACKEND,
        routes: ruleSet.routes,
      },
    ],
    backends: backends.backends.map((b) => ({
      name: b.name,
      mode: 'http' as const,
      balance: { kind: 'roundrobin' as const },
      servers: [{ name: 's1', address: b.address, port: b.port, weight: 100, backup: false }],
      spareSlots: 0,
      healthCheck: { type: 'none' as const },
      retries: 1,
      redispatch: false,
      timeouts: { connectMs: 2000, serverMs: 5000, queueMs: 2000 },
      drainMs: 30_000,
      slowStartMs: 0,
      // A server cookie on some backends (issue 21 item 3): explain's backendCookie against HAProxy's `cookie insert`.
      ...(BACKEND_COOKIES[b.name] === undefined ? {} : { stickyCookie: { name: BACKEND_COOKIES[b.name] ?? '', durationMs: 600_000, secure: false, httpOnly: true } }),
    })),
    switches: ruleSet.switches,
    discovery: [],
  };
}

/** Render, write, start haproxy for one rule set; stopped and cleaned in t.after. */
async function startRuleSet(t: TestContext, ruleSet: RuleSet, backends: BackendSet, signal: AbortSignal): Promise<{ spec: Spec; harness: Harness; config: string }> {
  return startSpec(t, (o) => buildSpec({ ruleSet, backends, ...o }), signal);
}

/** Render, write, start haproxy for the spec `make` builds on free loopback ports in a temp dir. */
async function startSpec(
  t: TestContext,
  make: (o: { port: number; healthPort: number; dir: string }) => Spec,
  signal: AbortSignal,
): Promise<{ spec: Spec; harness: Harness; config: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'olb-diff-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await findFreePort({ host: '127.0.0.1', signal });
  const healthPort = await findFreePort({ host: '127.0.0.1', signal });
  const spec = make({ port, healthPort, dir });
  const rendered = renderHaproxy(spec, { node: 'lb-a', specHash: '0'.repeat(64), mapDir: dir });
  await writeFile(join(dir, 'haproxy.cfg'), rendered.config);
  for (const m of rendered.maps) await writeFile(join(dir, m.name), m.content);
  const haproxy = await startHaproxy({ configPath: join(dir, 'haproxy.cfg'), dir, probe: { host: '127.0.0.1', port }, signal });
  t.after(() => haproxy.stop());
  const send = async (r: ExplainRequest): Promise<Answer> => {
    const res = await sendRawRequest({ host: '127.0.0.1', port, localAddress: r.source, method: r.method, target: r.path, headers: r.headers, signal });
    // haproxy's own 400 (a request it refuses to parse): compared with explain's `rejected`.
    if (res.status === 400) return { status: 400, backend: null };
    if (res.status !== 200) throw new Error(`haproxy answered ${res.status} to ${JSON.stringify(r)}: ${res.body.slice(0, 200)}\nhaproxy output:\n${haproxy.output().slice(-2000)}`);
    // The header, not the body: HEAD responses have none.
    const backend = res.headers.find((h) => h.name === 'x-backend')?.value;
    if (backend === undefined) throw new Error(`no x-backend header in the answer to ${JSON.stringify(r)}`);
    return { status: 200, backend };
  };
  const sendRaw = (r: ExplainRequest): Promise<RawResponse> => sendRawRequest({ host: '127.0.0.1', port, localAddress: r.source, method: r.method, target: r.path, headers: r.headers, signal });
  return { spec, harness: { port, send, sendRaw }, config: rendered.config };
}

function describeRoutes(routes: readonly Route[]): string {
  return routes.map((r, i) => `  ${i + 1}. ${JSON.stringify(r.conditions)} -> ${JSON.stringify(r.action)}`).join('\n');
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function withBackends(t: TestContext, signal: AbortSignal): Promise<BackendSet> {
  const backends = await startNamedBackends({ names: ALL_BACKENDS, signal });
  t.after(() => backends.close());
  return backends;
}

function testSignal(ms: number): AbortSignal {
  const signal = AbortSignal.timeout(ms);
  // Many sockets share it; each adds an abort listener.
  setMaxListeners(1000, signal);
  return signal;
}

void test(`haproxy routes ${SETS} generated rule sets exactly as explain predicts`, async (t) => {
  const signal = testSignal(170_000);
  const backends = await withBackends(t, signal);
  let checked = 0;
  let viaRoute = 0;
  let rejected = 0;
  // Which compiled constructs the generated configs used: the generator must reach all of them.
  const constructs = ['map_str(', 'map_beg(', 'map_ip(', '-m reg', '-m beg', '-m str', '-m end', 'src -m ip', '{ method ', 'switches.map', ',crc32,', 'rand(100)', 'url_param(', 'req.cook(', 'var(txn.olb_q*),map_str(', 'var(txn.olb_q*),map_beg(', 'var(txn.olb_c*),map_str(', 'var(txn.olb_c*),map_beg(', '.sticky.map) if', 'http-response add-header Set-Cookie'];
  // '*' stands for the variable's number.
  const hasConstruct = (config: string, c: string): boolean => new RegExp(c.replace(/[.()[\]{}+?^$|\\]/g, '\\$&').replace('*', '\\d+')).test(config);
  const used = new Set<string>();
  for (let set = 0; set < SETS; set++) {
    const seed = BASE_SEED + set;
    const rng = makeRng(seed);
    const ruleSet = generateRuleSet(rng);
    const requests = Array.from({ length: REQUESTS_PER_SET }, () => generateRequest(rng));
    await t.test(`seed ${seed}: ${ruleSet.routes.length} routes`, async (st) => {
      const { spec, harness, config } = await startRuleSet(st, ruleSet, backends, signal);
      for (const c of constructs) if (hasConstruct(config, c)) used.add(c);
      const observed = await mapLimit(requests, PARALLEL, (r) => harness.send(r));
      const mismatches: string[] = [];
      for (const [i, r] of requests.entries()) {
        const got = observed[i];
        const want = explainRequest(spec, r, {});
        if (want.route !== null) viaRoute++;
        if (want.rejected !== undefined) rejected++;
        checked++;
        const why = got === undefined ? 'no answer' : disagreement(got, want);
        if (why !== undefined && mismatches.length < 5) {
          mismatches.push(
            `request ${JSON.stringify(r)}\n  ${why}\n  explain: ${want.rejected !== undefined ? 'rejected 400' : `${String(want.backend)} (${want.route === null ? 'default' : `route ${want.route.index + 1}`})`}\n  ${want.reasons.join('\n  ')}`,
          );
        }
      }
      if (mismatches.length > 0) {
        assert.fail(`seed ${seed} (reproduce: OLB_DIFF_SEED=${seed} OLB_DIFF_SETS=1): haproxy and explain disagree\nroutes:\n${describeRoutes(ruleSet.routes)}\n${mismatches.join('\n')}\n--- haproxy.cfg frontend ---\n${config.slice(config.indexOf('frontend web'))}`);
      }
    });
  }
  // The generator must exercise routes, not only the default backend (else the test proves little).
  assert.ok(viaRoute > checked / 3, `only ${viaRoute} of ${checked} requests matched a route`);
  // ...and the shapes HAProxy refuses with 400 (about 6% of the requests).
  assert.ok(rejected > checked / 50, `only ${rejected} of ${checked} requests were ones haproxy rejects`);
  if (SETS >= 30) assert.deepEqual(constructs.filter((c) => !used.has(c)), [], 'constructs never generated');
});

void test('weighted split without sticky key: 2,000 requests follow 70/30 (binomial, 5 sigma)', async (t) => {
  const signal = testSignal(60_000);
  const backends = await withBackends(t, signal);
  const action: RouteAction = { kind: 'split', sides: [{ backend: 'b0', weight: 70 }, { backend: 'b1', weight: 30 }] };
  const switches: Switch[] = [];
  const { harness } = await startRuleSet(t, { routes: [{ name: 'canary', conditions: [], action }], switches }, backends, signal);
  const n = 2000;
  const req: ExplainRequest = { method: 'GET', path: '/', headers: [{ name: 'Host', value: 'x' }], source: '127.0.0.1' };
  const observed = (await mapLimit(Array.from({ length: n }, () => req), PARALLEL, (r) => harness.send(r))).map((a) => a.backend);
  const b0 = observed.filter((x) => x === 'b0').length;
  const b1 = observed.filter((x) => x === 'b1').length;
  assert.equal(b0 + b1, n, `unexpected backends: ${[...new Set(observed)].join(', ')}`);
  const expected = n * 0.7;
  const sigma = Math.sqrt(n * 0.7 * 0.3);
  // |observed - expected| < 5 sigma: a false alarm about once in 1.7 million runs.
  assert.ok(Math.abs(b0 - expected) < 5 * sigma, `b0 got ${b0} of ${n}; expected ${expected} +- ${Math.round(5 * sigma)}`);
});

void test('sticky split: every key lands on the backend explain predicts, every time', async (t) => {
  const signal = testSignal(60_000);
  const backends = await withBackends(t, signal);
  const sides = [{ backend: 'b0', weight: 95 }, { backend: 'b1', weight: 5 }];
  const routes: Route[] = [
    { name: 'by-cookie', conditions: [{ kind: 'path', match: { type: 'prefix', value: '/c' } }], action: { kind: 'split', sides, sticky: { kind: 'cookie', name: 'session' } } },
    { name: 'by-header', conditions: [], action: { kind: 'split', sides: [{ backend: 'b2', weight: 30 }, { backend: 'b3', weight: 70 }], sticky: { kind: 'header', name: 'x-user' } } },
  ];
  const { spec, harness } = await startRuleSet(t, { routes, switches: [] }, backends, signal);
  const requests: ExplainRequest[] = [];
  for (let k = 0; k < 150; k++) {
    const host = { name: 'Host', value: 'x' };
    const header: ExplainRequest = { method: 'GET', path: '/h', headers: [host, { name: 'X-User', value: `user-${k}` }], source: '127.0.0.1' };
    const cookie: ExplainRequest = { method: 'GET', path: '/c', headers: [host, { name: 'Cookie', value: `a=1; session=key-${k}` }], source: '127.0.0.1' };
    requests.push(header, header, cookie, cookie);
  }
  const observed = (await mapLimit(requests, PARALLEL, (r) => harness.send(r))).map((a) => a.backend);
  const seen = new Set<string>();
  for (const [i, r] of requests.entries()) {
    const want = explainRequest(spec, r, {});
    assert.notEqual(want.backend, null);
    assert.equal(observed[i], want.backend, `request ${JSON.stringify(r)} (bucket ${String(want.split?.bucket)})`);
    seen.add(String(observed[i]));
  }
  // Both sides of both splits were hit: the keys really spread over the buckets.
  assert.deepEqual([...seen].sort(), ['b0', 'b1', 'b2', 'b3']);
});

void test('examples/demo.yaml, parsed by parseSpec and moved to loopback, routes as explain predicts', async (t) => {
  const signal = testSignal(60_000);
  const parsed = parseSpec(await readFile('examples/demo.yaml', 'utf8'), { file: 'examples/demo.yaml' });
  if (!parsed.ok) assert.fail(`demo.yaml does not parse: ${JSON.stringify(parsed.diagnostics)}`);
  const demo = parsed.spec;
  const backends = await startNamedBackends({ names: demo.backends.map((b) => b.name), signal });
  t.after(() => backends.close());
  // Same routes, switches and backends as the demo; only addresses move to loopback.
  const { spec, harness } = await startSpec(
    t,
    ({ port, healthPort, dir }) => {
      const base = buildSpec({ ruleSet: { routes: [], switches: [] }, backends, port, healthPort, dir });
      const web = demo.frontends[0];
      assert.ok(web !== undefined && base.frontends[0] !== undefined);
      return {
        ...base,
        frontends: [{ ...web, binds: base.frontends[0].binds }],
        switches: demo.switches,
      };
    },
    signal,
  );
  const rng = makeRng(BASE_SEED);
  const host = { name: 'Host', value: 'demo.test' };
  const requests: ExplainRequest[] = [
    { method: 'GET', path: '/', headers: [host, { name: 'x-canary', value: '1' }], source: '127.0.0.1' },
    { method: 'GET', path: '/', headers: [host, { name: 'X-Canary', value: '1' }, { name: 'X-CANARY', value: '0' }], source: '127.0.0.1' },
    { method: 'HEAD', path: '/api/v2/users?x=1', headers: [host], source: '127.0.0.1' },
    { method: 'POST', path: '/api/v2/users', headers: [host], source: '127.0.0.1' },
    { method: 'GET', path: '/checkout/cart', headers: [host], source: '127.0.0.1' },
    { method: 'GET', path: '/', headers: [{ name: 'Host', value: 'ADMIN.demo.internal:80' }], source: '127.0.0.1' },
    ...Array.from({ length: 100 }, (_, k): ExplainRequest => ({ method: 'GET', path: '/', headers: [host, { name: 'X-Beta', value: '' }, { name: 'Cookie', value: `session=u${k}` }], source: '127.0.0.1' })),
    ...Array.from({ length: 100 }, () => generateRequest(rng)),
  ];
  const observed = await mapLimit(requests, PARALLEL, (r) => harness.send(r));
  for (const [i, r] of requests.entries()) {
    const want = explainRequest(spec, r, {});
    const got = observed[i];
    const why = got === undefined ? 'no answer' : disagreement(got, want);
    assert.equal(why, undefined, `request ${JSON.stringify(r)}: ${String(why)}\n  ${want.reasons.join('\n  ')}`);
  }
});

void test('the shapes where explain once disagreed with haproxy: bytes under regexes, a trailing NBSP, requests haproxy refuses with 400', async (t) => {
  const signal = testSignal(60_000);
  const backends = await withBackends(t, signal);
  const header = (value: string): Condition => ({ kind: 'header', name: 'x-t', match: { type: 'regex', value } });
  // One route per regex (first match wins, so each request is routed by the first that holds).
  // Printable ASCII, as the spec allows; the request values are where non-ASCII comes in.
  const regexes = ['^a.$', '^.{2}$', '^a\\s$', '^[^a]$', '^a\\w$', '\\bz', '^.{4}$', '^a\\S$'];
  const routes: Route[] = [
    ...regexes.map((re, k): Route => ({ name: `re${k}`, conditions: [header(re)], action: { kind: 'backend', backend: `b${k % 6}` } })),
    { name: 'nbsp', conditions: [{ kind: 'header', name: 'x-n', match: { type: 'exact', value: 'a' } }], action: { kind: 'backend', backend: 'b5' } },
  ];
  const { spec, harness } = await startRuleSet(t, { routes, switches: [] }, backends, signal);
  const host = { name: 'Host', value: 'x' };
  const values = ['a\u00e9', '\u00e9', 'a\u00a0', '\u00e9z', '\u{1F600}', 'a\u000b', 'ab', 'a\u00a0b'];
  const requests: ExplainRequest[] = [
    ...values.map((v): ExplainRequest => ({ method: 'GET', path: '/', headers: [host, { name: 'X-T', value: v }], source: '127.0.0.1' })),
    { method: 'GET', path: '/', headers: [host, { name: 'X-N', value: 'a\u00a0' }], source: '127.0.0.1' },
    { method: 'GET', path: '/', headers: [host, { name: 'X-N', value: ' a\t' }], source: '127.0.0.1' },
    { method: 'GET', path: '/', headers: [host, { name: 'X-N ', value: 'a' }], source: '127.0.0.1' },
    { method: 'GET', path: '/', headers: [host, { name: 'X-N\t', value: 'a' }], source: '127.0.0.1' },
    { method: 'GET', path: '/', headers: [host, { name: 'X-\u00e9', value: 'a' }], source: '127.0.0.1' },
    { method: 'GET', path: '/a#b', headers: [host], source: '127.0.0.1' },
    { method: 'GET', path: '/caf\u00e9', headers: [host], source: '127.0.0.1' },
    { method: 'GET', path: '/a\u00a0', headers: [host], source: '127.0.0.1' },
    // DEL: refused only where haproxy's parser reads byte by byte (see explain's emulation).
    { method: 'GET', path: '/a%23b\u007f"{}', headers: [host], source: '127.0.0.1' },
    { method: 'GET', path: '/ab\u007f"{}', headers: [host], source: '127.0.0.1' },
    { method: 'GET', path: '/a\u007fb', headers: [host], source: '127.0.0.1' },
    { method: 'G(T', path: '/', headers: [host], source: '127.0.0.1' },
    { method: 'GET', path: '/', headers: [host, { name: 'HOST', value: 'y' }], source: '127.0.0.1' },
    { method: 'GET', path: '/', headers: [host, { name: 'HOST', value: 'X' }], source: '127.0.0.1' },
  ];
  const observed = await mapLimit(requests, PARALLEL, (r) => harness.send(r));
  let refused = 0;
  for (const [i, r] of requests.entries()) {
    const want = explainRequest(spec, r, {});
    const got = observed[i];
    if (got?.status === 400) refused++;
    const why = got === undefined ? 'no answer' : disagreement(got, want);
    assert.equal(why, undefined, `request ${JSON.stringify(r)}: ${String(why)}\n  ${want.reasons.join('\n  ')}`);
  }
  assert.equal(refused, 9, 'the nine requests haproxy refuses');
});

void test('query strings and cookies: first parameter, last cookie, no percent-decoding, separators (issue 21)', async (t) => {
  const signal = testSignal(60_000);
  const backends = await withBackends(t, signal);
  const q = (name: string, match: Extract<Condition, { kind: 'query' }>['match']): Condition => ({ kind: 'query', name, match });
  const c = (name: string, match: Extract<Condition, { kind: 'cookie' }>['match']): Condition => ({ kind: 'cookie', name, match });
  const routes: Route[] = [
    { name: 'enc', conditions: [q('q', { type: 'exact', value: '%41' })], action: { kind: 'backend', backend: 'b0' } },
    { name: 'plain', conditions: [q('q', { type: 'exact', value: 'A' })], action: { kind: 'backend', backend: 'b1' } },
    { name: 'plus', conditions: [q('q', { type: 'prefix', value: 'a+' })], action: { kind: 'backend', backend: 'b2' } },
    { name: 'empty', conditions: [q('e', { type: 'exact', value: '' })], action: { kind: 'backend', backend: 'b3' } },
    { name: 'debug', conditions: [q('debug', { type: 'present' }), c('opt', { type: 'absent' })], action: { kind: 'backend', backend: 'b4' } },
    { name: 'gold', conditions: [c('tier', { type: 'exact', value: 'gold' })], action: { kind: 'backend', backend: 'b5' } },
    { name: 'spaced', conditions: [c('tier', { type: 'regex', value: '^a b$' })], action: { kind: 'backend', backend: 'b0' } },
  ];
  const { spec, harness } = await startRuleSet(t, { routes, switches: [] }, backends, signal);
  const host = { name: 'Host', value: 'x' };
  const get = (path: string, cookie?: string): ExplainRequest => ({ method: 'GET', path, headers: cookie === undefined ? [host] : [host, { name: 'Cookie', value: cookie }], source: '127.0.0.1' });
  const cases: [ExplainRequest, string][] = [
    [get('/?q=%41'), 'b0'],
    [get('/?q=A'), 'b1'],
    [get('/?q=%61'), DEFAULT_BACKEND],
    [get('/?q=a+b'), 'b2'],
    [get('/?q=a%20b'), DEFAULT_BACKEND],
    [get('/?x=1&q=A&q=%41'), 'b1'],
    [get('/?x=1;q=%41'), 'b0'],
    [get('/?x=1?q=A'), 'b1'],
    [get('/?Q=A'), DEFAULT_BACKEND],
    [get('/q=A'), DEFAULT_BACKEND],
    [get('/?e='), 'b3'],
    [get('/?e'), DEFAULT_BACKEND],
    [get('/?debug'), DEFAULT_BACKEND],
    [get('/?debug=0'), 'b4'],
    [get('/?debug=0', 'opt=1'), DEFAULT_BACKEND],
    [get('/', 'a=1; tier=gold'), 'b5'],
    [get('/', 'tier=gold, tier=silver'), DEFAULT_BACKEND],
    [get('/', 'tier=silver;tier=gold'), 'b5'],
    [get('/', 'Tier=gold'), DEFAULT_BACKEND],
    [get('/', 'tier= a b '), 'b0'],
  ];
  const observed = await mapLimit(cases.map(([r]) => r), PARALLEL, (r) => harness.send(r));
  for (const [i, [r, expected]] of cases.entries()) {
    const want = explainRequest(spec, r, {});
    assert.equal(want.backend, expected, `explain on ${JSON.stringify(r)}:\n  ${want.reasons.join('\n  ')}`);
    assert.equal(observed[i]?.backend, expected, `haproxy on ${JSON.stringify(r)}`);
  }
});

/** The request head a test backend received (its X-Echo-Head), as header lines. */
function echoedHeaders(res: RawResponse): { name: string; value: string }[] {
  const b64 = res.headers.find((h) => h.name === 'x-echo-head')?.value ?? '';
  const lines = Buffer.from(b64, 'base64').toString('latin1').split('\r\n').slice(1);
  // Only SP and HT are trimmed (String.trim would also drop a non-breaking space's 0xA0 byte).
  return lines.map((l) => ({ name: l.slice(0, l.indexOf(':')).toLowerCase(), value: l.slice(l.indexOf(':') + 1).replace(/^[ \t]+|[ \t]+$/g, '') }));
}

/** Field-by-field comparison of a whole response with explain's prediction; the differences. */
function actionDisagreements(r: ExplainRequest, res: RawResponse, want: ReturnType<typeof explainRequest>): string[] {
  const out: string[] = [];
  const header = (name: string): string[] => res.headers.filter((h) => h.name === name).map((h) => h.value);
  const status = want.rejected?.status ?? want.answer?.status ?? 200;
  if (res.status !== status) return [`status: haproxy ${res.status}, explain ${status}`];
  if (want.rejected !== undefined) return out;
  if (want.answer !== undefined && header('set-cookie').length > 0) out.push(`set-cookie on an answer of the load balancer: ${JSON.stringify(header('set-cookie'))}`);
  if (want.answer?.kind === 'redirect') {
    const loc = header('location')[0];
    if (loc !== want.answer.location) out.push(`location: haproxy ${String(loc)}, explain ${want.answer.location}`);
  } else if (want.answer?.kind === 'respond') {
    // A response to HEAD carries no body.
    if (res.body !== (r.method === 'HEAD' ? '' : (want.answer.body ?? ''))) out.push(`body: haproxy ${JSON.stringify(res.body)}, explain ${JSON.stringify(want.answer.body ?? '')}`);
    const ct = header('content-type')[0];
    if (ct !== want.answer.contentType) out.push(`content-type: haproxy ${String(ct)}, explain ${String(want.answer.contentType)}`);
  } else {
    const backend = header('x-backend')[0];
    const ok = want.backend !== null ? backend === want.backend : (want.split?.sides ?? []).some((s) => s.weight > 0 && s.backend === backend);
    if (!ok) out.push(`backend: haproxy ${String(backend)}, explain ${String(want.backend)}`);
    out.push(...cookieDisagreements(res, want, backend));
    const seen = echoedHeaders(res);
    for (const name of new Set((want.requestHeaders ?? []).map((r) => r.name))) {
      const expected = expectedValues(want.requestHeaders ?? [], name, sentValues(r, name));
      const got = seen.filter((h) => h.name === name).map((h) => h.value);
      if (expected !== undefined && JSON.stringify(got) !== JSON.stringify(expected)) out.push(`request header ${name}: backend saw ${JSON.stringify(got)}, explain ${JSON.stringify(expected)}`);
    }
  }
  for (const name of new Set((want.responseHeaders ?? []).map((r) => r.name))) {
    const original = name === 'x-backend' ? header(name) : [];
    const expected = expectedValues(want.responseHeaders ?? [], name, original);
    const got = header(name);
    if (expected !== undefined && JSON.stringify(got) !== JSON.stringify(expected)) out.push(`response header ${name}: haproxy ${JSON.stringify(got)}, explain ${JSON.stringify(expected)}`);
  }
  return out;
}

/**
 * The Set-Cookie headers of the stickiness cookies explain speaks about (the split's issued
 * cookie; the chosen backend's server cookie when the backend is known), against haproxy's.
 * `<side>` and `<server>` stand for what haproxy chose (the backend it reached; the one server
 * `s1` of every backend here).
 */
function cookieDisagreements(res: RawResponse, want: ReturnType<typeof explainRequest>, backend: string | undefined): string[] {
  const out: string[] = [];
  const setCookies = (name: string): string[] => res.headers.filter((h) => h.name === 'set-cookie' && h.value.startsWith(`${name}=`)).map((h) => h.value);
  const split = want.split?.stickyCookie;
  if (split !== undefined) {
    const expected = split.setCookie === null ? [] : [split.setCookie.replace('<side>', backend ?? '?')];
    if (JSON.stringify(setCookies(split.name)) !== JSON.stringify(expected)) out.push(`set-cookie ${split.name}: haproxy ${JSON.stringify(setCookies(split.name))}, explain ${JSON.stringify(expected)}`);
  }
  const server = want.backendCookie;
  if (server !== undefined) {
    const expected = server.setCookie === null ? [] : [server.setCookie.replace('<server>', 's1')];
    if (JSON.stringify(setCookies(server.name)) !== JSON.stringify(expected)) out.push(`set-cookie ${server.name}: haproxy ${JSON.stringify(setCookies(server.name))}, explain ${JSON.stringify(expected)}`);
  }
  return out;
}

/** The values of request header `name` as the client sent them (trimmed, as HAProxy forwards them). */
function sentValues(r: ExplainRequest, name: string): string[] {
  // As the echo shows them: the UTF-8 bytes read as latin1.
  return r.headers.filter((h) => h.name.toLowerCase() === name).map((h) => Buffer.from(h.value.replace(/^[ \t]+|[ \t]+$/g, ''), 'utf8').toString('latin1'));
}

/**
 * The values of `name` after the rewrites (remove, set, add), starting from `original`; undefined
 * when the outcome depends on original values the caller does not know.
 */
function expectedValues(rewrites: readonly { op: string; name: string; value?: string }[], name: string, original: readonly string[] | undefined): string[] | undefined {
  let values: string[] | undefined = original === undefined ? undefined : [...original];
  for (const r of rewrites.filter((x) => x.name === name)) {
    if (r.op === 'remove') values = [];
    else if (r.op === 'set') values = [r.value ?? ''];
    else if (values !== undefined) values.push(r.value ?? '');
  }
  return values;
}

void test('generated rule sets mixing old and new conditions with redirects, fixed responses, header rewrites and stickiness cookies: haproxy answers as explain predicts, field by field', async (t) => {
  const signal = testSignal(170_000);
  const backends = await withBackends(t, signal);
  const sets = Math.max(1, Math.round(SETS / 2));
  let answered = 0;
  let rewritten = 0;
  let issued = 0;
  let kept = 0;
  let serverCookies = 0;
  for (let set = 0; set < sets; set++) {
    const seed = BASE_SEED + 1000 + set;
    const rng = makeRng(seed);
    const ruleSet = generateActionRuleSet(rng);
    const requests = Array.from({ length: REQUESTS_PER_SET }, () => generateRequest(rng));
    await t.test(`seed ${seed}: ${ruleSet.routes.length} routes`, async (st) => {
      const { spec, harness, config } = await startRuleSet(st, ruleSet, backends, signal);
      const observed = await mapLimit(requests, PARALLEL, (r) => harness.sendRaw(r));
      const mismatches: string[] = [];
      for (const [i, r] of requests.entries()) {
        const want = explainRequest(spec, r, {});
        if (want.answer !== undefined) answered++;
        if (want.requestHeaders !== undefined || want.responseHeaders !== undefined) rewritten++;
        if (want.split?.stickyCookie !== undefined) issued++;
        if (want.split?.stickyCookie?.side != null) kept++;
        if (want.backendCookie !== undefined) serverCookies++;
        const got = observed[i];
        const why = got === undefined ? ['no answer'] : actionDisagreements(r, got, want);
        if (why.length > 0 && mismatches.length < 5) mismatches.push(`request ${JSON.stringify(r)}\n  ${why.join('\n  ')}\n  ${want.reasons.join('\n  ')}`);
      }
      if (mismatches.length > 0) {
        assert.fail(`seed ${seed} (reproduce: OLB_DIFF_SEED=${seed - 1000} OLB_DIFF_SETS=1 with the action test): haproxy and explain disagree\nroutes:\n${describeRoutes(ruleSet.routes)}\n${mismatches.join('\n')}\n--- haproxy.cfg frontend ---\n${config.slice(config.indexOf('frontend web'))}`);
      }
    });
  }
  // The generator must reach the new actions, not only forwarding.
  assert.ok(answered > sets * 5, `only ${answered} requests were redirects or fixed responses`);
  assert.ok(issued > sets, `only ${issued} requests reached a split with an issued cookie`);
  assert.ok(kept > 0, `no request carried a cookie that kept its side`);
  assert.ok(serverCookies > sets, `only ${serverCookies} requests reached a backend with a server cookie`);
  assert.ok(rewritten > sets * 5, `only ${rewritten} requests had header rewrites`);
});

void test('stickiness cookies issued by the load balancer: every cookie value on splits and on a backend with a server cookie, field by field (issue 21)', async (t) => {
  const signal = testSignal(60_000);
  const backends = await withBackends(t, signal);
  const routes: Route[] = [
    { name: 'a', conditions: [{ kind: 'path', match: { type: 'prefix', value: '/a' } }], action: { kind: 'split', sides: [{ backend: 'b0', weight: 50 }, { backend: 'b1', weight: 50 }], stickyCookie: { name: 'olb-sid', durationMs: 3_600_000, secure: true, httpOnly: true, sameSite: 'Lax' } } },
    { name: 'b', conditions: [{ kind: 'path', match: { type: 'prefix', value: '/b' } }], action: { kind: 'split', sides: [{ backend: 'b2', weight: 30 }, { backend: 'b5', weight: 70 }, { backend: 'b4', weight: 0 }], stickyCookie: { name: 'olb-sid-2', secure: false, httpOnly: false } } },
    { name: 'c', conditions: [{ kind: 'path', match: { type: 'prefix', value: '/c' } }], action: { kind: 'backend', backend: 'b5' } },
  ];
  const { spec, harness } = await startRuleSet(t, { routes, switches: [] }, backends, signal);
  const values = [undefined, 'b0', 'b1', 'b2', 'b4', 'b5', 'bdef', 'B0', '', 'x'];
  const requests: ExplainRequest[] = [];
  for (const path of ['/a', '/b', '/c', '/d']) {
    for (const name of ['olb-sid', 'olb-sid-2']) {
      for (const value of values) {
        for (const server of [undefined, 's1', 's2']) {
          const cookies = [...(value === undefined ? [] : [`${name}=${value}`]), ...(server === undefined ? [] : [`olb-srv-b5=${server}`])];
          requests.push({ method: 'GET', path, headers: [{ name: 'Host', value: 'x' }, ...(cookies.length === 0 ? [] : [{ name: 'Cookie', value: cookies.join('; ') }])], source: '127.0.0.1' });
        }
      }
    }
  }
  // The last occurrence counts, over several Cookie headers too.
  requests.push({ method: 'GET', path: '/a', headers: [{ name: 'Host', value: 'x' }, { name: 'Cookie', value: 'olb-sid=b0' }, { name: 'Cookie', value: 'olb-sid=b1' }], source: '127.0.0.1' });
  requests.push({ method: 'GET', path: '/a', headers: [{ name: 'Host', value: 'x' }, { name: 'Cookie', value: 'olb-sid=b1; olb-sid=zz' }], source: '127.0.0.1' });
  const observed = await mapLimit(requests, PARALLEL, (r) => harness.sendRaw(r));
  let kept = 0;
  let set = 0;
  for (const [i, r] of requests.entries()) {
    const want = explainRequest(spec, r, {});
    if (want.split?.stickyCookie?.side != null) kept++;
    if (want.split?.stickyCookie?.setCookie != null || want.backendCookie?.setCookie != null) set++;
    const got = observed[i];
    const why = got === undefined ? ['no answer'] : actionDisagreements(r, got, want);
    assert.deepEqual(why, [], `request ${JSON.stringify(r)}\n  ${want.reasons.join('\n  ')}`);
  }
  assert.ok(kept >= 12 && set >= 100, `kept ${kept}, set ${set}`);
});
