// The reviewed template: the example stack (examples/cdk/stack.ts) from the fixtures, synthesized
// here and by the example app as `cdk synth` runs it (cdk.json's app command, no account), equal
// to test/golden/overlay-lb-example.template.json. Rewrite it only on purpose, and review the diff:
//   UPDATE_GOLDEN=1 npm test   (in constructs/, after npm run build)
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { EXAMPLE_APP_DIR, FIXTURE_PACKAGE, FIXTURE_SPEC, GOLDEN_TEMPLATE, synthExample } from './synth.js';

const text = (value: unknown): string => `${JSON.stringify(value, null, 1)}\n`;

void test('the synthesized template is the reviewed one', () => {
  const { json } = synthExample();
  if (process.env['UPDATE_GOLDEN'] === '1') writeFileSync(GOLDEN_TEMPLATE, text(json));
  assert.equal(text(json), readFileSync(GOLDEN_TEMPLATE, 'utf8'));
});

void test('the example app synthesizes the same template offline, as cdk synth runs it (cdk.json)', async () => {
  const { app } = JSON.parse(readFileSync(join(EXAMPLE_APP_DIR, 'cdk.json'), 'utf8')) as { app: string };
  const [command, ...args] = app.split(' ');
  assert.equal(command, 'node');
  const out = mkdtempSync(join(tmpdir(), 'olb-cdk-example-'));
  // No credentials, no account, no network: CDK_OUTDIR is where the cdk CLI asks an app to write.
  const env = { PATH: process.env['PATH'] ?? '', HOME: out, CDK_OUTDIR: out, OVERLAY_LB_SPEC: FIXTURE_SPEC, OVERLAY_LB_PACKAGE: FIXTURE_PACKAGE };
  await promisify(execFile)(process.execPath, args, { cwd: EXAMPLE_APP_DIR, env, timeout: 300_000 });
  assert.equal(text(JSON.parse(readFileSync(join(out, 'OverlayLbExample.template.json'), 'utf8'))), readFileSync(GOLDEN_TEMPLATE, 'utf8'));
});
