/**
 * The Runtime API payload of a certificate file (pure: starts no haproxy). A blank line would end
 * the CLI payload early and hand the rest of the file to the CLI as commands, so none survives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sslCertPayload } from '../../src/haproxy/ssl-cert.js';
import { MAX_MAP_BATCH_BYTES } from '../../src/haproxy/runtime-api.js';

const PEM = '-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\n\n   \n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n\nshow info\n';

void test('blank lines are removed, so nothing after one can run as a CLI command', () => {
  const p = sslCertPayload(PEM);
  assert.ok(p.ok);
  assert.equal(p.payload, '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\nshow info');
  assert.ok(!p.payload.includes('\n\n'));
});

void test('not PEM text, or too large for one command, is refused with the reason', () => {
  assert.deepEqual(sslCertPayload('hello'), { ok: false, reason: 'not-pem', detail: 'the file is not PEM text (printable ASCII with -----BEGIN blocks)' });
  assert.equal(sslCertPayload(`-----BEGIN CERTIFICATE-----\n\u0000\n`).ok, false);
  const big = sslCertPayload(`-----BEGIN CERTIFICATE-----\n${'A'.repeat(64).concat('\n').repeat(Math.ceil(MAX_MAP_BATCH_BYTES / 65))}-----END CERTIFICATE-----\n`);
  assert.equal(big.ok ? 'ok' : big.reason, 'too-large');
});
