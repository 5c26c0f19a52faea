/**
 * The one guarded cloud call (src/cloud/guarded-call.ts) with plain functions standing for a
 * provider's API call: what it retries, what it does not, that throttling empties the bucket, that
 * the per-call timeout ends a call that never answers, and the events the metrics count.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countCloudCall, guardedCall } from '../../src/cloud/guarded-call.js';
import type { CloudCallEvent } from '../../src/cloud/guarded-call.js';
import { OverlayError } from '../../src/util/errors.js';
import { TokenBucket } from '../../src/util/token-bucket.js';

const bucket = (): TokenBucket => new TokenBucket({ capacity: 10, refillPerSec: 1000 });
const deadline = (): number => Date.now() + 5000;

void test('guarded call: a throttled call is retried, empties the bucket, and each attempt is an event', async () => {
  const b = new TokenBucket({ capacity: 10, refillPerSec: 20 });
  const events: CloudCallEvent[] = [];
  let n = 0;
  const out = await guardedCall({ action: 'ReplaceRoute', table: 'rtb-1', bucket: b, signal: AbortSignal.timeout(10_000), deadline: deadline(), onEvent: (e) => events.push(e), random: () => 0 }, () => {
    n++;
    if (n < 3) return Promise.reject(new OverlayError('CLOUD_THROTTLED', 'ReplaceRoute: RequestLimitExceeded'));
    return Promise.resolve('ok');
  });
  assert.equal(out, 'ok');
  assert.equal(n, 3);
  // Three calls from a full bucket of 10 leave 7 without the drain; emptied twice, it holds about 1.
  assert.ok(b.available() < 4, `the bucket holds ${b.available()} tokens: a throttle must empty it`);
  assert.deepEqual(events.map((e) => e.type), ['api-call', 'api-error', 'api-call', 'api-error', 'api-call']);
  assert.deepEqual(events[1], { type: 'api-error', action: 'ReplaceRoute', code: 'CLOUD_THROTTLED', retryable: true, table: 'rtb-1' });
});

void test('guarded call: a permission error is not retried; an unknown error becomes CLOUD_UNAVAILABLE naming the action', async () => {
  let n = 0;
  await assert.rejects(guardedCall({ action: 'CreateTags', bucket: bucket(), signal: AbortSignal.timeout(10_000), deadline: deadline() }, () => {
    n++;
    return Promise.reject(new OverlayError('CLOUD_UNAUTHORIZED', 'CreateTags: UnauthorizedOperation'));
  }), { code: 'CLOUD_UNAUTHORIZED' });
  assert.equal(n, 1);
  await assert.rejects(guardedCall({ action: 'DescribeAddresses', bucket: bucket(), signal: AbortSignal.timeout(10_000), deadline: deadline(), attempts: 1 }, () => Promise.reject(new Error('socket hang up'))),
    (e: OverlayError) => e.code === 'CLOUD_UNAVAILABLE' && e.message === 'DescribeAddresses failed: socket hang up');
});

void test('guarded call: the per-call timeout ends a call that never answers; attempts bound the retries', async () => {
  let n = 0;
  // The per-call timer is unref'd (it never keeps a process alive): this one keeps the test's loop running.
  const keepAlive = setInterval(() => undefined, 1000);
  await assert.rejects(guardedCall({ action: 'DescribeRouteTables', bucket: bucket(), signal: AbortSignal.timeout(10_000), deadline: deadline(), callTimeoutMs: 50, attempts: 2, random: () => 0 }, (callSignal) => {
    n++;
    return new Promise((_, reject) => callSignal.addEventListener('abort', () => reject(new OverlayError('CLOUD_UNAVAILABLE', 'DescribeRouteTables: no answer', { retryable: true })), { once: true }));
  }), { code: 'CLOUD_UNAVAILABLE' }).finally(() => clearInterval(keepAlive));
  assert.equal(n, 2);
});

void test('guarded call: countCloudCall counts calls, errors by code and throttles by action', () => {
  const seen: string[] = [];
  const counter = (name: string) => ({ inc: (labels: Readonly<Record<string, string>>) => void seen.push(`${name}${JSON.stringify(labels)}`) });
  const count = countCloudCall({ apiCalls: counter('calls'), apiErrors: counter('errors'), apiThrottles: counter('throttles') })!;
  count({ type: 'api-call', action: 'ReplaceRoute' });
  count({ type: 'api-error', action: 'ReplaceRoute', code: 'CLOUD_THROTTLED', retryable: true });
  count({ type: 'api-error', action: 'CreateTags', code: 'CLOUD_UNAUTHORIZED', retryable: false });
  assert.deepEqual(seen, ['calls{"action":"ReplaceRoute"}', 'errors{"action":"ReplaceRoute","code":"CLOUD_THROTTLED"}', 'throttles{"action":"ReplaceRoute"}', 'errors{"action":"CreateTags","code":"CLOUD_UNAUTHORIZED"}']);
  assert.equal(countCloudCall(undefined), undefined);
});
