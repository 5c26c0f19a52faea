// Lint rules that protect the architecture (docs/ARCHITECTURE.md, "Layers and their rules"):
// - the house plan: one table of layers -> allowed imports (eslint.house-plan.js) generates the
//   import rule of every folder of src/; no import cycles (house/no-cycle);
// - the pure layers (model, speclang, render, plan) do no I/O;
// - only src/cloud/aws/provision (the CLI's provisioning) may import the AWS SDK: the agent has its
//   own EC2 and S3 clients (tests and the lab's own client checks excepted);
// - time only through the injected clock (src/util/clock.ts) outside the lab;
// - no floating promises anywhere; no default exports;
// - warnings for files over 400 lines and functions over 80 (code lines): a sign to split.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { LAYERS, PURE_LAYERS, housePlugin } from './eslint.house-plan.js';

const ioModules = [
  'fs', 'fs/promises', 'net', 'http', 'https', 'http2', 'dgram', 'child_process', 'cluster', 'dns', 'dns/promises',
  'tls', 'worker_threads', 'readline', 'process', 'os',
].flatMap((m) => [m, `node:${m}`]);

const awsSdk = { group: ['@aws-sdk/*', '@smithy/*'], message: 'Only src/cloud/aws/provision (the CLI) may import the AWS SDK: the agent calls EC2 and S3 through its own clients (src/cloud/aws/ec2-query.ts, s3-rest.ts), which cost it a fraction of the SDK\'s memory and CPU (docs/BENCHMARKS.md, "Agent footprint").' };
// The CDK construct's dependencies live in constructs/ only (docs/cdk.md): the main package, its
// dist and the .deb never load them.
const cdk = { group: ['aws-cdk-lib', 'aws-cdk-lib/*', 'constructs', '**/constructs/*'], message: 'aws-cdk-lib and the construct stay in constructs/ (docs/cdk.md).' };

/** The import rule of one folder of src/, from the house plan. */
function layerRule(layer, { sdk }) {
  const allowed = LAYERS[layer];
  const forbidden = Object.keys(LAYERS).filter((l) => l !== layer && !allowed.includes(l));
  const patterns = [
    cdk,
    ...(sdk ? [] : [awsSdk]),
    ...(forbidden.length === 0 ? [] : [{
      group: forbidden.map((l) => `**/${l}/*`),
      message: `src/${layer} may import only ${allowed.length === 0 ? 'itself' : allowed.join(', ')} (the house plan: eslint.house-plan.js, docs/ARCHITECTURE.md).`,
    }]),
  ];
  const pure = PURE_LAYERS.includes(layer);
  return {
    '@typescript-eslint/no-restricted-imports': ['error', {
      ...(pure ? { paths: ioModules.map((name) => ({ name, message: 'Pure layers (model, speclang, render, plan) do no I/O.' })) } : {}),
      patterns,
    }],
    ...(pure ? { 'no-restricted-globals': ['error', { name: 'process', message: 'Pure layers do no I/O.' }, { name: 'fetch', message: 'Pure layers do no I/O.' }] } : {}),
  };
}

const noDateNow = ['error', { object: 'Date', property: 'now', message: 'Read time through the injected clock (src/util/clock.ts: options.clock ?? systemClock), so decisions can be tested without sleeping.' },
  // The agent runs for months: its first localeCompare maps ICU's collation data (about 3 MiB).
  { property: 'localeCompare', message: 'Order keys with compareCodeUnits (src/util/compare.ts): localeCompare loads ICU collation data into a long-running agent (docs/BENCHMARKS.md, "Agent footprint").' }];

export default tseslint.config(
  // constructs/ and its example app (examples/cdk) have their own lint (constructs/eslint.config.js):
  // their types come from constructs/node_modules, which only that package installs.
  { ignores: ['dist/**', 'node_modules/**', 'schema/**', 'constructs/**', 'examples/cdk/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'No default exports.' }],
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [awsSdk, cdk] }],
    },
  },
  {
    files: ['src/**/*.ts'],
    plugins: { house: housePlugin },
    rules: {
      'house/no-cycle': 'error',
      'max-lines': ['warn', { max: 400, skipBlankLines: true, skipComments: true }],
      'max-lines-per-function': ['warn', { max: 80, skipBlankLines: true, skipComments: true, IIFEs: true }],
      'no-restricted-properties': noDateNow,
    },
  },
  {
    // fetch's first use loads undici and its WebAssembly parser (about 17 MiB of a long-running
    // agent); the discovery sources that poll HTTP APIs run only when a spec names them.
    files: ['src/**/*.ts'],
    ignores: ['src/discovery/**', 'src/lab/**'],
    rules: { 'no-restricted-globals': ['error', { name: 'fetch', message: 'Use httpRequest (src/util/http-request.ts): fetch costs a long-running agent about 17 MiB (docs/BENCHMARKS.md, "Agent footprint").' }] },
  },
  // One import rule per folder, generated from the house plan.
  ...Object.keys(LAYERS).map((layer) => ({ files: [`src/${layer}/**/*.ts`], rules: layerRule(layer, { sdk: false }) })),
  // The AWS SDK serves the CLI's provisioning only; the node's side of the release bucket is the agent's.
  { files: ['src/cloud/aws/provision/**/*.ts'], ignores: ['src/cloud/aws/provision/release-follow.ts'], rules: layerRule('cloud', { sdk: true }) },
  {
    // The lab is the simulated world: its clock is the wall clock.
    files: ['src/lab/**/*.ts', 'src/util/clock.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    // Tests and benchmarks use the SDK as a user would.
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  // ESLint's flat config must be a default export.
  { files: ['eslint.config.js', 'eslint.house-plan.js'], ...tseslint.configs.disableTypeChecked, rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-restricted-syntax': 'off' } },
);
