// The contract battery every method passes (ARCHITECTURE.md convention 11), on the tiny Llama
// fixture (GQA) with every projection targeted. Adding a method adds one row to CASES.

import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import type { CausalLM } from '../models/causalLM';
import { loadCausalLM, releaseModel } from '../models/load';
import { Graph } from '../tensor/graph';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import { readTensor, targetIds, tokenIds, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { Trainer, type Batch } from './trainer';
import { methodById } from '../adapters/registry';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type AdaptedModel, type MethodId, type MethodSettings } from '../adapters/types';

interface Case {
  readonly id: MethodId;
  readonly settings?: MethodSettings;
  /** Max |logits − base logits| at init (0: exactly the base model). */
  readonly initTolerance: number;
  /** Projection roles to adapt (default: all). */
  readonly targets?: readonly string[];
}

const CASES: readonly Case[] = [
  { id: 'lora', settings: { rank: 4, alpha: 8 }, initTolerance: 0 },
  { id: 'full', initTolerance: 0 },
  // W_res + s·B A == W up to f32 rounding.
  { id: 'pissa', settings: { rank: 4, alpha: 4, niter: 2 }, initTolerance: 1e-4 },
  { id: 'sorsa', settings: { rank: 4, niter: 2 }, initTolerance: 1e-4 },
  // These start elsewhere by design: LoRA-SB at W + trunc_r(ΔW), the 4-bit methods at deq(Q) + sBA.
  { id: 'lorasb', settings: { rank: 4, estimationBatches: 1 }, initTolerance: Number.POSITIVE_INFINITY },
  { id: 'qlora', settings: { rank: 4, alpha: 8 }, initTolerance: Number.POSITIVE_INFINITY },
  { id: 'qpissa', settings: { rank: 4, alpha: 4, niter: 2, iterations: 2 }, initTolerance: Number.POSITIVE_INFINITY },
  { id: 'loftq', settings: { rank: 4, alpha: 4, niter: 2 }, initTolerance: Number.POSITIVE_INFINITY },
  // k/v are 24 wide in the fixture; SPP needs multiples of 16. Pruning changes the model, so
  // its init is compared with the pruned base in sppInit.test.ts, not the dense one.
  { id: 'spp', settings: { ratio: 0.5 }, initTolerance: Number.POSITIVE_INFINITY, targets: ['q', 'o', 'gate', 'up', 'down'] },
];

const B = 2;
const T = 6;

function batchFor(model: CausalLM): Batch {
  const V = model.config.vocabSize;
  const ids = Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % V);
  const targets = ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!));
  return { ids, targets, batchSize: B, seqLen: T };
}

async function logitsOf(rt: Runtime, target: { model: CausalLM; linears?: AdaptedModel['linears'] }, batch: Batch): Promise<Float32Array> {
  const g = new Graph(rt, false);
  try {
    return await readTensor(rt, target.model.forward(g, tokenIds(g, batch.ids, [B, T]), { linears: target.linears }));
  } finally {
    g.destroy();
  }
}

async function lossOf(rt: Runtime, adapted: AdaptedModel, batch: Batch): Promise<number> {
  const g = new Graph(rt, false);
  try {
    const logits = adapted.model.forward(g, tokenIds(g, batch.ids, [B, T]), { linears: adapted.linears });
    return (await readTensor(rt, crossEntropy(g, logits, targetIds(g, batch.targets, [B, T]))))[0]!;
  } finally {
    g.destroy();
  }
}

async function setup(c: Case) {
  const rt = await testContext();
  const model = await loadCausalLM(rt, await openModelFiles(await nodeDirectorySources('test/fixtures/tiny-llama')));
  const method = methodById(c.id);
  const calibration = () => [batchFor(model)];
  const adapted = await method.create({ rt, model, targets: selectTargets(model, c.targets ?? ['all']), seed: 5, learningRate: 1e-2, calibration }, resolveSettings(method, c.settings));
  return { rt, model, adapted };
}

describe.each(CASES)('method $id', (c) => {
  it('starts where the method says (the base model for additive inits)', async () => {
    const { rt, model, adapted } = await setup(c);
    try {
      const batch = batchFor(model);
      const base = await logitsOf(rt, { model }, batch);
      const mine = await logitsOf(rt, adapted, batch);
      let maxDiff = 0;
      for (let i = 0; i < base.length; i++) maxDiff = Math.max(maxDiff, Math.abs(base[i]! - mine[i]!));
      expect(maxDiff).toBeLessThanOrEqual(c.initTolerance);
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it('a step changes its trainable tensors and nothing of the shared model', async () => {
    const { rt, model, adapted } = await setup(c);
    const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 1e-2, warmupSteps: 0, totalSteps: 3 }, clipNorm: 1 });
    try {
      const shared = await Promise.all(model.parameters().map((p) => readTensor(rt, p.tensor)));
      const before = await Promise.all(adapted.trainable.map((t) => readTensor(rt, t.tensor)));
      await trainer.step(batchFor(model));
      const after = await Promise.all(adapted.trainable.map((t) => readTensor(rt, t.tensor)));
      const changed = before.filter((b, i) => b.some((v, j) => v !== after[i]![j]));
      expect(changed.length).toBeGreaterThan(0);
      const sharedAfter = await Promise.all(model.parameters().map((p) => readTensor(rt, p.tensor)));
      shared.forEach((values, i) => expect(sharedAfter[i]).toEqual(values));
    } finally {
      trainer.destroy();
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it("the trainable tensors' gradients match central finite differences of the loss", async () => {
    const { rt, model, adapted } = await setup(c);
    try {
      const batch = batchFor(model);
      for (const t of adapted.trainable) t.tensor.requiresGrad = true;
      // Move off the init (B = 0 makes A's gradient vanish for LoRA) with one plain step.
      const warm = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 5e-2, warmupSteps: 0, totalSteps: 1 } });
      await warm.step(batch);
      warm.destroy();
      const g = new Graph(rt);
      const logits = adapted.model.forward(g, tokenIds(g, batch.ids, [B, T]), { linears: adapted.linears });
      g.backward(crossEntropy(g, logits, targetIds(g, batch.targets, [B, T])));
      g.destroy();
      const h = 1e-2;
      let checked = 0;
      for (const [k, t] of adapted.trainable.entries()) {
        if (k % 3 !== 0) continue; // a spread of tensors keeps the test short
        const values = await readTensor(rt, t.tensor);
        const analytic = t.tensor.grad ? await rt.read(t.tensor.grad) : new Float32Array(values.length);
        const index = Math.floor(values.length / 2);
        const probe = async (delta: number) => {
          const copy = values.slice();
          copy[index] = values[index]! + delta;
          rt.write(t.tensor.data, copy);
          return lossOf(rt, adapted, batch);
        };
        const fd = ((await probe(h)) - (await probe(-h))) / (2 * h);
        rt.write(t.tensor.data, values);
        expect(Math.abs(fd - analytic[index]!), `${t.tensor.name}[${index}] fd ${fd} analytic ${analytic[index]}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
        checked++;
      }
      expect(checked).toBeGreaterThan(0);
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });
});
