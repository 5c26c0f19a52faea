/**
 * The smoke run's client (src/provision/smoke-client.ts): its user-data script run for real
 * (/bin/sh, curl, GNU date) against an HTTP server on loopback that answers 200, then 503 for
 * exactly five requests, then 200 again; the lines it prints read back into the report's figures,
 * which must match what the server counted. Also the reading of overlapping console reads, the
 * failover outage's choice, and the credential rule of scripts/aws-smoke.sh. Loopback only.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { credentialSource, formatSmokeReport } from '../../src/cli/commands/smoke.js';
import { clientUserData, failoverOutage, mergeClientLines, summarizeClient, EVERY_NTH_LINE } from '../../src/provision/smoke-client.js';

void test('the client script, run by /bin/sh against a server that fails exactly five requests: the lines give every request, the outage and its five failed requests', async (t) => {
  let served = 0;
  const codes: number[] = [];
  const server = createServer((_req, res) => {
    served += 1;
    const code = served > 10 && served <= 15 ? 503 : 200;
    codes.push(code);
    res.writeHead(code, { connection: 'close' }).end('x');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => server.close());
  const { port } = server.address() as AddressInfo;
  const script = clientUserData({ vip: '127.0.0.1', port, intervalMs: 20, requestTimeoutMs: 2000, maxSeconds: 3 });
  const out = await new Promise<string>((resolve, reject) => {
    execFile('/bin/sh', ['-c', script], { timeout: 30_000 }, (err, stdout) => (err === null ? resolve(stdout) : reject(new Error(`the client script failed: ${err.message}`))));
  });
  // Read back in two overlapping halves, as successive console reads overlap.
  const lines = out.split('\n');
  const half = Math.ceil(lines.length / 2);
  const log = mergeClientLines(mergeClientLines({ lines: [], end: null }, lines.slice(0, half + 3).join('\n')), lines.slice(half - 3).join('\n'));
  assert.ok(log.end !== null, out);
  const summary = summarizeClient(log);
  assert.equal(summary.requests, served, out);
  assert.equal(summary.answered, codes.filter((c) => c === 200).length, out);
  assert.equal(summary.failed, 5, out);
  assert.equal(summary.outages.length, 1, out);
  const outage = summary.outages[0]!;
  assert.equal(outage.failedRequests, 5, out);
  assert.ok(outage.to !== null && outage.ms === outage.to - outage.from && outage.ms >= 0, out);
  // Only changes and every EVERY_NTH_LINE-th request are printed: the console stays small.
  assert.ok(log.lines.length <= 3 + Math.ceil(served / EVERY_NTH_LINE) + 1, out);
  assert.deepEqual(log.lines.filter((l) => !l.answered).map((l) => l.seq), [11], out);
  assert.equal(failoverOutage(summary, outage.from), outage);
  assert.equal(failoverOutage(summary, (outage.to ?? 0) + 10_000), null);
});

void test('summarizeClient: failures before the first answer are not an outage; an outage still open has no end', () => {
  const text = [
    'olb-smoke 1 1700000000000 000 0 1', 'olb-smoke 4 1700000000600 200 1 3', 'olb-smoke 25 1700000004000 200 22 3',
    'olb-smoke 30 1700000005000 000 26 4', 'lab: noise', 'olb-smoke 40 1700000007000 200 27 13', 'olb-smoke 50 1700000009000 502 36 14',
  ].join('\n');
  const s = summarizeClient(mergeClientLines({ lines: [], end: null }, text));
  assert.equal(s.firstAnswerAt, 1700000000600);
  assert.deepEqual(s.outages, [
    { from: 1700000005000, to: 1700000007000, ms: 2000, failedRequests: 10 },
    { from: 1700000009000, to: null, ms: null, failedRequests: 1 },
  ]);
  assert.equal(s.requests, 50);
  assert.equal(failoverOutage(s, 1700000004500)?.ms, 2000);
});

void test('clientUserData refuses anything but an IPv4 address and positive integers (nothing reaches the script unchecked)', () => {
  const ok = { vip: '192.168.100.10', port: 80, intervalMs: 200, requestTimeoutMs: 2000, maxSeconds: 60 };
  assert.match(clientUserData(ok), /^url='http:\/\/192\.168\.100\.10:80\/'$/m);
  assert.throws(() => clientUserData({ ...ok, vip: "1.2.3.4'; reboot; '" }), /is not an IPv4 address/);
  assert.throws(() => clientUserData({ ...ok, port: 0 }), /port 0 is not a positive integer/);
  assert.throws(() => clientUserData({ ...ok, maxSeconds: 1.5 }), /maxSeconds 1.5 is not a positive integer/);
});

void test('credentialSource: the rule that skips the smoke run (names only, never a value)', () => {
  const none = (): boolean => false;
  assert.equal(credentialSource({}, none, '/home/u'), null);
  assert.equal(credentialSource({ AWS_ACCESS_KEY_ID: 'AKID' }, none, '/home/u'), null, 'a key id without its secret is not credentials');
  assert.equal(credentialSource({ AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 's' }, none, '/home/u'), 'AWS_ACCESS_KEY_ID');
  assert.equal(credentialSource({ AWS_PROFILE: 'dev' }, none, '/home/u'), 'AWS_PROFILE');
  assert.equal(credentialSource({ AWS_PROFILE: '' }, none, '/home/u'), null);
  assert.equal(credentialSource({ AWS_WEB_IDENTITY_TOKEN_FILE: '/t' }, none, '/home/u'), 'AWS_WEB_IDENTITY_TOKEN_FILE');
  assert.equal(credentialSource({}, (p) => p === '/home/u/.aws/credentials', '/home/u'), '/home/u/.aws/credentials');
  assert.equal(credentialSource({}, (p) => p === '/home/u/.aws/config', '/home/u'), '/home/u/.aws/config');
  assert.equal(credentialSource({ AWS_SHARED_CREDENTIALS_FILE: '/x' }, (p) => p === '/x', '/home/u'), '/x');
  assert.equal(credentialSource({ AWS_SHARED_CREDENTIALS_FILE: '/x', AWS_CONFIG_FILE: '/y' }, (p) => p.startsWith('/home/u'), '/home/u'), null, 'the files the variables name replace the defaults');
});

void test('formatSmokeReport: the text report names each step, the client, the failover figures, apply and down', () => {
  const summary = { requests: 50, answered: 40, failed: 10, firstAnswerAt: 1, outages: [{ from: 10, to: 2010, ms: 2000, failedRequests: 10 }] };
  const lines = formatSmokeReport({
    cluster: 'demo', region: 'us-east-1', account: '123456789012', ok: true, error: null, startedAt: 0, durationMs: 61_000, kept: false,
    steps: [{ step: 'up', ms: 13_300, detail: '18 created' }],
    client: { instanceId: 'i-1', subnetId: 'subnet-1', url: 'http://192.168.100.10:80/', firstAnswerMs: 15_000, summary },
    failover: { master: 'lb-a', masterInstanceId: 'i-2', servedBy: 'lb-b', terminatedAt: 5, routesMovedMs: 4740, outage: summary.outages[0]! },
    apply: { specVersion: 'v2', passed: ['lb-b', 'lb-a'], ms: 39_000 }, down: { removed: 22, leftAfter: 0, ms: 30_000 },
  });
  assert.deepEqual(lines, [
    'Smoke run of cluster demo in us-east-1 (account 123456789012): PASSED in 61.00 s',
    '  up                         13.30 s  18 created',
    'Client i-1 (subnet-1) -> http://192.168.100.10:80/: 50 requests, 40 answered, 10 failed; first answer 15.00 s after its launch',
    'Failover: master lb-a (i-2) terminated; every VIP route at lb-b after 4.74 s; client outage 2.00 s, 10 failed requests',
    'apply --cluster: spec version v2 on lb-b, lb-a in 39.00 s',
    'down: 22 removed; nothing of the cluster left',
  ]);
});
