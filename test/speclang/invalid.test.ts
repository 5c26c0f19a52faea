/** Runs the table of invalid specs in invalid-cases.ts: exact `file:line:col: message` lines. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSpec } from '../../src/speclang/parse.js';
import { ERROR_CODES, formatDiagnostic } from '../../src/util/errors.js';
import { CASES, base } from './invalid-cases.js';

void test('the base spec of the table is valid', () => {
  const r = parseSpec(base(), { file: 't.yaml' });
  assert.equal(r.ok, true, r.ok ? '' : r.diagnostics.map(formatDiagnostic).join('\n'));
});

for (const c of CASES.slice(1)) {
  void test(`invalid spec: ${c.name}`, () => {
    const r = parseSpec(c.yaml, { file: 't.yaml' });
    assert.equal(r.ok, false, 'expected the spec to be rejected');
    if (r.ok) return;
    assert.deepEqual(r.diagnostics.map(formatDiagnostic), c.expected);
    for (const d of r.diagnostics) {
      assert.ok(d.code in ERROR_CODES, `unregistered code ${d.code}`);
      assert.ok(d.line >= 1 && d.col >= 1, `position of ${formatDiagnostic(d)}`);
    }
  });
}

void test('the table holds at least 35 distinct invalid specs', () => {
  const invalid = CASES.slice(1);
  assert.ok(invalid.length >= 35, `only ${invalid.length} cases`);
  assert.equal(new Set(invalid.map((c) => c.yaml)).size, invalid.length, 'two cases share the same YAML');
});
