// Lint: typescript-eslint's recommended rules on every TypeScript file we ship or test.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bench/results/**', '.tmp/**', 'examples/**/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // src/core/ is transport-neutral (docs/architecture.md): the grpc-js adapter, the proxy and
    // the xDS control plane all drive it. test/architecture.test.ts checks the same rule and
    // the folder graph.
    files: ['src/core/**/*.ts'],
    ignores: ['src/core/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['@grpc/*', 'grpc-health-check', 'etcd3'], message: 'src/core/ is transport-neutral: no gRPC library here.' },
            { group: ['node:net', 'node:tls', 'node:http', 'node:https', 'node:http2', 'node:dgram', 'node:dns', 'net', 'tls', 'http', 'https', 'http2'], message: 'src/core/ is transport-neutral: no sockets here.' },
            { group: ['../../*', '!../../core/*'], message: 'src/core/ imports only src/core/.' },
          ],
        },
      ],
    },
  },
  {
    // The dashboard runs in the browser, as is (no build step).
    files: ['dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: Object.fromEntries(
        ['window', 'document', 'location', 'URLSearchParams', 'CSS', 'EventSource', 'fetch', 'setInterval', 'clearInterval', 'uPlot'].map((g) => [g, 'readonly']),
      ),
    },
  },
);
