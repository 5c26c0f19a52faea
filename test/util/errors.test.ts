import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { test } from 'node:test';
import { ERROR_CODES, SpecInvalidError, UserError, formatDiagnostic } from '../../src/util/errors.js';

void test('docs/errors.md has one "## CODE" section per registered code, and no other', async () => {
  const doc = await readFile(new URL('../../../docs/errors.md', import.meta.url), 'utf8');
  const documented = [...doc.matchAll(/^## (\S+)\s*$/gm)].map((m) => m[1]!);
  const registered = Object.keys(ERROR_CODES);
  assert.deepEqual(documented.filter((c) => !registered.includes(c)), [], 'documented but not in ERROR_CODES');
  assert.deepEqual(registered.filter((c) => !documented.includes(c)), [], 'in ERROR_CODES but not documented in docs/errors.md');
  assert.equal(new Set(documented).size, documented.length, 'a code is documented twice');
});

void test('errors take fault and retryability from the registry; SpecInvalidError lists every diagnostic', () => {
  const e = new UserError('FILE_READ', 'cannot read x');
  assert.deepEqual([e.code, e.fault, e.retryable, e.name], ['FILE_READ', 'user', false, 'UserError']);
  const d = { code: 'SPEC_REFERENCE' as const, message: 'a: unknown backend "b"', path: ['a'], file: 's.yaml', line: 3, col: 7 };
  const s = new SpecInvalidError([d, { ...d, line: 4 }]);
  assert.equal(formatDiagnostic(d), 's.yaml:3:7: a: unknown backend "b"');
  assert.equal(s.code, 'SPEC_REFERENCE');
  assert.equal(s.message, 'spec is invalid (2 errors):\ns.yaml:3:7: a: unknown backend "b"\ns.yaml:4:7: a: unknown backend "b"');
});
