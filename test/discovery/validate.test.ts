import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateSnapshot } from '../../src/discovery/validate.js';

void test('valid lists come back sorted and normalized', () => {
  const r = validateSnapshot([{ address: '10.0.0.2', port: 80, weight: 5 }, { address: 'FE80::1', port: 81, name: 'a-1' }, { address: '10.0.0.1', port: 80 }]);
  assert.ok(r.ok);
  assert.deepEqual(r.servers, [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 80, weight: 5 }, { address: 'fe80::1', port: 81, name: 'a-1' }]);
});

void test('each kind of bad data rejects the whole list with a message naming it (table)', () => {
  const rows: { raw: unknown; message: string; max?: number }[] = [
    { raw: { address: '10.0.0.1' }, message: 'discovery data rejected (1 problem): the list ("object") expected a list of {address, port, weight?, name?}' },
    { raw: [{ address: 'web-1.internal', port: 80 }], message: 'discovery data rejected (1 problem): entry 0 field address ("web-1.internal") must be an IPv4 or IPv6 address literal (host names are not resolved)' },
    { raw: [{ address: '10.0.0.1', port: 70000 }], message: 'discovery data rejected (1 problem): entry 0 field port (70000) must be an integer from 1 to 65535' },
    { raw: [{ address: '10.0.0.1', port: 80, weight: 300 }], message: 'discovery data rejected (1 problem): entry 0 field weight (300) must be an integer from 0 to 256' },
    { raw: [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.1', port: 80 }], message: 'discovery data rejected (1 problem): entry 1 field address ("10.0.0.1:80") duplicates entry 0; each address:port may appear once' },
    { raw: [{ address: '10.0.0.1', port: 80, name: 'bad name' }], message: 'discovery data rejected (1 problem): entry 0 field name ("bad name") must be 1-64 characters of A-Z a-z 0-9 . _ : -' },
    { raw: [{ address: '10.0.0.1', port: 80, colour: 'red' }], message: 'discovery data rejected (1 problem): entry 0 field colour ("red") unknown field; allowed: address, port, weight, name' },
    { raw: [{ address: '10.0.0.1', port: 80 }, { address: '10.0.0.2', port: 80 }, { address: '10.0.0.3', port: 80 }], max: 2, message: 'discovery data rejected (1 problem): the list (3) has 3 entries, more than the maximum of 2; split the service or raise the limit' },
  ];
  for (const row of rows) {
    const r = validateSnapshot(row.raw, row.max === undefined ? {} : { maxEntries: row.max });
    assert.ok(!r.ok);
    assert.equal(r.message, `${row.message}; the previous snapshot is kept until the source returns valid data`);
  }
});

void test('a list of 10,001 entries is rejected by default', () => {
  const raw = Array.from({ length: 10_001 }, (_, i) => ({ address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 80 }));
  const r = validateSnapshot(raw);
  assert.ok(!r.ok);
  assert.equal(r.problems[0]?.value, 10_001);
  assert.ok(validateSnapshot(raw.slice(0, 10_000)).ok);
});
