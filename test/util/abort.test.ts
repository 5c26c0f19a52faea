import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { timeoutSignal } from '../../src/util/abort.js';

void test('timeoutSignal: aborts after the deadline with a TimeoutError, also when nothing else holds it and GC runs', async () => {
  const parent = new AbortController();
  let reason: unknown;
  // Only the listener's closure refers to the signal: the case AbortSignal.any + AbortSignal.timeout loses under GC in Node 20.
  timeoutSignal(50, parent.signal).addEventListener('abort', function (this: AbortSignal) { reason = this.reason; });
  (globalThis as { gc?: () => void }).gc?.();
  const deadline = Date.now() + 5000;
  while (reason === undefined && Date.now() < deadline) await sleep(10);
  assert.equal((reason as DOMException | undefined)?.name, 'TimeoutError');
});

void test('timeoutSignal: follows its parent, and an aborted parent gives an aborted signal', () => {
  const parent = new AbortController();
  const s = timeoutSignal(60_000, parent.signal);
  assert.equal(s.aborted, false);
  parent.abort(new Error('newer transition'));
  assert.equal(s.aborted, true);
  assert.match(String((s.reason as Error).message), /newer transition/);
  assert.equal(timeoutSignal(10, parent.signal).aborted, true);
});
