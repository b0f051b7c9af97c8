import js from '@eslint/js'
import tseslint from 'typescript-eslint'
import globals from 'globals'

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'docker/rootfs/**', '.tmp/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      'no-console': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '^(fs|path|os|net|http|https|crypto|child_process|events|util|stream|url|dgram|dns|zlib|readline|timers|assert|worker_threads|perf_hooks|module)(/.*)?$', message: 'use the node: prefix' }]
      }],
      'no-restricted-properties': ['error', { object: 'test', property: 'only', message: 'no .only in tests' }]
    }
  },
  {
    // the CLI, scripts and benchmarks print to the terminal by design
    files: ['packages/agent/src/cli/**', 'scripts/**', '**/bench/**', 'packages/gossip/src/sim/cli.ts'],
    rules: { 'no-console': 'off' }
  }
)
