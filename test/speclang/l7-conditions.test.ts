/**
 * Query-string and cookie conditions (issue 21): what validate accepts, the model it produces and
 * the exact errors for values that can never match.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { routesSpec as withRoutes, specErrors as errors } from './invalid-cases.js';

void test('query and cookie conditions parse into the model, combined with the existing ones', () => {
  const r = parseSpec(
    withRoutes(`      - when: [{ query: Tag, exact: a%20b }, { cookie: Tier, prefix: go }, { header: X-A, present: true }, { path: { prefix: /api } }]
        backend: app-canary
      - { when: [{ query: debug, present: true }, { cookie: opt-out, absent: true }, { query: v, regex: "^[0-9]+$" }], backend: app }`),
    { file: 't.yaml' },
  );
  assert.equal(r.ok, true, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  if (!r.ok) return;
  const [a, b] = r.spec.frontends[0]?.routes ?? [];
  // Keys and cookie names keep their case (url_param and req.cook compare case-sensitively).
  assert.deepEqual(a?.conditions.slice(0, 2), [
    { kind: 'query', name: 'Tag', match: { type: 'exact', value: 'a%20b' } },
    { kind: 'cookie', name: 'Tier', match: { type: 'prefix', value: 'go' } },
  ]);
  assert.deepEqual(b?.conditions, [
    { kind: 'query', name: 'debug', match: { type: 'present' } },
    { kind: 'cookie', name: 'opt-out', match: { type: 'absent' } },
    { kind: 'query', name: 'v', match: { type: 'regex', value: '^[0-9]+$' } },
  ]);
});

void test('values a query or cookie never carries are errors naming the encoding to use', () => {
  assert.deepEqual(errors(withRoutes('      - { when: [{ query: q, exact: "a b" }], backend: app }')), [
    `t.yaml:15:37: frontends[0].routes[0].when[0].exact: query value "a b" can never match: a request never carries a space in its query string: write it as clients send it, %20 (or '+' from an HTML form) (values are compared as received, without percent-decoding)`,
  ]);
  assert.deepEqual(errors(withRoutes('      - { when: [{ query: q, prefix: "a&b" }], backend: app }')), [
    `t.yaml:15:38: frontends[0].routes[0].when[0].prefix: query value "a&b" can never match: '&' ends a parameter's value (HAProxy's url_param splits at '&', ';' and '?'), so no value contains it: write it as clients send it, %26 (values are compared as received, without percent-decoding)`,
  ]);
  assert.deepEqual(errors(withRoutes('      - { when: [{ cookie: c, exact: "a;b" }], backend: app }')), [
    `t.yaml:15:38: frontends[0].routes[0].when[0].exact: cookie value "a;b" can never match: a cookie value contains no ';' (it separates cookies or quotes a value): remove it`,
  ]);
  assert.deepEqual(errors(withRoutes('      - { when: [{ cookie: c, exact: " a" }], backend: app }')), [
    `t.yaml:15:38: frontends[0].routes[0].when[0].exact: cookie value " a" can never match: spaces around a cookie value are dropped: remove them`,
  ]);
});

void test('a query key outside the url_param alphabet, a match missing or doubled', () => {
  assert.deepEqual(errors(withRoutes('      - { when: [{ query: "a[]", present: true }], backend: app }')), [
    `t.yaml:15:27: frontends[0].routes[0].when[0].query: "a[]" is not a valid query-string key: use 1-128 of letters, digits, '_', '.', '~' and '-' (keys are compared as received, without percent-decoding)`,
  ]);
  assert.deepEqual(errors(withRoutes('      - { when: [{ cookie: c }], backend: app }')), [
    't.yaml:15:18: frontends[0].routes[0].when[0]: cookie condition on "c" needs one of exact, prefix, regex, present, absent',
  ]);
  assert.deepEqual(errors(withRoutes('      - { when: [{ query: q, exact: "1", present: true }], backend: app }')), [
    't.yaml:15:18: frontends[0].routes[0].when[0]: query condition on "q" takes exactly one of exact, prefix, regex, present, absent, found exact and present; keep one',
  ]);
  assert.deepEqual(errors(withRoutes('      - { when: [{ query: q, cookie: c, present: true }], backend: app }')), [
    't.yaml:15:18: frontends[0].routes[0].when[0]: a condition takes exactly one of header, host, path, method, source, query, cookie, found query and cookie; keep one',
  ]);
});
