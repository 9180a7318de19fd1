// Methods on a shared base kept in bf16 (the tiny-qwen2 fixture, matrices packed two per u32 on
// the GPU): every method of the registry starts exactly where it starts on the same weights
// expanded to f32 (the inits that need f32 get an exact f32 temporary per layer), a LoRA step
// leaves the packed base untouched, and LoRA's gradients on the packed base match finite
// differences of the loss.

import { describe, expect, it } from 'vitest';
import { METHODS } from '../adapters/registry';
import { selectTargets } from '../adapters/targets';
import type { AdaptedModel, MethodDefinition } from '../adapters/types';
import { lora } from '../adapters/methods/lora';
import type { FrozenPrecision } from '../io/modelFiles';
import type { CausalLM } from '../models/causalLM';
import { releaseModel } from '../models/load';
import { Graph } from '../tensor/graph';
import { isPacked, readTensor, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { batchLoss, centralDifference, logitsOf, modelFiles, smallSettings, testBatch } from './testing';
import { Trainer } from './trainer';

const FIXTURE = 'tiny-qwen2';

async function loadFixture(rt: Runtime, frozenPrecision: FrozenPrecision): Promise<CausalLM> {
  return modelFiles(rt, FIXTURE, { frozenPrecision });
}

async function create(rt: Runtime, model: CausalLM, method: MethodDefinition): Promise<AdaptedModel> {
  const calibration = () => [testBatch(model)];
  return method.create({ rt, model, targets: selectTargets(model, ['all']), seed: 5, learningRate: 1e-2, calibration }, smallSettings(method));
}

describe(`methods on a bf16 base kept packed (${FIXTURE})`, () => {
  it.each(METHODS.map((m) => [m.id, m] as const))('%s starts as it does on the f32-expanded weights', async (_id, method) => {
    const rt = await testContext();
    const packed = await loadFixture(rt, 'checkpoint');
    const expanded = await loadFixture(rt, 'f32');
    expect(packed.parameters().some((p) => isPacked(p.tensor))).toBe(true);
    let a: AdaptedModel | undefined;
    let b: AdaptedModel | undefined;
    try {
      a = await create(rt, packed, method);
      b = await create(rt, expanded, method);
      const batch = testBatch(packed);
      const mine = await logitsOf(rt, a, batch);
      const reference = await logitsOf(rt, b, batch);
      let maxDiff = 0;
      for (let i = 0; i < reference.length; i++) maxDiff = Math.max(maxDiff, Math.abs(mine[i]! - reference[i]!));
      expect(maxDiff).toBeLessThanOrEqual(1e-5);
      // Merged weights (exports, spectra) come out f32 and equal.
      for (const name of [...a.linears.keys()].slice(0, 2)) {
        const wa = a.effectiveWeight(rt, name, 'now');
        const wb = b.effectiveWeight(rt, name, 'now');
        expect(isPacked(wa.tensor)).toBe(false);
        const [va, vb] = [await readTensor(rt, wa.tensor), await readTensor(rt, wb.tensor)];
        let diff = 0;
        for (let i = 0; i < vb.length; i++) diff = Math.max(diff, Math.abs(va[i]! - vb[i]!));
        expect(diff, name).toBeLessThanOrEqual(1e-5);
        if (wa.owned) rt.release(wa.tensor.data);
        if (wb.owned) rt.release(wb.tensor.data);
      }
    } finally {
      a?.release(rt);
      b?.release(rt);
      releaseModel(rt, packed);
      releaseModel(rt, expanded);
    }
  });

  it('LoRA: a step trains the factors and leaves the packed base as it was', async () => {
    const rt = await testContext();
    const model = await loadFixture(rt, 'checkpoint');
    const adapted = await create(rt, model, lora);
    const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 1e-2, warmupSteps: 0, totalSteps: 3 }, clipNorm: 1 });
    try {
      const shared = await Promise.all(model.parameters().map((p) => rt.readBytes(p.tensor.data)));
      const before = await Promise.all(adapted.trainable.map((t) => readTensor(rt, t.tensor)));
      await trainer.step(testBatch(model));
      const after = await Promise.all(adapted.trainable.map((t) => readTensor(rt, t.tensor)));
      expect(before.filter((v, i) => v.some((x, j) => x !== after[i]![j])).length).toBeGreaterThan(0);
      const sharedAfter = await Promise.all(model.parameters().map((p) => rt.readBytes(p.tensor.data)));
      shared.forEach((bytes, i) => expect(new Uint8Array(sharedAfter[i]!)).toEqual(new Uint8Array(bytes)));
      expect(model.parameters().every((p) => p.tensor.shape.length !== 2 || isPacked(p.tensor))).toBe(true);
    } finally {
      trainer.destroy();
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it("LoRA's gradients through the packed base match central finite differences of the loss", async () => {
    const rt = await testContext();
    const model = await loadFixture(rt, 'checkpoint');
    const adapted = await create(rt, model, lora);
    try {
      const batch = testBatch(model);
      // Move off the init (B = 0 makes A's gradient vanish) with one plain step.
      const warm = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 5e-2, warmupSteps: 0, totalSteps: 1 } });
      await warm.step(batch);
      warm.destroy();
      for (const t of adapted.trainable) t.tensor.requiresGrad = true;
      const g = new Graph(rt);
      g.backward(batchLoss(g, adapted, batch));
      g.destroy();
      const h = 1e-2;
      let checked = 0;
      for (const [k, t] of adapted.trainable.entries()) {
        if (k % 3 !== 0 && k !== adapted.trainable.length - 1) continue;
        const values = await readTensor(rt, t.tensor);
        const analytic = t.tensor.grad ? await rt.read(t.tensor.grad) : new Float32Array(values.length);
        for (const index of [0, Math.floor(values.length / 2)]) {
          const fd = await centralDifference(rt, adapted, batch, t.tensor, values, index, h);
          expect(Math.abs(fd - analytic[index]!), `${t.tensor.name}[${index}] fd ${fd} analytic ${analytic[index]}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
          checked++;
        }
      }
      expect(checked).toBeGreaterThan(4);
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });
});
