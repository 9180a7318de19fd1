import { describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { spp } from '../adapters/methods/spp';
import { resolveSettings } from '../adapters/types';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { loadCausalLM } from '../models/load';
import { testContext } from '../test/gpu';
import { haltMessage, sparsityOf, spectrum } from './diagnostics';

async function tinyLlama() {
  const ctx = await testContext();
  const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources('test/fixtures/tiny-llama')));
  return { ctx, model };
}

describe('diagnostics', () => {
  it('names the first layer whose trainable parameters became non-finite', async () => {
    const { ctx, model } = await tinyLlama();
    const targets = model.linearNames().slice(0, 3);
    const adapted = await lora.create({ rt: ctx, model, targets, seed: 0, learningRate: 1e-3 }, resolveSettings(lora, { rank: 2 }));
    try {
      expect(await haltMessage(ctx, adapted, Number.NaN, 4)).toContain('every trainable parameter is still finite');
      const second = adapted.trainable[3]!.tensor; // the second layer's lora_B (A, B per layer)
      const values = new Float32Array(second.data.size);
      values[1] = Number.POSITIVE_INFINITY;
      ctx.write(second.data, values);
      const message = await haltMessage(ctx, adapted, Number.NaN, 4);
      expect(message).toContain('stopped at step 4: the loss became NaN');
      expect(message).toContain(`in ${targets[1]} (${second.name}, value Infinity)`);
    } finally {
      adapted.release(ctx);
    }
  });

  it('SPP: the merged weights keep exactly the pruned zeros; a LoRA spectrum at init equals the base', async () => {
    const { ctx, model } = await tinyLlama();
    const targets = model
      .linearNames()
      .filter((n) => model.linear(n).outFeatures % 16 === 0)
      .slice(0, 2);
    const settings = resolveSettings(spp, { pruning: 'magnitude', ratio: 0.5 });
    const adapted = await spp.create({ rt: ctx, model, targets, seed: 0, learningRate: 1e-3 }, settings);
    try {
      const check = (await sparsityOf(ctx, adapted))!;
      expect(check.zeros).toBe(check.prunedZeros);
      expect(check.fraction).toBeCloseTo(0.5, 10);
      expect(check.expected).toBe(0.5);
    } finally {
      adapted.release(ctx);
    }
    const low = await lora.create({ rt: ctx, model, targets: [targets[0]!], seed: 0, learningRate: 1e-3 }, resolveSettings(lora, { rank: 2 }));
    try {
      const s = await spectrum(ctx, lora.id, low, targets[0]!, undefined, 0);
      expect(s.before.length).toBe(Math.min(...s.shape));
      for (let i = 0; i < s.before.length; i++) expect(s.after[i]).toBeCloseTo(s.before[i]!, 5);
      expect(s.before[0]).toBeGreaterThan(s.before.at(-1)!);
    } finally {
      low.release(ctx);
    }
  });
});
