// The example CDK app (docs/cdk.md): `npx cdk synth` in this directory, after
// `npm ci && npm run build` in constructs/. The spec and the package come from the checkout:
// OVERLAY_LB_SPEC (default examples/provision.yaml) and OVERLAY_LB_PACKAGE (default the newest
// dist/deb/overlay-lb_*.deb that scripts/build-deb.sh wrote).
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { exampleStack } from './stack.js';

const root = join(import.meta.dirname, '../../../..');
function newestPackage(): string {
  const dir = join(root, 'dist/deb');
  let debs: string[] = [];
  try {
    debs = readdirSync(dir).filter((f) => /^overlay-lb_.*\.deb$/.test(f)).sort();
  } catch {
    // No dist/deb: the message below says what to do.
  }
  const last = debs.at(-1);
  if (last === undefined) {
    process.stderr.write(`examples/cdk: no package in ${dir}: build it (bash scripts/build-deb.sh) or set OVERLAY_LB_PACKAGE to a .deb\n`);
    process.exit(1);
  }
  return join(dir, last);
}

const app = new App();
exampleStack(app, 'OverlayLbExample', {
  specFile: process.env['OVERLAY_LB_SPEC'] ?? join(root, 'examples/provision.yaml'),
  packageFile: process.env['OVERLAY_LB_PACKAGE'] ?? newestPackage(),
  // The spec's region; the account stays the deployer's (env-agnostic).
  env: { region: 'us-east-1' },
});
app.synth();
