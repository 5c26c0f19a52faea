/**
 * `overlay-lb explain` as a person runs it (the real CLI, a child process): a request HAProxy
 * refuses is explained as such, and --header keeps what HTTP keeps (a space before the colon is
 * part of the name; only spaces and tabs around the value go, a non-breaking space stays).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { STACK_FRAME_RE, runCliProcess } from './cli-process.js';
import { timeoutSignal } from '../../src/util/abort.js';

const DEMO = fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url));

void test('explain through the CLI: 400 outcomes and header values as HTTP reads them', async () => {
  const explain = (...args: string[]) => runCliProcess(['explain', DEMO, ...args], { deadline: timeoutSignal(60_000) });

  const spaced = await explain('--header', 'X-Canary : 1');
  assert.equal(spaced.code, 0, spaced.stderr);
  assert.match(spaced.stdout, /^result {4}HAProxy rejects this request with 400 Bad Request: the header name "X-Canary " has a space or tab before the colon$/m);
  assert.doesNotMatch(spaced.stdout, /^backend/m);

  const fragment = await explain('--path', '/checkout#top', '--json');
  assert.equal(fragment.code, 0, fragment.stderr);
  const json = JSON.parse(fragment.stdout) as { rejected?: { status: number; reason: string }; backend: string | null };
  assert.deepEqual(json.rejected, { status: 400, reason: 'the request target "/checkout#top" contains a "#" (a fragment is never sent to a server)' });
  assert.equal(json.backend, null);

  const canary = await explain('--header', 'X-Canary:\t1 ');
  assert.match(canary.stdout, /^backend {3}app-canary$/m);
  const nbsp = await explain('--header', 'X-Canary: 1\u00a0');
  assert.match(nbsp.stdout, /value "1\\u00a0" does not match/);
  assert.match(nbsp.stdout, /^backend {3}app-stable$/m);
  for (const r of [spaced, fragment, canary, nbsp]) assert.doesNotMatch(r.stderr, STACK_FRAME_RE);
});
