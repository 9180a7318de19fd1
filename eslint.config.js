// Lint: typescript-eslint's recommended rules plus the layer order of ARCHITECTURE.md, enforced:
// imports only point down  ui/state → worker/cli → train → models/adapters → linalg → tensor →
// kernels → gpu; io/ is pure data. Models, adapters and train reach kernels only through tensor ops
// and never name a GPU* type.
import tseslint from 'typescript-eslint';

const THROUGH_TENSOR_OPS = 'models/, adapters/ and train/ reach kernels only through tensor ops (ARCHITECTURE.md): no kernels/, gpu/ or tensor/gpuContextOf.';
const KERNEL_ACCESS = ['**/kernels/*', '**/gpu/*', '**/tensor/gpuContextOf'];
const ABOVE_MODELS = ['**/train/*', '**/worker/*', '**/cli/*', '**/ui/*', '**/state/*'];
const ABOVE_TRAIN = ['**/worker/*', '**/cli/*', '**/ui/*', '**/state/*'];
const TRAIN_BELOW_HOSTS = 'train/ sits below the hosts (worker/, cli/).';
const NO_GPU_TYPES = { selector: 'TSTypeReference[typeName.name=/^GPU/]', message: 'Model, adapter and training code never names a GPU* type.' };
const NO_GRAPH_CONTEXT = {
  selector: "MemberExpression[object.type!='ThisExpression'][property.name='ctx']",
  message: "A Graph's ctx is the tensor ops' GPU context: models, adapters and train use their Runtime (ARCHITECTURE.md).",
};

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
    ['src/study/**'],
    [
      '**/gpu/*',
      '**/kernels/*',
      '**/tensor/*',
      '**/tensor/ops/*',
      '**/models/*',
      '**/adapters/*',
      '**/linalg/*',
      '**/train/*',
      '**/worker/*',
      '**/cli/*',
      '**/state/*',
    ],
    'study/ is pure data over the results file, read by the CLI report and the UI: no engine code (plot helpers of ui/ are pure and allowed).',
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
  // Models, adapters and train reach kernels only through tensor ops: they import neither kernels/
  // nor gpu/, nor the tensor layer's bridge to the full context, and see the GPU as tensor/'s
  // narrow Runtime (a Graph's ctx is the ops' business). Their tests may build references with
  // kernels (and train's may make a context); src/lintRules.test.ts checks that this fires.
  {
    files: ['src/models/**', 'src/adapters/**', 'src/train/**'],
    ignores: ['**/*.test.ts'],
    rules: { 'no-restricted-syntax': ['error', NO_GPU_TYPES, NO_GRAPH_CONTEXT] },
  },
  {
    files: ['src/models/**', 'src/adapters/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: KERNEL_ACCESS, message: THROUGH_TENSOR_OPS },
            { group: ABOVE_MODELS, message: 'models/ and adapters/ sit below train/.' },
          ],
        },
      ],
    },
  },
  {
    files: ['src/models/**/*.test.ts', 'src/adapters/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['**/gpu/*'], message: 'Model and adapter code goes through tensor/, never gpu/.' },
            { group: ABOVE_MODELS, message: 'models/ and adapters/ sit below train/.' },
          ],
        },
      ],
      'no-restricted-syntax': ['error', NO_GPU_TYPES],
    },
  },
  {
    files: ['src/train/**'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: KERNEL_ACCESS, message: THROUGH_TENSOR_OPS },
            { group: ABOVE_TRAIN, message: TRAIN_BELOW_HOSTS },
          ],
        },
      ],
    },
  },
  layer(['src/train/**/*.test.ts'], ABOVE_TRAIN, TRAIN_BELOW_HOSTS),
  layer(['src/worker/**', 'src/cli/**'], ['**/ui/*', '**/state/*'], 'The engine hosts never import the UI.'),
);
