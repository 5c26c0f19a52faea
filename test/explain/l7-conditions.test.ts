/** explain on query-string and cookie conditions (issue 21); HAProxy agrees in test/differential. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { explainRequest, queryParam, type ExplainRequest } from '../../src/model/explain.js';
import { route, routesSpec } from './model-builder.js';

const req = (path: string, cookie?: string): ExplainRequest => ({ method: 'GET', path, headers: cookie === undefined ? [] : [{ name: 'Cookie', value: cookie }], source: '10.0.0.1' });

void test('queryParam: first occurrence, & ; and ? separate, no decoding, key= empty, bare key absent', () => {
  assert.equal(queryParam('/?a=1&a=2', 'a'), '1');
  assert.equal(queryParam('/?b=1;a=2', 'a'), '2');
  assert.equal(queryParam('/?x=1?a=2', 'a'), '2');
  assert.equal(queryParam('/?a=b?c', 'a'), 'b');
  assert.equal(queryParam('/?a=x%20y+z', 'a'), 'x%20y+z');
  assert.equal(queryParam('/?a=', 'a'), '');
  assert.equal(queryParam('/?a&b=1', 'a'), undefined);
  assert.equal(queryParam('/?A=1', 'a'), undefined);
  assert.equal(queryParam('/p;a=1', 'a'), undefined);
  assert.equal(queryParam('/?b=a=1', 'a'), undefined);
  assert.equal(queryParam('/?a=1=2', 'a'), '1=2');
});

void test('query and cookie conditions: operators, absent/present, combined with a path', () => {
  const s = routesSpec([
    route('enc', [{ kind: 'query', name: 'q', match: { type: 'exact', value: '%41' } }], 'b-enc'),
    route('plain', [{ kind: 'query', name: 'q', match: { type: 'exact', value: 'A' } }], 'b-plain'),
    route('gold', [{ kind: 'cookie', name: 'tier', match: { type: 'prefix', value: 'go' } }, { kind: 'path', match: { type: 'prefix', value: '/shop' } }], 'b-gold'),
    route('debug', [{ kind: 'query', name: 'debug', match: { type: 'present' } }, { kind: 'cookie', name: 'opt', match: { type: 'absent' } }], 'b-debug'),
    route('num', [{ kind: 'query', name: 'v', match: { type: 'regex', value: '^[0-9]+$' } }], 'b-num'),
  ]);
  const backend = (r: ExplainRequest): string | null => explainRequest(s, r, {}).backend;
  assert.equal(backend(req('/?q=%41')), 'b-enc');
  assert.equal(backend(req('/?q=A')), 'b-plain');
  assert.equal(backend(req('/shop/x', 'tier=gold')), 'b-gold');
  assert.equal(backend(req('/other', 'tier=gold')), 'default');
  // The last occurrence of a cookie counts, as req.cook.
  assert.equal(backend(req('/shop', 'tier=gold; tier=silver')), 'default');
  assert.equal(backend(req('/?debug=')), 'b-debug');
  assert.equal(backend(req('/?debug')), 'default');
  assert.equal(backend(req('/?debug=1', 'opt=1')), 'default');
  assert.equal(backend(req('/?v=12&v=x')), 'b-num');
  assert.equal(backend(req('/?v=x&v=12')), 'default');
  const r = explainRequest(s, req('/?debug=1', 'opt=1'), {});
  assert.ok(r.reasons.includes('route 4 "debug": no match: cookie opt absent: cookie is present ("1")'), r.reasons.join('\n'));
  assert.ok(r.reasons.includes('route 1 "enc": no match: query q exact "%41": parameter is absent'), r.reasons.join('\n'));
});
