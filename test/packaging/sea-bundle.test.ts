/**
 * The single executable's bundles (src/ops/sea-bundle.ts): the agent's main script, which carries
 * no AWS SDK and no CLI command but the agent, and the CLI's, where the SDK's schema keys are
 * inlined so that esbuild can drop the EC2 shapes nothing uses. (The packaged executable built
 * from them runs in test/packaging/deb-lifecycle.test.ts and test/e2e/packaged-agent.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { asciiOnly, bundleSea, ec2ImportNames, inlineSchemaKeys, SCHEMA_FILE } from '../../src/ops/sea-bundle.js';
import { REPO_ROOT } from '../helpers/package.js';

void test('computed keys naming a top-level string constant become the literal; nothing else changes', () => {
  const source = [
    'const _xN = "xmlName";',
    'const _eQN = "ec2QueryName";',
    'let _other = "x";',
    'export var A$ = [3, n0, _A, 0, [_B], [[() => L, { [_eQN]: `Set`, [_xN]: _aSs }], [0, { [_other]: 1, [_unknown]: 2 }]]];',
  ].join('\n');
  const out = inlineSchemaKeys(source);
  assert.match(out, /\{ \["ec2QueryName"\]: `Set`, \["xmlName"\]: _aSs \}/);
  // Not a `const NAME = "literal";` declaration: left alone.
  assert.match(out, /\[_other\]: 1, \[_unknown\]: 2/);
  assert.equal(out.split('\n').slice(0, 3).join('\n'), source.split('\n').slice(0, 3).join('\n'));
  assert.ok(SCHEMA_FILE.test('node_modules/@aws-sdk/client-ec2/dist-es/schemas/schemas_0.js'));
  assert.ok(!SCHEMA_FILE.test('node_modules/@aws-sdk/client-ec2/dist-cjs/index.js'));
});

void test('the names a module imports from the EC2 client, types left out', () => {
  const source = [
    "import { DescribeInstancesCommand, type Instance, EC2Client,\n  ReplaceRouteCommand } from '@aws-sdk/client-ec2';",
    "import type { RouteTable } from '@aws-sdk/client-ec2';",
    "import { S3Client } from '@aws-sdk/client-s3';",
  ].join('\n');
  assert.deepEqual(ec2ImportNames(source), ['DescribeInstancesCommand', 'EC2Client', 'ReplaceRouteCommand']);
});

void test('non-ASCII characters become \\u escapes, one per UTF-16 unit', () => {
  assert.equal(asciiOnly('// a \u2014 b: invàlid\nconst x = 1;'), '// a \\u2014 b: inv\\u00e0lid\nconst x = 1;');
  assert.equal(asciiOnly('/* \u{1F600} */'), '/* \\ud83d\\ude00 */');
});

void test('the executable\'s main script is the agent alone: no AWS SDK, no other command, no lab, no import()', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-sea-agent-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const outfile = join(dir, 'overlay-lb-agent.cjs');
  await bundleSea({ entry: join(REPO_ROOT, 'src/cli/sea-agent-main.ts'), outfile, metafile: join(dir, 'meta.json'), buildJson: JSON.stringify({ version: '9.9.9', commit: 'test' }) });
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
  const inputs = Object.keys(meta.inputs);
  const unwanted = inputs.filter((p) => /node_modules\/@(aws-sdk|smithy|aws-crypto)\/|src\/(lab|provision|cloud\/aws\/provision\/(?!release-follow|names))|src\/cli\/commands\/(?!agent)/.test(p));
  assert.deepEqual(unwanted, [], 'the agent\'s main script bundles these');
  assert.ok(inputs.includes('src/cloud/aws/ec2-query.ts') && inputs.includes('src/cloud/aws/s3-rest.ts'), 'the agent\'s own AWS clients are in it');
  const text = await readFile(outfile, 'utf8');
  assert.deepEqual(text.match(/\bimport\(\s*["'`]/g), null, 'the agent bundle calls import()');
  assert.equal(text.search(/[\u0080-\uffff]/), -1, 'the agent bundle has a non-ASCII character');
});

void test('the executable\'s CLI bundle keeps the EC2 shapes provisioning uses and drops the others', { timeout: 300_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'olb-sea-bundle-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const outfile = join(dir, 'overlay-lb.cjs');
  await bundleSea({ entry: join(REPO_ROOT, 'src/cli/sea-main.ts'), outfile, metafile: join(dir, 'meta.json'), buildJson: JSON.stringify({ version: '9.9.9', commit: 'test' }) });
  const text = await readFile(outfile, 'utf8');
  // Shapes of operations provisioning and doctor call are there ...
  for (const used of ['DescribeRouteTablesRequest$', 'ReplaceRouteRequest$', 'CreateTagsRequest$', 'RunInstancesRequest$']) assert.match(text, new RegExp(`${used.replace('$', '\\$')}\\s*=`), `${used} is missing from the bundle`);
  // ... shapes of operations nothing calls are not (without the inlined keys all ~3,400 were; so
  // were they when a module the CLI imports on demand imported the package's index: the bundle
  // maps those imports to the commands' own modules, ec2DeepImportsPlugin).
  for (const unused of ['AcceptAddressTransferRequest$', 'CreateNatGatewayRequest$', 'CreateVpcEndpointRequest$']) assert.doesNotMatch(text, new RegExp(`${unused.replace('$', '\\$')}\\s*=`), `${unused} is in the bundle`);
  // No dynamic import() left: in the CommonJS main, one of a builtin goes through the ES module
  // loader, whose namespace of node:http reads its lazy WebSocket export and loads undici (about
  // 17 MiB of the agent's memory, at the SDK's first plain-HTTP call); require() does not.
  assert.deepEqual(text.match(/\bimport\(\s*["'`]/g), null, 'the bundle calls import()');
  // All ASCII, so V8 holds the source in one byte per character.
  assert.equal(text.search(/[\u0080-\uffff]/), -1, 'the bundle has a non-ASCII character');
  // The SDK comes from its ES module build (tree-shakable), not the CommonJS one.
  const meta = JSON.parse(await readFile(join(dir, 'meta.json'), 'utf8')) as { inputs: Record<string, unknown> };
  const ec2 = Object.keys(meta.inputs).filter((p) => p.includes('@aws-sdk/client-ec2/'));
  assert.ok(ec2.length > 0 && ec2.filter((p) => p.endsWith('.js')).every((p) => p.includes('/dist-es/')), `client-ec2 inputs: ${ec2.slice(0, 5).join(', ')}`);
});
