import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createEc2Client } from '../../src/cloud/aws/ec2-routes.js';

const ROOT = new URL('../../../', import.meta.url);

void test('runtime: the suite runs on a Node.js major that package.json engines allows (the pinned runtime of scripts/runtime.sh)', async () => {
  const pkg = JSON.parse(await readFile(new URL('package.json', ROOT), 'utf8')) as { engines: { node: string } };
  const min = /^>=(\d+)$/.exec(pkg.engines.node);
  assert.ok(min?.[1], `engines.node is ${pkg.engines.node}, expected >=N`);
  const script = await readFile(new URL('scripts/runtime.sh', ROOT), 'utf8');
  const pinned = /node_version=(\d+)\.(\d+)\.(\d+)/.exec(script);
  assert.ok(pinned?.[1], 'scripts/runtime.sh pins node_version=X.Y.Z');
  assert.ok(Number(pinned[1]) >= Number(min[1]), `the pinned runtime ${pinned[0]} does not satisfy engines ${pkg.engines.node}`);
  const major = Number(process.versions.node.split('.')[0]);
  assert.ok(major >= Number(min[1]), `running on Node.js ${process.version}, engines wants ${pkg.engines.node}: run the tests with scripts/test.sh (it uses the pinned runtime)`);
});

void test('runtime: creating the EC2 client emits no process warning (the SDK\'s multi-line NodeVersionSupportWarning broke the JSON log on Node 20)', async () => {
  // GIVEN a listener for every process warning
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => void warnings.push(w);
  process.on('warning', onWarning);
  try {
    // WHEN the agent's EC2 client is created, the way the agent does it
    const client = createEc2Client({ region: 'eu-west-1', endpoint: 'http://127.0.0.1:9', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' } });
    client.destroy();
    // process.emitWarning delivers on the next tick
    await nextTurn();
    await nextTurn();
  } finally {
    process.off('warning', onWarning);
  }
  // THEN nothing was written besides the agent's own log lines
  assert.deepEqual(warnings.map((w) => `${w.name}: ${w.message.split('\n')[0] ?? ''}`), []);
});
