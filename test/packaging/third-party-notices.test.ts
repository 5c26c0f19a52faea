/** The package's third-party notices: which npm packages a bundle holds, and the notices text. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledPackageNames, formatNotices, readBundledPackage } from '../../src/ops/third-party-notices.js';

void test('bundled package names from esbuild metafile inputs, scoped and nested', () => {
  assert.deepEqual(bundledPackageNames([
    'src/cli/main.ts',
    'node_modules/zod/v4/core/core.js',
    'node_modules/@aws-sdk/client-ec2/dist-cjs/index.js',
    'node_modules/@smithy/util-retry/node_modules/@smithy/types/dist-cjs/index.js',
    'node_modules/zod/index.js',
  ]), ['@aws-sdk/client-ec2', '@smithy/types', 'zod']);
});

void test('a package with no license at all is refused; texts are kept whole', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-notices-'));
  try {
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'nolicense', version: '1.0.0' }));
    assert.throws(() => readBundledPackage(dir), /nolicense declares no license and has no license file/);
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'ok', version: '1.2.3', license: 'MIT' }));
    await writeFile(join(dir, 'LICENSE'), 'MIT License\n\nCopyright (c) someone\n');
    const p = readBundledPackage(dir);
    assert.deepEqual(p, { name: 'ok', version: '1.2.3', license: 'MIT', texts: [{ file: 'LICENSE', text: 'MIT License\n\nCopyright (c) someone' }] });
    const text = formatNotices([p], { name: 'Node.js', version: '24.22.3', license: 'MIT', texts: [] });
    assert.match(text, /^ {2}ok 1\.2\.3 +MIT$/m);
    assert.match(text, /Copyright \(c\) someone/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
