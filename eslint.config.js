// Lint: typescript-eslint's strict, type-checked rules on the sources; its recommended ones on the
// tests, benchmarks and scripts (which poke at internals on purpose). Formatting is Prettier's
// (.prettierrc.json); lines stay under 120 characters; a rule is disabled only with a reason.

import comments from '@eslint-community/eslint-plugin-eslint-comments/configs';
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  // examples/ is a FastBlocks app's assets (browser scripts), synced by the tool, not its code.
  { ignores: ['dist/', 'lib/', 'node_modules/', '.tmp/', '.tmp-bundle/', 'coverage/', 'examples/'] },
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  js.configs.recommended,
  comments.recommended,
  {
    files: ['src/**/*.ts'],
    extends: [...tseslint.configs.strictTypeChecked, ...tseslint.configs.stylisticTypeChecked],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Numbers read well in messages; anything else must be made a string on purpose.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      // `return void io.info(…)` and `(x) => void list.push(x)` say "nothing to return" on purpose.
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidOperator: true, ignoreVoidReturningFunctions: true },
      ],
      // `const { after: _, ...rest } = walked` leaves a field out on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // Passing on what was thrown, as it was thrown, is what a retry or a race must do.
      '@typescript-eslint/prefer-promise-reject-errors': [
        'error',
        { allowThrowingAny: true, allowThrowingUnknown: true },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts', 'vitest.config.ts'],
    extends: [...tseslint.configs.recommended],
    rules: {
      // `for await (const _ of stream) break;` reads a stream and lets it go on purpose.
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: { ...globals.node } },
  },
  prettier,
  {
    plugins: { '@stylistic': stylistic },
    rules: {
      // A regular expression cannot be split without changing its form: it may run longer.
      '@stylistic/max-len': ['error', { code: 120, tabWidth: 2, ignoreRegExpLiterals: true }],
      '@eslint-community/eslint-comments/require-description': ['error', { ignore: [] }],
      '@eslint-community/eslint-comments/disable-enable-pair': ['error', { allowWholeFile: true }],
    },
  },
);
