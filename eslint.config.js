// Lint: typescript-eslint's recommended rules plus the layer order of ARCHITECTURE.md, enforced:
// imports only point down  ui/state → worker/cli → train → models/adapters → linalg → tensor →
// kernels → gpu; io/ is pure data. Model and adapter code never names a GPU* type.
import tseslint from 'typescript-eslint';

const layer = (files, forbidden, message) => ({
  files,
  rules: {
    'no-restricted-imports': ['error', { patterns: forbidden.map((group) => ({ group: [group], message })) }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'playwright-report/**', 'test-results/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  layer(
    ['src/ui/**', 'src/state/**'],
    ['**/gpu/*', '**/kernels/*', '**/tensor/*', '**/tensor/ops/*', '**/models/*', '**/adapters/*', '**/linalg/*', '**/train/*', '**/bench/*'],
    'ui/ and state/ reach the engine only through worker/ (ARCHITECTURE.md, layers).',
  ),
  layer(
    ['src/io/**'],
    ['**/gpu/*', '**/kernels/*', '**/tensor/*', '**/models/*', '**/adapters/*', '**/linalg/*', '**/train/*', '**/worker/*', '**/ui/*', '**/state/*'],
    'io/ is pure data in and out: no GPU or engine code.',
  ),
  layer(
    ['src/gpu/**'],
    ['**/kernels/*', '**/tensor/*', '**/models/*', '**/adapters/*', '**/linalg/*', '**/train/*', '**/worker/*', '**/ui/*', '**/state/*'],
    'gpu/ is the bottom layer.',
  ),
  layer(
    ['src/kernels/**'],
    ['**/tensor/*', '**/models/*', '**/adapters/*', '**/linalg/*', '**/train/*', '**/worker/*', '**/ui/*', '**/state/*'],
    'kernels/ sits below tensor/.',
  ),
  layer(
    ['src/tensor/**'],
    ['**/models/*', '**/adapters/*', '**/linalg/*', '**/train/*', '**/worker/*', '**/ui/*', '**/state/*'],
    'tensor/ sits below models/, adapters/ and linalg/.',
  ),
  layer(['src/linalg/**'], ['**/models/*', '**/adapters/*', '**/train/*', '**/worker/*', '**/ui/*', '**/state/*'], 'linalg/ sits below models/ and adapters/.'),
  {
    files: ['src/models/**', 'src/adapters/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/gpu/*'], message: 'Model and adapter code goes through tensor/, never gpu/.' },
            { group: ['**/train/*', '**/worker/*', '**/cli/*', '**/ui/*', '**/state/*'], message: 'models/ and adapters/ sit below train/.' },
          ],
        },
      ],
      'no-restricted-syntax': ['error', { selector: 'TSTypeReference[typeName.name=/^GPU/]', message: 'Model and adapter code never names a GPU* type.' }],
    },
  },
  layer(['src/train/**'], ['**/worker/*', '**/cli/*', '**/ui/*', '**/state/*'], 'train/ sits below the hosts (worker/, cli/).'),
  layer(['src/worker/**', 'src/cli/**'], ['**/ui/*', '**/state/*'], 'The engine hosts never import the UI.'),
);
