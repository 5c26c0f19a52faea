/**
 * A backend's `drainTime` and `slowStart` (issue 15 item 5): defaults, normalization to the model
 * and the messages for bad values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import { formatDiagnostic } from '../../src/util/errors.js';
import { base } from './invalid-cases.js';

const backends = (extra: string): string => `backends:
  - name: app
    servers: [{ name: s1, address: 10.0.11.11, port: 8080 }]${extra}
  - name: app-canary
    servers: [{ name: c1, address: 10.0.11.21, port: 8080 }]`;

void test('drainTime defaults to 30s and slowStart to off; both take duration strings', () => {
  const r = parseSpec(base({ backends: backends('\n    drainTime: 5m\n    slowStart: 1500ms') }), { file: 't.yaml' });
  assert.ok(r.ok, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
  assert.deepEqual(r.spec.backends.map((b) => [b.name, b.drainMs, b.slowStartMs]), [
    ['app', 300_000, 1500],
    ['app-canary', 30_000, 0],
  ]);
});

void test('drainTime and slowStart: bad values are named with what is allowed', () => {
  const r = parseSpec(base({ backends: backends('\n    drainTime: 2 minutes\n    slowStart: 2h') }), { file: 't.yaml' });
  assert.equal(r.ok, false);
  assert.deepEqual(r.ok ? [] : r.diagnostics.map(formatDiagnostic), [
    't.yaml:17:16: backends[0].drainTime: "2 minutes" is not a duration: use a whole number with a unit ms, s, m or h, for example "500ms", "30s", "5m"',
    't.yaml:18:16: backends[0].slowStart: "2h" is out of range; allowed 0ms..1h',
  ]);
});
