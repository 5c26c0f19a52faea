/**
 * LB-issued stickiness cookies (issue 21 item 3): `stickyCookie` on a split and on a backend,
 * the model validate produces and the exact errors (each names the value, what is allowed and
 * the fix).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { base, routesSpec, specErrors as errors } from './invalid-cases.js';

const SPLIT = 'split: [{ backend: app, weight: 90 }, { backend: app-canary, weight: 10 }]';

/** The base spec's backends, the first with `extra` lines after its servers. */
function backendsSpec(extra: string, mode = ''): string {
  return base({
    backends: `backends:
  - name: app${mode}
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]
${extra}
  - name: app-canary
    servers: [{ name: c1, address: 10.0.11.21, port: 8080 }]`,
  });
}

void test('stickyCookie on a split and on a backend parse into the model, with defaults', () => {
  const r = parseSpec(
    backendsSpec('    stickyCookie: { name: SRV, duration: 30m, secure: true, httpOnly: false, sameSite: None }').replace(
      '    defaultBackend: app\n',
      `    defaultBackend: app\n    routes:\n      - { ${SPLIT}, stickyCookie: { name: olb-web, duration: 168h } }\n      - { when: [{ path: { prefix: /s } }], ${SPLIT}, stickyCookie: { name: olb.s_2, sameSite: Strict } }\n`,
    ),
    { file: 't.yaml' },
  );
  assert.equal(r.ok, true, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  if (!r.ok) return;
  const routes = r.spec.frontends[0]?.routes ?? [];
  assert.deepEqual(routes[0]?.action, { kind: 'split', sides: [{ backend: 'app', weight: 90 }, { backend: 'app-canary', weight: 10 }], stickyCookie: { name: 'olb-web', durationMs: 604_800_000, secure: false, httpOnly: true } });
  assert.deepEqual(routes[1]?.action.kind === 'split' ? routes[1].action.stickyCookie : undefined, { name: 'olb.s_2', secure: false, httpOnly: true, sameSite: 'Strict' });
  assert.deepEqual(r.spec.backends[0]?.stickyCookie, { name: 'SRV', durationMs: 1_800_000, secure: true, httpOnly: false, sameSite: 'None' });
  assert.equal(r.spec.backends[1]?.stickyCookie, undefined);
});

void test('a cookie name that is no token is refused with what is allowed and a fixed name', () => {
  const at = (name: string): string[] => errors(routesSpec(`      - { ${SPLIT}, stickyCookie: { name: ${JSON.stringify(name)} } }`));
  const allowed = "a stickiness cookie name is 1-128 of letters, digits, '_', '.' and '-', starting with a letter or digit (';', '=', ',', spaces and quotes would end the name or add an attribute)";
  assert.deepEqual(at('a;b'), [`t.yaml:15:109: frontends[0].routes[0].stickyCookie.name: cookie name "a;b" cannot be issued: it contains ";" at position 2; ${allowed}: for example "a-b"`]);
  assert.deepEqual(at('sid=1'), [`t.yaml:15:109: frontends[0].routes[0].stickyCookie.name: cookie name "sid=1" cannot be issued: it contains "=" at position 4; ${allowed}: for example "sid-1"`]);
  assert.deepEqual(at('my cookie'), [`t.yaml:15:109: frontends[0].routes[0].stickyCookie.name: cookie name "my cookie" cannot be issued: it contains " " at position 3; ${allowed}: for example "my-cookie"`]);
  assert.deepEqual(at('_x'), [`t.yaml:15:109: frontends[0].routes[0].stickyCookie.name: cookie name "_x" cannot be issued: it does not start with a letter or digit; ${allowed}: for example "x"`]);
  assert.deepEqual(at(''), [`t.yaml:15:109: frontends[0].routes[0].stickyCookie.name: cookie name "" cannot be issued: it is empty; ${allowed}: for example "olb-web"`]);
  const crlf = at('a\r\nSet-Cookie: x=1');
  assert.equal(crlf.length, 1);
  assert.match(crlf[0] ?? '', /stickyCookie\.name: "a\\r\\nSet-Cookie: x=1" contains the character \\r at position 2; only printable ASCII/);
  assert.match(at('x'.repeat(129))[0] ?? '', /cookie name "x{129}" cannot be issued: it is 129 characters long;/);
});

void test('duration, sameSite and where stickyCookie may stand', () => {
  const split = (cookie: string): string[] => errors(routesSpec(`      - { ${SPLIT}, stickyCookie: ${cookie} }`));
  assert.deepEqual(split('{ name: c, duration: 1500ms }'), ['t.yaml:15:122: frontends[0].routes[0].stickyCookie.duration: "1500ms" is not a multiple of 1000ms (the cookie\'s Max-Age is in whole seconds, at most 7 days (168h)); use 1s..168h in steps of 1000ms, for example "2000ms"']);
  assert.deepEqual(split('{ name: c, duration: 169h }'), ['t.yaml:15:122: frontends[0].routes[0].stickyCookie.duration: "169h" is out of range; allowed 1s..168h (the cookie\'s Max-Age is in whole seconds, at most 7 days (168h))']);
  assert.deepEqual(split('{ name: c, sameSite: None }'), ['t.yaml:15:122: frontends[0].routes[0].stickyCookie.sameSite: sameSite None needs secure: true (browsers drop a SameSite=None cookie without Secure); add secure: true or use sameSite: Lax']);
  assert.equal(split('{ name: c, sameSite: lax }').length, 1);
  assert.match(split('{ name: c, sameSite: lax }')[0] ?? '', /stickyCookie\.sameSite: .*"lax".*Strict, Lax, None/);
  assert.deepEqual(errors(routesSpec('      - { backend: app, stickyCookie: { name: c } }')), [
    "t.yaml:15:39: frontends[0].routes[0].stickyCookie: stickyCookie keeps a client on one side of a split; this route's action is backend: remove it, or put stickyCookie on the backend to keep clients on one of its servers",
  ]);
  assert.deepEqual(errors(routesSpec(`      - { ${SPLIT}, sticky: { header: X-User }, stickyCookie: { name: c } }`)), [
    "t.yaml:15:129: frontends[0].routes[0].stickyCookie: a split is sticky either by the client's own key (sticky) or by a cookie the load balancer issues (stickyCookie), not both: keep one",
  ]);
  assert.deepEqual(errors(backendsSpec('    stickyCookie: { name: c }', '\n    mode: tcp').replace('defaultBackend: app', 'defaultBackend: app-canary')), [
    't.yaml:18:19: backends[0].stickyCookie: backend "app" is tcp and a cookie needs HTTP: remove stickyCookie, set mode: http, or use balance: source',
  ]);
});

void test('two places issuing one cookie name: SPEC_COOKIE_CLASH naming the other place', () => {
  const yaml = backendsSpec('    stickyCookie: { name: olb-web }').replace('    defaultBackend: app\n', `    defaultBackend: app\n    routes:\n      - { ${SPLIT}, stickyCookie: { name: olb-web } }\n`);
  const r = parseSpec(yaml, { file: 't.yaml' });
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.deepEqual(r.diagnostics.map((d) => d.code), ['SPEC_COOKIE_CLASH']);
  assert.deepEqual(r.diagnostics.map(formatDiagnostic), [
    't.yaml:19:27: backends[0].stickyCookie.name: the load balancer already issues the cookie "olb-web" at frontends[0].routes[0].stickyCookie; each stickiness cookie needs its own name, or one would overwrite the other in the client: rename one, for example "olb-web-2"',
  ]);
  // Case matters in cookie names: OLB-WEB is another cookie.
  assert.deepEqual(errors(yaml.replace('{ name: olb-web }\n  - name: app-canary', '{ name: OLB-WEB }\n  - name: app-canary')), []);
});
