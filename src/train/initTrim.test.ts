// After every method's init, runComparison hands the pool's free buffers back to the system: the
// inits' scratch (PiSSA's SVD workspace, QLoRA's f32 working copies) and a released base are not
// kept for reuse, so what the GPU holds when training starts is what is live.

import { describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { qlora } from '../adapters/methods/quantized';
import { selectTargets } from '../adapters/targets';
import { createBatcher } from '../io/datasets';
import { releaseModel } from '../models/load';
import { testContext } from '../test/gpu';
import { runComparison } from './compare';
import { modelFiles, smallSettings } from './testing';

describe('runComparison after the inits', () => {
  it('holds no free buffers: the pool owns only what is live', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    try {
      const rows = Array.from({ length: 8 }, (_, r) => {
        const ids = Array.from({ length: 9 }, (_, t) => (r * 5 + t * 3) % model.config.vocabSize);
        return { ids, lossMask: ids.map((_, t) => t > 0) };
      });
      const batcher = createBatcher(rows, { batchSize: 2, seqLen: 8, seed: 1 });
      let freeDuringInits = 0;
      let after: { owned: number; live: number } | undefined;
      await runComparison(rt, {
        model,
        methods: [lora, pissa, qlora].map((m) => ({ id: m.id, settings: smallSettings(m) })),
        targets: selectTargets(model, ['all']),
        steps: 1,
        schedule: { kind: 'constant', peak: 1e-3, warmupSteps: 0 },
        clipNorm: 1,
        weightDecay: 0,
        seed: 1,
        trainBatch: (step) => batcher.batch(step),
        validationBatches: [],
        evalEvery: 0,
        onInit: () => {
          const s = rt.stats();
          freeDuringInits = Math.max(freeDuringInits, s.ownedBytes - s.liveBytes);
        },
        afterInit: () => {
          const s = rt.stats();
          after = { owned: s.ownedBytes, live: s.liveBytes };
        },
      });
      // The inits did leave free buffers behind...
      expect(freeDuringInits).toBeGreaterThan(0);
      // ...and none are left when training starts.
      expect(after!.owned).toBe(after!.live);
    } finally {
      releaseModel(rt, model);
    }
  }, 120_000);
});
