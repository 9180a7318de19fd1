// Qwen3 and Gemma 3 beyond the reference logits (model.test.ts): generation with the KV cache
// gives, position by position, the logits of one full forward pass, also past Gemma's sliding
// window (tiny-gemma3: window 5, 14 positions) (greedy generation with and without the cache:
// generate.test.ts, with the other fixtures). Full fine-tuning gradients of the parameters only
// these models have (q/k norms, Gemma's (1 + w) and extra norms, the scaled embedding) match
// central differences of the loss.

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { Graph } from '../tensor/graph';
import { KvCache } from '../tensor/kvCache';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import { readTensor, targetIds, tokenIds } from '../tensor/values';
import { testContext } from '../test/gpu';
import { relativeError } from '../test/reference';
import type { CausalLM } from './causalLM';
import { loadCausalLM, releaseModel } from './load';

async function referenceIds(folder: string): Promise<number[][]> {
  const ref = JSON.parse(await readFile(`test/fixtures/${folder}/reference.json`, 'utf8')) as { ids: number[][] };
  return ref.ids;
}

/** HF's causal-LM labels: target of position t is ids[t + 1]; the last position counts nothing. */
function shiftedTargets(ids: readonly (readonly number[])[]): number[] {
  return ids.flatMap((row) => row.map((_, t) => (t + 1 < row.length ? row[t + 1]! : -100)));
}

/** Mean next-token cross-entropy of the batch; with `backward`, every trainable parameter gets its gradient. */
async function lossOf(model: CausalLM, ids: number[][], backward = false): Promise<number> {
  const ctx = await testContext();
  const [B, T] = [ids.length, ids[0]!.length];
  const g = new Graph(ctx, backward);
  try {
    const loss = crossEntropy(g, model.forward(g, tokenIds(g, ids.flat(), [B, T])), targetIds(g, shiftedTargets(ids), [B * T]));
    const [value] = await readTensor(ctx, loss);
    if (backward) g.backward(loss);
    return value!;
  } finally {
    g.destroy();
  }
}

describe('Qwen3 and Gemma 3 with the KV cache', () => {
  for (const folder of ['tiny-qwen3', 'tiny-gemma3']) {
    it(`${folder}: cached logits, fed in chunks of 3, 1, 1, 4, 1, … tokens, equal one full forward pass`, async () => {
      const ctx = await testContext();
      const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`)));
      const ids = (await referenceIds(folder))[0]!;
      const T = ids.length;
      const V = model.config.vocabSize;
      const { numLayers, numKvHeads, headDim } = model.config;
      const cache = new KvCache(ctx, { layers: numLayers, batch: 1, maxTokens: T, kvDim: numKvHeads * headDim });
      try {
        let full: Float32Array;
        const g = new Graph(ctx, false);
        try {
          full = await readTensor(ctx, model.forward(g, tokenIds(g, ids, [1, T])));
        } finally {
          g.destroy();
        }
        const chunks = [3, 1, 1, 4];
        let start = 0;
        for (let step = 0; start < T; step++) {
          const n = Math.min(chunks[step] ?? 1, T - start);
          const piece = ids.slice(start, start + n);
          const gc = new Graph(ctx, false);
          try {
            const got = await readTensor(ctx, model.forward(gc, tokenIds(gc, piece, [1, n]), { cache, start }));
            expect(relativeError(got, full.subarray(start * V, (start + n) * V)), `positions ${start}..${start + n - 1}`).toBeLessThan(1e-5);
          } finally {
            gc.destroy();
          }
          start += n;
        }
      } finally {
        cache.destroy();
        releaseModel(ctx, model);
      }
    });
  }

  const probes: Record<string, string[]> = {
    'tiny-qwen3': [
      'model.layers.0.self_attn.q_norm.weight',
      'model.layers.1.self_attn.k_norm.weight',
      'model.layers.1.self_attn.k_proj.weight',
      'model.embed_tokens.weight',
    ],
    'tiny-gemma3': [
      'model.embed_tokens.weight',
      'model.layers.0.self_attn.q_norm.weight',
      'model.layers.1.input_layernorm.weight',
      'model.layers.1.post_attention_layernorm.weight',
      'model.layers.2.self_attn.k_norm.weight',
      'model.layers.2.pre_feedforward_layernorm.weight',
      'model.layers.3.post_feedforward_layernorm.weight',
      'model.layers.3.mlp.gate_proj.weight',
      'model.norm.weight',
    ],
  };
  for (const [folder, names] of Object.entries(probes)) {
    it(`${folder}: full fine-tuning gradients match central differences of the loss`, async () => {
      const ctx = await testContext();
      const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`)), { trainable: true });
      try {
        const ids = await referenceIds(folder);
        await lossOf(model, ids, true);
        const h = 1e-2;
        for (const name of names) {
          const p = model.parameters().find((q) => q.name === name)!.tensor;
          const values = await readTensor(ctx, p);
          const analytic = await ctx.read(p.grad!);
          // The entry with the largest gradient: its difference quotient stands well above f32 noise.
          const index = analytic.reduce((best, v, i) => (Math.abs(v) > Math.abs(analytic[best]!) ? i : best), 0);
          const probe = async (delta: number) => {
            const copy = values.slice();
            copy[index] = values[index]! + delta;
            ctx.write(p.data, copy);
            return lossOf(model, ids);
          };
          const fd = ((await probe(h)) - (await probe(-h))) / (2 * h);
          ctx.write(p.data, values);
          expect(Math.abs(fd - analytic[index]!), `${name}[${index}] fd ${fd} analytic ${analytic[index]}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
        }
      } finally {
        releaseModel(ctx, model);
      }
    });
  }
});
