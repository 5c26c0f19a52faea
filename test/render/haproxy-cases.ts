/**
 * Golden cases of the HAProxy renderer, as model objects (built with the test builders).
 * The demo case mirrors examples/demo.yaml.
 */
import type { Spec } from '../../src/model/spec.js';
import {
  headerExact, headerPrefix, headerPresent, headerAbsent, headerRegex, hostExact, hostSuffix, makeAdmin, makeBackend, makeFrontend, makeServer, makeSpec,
  makeSwitch, method, pathExact, pathPrefix, pathRegex, route, source, to, toSplit, toSwitch,
} from '../helpers/model-builders.js';

export interface GoldenCase {
  readonly name: string;
  readonly node: string;
  readonly spec: Spec;
}

/** A self-contained backend set for cases: app, canary, api. */
const basicBackends = [
  makeBackend('app', { servers: [makeServer('s1', '10.0.11.11', 8080), makeServer('s2', '10.0.12.11', 8080)] }),
  makeBackend('canary', { servers: [makeServer('c1', '10.0.11.21', 8080)] }),
  makeBackend('api', { servers: [makeServer('a1', '10.0.11.31', 8080)] }),
];

function demo(): Spec {
  const http2s = { type: 'http' as const, path: '/healthz', expectStatus: [[200, 399]] as const, intervalMs: 2000, rise: 2, fall: 3 };
  return makeSpec({
    cluster: { ...makeSpec().cluster, peerCidrs: ['10.1.0.0/16'] },
    frontends: [
      makeFrontend('web', {
        timeouts: { clientMs: 30000, httpRequestMs: 10000, httpKeepAliveMs: 10000 },
        requestId: { header: 'x-request-id' },
        defaultBackend: 'app-stable',
        routes: [
          route('canary-header', [headerExact('x-canary', '1')], to('app-canary')),
          route('api-v2', [pathPrefix('/api/v2/'), method('GET', 'HEAD')], to('api-v2')),
          route('internal-only', [hostExact('admin.demo.internal'), source('10.0.0.0/16')], to('app-stable')),
          route('checkout', [pathPrefix('/checkout')], toSwitch('checkout')),
          route('gradual-rollout', [headerPresent('x-beta')], toSplit([['app-stable', 95], ['app-canary', 5]], { kind: 'cookie', name: 'session' })),
        ],
      }),
    ],
    switches: [makeSwitch('checkout', { blue: 'checkout-blue', green: 'checkout-green' }, 'blue')],
    backends: [
      makeBackend('app-stable', { healthCheck: http2s, spareSlots: 4, servers: [makeServer('s1', '10.0.11.11', 8080), makeServer('s2', '10.0.12.11', 8080)] }),
      makeBackend('app-canary', { servers: [makeServer('c1', '10.0.11.21', 8080)] }),
      makeBackend('api-v2', { balance: { kind: 'leastconn' }, servers: [makeServer('a1', '10.0.11.31', 8080), makeServer('a2', '10.0.12.31', 8080, { backup: true })] }),
      makeBackend('checkout-blue', { servers: [makeServer('b1', '10.0.11.41', 8080)] }),
      makeBackend('checkout-green', { servers: [makeServer('g1', '10.0.12.41', 8080)] }),
    ],
  });
}

function tcp(): Spec {
  return makeSpec({
    frontends: [
      makeFrontend('pg', {
        mode: 'tcp',
        binds: [{ address: 'vip', port: 5432 }],
        accessLog: { enabled: true, format: 'json' },
        maxconn: 2000,
        defaultBackend: 'pg-primary',
        routes: [
          route('office', [source('10.1.0.0/16', '10.2.0.0/16')], to('pg-replica')),
          route('spread', [source('10.3.0.0/16')], toSplit([['pg-primary', 50], ['pg-replica', 50]])),
        ],
      }),
    ],
    backends: [
      makeBackend('pg-primary', { mode: 'tcp', healthCheck: { type: 'tcp', intervalMs: 1000, rise: 2, fall: 2 }, servers: [makeServer('p1', '10.0.11.5', 5432)] }),
      makeBackend('pg-replica', { mode: 'tcp', balance: { kind: 'source' }, healthCheck: { type: 'tcp', intervalMs: 1500, rise: 3, fall: 2 }, servers: [makeServer('r1', '10.0.12.5', 5432), makeServer('r2', '10.0.13.5', 5432)] }),
    ],
  });
}

function tls(): Spec {
  return makeSpec({
    frontends: [
      makeFrontend('web', {
        binds: [
          { address: 'vip', port: 80 },
          { address: 'vip', port: 443, tls: { certificates: ['/etc/overlay-lb/tls/web.pem', '/etc/overlay-lb/tls/api.pem'], minVersion: 'TLSv1.2', alpn: ['h2', 'http/1.1'] } },
          { address: 'node', port: 8443, tls: { certificates: ['/etc/overlay-lb/tls/web.pem'], minVersion: 'TLSv1.3', alpn: [] } },
        ],
        accessLog: { enabled: true, format: 'json' },
        requestId: { header: 'x-request-id' },
        routes: [route('api', [hostSuffix('.api.example.com')], to('api'))],
      }),
    ],
    backends: basicBackends,
  });
}

function maps(): Spec {
  return makeSpec({
    frontends: [
      makeFrontend('web', {
        routes: [
          // header exact run (tenants), with a duplicate key (first wins)
          route('t1', [headerExact('x-tenant', 'acme')], to('canary')),
          route('t2', [headerExact('x-tenant', 'globex')], to('api')),
          route('t3', [headerExact('x-tenant', 'acme')], to('app')),
          // a different header name ends the run; a value with a space cannot be a map key
          route('t4', [headerExact('x-team', 'red team')], to('api')),
          route('t5', [headerExact('x-team', 'blue')], to('canary')),
          route('t6', [headerExact('x-team', 'green')], to('api')),
          route('t7', [headerExact('x-team', '#hash')], to('api')),
          // header prefix run
          route('v1', [headerPrefix('x-version', '1.')], to('app')),
          route('v2', [headerPrefix('x-version', '2.')], to('canary')),
          route('v3', [headerPrefix('x-version', '1.5')], to('api')),
          // host exact run
          route('h1', [hostExact('a.example.com')], to('app')),
          route('h2', [hostExact('b.example.com')], to('api')),
          // path exact then path prefix runs, with shadowing
          route('p1', [pathExact('/login')], to('app')),
          route('p2', [pathExact('/logout')], to('app')),
          route('pp1', [pathPrefix('/api/')], to('api')),
          route('pp2', [pathPrefix('/static/')], to('canary')),
          route('pp3', [pathPrefix('/api/v2/')], to('canary')),
          // source run, with a shadowed CIDR
          route('s1', [source('10.1.0.0/16')], to('api')),
          route('s2', [source('10.2.0.0/16', '10.3.0.0/24')], to('canary')),
          route('s3', [source('10.1.2.0/24')], to('app')),
          // inline shapes
          route('r1', [headerRegex('user-agent', '^curl/[0-9]+')], to('canary')),
          route('r2', [pathRegex('\\.php$')], to('api')),
          route('r3', [headerAbsent('cookie'), method('POST')], to('api')),
          route('r4', [headerExact('x-odd', '-i')], to('api')),
        ],
      }),
    ],
    backends: basicBackends,
  });
}

function split(): Spec {
  return makeSpec({
    frontends: [
      makeFrontend('web', {
        routes: [
          route('by-user', [pathPrefix('/shop/')], toSplit([['app', 90], ['canary', 10]], { kind: 'header', name: 'x-user-id' })),
          route('by-session', [], toSplit([['app', 70], ['canary', 0], ['api', 30]], { kind: 'cookie', name: 'session' })),
        ],
      }),
    ],
    backends: basicBackends,
  });
}

/** LB-issued stickiness cookies (issue 21): a split's (map + http-response Set-Cookie) and a backend's (cookie insert). */
function stickyCookie(): Spec {
  const [app, canary, api] = basicBackends;
  return makeSpec({
    frontends: [
      makeFrontend('web', {
        routes: [
          route('canary', [pathPrefix('/shop/')], { kind: 'split', sides: [{ backend: 'app', weight: 90 }, { backend: 'canary', weight: 10 }, { backend: 'api', weight: 0 }], stickyCookie: { name: 'olb-web', durationMs: 86_400_000, secure: true, httpOnly: true, sameSite: 'Lax' } }),
          route('session', [], { kind: 'split', sides: [{ backend: 'app', weight: 50 }, { backend: 'canary', weight: 50 }], stickyCookie: { name: 'olb-s', secure: false, httpOnly: false } }),
        ],
      }),
    ],
    backends: [...(app === undefined ? [] : [{ ...app, spareSlots: 1, stickyCookie: { name: 'SRV', durationMs: 1_800_000, secure: true, httpOnly: true, sameSite: 'None' as const } }]), ...(canary === undefined ? [] : [canary]), ...(api === undefined ? [] : [api])],
  });
}

function switches(): Spec {
  return makeSpec({
    frontends: [
      makeFrontend('web', {
        routes: [route('checkout', [pathPrefix('/checkout')], toSwitch('checkout')), route('search', [hostExact('search.example.com')], toSwitch('search'))],
      }),
    ],
    switches: [makeSwitch('checkout', { blue: 'app', green: 'canary' }, 'green'), makeSwitch('search', { old: 'api', new: 'canary' }, 'old')],
    backends: basicBackends,
  });
}

function discovery(): Spec {
  return makeSpec({
    frontends: [makeFrontend('web', { defaultBackend: 'svc' })],
    discovery: [{ name: 'svc-dns', type: 'dns', query: 'svc.internal', recordType: 'A', port: 8080 }],
    backends: [
      makeBackend('svc', {
        discovery: { source: 'svc-dns' },
        spareSlots: 8,
        serverMaxconn: 200,
        balance: { kind: 'header', name: 'x-user-id' },
        healthCheck: { type: 'http', path: '/ready', host: 'svc.internal', expectStatus: [[200, 299], [304, 304]], intervalMs: 500, rise: 1, fall: 2 },
        timeouts: { connectMs: 1500, serverMs: 60000, queueMs: 2500 },
        retries: 2,
        redispatch: false,
      }),
    ],
  });
}

function adminNodeAuth(): Spec {
  return makeSpec({
    admin: makeAdmin({
      stats: { enabled: true, bind: 'node', port: 9000, auth: { user: 'ops', passwordHash: '$6$olbtestsalt$RSMqt7f6mWVcJPoGIngeyuSOpU3P3O5Bf1pBwdtXgZEvBSHAiF3oJV/ab6o6co1YPIRh9qjNfkCtJoHV2qUU4.' } },
      health: { bind: 'node', port: 9001, path: '/olb/health' },
    }),
    frontends: [
      makeFrontend('web', {
        binds: [{ address: 'node', port: 8080 }],
        accessLog: { enabled: true, format: 'custom', custom: '%ci:%cp [%tr] %ft %b/%s %ST %B "%HM %HP"' },
        forwardedFor: false,
      }),
      makeFrontend('quiet', { binds: [{ address: '127.0.0.1', port: 8081 }], accessLog: { enabled: false }, defaultBackend: 'api' }),
    ],
    backends: basicBackends,
  });
}

function threeNodes(): Spec {
  return makeSpec({
    nodeCount: 3,
    admin: makeAdmin({ stats: { enabled: false, bind: 'localhost', port: 8404 } }),
    frontends: [makeFrontend('web', { binds: [{ address: 'vip', port: 80 }, { address: 'node', port: 80 }], routes: [route('beta', [headerPresent('x-beta')], to('canary'))] })],
    backends: basicBackends,
  });
}

export const GOLDEN_CASES: readonly GoldenCase[] = [
  { name: 'demo', node: 'lb-a', spec: demo() },
  { name: 'tcp', node: 'lb-a', spec: tcp() },
  { name: 'tls', node: 'lb-b', spec: tls() },
  { name: 'maps', node: 'lb-a', spec: maps() },
  { name: 'split-sticky', node: 'lb-a', spec: split() },
  { name: 'sticky-cookie', node: 'lb-a', spec: stickyCookie() },
  { name: 'switch', node: 'lb-a', spec: switches() },
  { name: 'discovery', node: 'lb-a', spec: discovery() },
  { name: 'admin-node-auth', node: 'lb-b', spec: adminNodeAuth() },
  { name: 'three-nodes', node: 'lb-c', spec: threeNodes() },
];
