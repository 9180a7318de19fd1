import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { testContext } from '../test/gpu';
import { generate } from './generate';
import { loadCausalLM, releaseModel } from './load';
import { argmax, samplingDistribution, sampleToken, seededRandom } from './sampling';

describe('generation', () => {
  for (const folder of ['tiny-gpt2', 'tiny-llama', 'tiny-qwen2']) {
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
