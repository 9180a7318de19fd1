// Activation checkpointing (Graph.checkpoint through ForwardOptions.checkpoint): the gradient of
// every trainable tensor, for LoRA and full fine-tuning on the tiny Llama, GPT-2 and Gemma 3
// fixtures, is the same with and without it; and the pool's peak of a training step on a longer
// sequence is lower with it.

import { describe, expect, it } from 'vitest';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type AdaptedModel, type MethodDefinition } from '../adapters/types';
import type { CausalLM } from '../models/causalLM';
import { releaseModel } from '../models/load';
import { Graph } from '../tensor/graph';
import { readTensor, targetIds, tokenIds, zeroGrads, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { modelFiles } from './testing';
import { Trainer, type Batch } from './trainer';

function batchOf(V: number, B: number, T: number): Batch {
  const ids: number[] = [];
  const targets: number[] = [];
  for (let b = 0; b < B; b++) {
    const row = Array.from({ length: T }, (_, t) => (b * 37 + t * 11 + ((t * t) % 7)) % V);
    ids.push(...row);
    targets.push(...row.slice(1), -100);
  }
  return { ids, targets, batchSize: B, seqLen: T };
}

async function adapt(rt: Runtime, model: CausalLM, method: MethodDefinition): Promise<AdaptedModel> {
  return method.create({ rt, model, targets: selectTargets(model, ['all']), seed: 3, learningRate: 1e-2 }, resolveSettings(method));
}

/** The loss and every trainable's gradient of one forward and backward pass; gradients dropped after. */
async function gradients(rt: Runtime, adapted: AdaptedModel, batch: Batch, checkpoint: boolean): Promise<{ loss: number; grads: Float32Array[] }> {
  const g = new Graph(rt);
  const shape = [batch.batchSize, batch.seqLen];
  try {
    const loss = adapted.model.loss(g, tokenIds(g, batch.ids, shape), targetIds(g, batch.targets, shape), { linears: adapted.linears, checkpoint });
    g.backward(loss);
    const grads: Float32Array[] = [];
    for (const { tensor } of adapted.trainable) {
      if (!tensor.grad) throw new Error(`${tensor.name} got no gradient`);
      grads.push(await rt.read(tensor.grad));
    }
    return { loss: (await readTensor(rt, loss))[0]!, grads };
  } finally {
    zeroGrads(
      rt,
      adapted.trainable.map((t) => t.tensor),
    );
    g.destroy();
  }
}

describe('activation checkpointing', () => {
  for (const fixture of ['tiny-llama', 'tiny-gpt2', 'tiny-gemma3']) {
    for (const method of [lora, full]) {
      it(`${fixture}, ${method.id}: every trainable's gradient is bit for bit the same with checkpointing`, async () => {
        const rt = await testContext();
        const model = await modelFiles(rt, fixture);
        const adapted = await adapt(rt, model, method);
        try {
          const batch = batchOf(model.config.vocabSize, 2, 9);
          // One update first, so that LoRA's B is not zero and A's gradient is not trivially zero.
          const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 1e-2, warmupSteps: 0, totalSteps: 1 } });
          await trainer.step(batch);
          trainer.destroy();
          const plain = await gradients(rt, adapted, batch, false);
          const checkpointed = await gradients(rt, adapted, batch, true);
          expect(checkpointed.loss).toBe(plain.loss);
          expect(checkpointed.grads.length).toBe(adapted.trainable.length);
          let nonZero = 0;
          for (const [i, a] of plain.grads.entries()) {
            const b = checkpointed.grads[i]!;
            const name = adapted.trainable[i]!.tensor.name;
            expect(b.length, name).toBe(a.length);
            let mismatch = -1;
            for (let j = 0; j < a.length && mismatch < 0; j++) if (!Object.is(a[j], b[j])) mismatch = j;
            expect(mismatch, `${name}: first differing entry`).toBe(-1);
            if (a.some((v) => v !== 0)) nonZero++;
          }
          expect(nonZero).toBe(adapted.trainable.length);
        } finally {
          adapted.release(rt);
          releaseModel(rt, model);
        }
      });
    }
  }

  it('lowers the pool peak of a training step on a longer sequence (tiny Gemma 3, four blocks, LoRA)', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-gemma3');
    const adapted = await adapt(rt, model, lora);
    const batch = batchOf(model.config.vocabSize, 2, 64);
    const peaks: number[] = [];
    try {
      for (const checkpointing of [false, true]) {
        const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 1e-3, warmupSteps: 0, totalSteps: 1 }, checkpointing });
        try {
          await trainer.step(batch);
          peaks.push(trainer.peakGpuBytes);
        } finally {
          trainer.destroy();
        }
      }
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
    const [plain, checkpointed] = peaks as [number, number];
    expect(checkpointed).toBeLessThan(plain * 0.8);
  });
});
