/**
 * Differential checks of the two sample fetches explain re-implements by hand, against a real
 * haproxy 2.6 running a hand-written config (no renderer involved):
 * - `req.cook(s)`: which occurrence, whitespace, quoting, empty values, the odd corners;
 * - the `crc32` converter equals zlib's CRC-32 (explain's sticky bucket).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, requestCookie } from '../../src/model/explain.js';
import { findFreePort, startHaproxy } from '../helpers/haproxy-process.js';
import { sendRawRequest } from './raw-http.js';

const COOKIE_CASES: readonly (readonly string[])[] = [
  ['s=1'],
  ['a=1; s=2'],
  ['s=1; s=2'],
  ['s=1', 's=2'],
  ['s=1', 'a=1'],
  ['a=1', 's=7; b=2'],
  ['s='],
  ['a=1; s='],
  ['a=1;s='],
  ['s=; a=1'],
  ['S=1'],
  ['ss=1; s_=2'],
  ['s = 3 ; a=1'],
  ['s=1, s=2'],
  ['s=1,a=2'],
  ['s="a;b"; x=1'],
  ['x="s=9,s=8"; s=3'],
  ['$s=1'],
  ['s'],
  ['s; a=1'],
  ['s=1 2'],
  ['a=1;;s=4;'],
  ['s=x=y'],
  ['a=b,,s=5'],
  ['s=1', 'S=2', 's=3; s=4'],
];

void test('req.cook and crc32 in haproxy agree with explain', async (t) => {
  const signal = AbortSignal.timeout(60_000);
  const dir = await mkdtemp(join(tmpdir(), 'olb-fetch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const port = await findFreePort({ host: '127.0.0.1', signal });
  const cfg = join(dir, 'haproxy.cfg');
  await writeFile(
    cfg,
    [
      'global',
      '  maxconn 100',
      'defaults',
      '  mode http',
      '  timeout client 5s',
      '  timeout server 5s',
      '  timeout connect 5s',
      'frontend fe',
      `  bind 127.0.0.1:${port}`,
      '  http-request return status 200 content-type text/plain lf-string "F[%[req.cook(s)]] %[req.cook(s),crc32]" if { req.cook(s) -m found }',
      '  http-request return status 200 content-type text/plain lf-string "C %[req.fhdr(x-v,-1),crc32]" if { req.fhdr(x-v) -m found }',
      '  http-request return status 200 content-type text/plain string "N"',
      '',
    ].join('\n'),
  );
  const haproxy = await startHaproxy({ configPath: cfg, dir, probe: { host: '127.0.0.1', port }, signal });
  t.after(() => haproxy.stop());

  const enc = new TextEncoder();
  for (const cookies of COOKIE_CASES) {
    const headers = [{ name: 'Host', value: 'x' }, ...cookies.map((value) => ({ name: 'Cookie', value }))];
    const res = await sendRawRequest({ host: '127.0.0.1', port, method: 'GET', target: '/', headers, signal });
    const expected = requestCookie(headers, 's');
    const want = expected === undefined ? 'N' : `F[${expected}] ${crc32(enc.encode(expected))}`;
    assert.equal(res.body, want, `Cookie headers ${JSON.stringify(cookies)}`);
  }

  // crc32 over assorted byte strings, including non-ASCII UTF-8.
  for (const value of ['', 'a', 'user-42', 'The quick brown fox', 'ümlaut', 'x'.repeat(300), '0123456789abcdef!#$%&']) {
    const res = await sendRawRequest({ host: '127.0.0.1', port, method: 'GET', target: '/', headers: [{ name: 'Host', value: 'x' }, { name: 'X-V', value }], signal });
    // The raw client sends UTF-8, the bytes explain hashes.
    assert.equal(res.body, `C ${crc32(enc.encode(value))}`, `crc32 of ${JSON.stringify(value)}`);
  }
});
