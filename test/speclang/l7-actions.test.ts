/**
 * Redirects, fixed responses, header rewrites and per-route timeouts (issue 21): the model
 * validate produces and the exact errors.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { routesSpec as withRoutes, specErrors as errors } from './invalid-cases.js';

void test('redirect, fixed response, rewrites and timeout parse into the model', () => {
  const r = parseSpec(
    withRoutes(`      - redirect: https
      - { when: [{ path: { prefix: /old } }], redirect: { host: New.Example.com, path: /new, query: "", status: 308 } }
      - { when: [{ path: { exact: /down } }], respond: { status: 503, body: "<h1>later</h1>" }, responseHeaders: { set: { Retry-After: "60" } } }
      - { when: [{ path: { exact: /teapot } }], respond: { status: 418, bodyFile: /etc/overlay-lb/teapot.html, contentType: text/html } }
      - when: [{ query: v, exact: "2" }]
        backend: app-canary
        requestHeaders: { set: { X-Client: "\${client_ip}" }, add: { X-Via: lb }, remove: [X-Debug] }
        timeout: 90s`),
    { file: 't.yaml' },
  );
  assert.equal(r.ok, true, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  if (!r.ok) return;
  const routes = r.spec.frontends[0]?.routes ?? [];
  assert.deepEqual(routes[0]?.action, { kind: 'redirect', redirect: { scheme: 'https', status: 301 } });
  assert.deepEqual(routes[1]?.action, { kind: 'redirect', redirect: { host: 'new.example.com', path: '/new', query: '', status: 308 } });
  assert.deepEqual(routes[2]?.action, { kind: 'respond', respond: { status: 503, contentType: 'text/plain', body: { kind: 'text', text: '<h1>later</h1>' } } });
  assert.deepEqual(routes[2]?.responseHeaders, { remove: [], set: [{ name: 'retry-after', value: '60' }], add: [] });
  assert.deepEqual(routes[3]?.action, { kind: 'respond', respond: { status: 418, contentType: 'text/html', body: { kind: 'file', path: '/etc/overlay-lb/teapot.html' } } });
  assert.deepEqual(routes[4]?.requestHeaders, { remove: ['x-debug'], set: [{ name: 'x-client', value: '${client_ip}' }], add: [{ name: 'x-via', value: 'lb' }] });
  assert.equal(routes[4]?.timeoutMs, 90_000);
});

void test('what can break a message or inject a directive is refused with the fix', () => {
  assert.deepEqual(errors(withRoutes('      - { backend: app, requestHeaders: { set: { Content-Length: "0" } } }')), [
    't.yaml:15:50: frontends[0].routes[0].requestHeaders.set.Content-Length: header "Content-Length" frames the HTTP message or the connection, and overlay-lb never rewrites it (content-length, transfer-encoding, connection, keep-alive, upgrade, te, trailer, proxy-connection): remove this rewrite',
  ]);
  assert.deepEqual(errors(withRoutes('      - { backend: app, requestHeaders: { add: { X-A: "${cookie}" } } }')), [
    't.yaml:15:55: frontends[0].routes[0].requestHeaders.add.X-A: header value "${cookie}" uses the unknown variable ${cookie}; known: ${client_ip}, ${client_port}, ${host}, ${method}, ${path}, ${query}, ${scheme}',
  ]);
  assert.deepEqual(errors(withRoutes('      - { backend: app, responseHeaders: { add: { X-A: "a\'b" } } }')), [
    `t.yaml:15:56: frontends[0].routes[0].responseHeaders.add.X-A: "a'b" contains a single quote ('), which cannot be placed inside the single-quoted strings of haproxy.cfg: remove it (in a regex, match it with .)`,
  ]);
  assert.deepEqual(errors(withRoutes('      - { respond: { status: 204, body: x } }')), [
    't.yaml:15:30: frontends[0].routes[0].respond.status: status 204 has no body; remove body/bodyFile or use 200',
  ]);
  assert.deepEqual(errors(withRoutes(`      - { respond: { status: 200, body: "${'x'.repeat(4097)}" } }`)), [
    't.yaml:15:41: frontends[0].routes[0].respond.body: the body is 4097 characters long; at most 4096 are allowed in the spec: shorten it or use bodyFile',
  ]);
  assert.deepEqual(errors(withRoutes('      - { redirect: { status: 304 } }')), [
    't.yaml:15:31: frontends[0].routes[0].redirect.status: 304 is not a redirect status; allowed 301, 302, 303, 307, 308 (default 302)',
  ]);
  assert.deepEqual(errors(withRoutes('      - { redirect: https, timeout: 5s }')), [
    't.yaml:15:37: frontends[0].routes[0].timeout: timeout applies to a route that forwards; a redirect is answered by the load balancer itself: remove it',
  ]);
  assert.deepEqual(errors(withRoutes('      - { redirect: { query: "?a=1" } }')), [
    "t.yaml:15:30: frontends[0].routes[0].redirect.query: redirect query \"?a=1\" contains '?', which a query string cannot hold as is: percent-encode it (%3F), and leave out the leading '?'",
  ]);
});
