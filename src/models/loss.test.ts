// CausalLM.loss (final hidden states → lmHeadLoss, chunked over the tokens) against the unfused
// crossEntropy(forward(ids)) on the fixtures: GPT-2 (tied), Llama (untied) and Qwen2 (tied), in
// one chunk and in several; the loss against the float64 reference, and every parameter's
// gradient (full fine-tuning, so a tied embedding gets both the head's and the lookup's share).

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { Graph } from '../tensor/graph';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import { readGrad, readTensor, targetIds, tokenIds, zeroGrads } from '../tensor/values';
import { testContext } from '../test/gpu';
import { relativeError } from '../test/reference';
import type { CausalLM } from './causalLM';
import { loadCausalLM, releaseModel } from './load';

interface Reference {
  readonly ids: number[][];
  readonly loss: number;
}

/** HF's causal-LM labels: target of position t is ids[t + 1]; the last position counts nothing. */
function shiftedTargets(ids: readonly (readonly number[])[]): number[] {
  return ids.flatMap((row) => row.map((_, t) => (t + 1 < row.length ? row[t + 1]! : -100)));
}

interface LossAndGrads {
  readonly loss: number;
  readonly grads: ReadonlyMap<string, Float32Array>;
}

/** Loss and every parameter's gradient, fused (chunkBytes given) or unfused (crossEntropy of the logits). */
async function lossAndGrads(model: CausalLM, ref: Reference, chunkBytes?: number): Promise<LossAndGrads> {
  const ctx = await testContext();
  const [B, T] = [ref.ids.length, ref.ids[0]!.length];
  const g = new Graph(ctx);
  try {
    const ids = tokenIds(g, ref.ids.flat(), [B, T]);
    const targets = targetIds(g, shiftedTargets(ref.ids), [B, T]);
    const loss = chunkBytes === undefined ? crossEntropy(g, model.forward(g, ids), targets) : model.loss(g, ids, targets, { chunkBytes });
    const [value] = await readTensor(ctx, loss);
    g.backward(loss);
    const grads = new Map<string, Float32Array>();
    for (const p of model.parameters()) grads.set(p.name, (await readGrad(ctx, p.tensor))!);
    return { loss: value!, grads };
  } finally {
    zeroGrads(
      ctx,
      model.parameters().map((p) => p.tensor),
    );
    g.destroy();
  }
}

describe('CausalLM.loss (chunked LM head) on the fixtures', () => {
  for (const [folder, tied] of [
    ['tiny-gpt2', true],
    ['tiny-llama', false],
    ['tiny-qwen2', true],
  ] as const) {
    it(`${folder}${tied ? ' (tied)' : ''}: loss and every gradient equal the unfused path, in one chunk and in several`, async () => {
      const ctx = await testContext();
      const ref = JSON.parse(await readFile(`test/fixtures/${folder}/reference.json`, 'utf8')) as Reference;
      const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`)));
      try {
        expect(model.config.tieWordEmbeddings).toBe(tied);
        model.setTrainable(true);
        const unfused = await lossAndGrads(model, ref);
        const V = model.config.vocabSize;
        for (const rows of [undefined, 3, 8]) {
          const fused = await lossAndGrads(model, ref, rows === undefined ? 64 * 2 ** 20 : 4 * V * rows);
          expect(Math.abs(fused.loss - unfused.loss) / unfused.loss, `loss, rows ${rows ?? 'all'}`).toBeLessThan(1e-5);
          expect(Math.abs(fused.loss - ref.loss)).toBeLessThan(1e-5);
          for (const [name, grad] of unfused.grads) {
            expect(grad, name).not.toBeNull();
            expect(relativeError(fused.grads.get(name)!, grad), `${name}, rows ${rows ?? 'all'}`).toBeLessThan(1e-5);
          }
        }
      } finally {
        releaseModel(ctx, model);
      }
    });
  }

  it('without gradients (evaluation) gives the same loss as the unfused path', async () => {
    const ctx = await testContext();
    const ref = JSON.parse(await readFile('test/fixtures/tiny-llama/reference.json', 'utf8')) as Reference;
    const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources('test/fixtures/tiny-llama')));
    const g = new Graph(ctx, false);
    try {
      const [B, T] = [ref.ids.length, ref.ids[0]!.length];
      const ids = tokenIds(g, ref.ids.flat(), [B, T]);
      const targets = targetIds(g, shiftedTargets(ref.ids), [B, T]);
      const [fused] = await readTensor(ctx, model.loss(g, ids, targets, { chunkBytes: 4 * model.config.vocabSize * 5 }));
      const [unfused] = await readTensor(ctx, crossEntropy(g, model.forward(g, ids), targets));
      expect(Math.abs(fused! - unfused!) / unfused!).toBeLessThan(1e-5);
    } finally {
      g.destroy();
      releaseModel(ctx, model);
    }
  });
});
