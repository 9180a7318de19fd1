import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { loadCausalLM, releaseModel } from '../models/load';
import { testContext } from '../test/gpu';
import { Trainer, type Batch } from './trainer';

function fixedBatch(V: number, B: number, T: number): Batch {
  const ids: number[] = [];
  const targets: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.from({ length: T }, (_, t) => (b * 31 + t * 7 + ((t * t) % 5)) % V);
    ids.push(...row);
    targets.push(...row.slice(1), -100);
  }
  return { ids, targets, batchSize: B, seqLen: T };
}

describe('trainer', () => {
  for (const folder of ['tiny-llama', 'tiny-gpt2']) {
    it(`${folder}: full fine-tuning overfits a fixed batch (loss below a tenth of its start)`, async () => {
      const ctx = await testContext();
      const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(`test/fixtures/${folder}`)));
      const steps = 60;
      const trainer = new Trainer(
        ctx,
        { model, trainable: model.parameters().map((p) => ({ tensor: p.tensor, weightDecay: p.kind === 'linear' })) },
        { schedule: { kind: 'constant', peak: 1e-2, warmupSteps: 5, totalSteps: steps }, clipNorm: 1, weightDecay: 0.01 },
      );
      try {
        const batch = fixedBatch(model.config.vocabSize, 2, 12);
        const pending = [];
        for (let i = 0; i < steps; i++) pending.push(trainer.step(batch));
        const metrics = await Promise.all(pending);
        const first = metrics[0]!;
        const last = metrics[steps - 1]!;
        expect(first.tokens).toBe(22);
        expect(Number.isFinite(first.gradNorm) && first.gradNorm > 0).toBe(true);
        expect(last.loss).toBeLessThan(first.loss / 10);
        const stats = ctx.stats();
        // steady state: the last steps reuse pooled buffers instead of creating new ones
        const created = stats.createdCount;
        await trainer.step(batch);
        expect(ctx.stats().createdCount).toBe(created);
        const validation = await trainer.evaluate([batch]);
        expect(validation).toBeLessThan(first.loss / 10);
      } finally {
        trainer.destroy();
        releaseModel(ctx, model);
      }
    });
  }
});
