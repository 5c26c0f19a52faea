// Lint rules that protect the architecture (docs/ARCHITECTURE.md):
// - no floating promises anywhere;
// - the pure layers (model, spec, render, plan) do no I/O;
// - only src/cloud/aws may import the AWS SDK (tests and the lab's own client checks excepted).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  'fs', 'fs/promises', 'net', 'http', 'https', 'http2', 'dgram', 'child_process', 'cluster', 'dns', 'dns/promises',
  'tls', 'worker_threads', 'readline', 'process', 'os',
].flatMap((m) => [m, `node:${m}`]);

const awsSdk = { group: ['@aws-sdk/*', '@smithy/*'], message: 'Only src/cloud/aws may import the AWS SDK.' };

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'schema/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'No default exports.' }],
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [awsSdk] }],
    },
  },
  {
    // The agent is the composition root: nothing imports it (the CLI starts it).
    files: ['src/**/*.ts'],
    ignores: ['src/agent/**', 'src/cli/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [awsSdk, { group: ['**/agent/*'], message: 'Nothing imports src/agent (the composition root); move what is shared elsewhere.' }] }],
    },
  },
  {
    files: ['src/model/**/*.ts', 'src/spec/**/*.ts', 'src/render/**/*.ts', 'src/plan/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: ioModules.map((name) => ({ name, message: 'Pure layers (model, spec, render, plan) do no I/O.' })),
        patterns: [awsSdk, { group: ['**/haproxy/*', '**/keepalived/*', '**/agent/*', '**/lab/*', '**/ops/*', '**/cli/*', '**/cloud/*', '**/discovery/*'], message: 'Pure layers import only model, spec, render, plan and util.' }],
      }],
      'no-restricted-globals': ['error', { name: 'process', message: 'Pure layers do no I/O.' }, { name: 'fetch', message: 'Pure layers do no I/O.' }],
    },
  },
  {
    files: ['src/model/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['../*', './*/../*'], message: 'model imports nothing.' }, awsSdk] }],
    },
  },
  {
    // The AWS SDK lives behind the cloud driver; tests and the lab's client-compatibility checks use it as a user would.
    files: ['src/cloud/aws/**/*.ts', 'test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-restricted-imports': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  // ESLint's flat config must be a default export.
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked, rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-restricted-syntax': 'off' } },
);
