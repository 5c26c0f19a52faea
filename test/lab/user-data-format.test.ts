// The user-data formats a lab instance runs (src/lab/user-data-format.ts), as cloud-init runs
// them: plain #!, gzip, MIME multi-part shell parts (in the order of their names), #cloud-config
// write_files/runcmd; what is not run is said. The runner is run for real with /bin/sh in a
// temporary directory (no namespaces: a pure test).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import { shellWord, userDataScript } from '../../src/lab/user-data-format.js';

/** Writes the runner to a temporary directory and runs it as the instance host does (its path as $0). */
async function runScript(t: TestContext, script: string): Promise<{ code: number; stdout: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'l18-ud-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'user-data');
  await writeFile(path, script, { mode: 0o700 });
  return new Promise((resolve) => {
    execFile(path, [], { cwd: '/', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, signal: AbortSignal.timeout(60_000) }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number(error.code), stdout: stdout + stderr, dir });
    });
  });
}

const multipart = (boundary: string, parts: readonly { type: string; body: string; filename?: string; base64?: boolean }[]): string => [
  'Content-Type: multipart/mixed; boundary="' + boundary + '"',
  'MIME-Version: 1.0',
  '',
  ...parts.flatMap((p) => [
    `--${boundary}`,
    `Content-Type: ${p.type}; charset="us-ascii"`,
    'MIME-Version: 1.0',
    ...(p.base64 === true ? ['Content-Transfer-Encoding: base64'] : ['Content-Transfer-Encoding: 7bit']),
    ...(p.filename === undefined ? [] : [`Content-Disposition: attachment; filename="${p.filename}"`]),
    '',
    p.base64 === true ? Buffer.from(p.body).toString('base64') : p.body,
  ]),
  `--${boundary}--`,
  '',
].join('\n');

void test('a #! script runs unchanged; gzip-compressed too', () => {
  const script = '#!/bin/sh\necho hi\n';
  assert.deepEqual(userDataScript(Buffer.from(script)), { script, notes: [] });
  assert.deepEqual(userDataScript(gzipSync(script)), { script, notes: [] });
});

void test('MIME multi-part: every shell part runs, in the order of their names, base64 parts decoded; a failing part does not stop the others', async (t) => {
  const data = multipart('==BOUNDARY==', [
    { type: 'text/x-shellscript', filename: 'b-second.sh', body: '#!/bin/sh\necho "second ran"\nexit 3' },
    { type: 'text/x-shellscript', filename: 'a-first.sh', body: '#!/bin/sh\necho "first ran"', base64: true },
    { type: 'text/x-shellscript-per-boot', body: '#!/bin/sh\necho "per-boot ran as part-003"' },
    { type: 'text/cloud-boothook', body: '#cloud-boothook\necho never' },
  ]);
  const { script, notes } = userDataScript(Buffer.from(data));
  assert.deepEqual(notes, ['lab: user-data part 4 of type text/cloud-boothook is not run in the lab (it runs #! scripts, text/x-shellscript parts and #cloud-config write_files/runcmd)']);
  assert.ok(script !== null);
  const run = await runScript(t, script);
  assert.equal(run.code, 1, run.stdout);
  assert.deepEqual(run.stdout.trim().split('\n'), ['first ran', 'second ran', 'lab: user-data part b-second.sh exited with status 3', 'per-boot ran as part-003']);
  // The gzip of the whole message is the same user data.
  assert.deepEqual(userDataScript(gzipSync(data)), { script, notes });
});

void test('#cloud-config write_files and runcmd (strings as shell lines, lists as quoted argv); other keys said, not run', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'l18-ud-files-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const odd = join(dir, "it's $(odd) `name`");
  const config = [
    '#cloud-config',
    'packages: [haproxy]',
    'write_files:',
    `  - path: ${dir}/sub/plain.txt`,
    '    content: |',
    '      hello $(not run)',
    "    permissions: '0600'",
    `  - path: ${dir}/sub/b64.bin`,
    '    encoding: b64',
    `    content: ${Buffer.from('binary\u0000data').toString('base64')}`,
    `  - path: ${dir}/sub/gz.txt`,
    '    encoding: gz+b64',
    `    content: ${gzipSync('inflated').toString('base64')}`,
    `  - path: ${JSON.stringify(odd)}`,
    '    content: odd',
    '    permissions: 0640',
    'runcmd:',
    `  - echo "line $((1+1))"`,
    `  - [sh, -c, 'echo argv "$0"', "a'b c"]`,
    '',
  ].join('\n');
  const { script, notes } = userDataScript(Buffer.from(config));
  assert.deepEqual(notes, ['lab: cloud-config key packages is not run in the lab (it runs write_files and runcmd)']);
  const run = await runScript(t, script!);
  assert.equal(run.code, 0, run.stdout);
  assert.deepEqual(run.stdout.trim().split('\n'), ['line 2', "argv a'b c"]);
  assert.equal(await readFile(join(dir, 'sub/plain.txt'), 'utf8'), 'hello $(not run)\n');
  assert.equal((await stat(join(dir, 'sub/plain.txt'))).mode & 0o777, 0o600);
  assert.deepEqual(await readFile(join(dir, 'sub/b64.bin')), Buffer.from('binary\u0000data'));
  assert.equal(await readFile(join(dir, 'sub/gz.txt'), 'utf8'), 'inflated');
  assert.equal(await readFile(odd, 'utf8'), 'odd');
  // An unquoted mode is octal, as PyYAML (YAML 1.1) reads it for cloud-init.
  assert.equal((await stat(odd)).mode & 0o777, 0o640);
});

void test('nothing to run: a clear console line, no script', () => {
  assert.deepEqual(userDataScript(Buffer.from('#cloud-config\npackages: [curl]\n')), { script: null, notes: ['lab: cloud-config key packages is not run in the lab (it runs write_files and runcmd)'] });
  assert.deepEqual(userDataScript(Buffer.from('just text')).script, null);
  assert.match(userDataScript(Buffer.from('#include\nhttp://example.com/x\n')).notes[0]!, /of type text\/x-include-url is not run/);
  assert.match(userDataScript(Buffer.from([0x1f, 0x8b, 1, 2, 3])).notes[0]!, /gzip data that does not decompress/);
  assert.match(userDataScript(Buffer.from('#cloud-config\nwrite_files: [\n')).notes[0]!, /not valid YAML/);
  assert.match(userDataScript(Buffer.from('#cloud-config\nwrite_files:\n  - path: /tmp/x\n    permissions: "u+rwx"\n')).notes[0]!, /not an octal mode/);
});

void test('shellWord: any string is one word with no syntax', async (t) => {
  for (const word of ["a'b", '$(x)', '`x`', 'a b', '\\', '"', '', "''"]) {
    const run = await runScript(t, `#!/bin/sh\nprintf '%s' ${shellWord(word)}\n`);
    assert.equal(run.stdout, word);
  }
});
