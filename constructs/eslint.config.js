// Lint of the CDK construct package and its example app, with the project's rules (the root
// eslint.config.js ignores both: their types come from constructs/node_modules, which only this
// package installs). Run from the repository root, so the example app is inside the base path:
//   npx eslint -c constructs/eslint.config.js constructs examples/cdk   (npm run lint in constructs/)
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['constructs/dist/**', 'constructs/node_modules/**', '**/cdk.out/**', 'constructs/eslint.config.js'] },
  { files: ['constructs/**/*.ts', 'examples/cdk/**/*.ts'], extends: [js.configs.recommended, ...tseslint.configs.recommendedTypeChecked] },
  {
    files: ['constructs/**/*.ts', 'examples/cdk/**/*.ts'],
    languageOptions: { parserOptions: { project: ['constructs/tsconfig.json'], tsconfigRootDir: import.meta.dirname + '/..' } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', { selector: 'ExportDefaultDeclaration', message: 'No default exports.' }],
      // The construct declares; it never calls AWS (synth needs no account).
      '@typescript-eslint/no-restricted-imports': ['error', { patterns: [{ group: ['@aws-sdk/*', '@smithy/*'], message: 'The construct declares resources; it makes no AWS call.' }] }],
    },
  },
  {
    files: ['constructs/test/**/*.ts'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-unsafe-assignment': 'off', '@typescript-eslint/no-unsafe-member-access': 'off' },
  },
);
