import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { testContext } from '../test/gpu';
import { Graph } from '../tensor/graph';
import { readTensor, tokenIds } from '../tensor/values';
import { relativeError } from '../test/reference';
import type { CausalLM } from './causalLM';
import { generate, generateMany } from './generate';
import { loadCausalLM, releaseModel } from './load';
import { argmax, samplingDistribution, sampleToken, seededRandom } from './sampling';

/** Greedy tokens the way generation worked before lastLogits: the full logits [1, T, V], last row. */
async function greedyFromFullLogits(model: CausalLM, prompt: readonly number[], count: number): Promise<number[]> {
  const ctx = await testContext();
  const V = model.config.vocabSize;
  const sequence = [...prompt];
  for (let i = 0; i < count; i++) {
    const g = new Graph(ctx, false);
    try {
      const all = await readTensor(ctx, model.forward(g, tokenIds(g, sequence, [1, sequence.length])));
      sequence.push(argmax(all.subarray((sequence.length - 1) * V)));
    } finally {
      g.destroy();
    }
  }
  return sequence.slice(prompt.length);
}

describe('generation', () => {
  it("tiny-llama: prompts of different lengths generated together give each prompt's own greedy run; stop ends a row", async () => {
    const ctx = await testContext();
    const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources('test/fixtures/tiny-llama')));
    try {
      const prompts = [[5, 17, 3, 42, 8], [9], [1, 2, 3], [60, 61, 62, 63, 64, 65, 66]];
      const alone: number[][] = [];
      for (const p of prompts) alone.push(await generate(ctx, model, p, { maxNewTokens: 6, eosIds: [], useCache: false }));
      expect(await generateMany(ctx, model, prompts, { maxNewTokens: 6, eosIds: [], maxBatch: 3 })).toEqual(alone);
      // A row stops once the predicate holds; the others go on.
      const stopped = await generateMany(ctx, model, prompts, { maxNewTokens: 6, eosIds: [], stop: (ids) => ids.length >= 2 });
      expect(stopped.map((o) => o.length)).toEqual([2, 2, 2, 2]);
      expect(stopped.map((o, i) => alone[i]!.slice(0, 2))).toEqual(stopped);
    } finally {
      releaseModel(ctx, model);
    }
  });

  it('tiny-llama: the head on the last position only gives the tokens of the full logits, and the same last row', async () => {
    const ctx = await testContext();
    const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources('test/fixtures/tiny-llama')));
    const g = new Graph(ctx, false);
    try {
      const prompt = [5, 17, 3, 42, 8];
      const reference = await greedyFromFullLogits(model, prompt, 8);
      expect(await generate(ctx, model, prompt, { maxNewTokens: 8, eosIds: [], useCache: true })).toEqual(reference);
      expect(await generate(ctx, model, prompt, { maxNewTokens: 8, eosIds: [], useCache: false })).toEqual(reference);
      const V = model.config.vocabSize;
      const ids = tokenIds(g, [...prompt, 9, 1, 4], [2, 4]);
      const last = model.lastLogits(g, ids);
      expect(last.shape).toEqual([2, V]);
      const full = await readTensor(ctx, model.forward(g, ids));
      const expected = [...full.subarray(3 * V, 4 * V), ...full.subarray(7 * V, 8 * V)];
      expect(relativeError(await readTensor(ctx, last), expected)).toBeLessThan(1e-6);
    } finally {
      g.destroy();
      releaseModel(ctx, model);
    }
  });

  for (const folder of ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2', 'tiny-qwen3', 'tiny-gemma3']) {
    it(`${folder}: greedy generation with the KV cache equals generation without it`, async () => {
      const ctx = await testContext();
      const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`)));
      try {
        const prompt = [5, 17, 3, 42, 8];
        const options = { maxNewTokens: 12, eosIds: [] };
        const cached = await generate(ctx, model, prompt, { ...options, useCache: true });
        const uncached = await generate(ctx, model, prompt, { ...options, useCache: false });
        expect(cached).toHaveLength(12);
        expect(cached).toEqual(uncached);
      } finally {
        releaseModel(ctx, model);
      }
    });
  }

  it('sampling with a seed is reproducible and stops at an end-of-sequence id', async () => {
    const ctx = await testContext();
    const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources('test/fixtures/tiny-llama')));
    try {
      const options = { maxNewTokens: 10, temperature: 1.5, topK: 20, topP: 0.95, seed: 7, eosIds: [] };
      const a = await generate(ctx, model, [1, 2, 3], options);
      const b = await generate(ctx, model, [1, 2, 3], options);
      expect(a).toEqual(b);
      const stopAt = a[3]!;
      const stopped = await generate(ctx, model, [1, 2, 3], { ...options, eosIds: [stopAt] });
      expect(stopped).toEqual(a.slice(0, a.indexOf(stopAt) + 1));
    } finally {
      releaseModel(ctx, model);
    }
  });
});

describe('sampling', () => {
  it('greedy picks the first maximum', () => {
    expect(argmax([1, 3, 3, 2])).toBe(1);
    expect(samplingDistribution([0, 5, 1], { temperature: 0 })).toEqual({ ids: [1], probs: [1] });
  });

  it('top-k keeps the k most likely and top-p the smallest set reaching p', () => {
    const logits = [Math.log(0.1), Math.log(0.5), Math.log(0.3), Math.log(0.1)];
    const k2 = samplingDistribution(logits, { temperature: 1, topK: 2 });
    expect(k2.ids).toEqual([1, 2]);
    expect(k2.probs[0]).toBeCloseTo(0.5 / 0.8, 12);
    const p = samplingDistribution(logits, { temperature: 1, topP: 0.75 });
    expect(p.ids).toEqual([1, 2]);
    const all = samplingDistribution(logits, { temperature: 1 });
    expect(all.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('draws tokens with their probabilities', () => {
    const logits = [0, Math.log(3)]; // p = 0.25, 0.75
    const random = seededRandom(3);
    let ones = 0;
    for (let i = 0; i < 20000; i++) ones += sampleToken(logits, { temperature: 1 }, random);
    expect(ones / 20000).toBeGreaterThan(0.74);
    expect(ones / 20000).toBeLessThan(0.76);
  });
});
