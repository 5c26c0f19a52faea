/** The notify-line grammar (src/keepalived/notify-line.ts), on lines of the exact keepalived format. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KEEPALIVED_FIFO_LINE_RE, formatNotifyLine, parseNotifyLine } from '../../src/keepalived/notify-line.js';
import { KEEPALIVED_FIFO_LINE_RE as RENDERER_RE } from '../../src/render/keepalived.js';

void test('the renderer and the agent share one grammar', () => {
  assert.equal(RENDERER_RE, KEEPALIVED_FIFO_LINE_RE);
});

void test('notify lines: every state and event, odd names, the priority always present', () => {
  const cases: [string, ReturnType<typeof parseNotifyLine>][] = [
    ['INSTANCE "OLB_DEMO" MASTER 200', { kind: 'INSTANCE', name: 'OLB_DEMO', state: 'MASTER', priority: 200 }],
    ['INSTANCE "OLB_DEMO" BACKUP 190', { kind: 'INSTANCE', name: 'OLB_DEMO', state: 'BACKUP', priority: 190 }],
    ['INSTANCE "OLB_DEMO" FAULT 0', { kind: 'INSTANCE', name: 'OLB_DEMO', state: 'FAULT', priority: 0 }],
    ['INSTANCE "OLB_DEMO" STOP 255', { kind: 'INSTANCE', name: 'OLB_DEMO', state: 'STOP', priority: 255 }],
    ['INSTANCE "OLB_DEMO" DELETED 200', { kind: 'INSTANCE', name: 'OLB_DEMO', state: 'DELETED', priority: 200 }],
    ['INSTANCE "OLB_DEMO" MASTER_RX_LOWER_PRI 200', { kind: 'INSTANCE', name: 'OLB_DEMO', state: 'MASTER_RX_LOWER_PRI', priority: 200 }],
    ['GROUP "g1" MASTER_PRIORITY 120', { kind: 'GROUP', name: 'g1', state: 'MASTER_PRIORITY', priority: 120 }],
    ['INSTANCE "olb.odd-name_1:x@y/z" MASTER 200', { kind: 'INSTANCE', name: 'olb.odd-name_1:x@y/z', state: 'MASTER', priority: 200 }],
    ['INSTANCE "with space and ünïcødé 名前" BACKUP 200', { kind: 'INSTANCE', name: 'with space and ünïcødé 名前', state: 'BACKUP', priority: 200 }],
    ['INSTANCE "it\'s" FAULT 200', { kind: 'INSTANCE', name: 'it\'s', state: 'FAULT', priority: 200 }],
    // A name that itself looks like a line's end: the last `" STATE N` is the end.
    ['INSTANCE "a" MASTER 1" BACKUP 200', { kind: 'INSTANCE', name: 'a" MASTER 1', state: 'BACKUP', priority: 200 }],
    ['INSTANCE "OLB_DEMO" MASTER 200\r', { kind: 'INSTANCE', name: 'OLB_DEMO', state: 'MASTER', priority: 200 }],
    // Not this grammar: null, never a guess.
    ['INSTANCE "OLB_DEMO" MASTER', null],
    ['INSTANCE "OLB_DEMO" MASTER 200 extra', null],
    ['INSTANCE "OLB_DEMO" MASTER -1', null],
    ['INSTANCE "OLB_DEMO" MASTER 256', null],
    ['INSTANCE "OLB_DEMO" INIT 200', null],
    ['INSTANCE OLB_DEMO MASTER 200', null],
    ['VS "10.0.0.1:80" UP', null],
    ['', null],
  ];
  for (const [line, want] of cases) {
    const got = parseNotifyLine(line);
    assert.deepEqual(got, want, JSON.stringify(line));
    if (got !== null && !line.endsWith('\r')) assert.equal(formatNotifyLine(got), line);
  }
});
