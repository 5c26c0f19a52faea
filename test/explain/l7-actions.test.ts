/** explain on redirects, fixed responses, header rewrites and timeouts (issue 21). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainRequest, type ExplainRequest } from '../../src/model/explain.js';
import type { Redirect, Route } from '../../src/model/spec.js';
import { routesSpec } from './model-builder.js';

const req = (path: string, host?: string, extra: Partial<ExplainRequest> = {}): ExplainRequest => ({ method: 'GET', path, headers: host === undefined ? [] : [{ name: 'Host', value: host }], source: '10.0.0.7', ...extra });
const redirectRoute = (redirect: Redirect): Route => ({ name: 'r', conditions: [], action: { kind: 'redirect', redirect } });
const location = (redirect: Redirect, r: ExplainRequest): string | undefined => {
  const a = explainRequest(routesSpec([redirectRoute(redirect)]), r, {}).answer;
  return a?.kind === 'redirect' ? a.location : undefined;
};

void test('redirect: original parts kept unless replaced; the port follows the scheme', () => {
  const r = req('/a/b?x=1', 'Shop.test:8080');
  assert.equal(location({ status: 302 }, r), 'http://Shop.test:8080/a/b?x=1');
  assert.equal(location({ status: 302 }, { ...r, tls: true }), 'https://Shop.test:8080/a/b?x=1');
  // redirect: https drops the original port (the new scheme's default).
  assert.equal(location({ scheme: 'https', status: 301 }, r), 'https://Shop.test/a/b?x=1');
  assert.equal(location({ scheme: 'https', port: 443, status: 301 }, r), 'https://Shop.test/a/b?x=1');
  assert.equal(location({ scheme: 'https', port: 8443, status: 301 }, r), 'https://Shop.test:8443/a/b?x=1');
  assert.equal(location({ port: 80, status: 301 }, r), 'http://Shop.test:80/a/b?x=1');
  assert.equal(location({ host: 'new.example', status: 307 }, r), 'http://new.example/a/b?x=1');
  assert.equal(location({ path: '/n', query: '', status: 308 }, r), 'http://Shop.test:8080/n');
  assert.equal(location({ query: 'y=2', status: 303 }, req('/p', 'h')), 'http://h/p?y=2');
  assert.equal(location({ status: 302 }, req('/p?', 'h')), 'http://h/p');
  // A byte outside printable ASCII from the request is written %XX, as HAProxy's log format does.
  assert.equal(location({ scheme: 'https', status: 301 }, req('/a%\u007f"', 'h')), 'https://h/a%%7F"');
  // Without a Host header HAProxy writes the host as nothing.
  assert.equal(location({ scheme: 'https', status: 301 }, req('/p')), 'https:///p');
  const result = explainRequest(routesSpec([redirectRoute({ scheme: 'https', status: 301 })]), r, {});
  assert.equal(result.backend, null);
  assert.deepEqual(result.answer, { kind: 'redirect', status: 301, location: 'https://Shop.test/a/b?x=1' });
});

void test('fixed response, rewrites with variables, timeout', () => {
  const s = routesSpec([
    { name: 'down', conditions: [{ kind: 'path', match: { type: 'prefix', value: '/down' } }], action: { kind: 'respond', respond: { status: 503, contentType: 'text/plain', body: { kind: 'text', text: 'later' } } }, responseHeaders: { remove: [], set: [{ name: 'retry-after', value: '60' }], add: [] } },
    {
      name: 'app',
      conditions: [],
      action: { kind: 'backend', backend: 'app' },
      requestHeaders: { remove: ['x-debug'], set: [{ name: 'x-client', value: '${client_ip}:${client_port} ${method} ${host}${path}?${query} ${scheme} 100%' }], add: [{ name: 'x-via', value: 'lb' }] },
      timeoutMs: 90_000,
    },
  ]);
  const down = explainRequest(s, req('/down'), {});
  assert.deepEqual(down.answer, { kind: 'respond', status: 503, contentType: 'text/plain', body: 'later' });
  assert.deepEqual(down.responseHeaders, [{ op: 'set', name: 'retry-after', value: '60' }]);
  const app = explainRequest(s, req('/x?a=1', 'h.test', { sourcePort: 40000 }), {});
  assert.equal(app.backend, 'app');
  assert.deepEqual(app.requestHeaders, [
    { op: 'remove', name: 'x-debug' },
    { op: 'set', name: 'x-client', value: '10.0.0.7:40000 GET h.test/x?a=1 http 100%' },
    { op: 'add', name: 'x-via', value: 'lb' },
  ]);
  assert.equal(app.timeoutMs, 90_000);
  assert.ok(app.reasons.includes('timeout: the backend has 90000 ms to answer'), app.reasons.join('\n'));
});
