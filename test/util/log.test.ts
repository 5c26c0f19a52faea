/**
 * The agent's log lines: errors with their stacks and cause chains, the journald priority prefix,
 * and process warnings (Node's own, the AWS SDK's) as JSON lines instead of text on stderr.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { OverlayError } from '../../src/util/errors.js';
import { createLogger, stdoutIsJournal } from '../../src/util/log.js';

function capture(options: { syslogPrefix?: boolean } = {}): { lines: string[]; log: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  return { lines, log: createLogger({ write: (l) => lines.push(l), level: 'debug', now: () => 0, ...options }) };
}

void test('an error keeps its code, stack and whole cause chain', () => {
  const { lines, log } = capture();
  const root = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  const mid = new OverlayError('CLOUD_UNAVAILABLE', 'DescribeRouteTables failed', { cause: root });
  log.error({ event: 'x', err: new Error('failover loop failed', { cause: mid }) }, 'failed');
  assert.equal(lines.length, 1);
  const line = lines[0] ?? '';
  assert.ok(line.endsWith('\n') && !line.slice(0, -1).includes('\n'), 'one line');
  const obj = JSON.parse(line) as { err: { message: string; stack: string; cause: { code: string; retryable: boolean; fault: string; stack: string; cause: { code: string; message: string } } } };
  assert.equal(obj.err.message, 'failover loop failed');
  assert.match(obj.err.stack, /^Error: failover loop failed\n\s+at /);
  assert.equal(obj.err.cause.code, 'CLOUD_UNAVAILABLE');
  assert.equal(obj.err.cause.retryable, true);
  assert.equal(obj.err.cause.fault, 'system');
  assert.match(obj.err.cause.stack, /DescribeRouteTables failed/);
  assert.deepEqual({ code: obj.err.cause.cause.code, message: obj.err.cause.cause.message }, { code: 'ECONNRESET', message: 'read ECONNRESET' });
});

void test('a cyclic cause chain is cut, a non-Error cause kept as text', () => {
  const { lines, log } = capture();
  const a = new Error('a');
  const b = new Error('b', { cause: a });
  (a as { cause?: unknown }).cause = b;
  log.warn({ err: a, other: new Error('o', { cause: { status: 503 } }) }, 'm');
  const obj = JSON.parse(lines[0] ?? '') as { err: Record<string, unknown>; other: { cause: string } };
  let depth = 0;
  for (let e: unknown = obj.err; typeof e === 'object' && e !== null; e = (e as { cause?: unknown }).cause) depth++;
  assert.equal(depth, 6);
  assert.equal(obj.other.cause, '{"status":503}');
});

void test('secrets stay redacted', () => {
  const { lines, log } = capture();
  log.info({ sessionToken: 'abc', password: 'p' }, 'm');
  assert.doesNotMatch(lines[0] ?? '', /abc|"p"/);
});

void test('under journald every line starts with its syslog priority, elsewhere it is pure JSON', () => {
  const j = capture({ syslogPrefix: true });
  j.log.debug({}, 'd');
  j.log.info({}, 'i');
  j.log.warn({}, 'w');
  j.log.error({}, 'e');
  assert.deepEqual(j.lines.map((l) => l.slice(0, 3)), ['<7>', '<6>', '<4>', '<3>']);
  for (const l of j.lines) JSON.parse(l.slice(3));
  const plain = capture();
  plain.log.error({}, 'e');
  assert.equal(plain.lines[0]?.[0], '{');
});

void test('JOURNAL_STREAM counts only when it names this stdout', () => {
  assert.equal(stdoutIsJournal({ JOURNAL_STREAM: '8:12345' }, { dev: 8, ino: 12345 }), true);
  assert.equal(stdoutIsJournal({ JOURNAL_STREAM: '8:12345' }, { dev: 8, ino: 99 }), false, 'inherited by a process whose stdout is a pipe');
  assert.equal(stdoutIsJournal({}, { dev: 8, ino: 12345 }), false);
  assert.equal(stdoutIsJournal({ JOURNAL_STREAM: '8:12345' }, null), false);
});

/** Run in a child process: routes warnings, then triggers the SDK's and Node's. */
const CHILD = `
import { createLogger, routeProcessWarnings } from ${JSON.stringify(new URL('../../src/util/log.js', import.meta.url).href)};
import { EC2Client } from '@aws-sdk/client-ec2';
const log = createLogger({ write: (l) => process.stdout.write(l) });
routeProcessWarnings(process, log);
// The SDK warns from the client's constructor when the runtime is older than it supports.
new EC2Client({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });
// Node's own: one listener too many on an emitter (Node 24 no longer warns for an AbortSignal's).
const { EventEmitter } = await import('node:events');
const emitter = new EventEmitter();
for (let i = 0; i < 11; i++) emitter.on('x', () => undefined);
process.emitWarning('something deprecated', { code: 'OLB_TEST' });
setTimeout(() => undefined, 100);
`;

void test('process warnings, the AWS SDK warning included, become JSON log lines; nothing reaches stderr', async () => {
  const r = await new Promise<{ out: string; err: string; code: number | null }>((resolve, reject) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', CHILD], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: '' } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => resolve({ out, err, code }));
  });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, '', 'nothing on stderr');
  const lines = r.out.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { level: string; event: string; warning: { name: string; message: string; code?: string; stack: string } });
  assert.ok(lines.every((l) => l.level === 'warn' && l.event === 'process-warning'), r.out);
  const names = lines.map((l) => l.warning.name);
  assert.ok(names.includes('MaxListenersExceededWarning'), r.out);
  assert.ok(lines.some((l) => l.warning.code === 'OLB_TEST' && l.warning.message === 'something deprecated'), r.out);
  const major = Number(process.versions.node.split('.')[0]);
  const sdk = lines.find((l) => l.warning.message.startsWith('NodeVersionSupportWarning'));
  if (major < 22) {
    // The SDK's multi-line text is one message in one line.
    assert.ok(sdk, `the SDK warns on Node ${process.version}: ${r.out}`);
    assert.match(sdk.warning.message, /will require node >=22\. You are running node v\d+/);
    assert.ok(!sdk.warning.message.includes('\n'));
  } else {
    assert.equal(sdk, undefined, r.out);
  }
});
