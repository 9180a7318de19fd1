// The GPT-2, Llama (GQA), Qwen2 (bf16, q/k/v biases, tied), Qwen3 (q/k norms, H·D ≠ C) and
// Gemma 3 (sandwich norms, sliding and global layers) fixtures of test/fixtures/, loaded
// from their Hugging Face folders, give the reference logits (max abs error 1e-4) and loss (1e-5)
// of an independent float64 implementation (scripts/make_fixtures.py).

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { Graph } from '../tensor/graph';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import { readTensor, targetIds, tokenIds } from '../tensor/values';
import { testContext } from '../test/gpu';
import { loadCausalLM, releaseModel } from './load';

interface Reference {
  readonly ids: number[][];
  readonly logits: number[][][];
  readonly loss: number;
  readonly loss_per_sequence: number[];
}

async function reference(folder: string): Promise<Reference> {
  return JSON.parse(await readFile(`test/fixtures/${folder}/reference.json`, 'utf8')) as Reference;
}

/** HF's causal-LM labels: target of position t is ids[t + 1]; the last position counts nothing. */
export function shiftedTargets(ids: readonly (readonly number[])[]): number[] {
  return ids.flatMap((row) => row.map((_, t) => (t + 1 < row.length ? row[t + 1]! : -100)));
}

describe('models against the fixtures', () => {
  for (const [folder, referenceFolder] of [
    ['tiny-gpt2', 'tiny-gpt2'],
    ['tiny-llama', 'tiny-llama'],
    ['tiny-llama-sharded', 'tiny-llama'],
    ['tiny-qwen2', 'tiny-qwen2'],
    ['tiny-qwen3', 'tiny-qwen3'],
    ['tiny-gemma3', 'tiny-gemma3'],
  ] as const) {
    it(`${folder}: logits within 1e-4 and loss within 1e-5 of the float64 reference`, async () => {
      const ctx = await testContext();
      const ref = await reference(referenceFolder);
      const source = await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`));
      const model = await loadCausalLM(ctx, source);
      const B = ref.ids.length;
      const T = ref.ids[0]!.length;
      const g = new Graph(ctx, false);
      try {
        const logits = model.forward(g, tokenIds(g, ref.ids.flat(), [B, T]));
        const V = source.config.vocabSize;
        expect(logits.shape).toEqual([B, T, V]);
        const got = await readTensor(ctx, logits);
        let maxError = 0;
        const expected = ref.logits.flat(2);
        for (let i = 0; i < expected.length; i++) maxError = Math.max(maxError, Math.abs(got[i]! - expected[i]!));
        expect(maxError).toBeLessThan(1e-4);

        const loss = crossEntropy(g, logits, targetIds(g, shiftedTargets(ref.ids), [B * T]));
        const [value] = await readTensor(ctx, loss);
        expect(Math.abs(value! - ref.loss)).toBeLessThan(1e-5);
      } finally {
        g.destroy();
        releaseModel(ctx, model);
      }
    });
  }
});
