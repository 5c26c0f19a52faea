/**
 * HAProxy's `DroppedLogs` is per worker: a reload starts a new worker counting from 0. The agent's
 * total (`overlay_lb_haproxy_dropped_logs_total`) must keep what earlier workers counted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DroppedLogsTotal } from '../../src/agent/access-log.js';

void test('DroppedLogsTotal: grows with a worker, keeps earlier workers across reloads, ignores answers without the fields', () => {
  const t = new DroppedLogsTotal();
  assert.equal(t.observe({ Pid: '100', DroppedLogs: '0' }), 0);
  assert.equal(t.observe({ Pid: '100', DroppedLogs: '7' }), 7);
  assert.equal(t.observe({ Pid: '100', DroppedLogs: '7' }), 0);
  // A reload: the new worker starts at 0; the old one's 7 stay in the total.
  assert.equal(t.observe({ Pid: '200', DroppedLogs: '0' }), 0);
  assert.equal(t.total, 7);
  assert.equal(t.observe({ Pid: '200', DroppedLogs: '5' }), 5);
  assert.equal(t.total, 12);
  // An answer cut short or from something else changes nothing.
  assert.equal(t.observe({ Pid: '200' }), 0);
  assert.equal(t.observe({ DroppedLogs: '99' }), 0);
  assert.equal(t.observe({ Pid: '200', DroppedLogs: 'x' }), 0);
  assert.equal(t.total, 12);
  // The first read of a running worker (an agent restart) counts what it had dropped.
  const fresh = new DroppedLogsTotal();
  assert.equal(fresh.observe({ Pid: '200', DroppedLogs: '5' }), 5);
});
