/**
 * `overlay-lb explain` as a person runs it (the real CLI, a child process): a request HAProxy
 * refuses is explained as such, and --header keeps what HTTP keeps (a space before the colon is
 * part of the name; only spaces and tabs around the value go, a non-breaking space stays).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

void test('explain --cookie: the side and the server a stickiness cookie means, and the Set-Cookie a new client gets', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-explain-cookie-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const demo = await readFile(DEMO, 'utf8');
  const spec = join(dir, 'spec.yaml');
  await writeFile(
    spec,
    demo
      .replace('        sticky: { cookie: session }\n', '        sticky: { cookie: session }\n      - name: all\n        split: [{ backend: app-stable, weight: 90 }, { backend: app-canary, weight: 10 }]\n        stickyCookie: { name: olb-web, duration: 1h, secure: true }\n')
      .replace('    spareSlots: 4\n', '    spareSlots: 4\n    stickyCookie: { name: olb-srv }\n'),
  );
  const explain = (...args: string[]) => runCliProcess(['explain', spec, ...args], { deadline: timeoutSignal(60_000) });
  const fresh = await explain();
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.match(fresh.stdout, /^split {5}app-stable 90% \/ app-canary 10%; cookie olb-web absent: random side$/m);
  assert.match(fresh.stdout, /^response {2}set Set-Cookie: olb-web=<side>; Path=\/; Max-Age=3600; HttpOnly; Secure$/m);
  const kept = await explain('--cookie', 'olb-web=app-stable', '--cookie', 'olb-srv=s2');
  assert.match(kept.stdout, /^backend {3}app-stable$/m);
  assert.match(kept.stdout, /^server {4}s2 \(cookie olb-srv, while it is up\)$/m);
  assert.doesNotMatch(kept.stdout, /^response {2}set Set-Cookie/m);
  const bad = await explain('--cookie', 'olb-web=a;b');
  assert.equal(bad.code, 64);
  assert.match(bad.stderr, /--cookie "olb-web=a;b" is not NAME=VALUE .* for example --cookie olb-web=app-canary \[CLI_USAGE\]/);
  for (const r of [fresh, kept, bad]) assert.doesNotMatch(r.stderr, STACK_FRAME_RE);
});
