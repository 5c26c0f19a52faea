/**
 * `overlay-lb --version` from a build: the version of package.json, a commit that says it is not
 * a package, and the runtime it runs on. (The packaged executable's line, with its commit and
 * Node.js 24, is checked by scripts/build-deb.sh and test/packaging/deb-lifecycle.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { runCliProcess } from './cli-process.js';
import { timeoutSignal } from '../../src/util/abort.js';

void test('--version prints version, commit and runtime', async () => {
  const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  for (const flag of ['--version', '-V']) {
    const r = await runCliProcess([flag], { deadline: timeoutSignal(30_000) });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `overlay-lb ${pkg.version} (commit unknown (a development build, not a package), Node.js ${process.version})\n`);
  }
});
