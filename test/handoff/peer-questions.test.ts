// When a node asks its lower-priority peers (src/handoff/peer-questions.ts): table tests of the
// two pure decisions. The behaviour they serve (a failback's and a healed partition's handoff with
// no failed request) is proven end to end by test/e2e/failback*.test.ts and az-heal.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MASTER_SETTLE_MS, PEER_MASTER_FAST_MS, SLOW_QUESTION_MS, questionIntervalMs, takeoverHandsOff, takeoverQuestion, type QuestionFacts, type TakeoverFacts } from '../../src/handoff/peer-questions.js';

const NOW = 1_000_000;
const ADVERT = 100;

void test('question interval: fast (half an advert interval) whenever a takeover from the peer may come, slow only for a settled master whose peer is a backup', () => {
  const base: QuestionFacts = { now: NOW, masterSince: NOW - 10_000, handoffToPeer: false, peerSilent: false, peerMasterAt: null, preemptDelayMs: 0, advertIntervalMs: ADVERT };
  const rows: [string, Partial<QuestionFacts>, number][] = [
    ['settled master, the peer never said MASTER', {}, SLOW_QUESTION_MS],
    ['not master (BACKUP, FAULT, INIT): a failback may come', { masterSince: null }, 50],
    ['master for less than the settle time: its claim, a flap', { masterSince: NOW - MASTER_SETTLE_MS + 1 }, 50],
    ['master exactly the settle time', { masterSince: NOW - MASTER_SETTLE_MS }, SLOW_QUESTION_MS],
    ['a takeover handoff towards the peer is on: its end needs the answers', { handoffToPeer: true }, 50],
    ['the peer does not answer: a partition, it may come back holding routes (a healed one is asked within half an interval)', { peerSilent: true }, 50],
    ['the peer said MASTER a minute ago less 1 ms', { peerMasterAt: NOW - PEER_MASTER_FAST_MS + 1 }, 50],
    ['the peer said MASTER a minute ago', { peerMasterAt: NOW - PEER_MASTER_FAST_MS }, SLOW_QUESTION_MS],
    ['the peer said MASTER 80 s ago, preempt delay 30 s: it may still hold routes', { peerMasterAt: NOW - 80_000, preemptDelayMs: 30_000 }, 50],
    ['a slow advert interval (3 s): never slower than half of it', { advertIntervalMs: 3000 }, 1500],
    ['a slow advert interval (3 s), fast case', { advertIntervalMs: 3000, masterSince: null }, 1500],
  ];
  for (const [what, change, expected] of rows) assert.equal(questionIntervalMs({ ...base, ...change }), expected, what);
});

void test('takeover question: confirm a fresh serving answer; a settled master asks a peer that answered lately; a failover never waits for a silent peer', () => {
  const base: TakeoverFacts = { now: NOW, masterSince: NOW - 10_000, lastAnswer: { at: NOW - 20, serving: true }, advertIntervalMs: ADVERT };
  const rows: [string, Partial<TakeoverFacts>, 'confirm' | 'ask' | 'none'][] = [
    ['fresh and serving', {}, 'confirm'],
    ['fresh at the edge (1.5 intervals)', { lastAnswer: { at: NOW - 150, serving: true } }, 'confirm'],
    ['fresh but not serving (FAULT, unhealthy)', { lastAnswer: { at: NOW - 20, serving: false } }, 'none'],
    ['never answered', { lastAnswer: null }, 'none'],
    ['settled master, answer 900 ms old (slow questions)', { lastAnswer: { at: NOW - 900, serving: true } }, 'ask'],
    ['settled master, answer three slow intervals old', { lastAnswer: { at: NOW - 3 * SLOW_QUESTION_MS, serving: true } }, 'ask'],
    ['settled master, answer older than that: the peer is gone', { lastAnswer: { at: NOW - 3 * SLOW_QUESTION_MS - 1, serving: true } }, 'none'],
    ['settled master, stale answer that did not serve', { lastAnswer: { at: NOW - 900, serving: false } }, 'none'],
    ['just became master (a failover): a stale answer is not waited on', { masterSince: NOW - 5, lastAnswer: { at: NOW - 400, serving: true } }, 'none'],
    ['not master (a claim before the state is known)', { masterSince: null, lastAnswer: { at: NOW - 400, serving: true } }, 'none'],
  ];
  for (const [what, change, expected] of rows) assert.equal(takeoverQuestion({ ...base, ...change }), expected, what);
});

void test('takeover handoff: an answer decides; an unanswered confirm trusts the fresh answer before it (a lost datagram must not reset a live peer\'s connections); an unanswered ask does not', () => {
  const rows: [string, 'confirm' | 'ask' | 'none', boolean | null, boolean][] = [
    ['confirm, the peer says it serves', 'confirm', true, true],
    ['confirm, the peer went FAULT or unhealthy since', 'confirm', false, false],
    ['confirm unanswered: it served moments ago', 'confirm', null, true],
    ['ask, the peer says it serves', 'ask', true, true],
    ['ask, the peer does not serve', 'ask', false, false],
    ['ask unanswered after its attempts: gone', 'ask', null, false],
    ['no question (a failover from a silent peer)', 'none', null, false],
  ];
  for (const [what, question, servingNow, expected] of rows) assert.equal(takeoverHandsOff(question, servingNow), expected, what);
});
