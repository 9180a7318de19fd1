// The layer rules of eslint.config.js fire: snippets linted as if they sat at a path in the tree
// (ESLint's Node API, the project's own config), so a rule that is dropped or whose globs stop
// matching fails here rather than silently. Each forbidden case has an allowed twin, so the
// rule is shown to be about the layer, not about the snippet.

import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';

const eslint = new ESLint({ cwd: process.cwd() });

/** The messages of the layer rules for `code` as the file `filePath`. */
async function layerMessages(code: string, filePath: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports' || m.ruleId === 'no-restricted-syntax').map((m) => m.message);
}

const THROUGH_TENSOR_OPS = 'reach kernels only through tensor ops (ARCHITECTURE.md)';

const KERNEL_IMPORTS: readonly (readonly [string, string])[] = [
  ['src/adapters/forms/snippet.ts', "import { fill } from '../../kernels/elementwise';\nexport const f = fill;\n"],
  ['src/adapters/methods/snippet.ts', "import type { GpuTensor } from '../../gpu/tensor';\nexport type T = GpuTensor;\n"],
  ['src/models/snippet.ts', "import { gpuContextOf } from '../tensor/gpuContextOf';\nexport const f = gpuContextOf;\n"],
  ['src/train/snippet.ts', "import type { GpuContext } from '../gpu/context';\nexport type C = GpuContext;\n"],
  ['src/train/snippet.ts', "import { scaleByScalar } from '../kernels/scalar';\nexport const f = scaleByScalar;\n"],
];

describe('eslint.config.js: models, adapters and train reach kernels only through tensor ops', () => {
  for (const [path, code] of KERNEL_IMPORTS) {
    it(`rejects ${code.split('\n')[0]} in ${path}`, async () => {
      const messages = await layerMessages(code, path);
      expect(messages).toHaveLength(1);
      expect(messages[0]).toContain(THROUGH_TENSOR_OPS);
    });
  }

  it('allows the same imports in tensor/ and linalg/, and tensor ops above them', async () => {
    expect(await layerMessages("import { fill } from '../../kernels/elementwise';\nexport const f = fill;\n", 'src/tensor/ops/snippet.ts')).toEqual([]);
    expect(await layerMessages("import { gpuContextOf } from '../tensor/gpuContextOf';\nexport const f = gpuContextOf;\n", 'src/linalg/snippet.ts')).toEqual(
      [],
    );
    expect(await layerMessages("import { scaleByScalar } from '../tensor/ops/optimizer';\nexport const f = scaleByScalar;\n", 'src/train/snippet.ts')).toEqual(
      [],
    );
  });

  it("rejects a Graph's ctx in models/, adapters/ and train/, not an object's own", async () => {
    const code = "import type { Graph } from '../tensor/graph';\nexport const f = (g: Graph) => g.ctx;\n";
    const [message] = await layerMessages(code, 'src/models/snippet.ts');
    expect(message).toContain("A Graph's ctx is the tensor ops' GPU context");
    expect(await layerMessages(code, 'src/train/snippet.ts')).toHaveLength(1);
    expect(await layerMessages(code, 'src/tensor/ops/snippet.ts')).toEqual([]);
    expect(
      await layerMessages(
        'export class C {\n  constructor(readonly ctx: number) {}\n  get twice() {\n    return 2 * this.ctx;\n  }\n}\n',
        'src/train/snippet.ts',
      ),
    ).toEqual([]);
  });

  it('lets tests build references with kernels, and keeps the older rules', async () => {
    expect(await layerMessages("import { fill } from '../../kernels/elementwise';\nexport const f = fill;\n", 'src/adapters/forms/snippet.test.ts')).toEqual(
      [],
    );
    expect(
      await layerMessages("import type { GpuTensor } from '../../gpu/tensor';\nexport type T = GpuTensor;\n", 'src/adapters/forms/snippet.test.ts'),
    ).toHaveLength(1);
    expect(await layerMessages("import { x } from '../worker/client';\nexport const f = x;\n", 'src/train/snippet.test.ts')).toHaveLength(1);
    expect(await layerMessages("import { x } from '../worker/client';\nexport const f = x;\n", 'src/train/snippet.ts')).toHaveLength(1);
    expect(await layerMessages('export type B = GPUBuffer;\n', 'src/adapters/snippet.ts')).toHaveLength(1);
  });
});
