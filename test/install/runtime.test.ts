import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCommand } from '../../src/util/exec.js';
import type { RunResult } from '../../src/util/exec.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RUNTIME_SH = join(ROOT, 'scripts/runtime.sh');

/** Sources scripts/runtime.sh in a clean bash (`set -euo pipefail`, like its callers) and runs `then`. */
async function sourceRuntime(env: Record<string, string>, then: string): Promise<RunResult> {
  return runCommand(['bash', '-c', `set -euo pipefail; source "$1"; ${then}`, 'bash', RUNTIME_SH], {
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/root', ...env },
    timeoutMs: 300_000,
  });
}

void test('runtime.sh: installs the pinned Node.js and npm from the npm registry into a versioned directory, exports OVERLAY_LB_NODE and puts it first on PATH; a second call is a no-op', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'olb-n24-runtime-'));
  t.after(() => rm(root, { recursive: true, force: true }));
  // GIVEN an empty runtime root WHEN a script sources runtime.sh
  // (PATH is the system's: on the test machine /usr/bin/node is an older Node.js)
  const r = await sourceRuntime({ OVERLAY_LB_RUNTIME_ROOT: root, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, 'printf "%s\\n" "$OVERLAY_LB_NODE" "$(command -v node)" "$(node --version)" "$(npm --version)" "$OVERLAY_LB_NODE_VERSION"');
  assert.equal(r.code, 0, r.stderr);
  // THEN node, npm and the exports are the pinned ones, whatever node the caller's PATH had
  const [nodePath, onPath, version, npmVersion, exported] = r.stdout.trim().split('\n');
  assert.match(nodePath ?? '', new RegExp(`^${root}/node-v24\\.\\d+\\.\\d+-npm-11\\.\\d+\\.\\d+-linux-(x64|arm64)/bin/node$`));
  assert.equal(onPath, nodePath);
  assert.equal(version, `v${exported ?? ''}`);
  assert.match(npmVersion ?? '', /^11\.\d+\.\d+$/);
  assert.match(r.stderr, /runtime: Node\.js 24\.\d+\.\d+ and npm 11\.\d+\.\d+ installed in /);
  // AND the second call installs nothing and prints nothing
  const again = await sourceRuntime({ OVERLAY_LB_RUNTIME_ROOT: root, PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, 'echo "$OVERLAY_LB_NODE"');
  assert.equal(again.code, 0, again.stderr);
  assert.equal(again.stdout.trim(), nodePath);
  assert.equal(again.stderr, '');
});

void test('runtime.sh: a tarball that does not match the pinned integrity stops with a message naming it, and nothing is installed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-n24-runtime-bad-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // GIVEN a registry mirror that serves other bytes for the pinned node package
  const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
  const version = /node_version=(\d+\.\d+\.\d+)/.exec(await readFile(RUNTIME_SH, 'utf8'))?.[1];
  assert.ok(version, 'scripts/runtime.sh pins node_version=X.Y.Z');
  await mkdir(join(dir, 'mirror', `node-linux-${arch}`, '-'), { recursive: true });
  await writeFile(join(dir, 'mirror', `node-linux-${arch}`, '-', `node-linux-${arch}-${version}.tgz`), 'not the pinned tarball\n');
  // WHEN a script sources runtime.sh
  const r = await sourceRuntime({ OVERLAY_LB_RUNTIME_ROOT: join(dir, 'rt'), OVERLAY_LB_NPM_REGISTRY: `file://${join(dir, 'mirror')}` }, 'echo reached');
  // THEN it fails before the script goes on, says which file and which pin, and leaves no runtime
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, new RegExp(`runtime: node-linux-${arch}-${version.replaceAll('.', '\\.')}\\.tgz from file://\\S+ does not match the pinned integrity sha512-\\S+ \\(got sha512 [0-9a-f]{128}\\); nothing was installed`));
  assert.deepEqual((await readdir(join(dir, 'rt'))).filter((e) => e.startsWith('node-v') || e.startsWith('.install')), []);
  assert.deepEqual(await readdir(join(dir, 'rt', 'cache')), []);
});

void test('runtime.sh: an architecture without a pinned runtime is refused by name', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-n24-runtime-arch-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // GIVEN a machine whose uname -m says riscv64
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'uname'), '#!/bin/sh\necho riscv64\n');
  await chmod(join(dir, 'bin', 'uname'), 0o755);
  const r = await sourceRuntime({ OVERLAY_LB_RUNTIME_ROOT: join(dir, 'rt'), PATH: `${join(dir, 'bin')}:${process.env['PATH'] ?? '/usr/bin:/bin'}` }, 'echo reached');
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /runtime: no pinned Node\.js 24\.\d+\.\d+ for the machine architecture 'riscv64': overlay-lb runs on x86_64 and aarch64 Linux \(Debian 12\)/);
});
