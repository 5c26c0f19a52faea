import { test } from 'node:test';
import assert from 'node:assert/strict';
import { retry } from '../../src/util/retry.js';
import { ManualClock } from '../../src/util/clock.js';
import { OverlayError } from '../../src/util/errors.js';
import { TokenBucket } from '../../src/util/token-bucket.js';

const throttled = (): OverlayError => new OverlayError('CLOUD_THROTTLED', 'RequestLimitExceeded');

void test('retry: retries retryable errors with full-jitter exponential backoff, then succeeds', async () => {
  const clock = new ManualClock();
  const delays: number[] = [];
  let calls = 0;
  const p = retry(() => {
    calls++;
    return calls < 4 ? Promise.reject(throttled()) : Promise.resolve('ok');
  }, { clock, baseMs: 100, maxMs: 250, random: () => 0.999, onRetry: (i) => delays.push(i.delayMs) });
  while (delays.length < 3 || clock.pending > 0) await clock.advance(1000);
  assert.equal(await p, 'ok');
  assert.equal(calls, 4);
  // min(max, base * 2^n) * random: 99, 199, then capped at 249.
  assert.deepEqual(delays, [99, 199, 249]);
});

void test('retry: a non-retryable error is thrown at once', async () => {
  let calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject(new OverlayError('CLOUD_UNAUTHORIZED', 'UnauthorizedOperation'));
    }, { clock: new ManualClock() }),
    /UnauthorizedOperation/,
  );
  assert.equal(calls, 1);
});

void test('retry: gives up after `attempts` and when the next attempt would pass the deadline', async () => {
  let calls = 0;
  await assert.rejects(retry(() => { calls++; return Promise.reject(throttled()); }, { attempts: 1, clock: new ManualClock() }), /RequestLimitExceeded/);
  assert.equal(calls, 1);
  const clock = new ManualClock(1000);
  calls = 0;
  await assert.rejects(retry(() => { calls++; return Promise.reject(throttled()); }, { clock, deadline: 1050, baseMs: 100, random: () => 0.9 }), /RequestLimitExceeded/);
  assert.equal(calls, 1, 'a 90 ms backoff would pass the deadline 50 ms away');
});

void test('retry: an abort during the backoff stops it with the abort reason', async () => {
  const clock = new ManualClock();
  const ac = new AbortController();
  const p = retry(() => Promise.reject(throttled()), { clock, signal: ac.signal, random: () => 0.5 });
  await clock.advance(0);
  ac.abort(new Error('newer transition'));
  await assert.rejects(p, /newer transition/);
});

void test('token bucket: a burst of capacity, then the refill rate', async () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket({ capacity: 50, refillPerSec: 5, clock });
  for (let i = 0; i < 50; i++) await bucket.take();
  let got = 0;
  const waiters = Array.from({ length: 10 }, () => bucket.take().then(() => got++));
  await clock.advance(0);
  assert.equal(got, 0, 'the bucket is empty after the burst');
  await clock.advance(1000);
  assert.equal(got, 5, 'five tokens a second');
  await clock.advance(1000);
  await Promise.all(waiters);
  assert.equal(got, 10);
});

void test('token bucket: drain empties it; an aborted waiter takes no token', async () => {
  const clock = new ManualClock();
  const bucket = new TokenBucket({ capacity: 2, refillPerSec: 1, clock });
  bucket.drain();
  const ac = new AbortController();
  const aborted = bucket.take(ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(aborted, /stop/);
  let done = false;
  const next = bucket.take().then(() => (done = true));
  while (clock.pending === 0) await new Promise((r) => setImmediate(r));
  await clock.advance(999);
  assert.equal(done, false);
  await clock.advance(1);
  await next;
  assert.equal(done, true);
});
