// The contract battery every method passes (ARCHITECTURE.md convention 11), on the tiny Llama
// fixture (GQA) with every projection targeted. Adding a method adds one row to CASES; its start
// is checked against weights computed on the host (Start, below), with a finite tolerance.

import { describe, expect, it } from 'vitest';
import { releaseModel } from '../models/load';
import { Graph } from '../tensor/graph';
import { readTensor, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { batchLoss, centralDifference, logitsOf, modelFiles, testBatch } from './testing';
import { Trainer } from './trainer';
import { LowRankLayer } from '../adapters/forms/lowRank';
import { SppLayer } from '../adapters/forms/sppLayer';
import { dora } from '../adapters/methods/dora';
import { holdDoraNorms } from '../adapters/forms/doraLayer';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { loraplus } from '../adapters/methods/loraplus';
import { lorasb } from '../adapters/methods/lorasb';
import { pissa } from '../adapters/methods/pissa';
import { olora } from '../adapters/methods/olora';
import { milora } from '../adapters/methods/milora';
import { corda } from '../adapters/methods/corda';
import { loraga } from '../adapters/methods/loraga';
import { loftq, qlora, qpissa } from '../adapters/methods/quantized';
import { sorsa } from '../adapters/methods/sorsa';
import { spp } from '../adapters/methods/spp';
import { eva } from '../adapters/methods/eva';
import { vera } from '../adapters/methods/vera';
import { shira } from '../adapters/methods/shira';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type AdaptedLayer, type AdaptedModel, type MethodDefinition, type MethodSettings } from '../adapters/types';
import { dequantizeNf4Ref, quantizeNf4Ref } from '../io/nf4Reference';
import { modelFromHostTensors, type HostTensor } from '../models/load';

/**
 * Where a method says it starts, as the dense weight of each adapted projection, computed on the
 * host from the shared W and the layer's init snapshot (independently of the GPU forward):
 *   base           W (additive inits: LoRA's B = 0, PiSSA/SORSA's W_res + sBA = W)
 *   nf4-residual   deq(nf4(W − sB₀M₀A₀)) + sB₀M₀A₀   (QLoRA with B₀ = 0; QPiSSA ends with a quantization)
 *   nf4-weight     deq(nf4(W)) + sB₀A₀               (LoftQ T = 1: the adapter pairs with nf4(W))
 *   factors        W + sB₀M₀A₀                       (LoRA-SB: W + trunc_r(ΔW))
 *   pruned         W with floor(ratio·in) smallest |W| of each row zeroed (SPP, magnitude; ΔW = 0)
 */
type Start = 'base' | 'nf4-residual' | 'nf4-weight' | 'factors' | 'pruned';

interface Case {
  readonly method: MethodDefinition;
  readonly settings?: MethodSettings;
  readonly start: Start;
  /** Max |logits − expected logits| at init. */
  readonly initTolerance: number;
  /** Projection roles to adapt (default: all). */
  readonly targets?: readonly string[];
  /**
   * Quantities the method's backward treats as constants (DoRA's detached row norms, paper §4.3):
   * held at their current values while finite differences probe the loss, since the gradient
   * being checked is the derivative with them fixed. Returns the release.
   */
  readonly holdConstants?: (rt: Runtime, adapted: AdaptedModel) => () => void;
}

const CASES: readonly Case[] = [
  { method: lora, settings: { rank: 4, alpha: 8 }, start: 'base', initTolerance: 0 },
  { method: loraplus, settings: { rank: 4, alpha: 8, ratio: 16 }, start: 'base', initTolerance: 0 },
  // m = ‖W‖ and B = 0: the scale m/‖W + sBA‖ is exactly 1, so the base model bit for bit.
  { method: dora, settings: { rank: 4, alpha: 8 }, start: 'base', initTolerance: 0, holdConstants: holdDoraNorms },
  { method: full, start: 'base', initTolerance: 0 },
  // W_res + s·B A == W up to f32 rounding.
  { method: pissa, settings: { rank: 4, alpha: 4, niter: 2 }, start: 'base', initTolerance: 1e-4 },
  { method: sorsa, settings: { rank: 4, niter: 2 }, start: 'base', initTolerance: 1e-4 },
  // OLoRA, MiLoRA, CorDA (both modes), LoRA-GA: W_res = W − s·B A, so the same start as PiSSA's.
  { method: olora, settings: { rank: 4, alpha: 8 }, start: 'base', initTolerance: 1e-4 },
  { method: milora, settings: { rank: 4, alpha: 4 }, start: 'base', initTolerance: 1e-4 },
  { method: corda, settings: { rank: 4, alpha: 4, calibrationBatches: 1 }, start: 'base', initTolerance: 1e-4 },
  { method: corda, settings: { rank: 4, alpha: 4, mode: 'kpm', calibrationBatches: 1 }, start: 'base', initTolerance: 1e-4 },
  { method: loraga, settings: { rank: 4, alpha: 8, estimationBatches: 1 }, start: 'base', initTolerance: 1e-4 },
  // B = 0 on the shared W; ρ = 2 moves ranks between layers (some may get none).
  { method: eva, settings: { rank: 4, alpha: 8, calibrationBatches: 1 }, start: 'base', initTolerance: 0 },
  // b = 0: the branch is exactly zero.
  { method: vera, settings: { rank: 16 }, start: 'base', initTolerance: 0 },
  { method: lorasb, settings: { rank: 4, estimationBatches: 1 }, start: 'factors', initTolerance: 1e-4 },
  { method: qlora, settings: { rank: 4, alpha: 8 }, start: 'nf4-residual', initTolerance: 1e-4 },
  // W − sBA rounds differently in f32 on the GPU than in float64 here before quantizing.
  { method: qpissa, settings: { rank: 4, alpha: 4, niter: 2, iterations: 2 }, start: 'nf4-residual', initTolerance: 5e-4 },
  { method: loftq, settings: { rank: 4, alpha: 4, niter: 2, iterations: 1 }, start: 'nf4-weight', initTolerance: 1e-4 },
  // k/v are 24 wide in the fixture; SPP needs multiples of 16.
  { method: spp, settings: { ratio: 0.5, pruning: 'magnitude' }, start: 'pruned', initTolerance: 1e-5, targets: ['q', 'o', 'gate', 'up', 'down'] },
  // ΔW = 0 at init: W + 0 through the same matmul. k = r(in + out) must fit k/v's 24 × 48.
  { method: shira, settings: { rank: 4 }, start: 'base', initTolerance: 0 },
  { method: shira, settings: { rank: 4, mask: 'magnitude' }, start: 'base', initTolerance: 0 },
];

/** s·B M A [out, in] on the host from a low-rank layer's init snapshot. */
function initialUpdate(layer: LowRankLayer): Float64Array {
  const initial = layer.initial!;
  const out = layer.outFeatures;
  const inF = layer.inFeatures;
  const r = layer.rank;
  const BM = new Float64Array(out * r);
  for (let i = 0; i < out; i++) {
    for (let k = 0; k < r; k++) {
      let v = 0;
      if (initial.R) for (let j = 0; j < r; j++) v += initial.B[i * r + j]! * initial.R[j * r + k]!;
      else v = initial.B[i * r + k]!;
      BM[i * r + k] = v * (initial.S ? initial.S[k]! : 1);
    }
  }
  const delta = new Float64Array(out * inF);
  for (let i = 0; i < out; i++)
    for (let k = 0; k < r; k++) for (let j = 0; j < inF; j++) delta[i * inF + j]! += layer.scaling * BM[i * r + k]! * initial.A[k * inF + j]!;
  return delta;
}

function nf4RoundTrip(w: ArrayLike<number>, doubleQuant: boolean): Float32Array {
  return dequantizeNf4Ref(quantizeNf4Ref(w, { doubleQuant }));
}

function magnitudePruned(W: Float32Array, out: number, inF: number, ratio: number): Float32Array {
  const pruned = W.slice();
  const perRow = Math.min(inF, Math.floor(ratio * inF + 1e-9));
  for (let i = 0; i < out; i++) {
    const order = Array.from({ length: inF }, (_, j) => j).sort((a, b) => Math.abs(W[i * inF + a]!) - Math.abs(W[i * inF + b]!));
    for (const j of order.slice(0, perRow)) pruned[i * inF + j] = 0;
  }
  return pruned;
}

function expectedWeight(c: Case, layer: AdaptedLayer, W: Float32Array, settings: MethodSettings): Float32Array {
  const low = layer instanceof LowRankLayer ? layer : undefined;
  const delta = low ? initialUpdate(low) : new Float64Array(W.length);
  const doubleQuant = settings.doubleQuant === true;
  switch (c.start) {
    case 'base':
      return W;
    case 'factors':
      return W.map((w, i) => w + delta[i]!);
    case 'nf4-residual': {
      const deq = nf4RoundTrip(
        W.map((w, i) => w - delta[i]!),
        doubleQuant,
      );
      return deq.map((q, i) => q + delta[i]!);
    }
    case 'nf4-weight':
      return nf4RoundTrip(W, doubleQuant).map((q, i) => q + delta[i]!);
    case 'pruned':
      if (!(layer instanceof SppLayer)) throw new Error('pruned start without an SPP layer');
      return magnitudePruned(W, layer.outFeatures, layer.inFeatures, Number(settings.ratio));
  }
}

async function setup(c: Case) {
  const rt = await testContext();
  const model = await modelFiles(rt, 'tiny-llama');
  const calibration = () => [testBatch(model)];
  const settings = resolveSettings(c.method, c.settings);
  const adapted = await c.method.create({ rt, model, targets: selectTargets(model, c.targets ?? ['all']), seed: 5, learningRate: 1e-2, calibration }, settings);
  return { rt, model, adapted, settings };
}

describe.each(CASES)('method $method.id', (c) => {
  it('starts where the method says (host-computed start weights give the same logits)', async () => {
    const { rt, model, adapted, settings } = await setup(c);
    try {
      const batch = testBatch(model);
      const weights = new Map<string, HostTensor>();
      for (const p of model.parameters()) weights.set(p.name, { shape: p.tensor.shape, data: await readTensor(rt, p.tensor) });
      for (const [name, layer] of adapted.linears) {
        const W = weights.get(`${name}.weight`)!;
        weights.set(`${name}.weight`, { shape: W.shape, data: expectedWeight(c, layer, W.data, settings) });
      }
      const reference = modelFromHostTensors(rt, model.config, weights);
      const expected = await logitsOf(rt, { model: reference }, batch);
      releaseModel(rt, reference);
      const mine = await logitsOf(rt, adapted, batch);
      let maxDiff = 0;
      for (let i = 0; i < expected.length; i++) maxDiff = Math.max(maxDiff, Math.abs(expected[i]! - mine[i]!));
      expect(maxDiff).toBeLessThanOrEqual(c.initTolerance);
      if (c.start !== 'base') {
        // Not vacuous: the start differs from the base model where the method says it moves.
        const base = await logitsOf(rt, { model }, batch);
        expect(base.some((v, i) => Math.abs(v - mine[i]!) > 10 * c.initTolerance)).toBe(true);
      }
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
      await trainer.step(testBatch(model));
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
    let releaseHeld: (() => void) | undefined;
    try {
      const batch = testBatch(model);
      for (const t of adapted.trainable) t.tensor.requiresGrad = true;
      // Move off the init (B = 0 makes A's gradient vanish for LoRA) with one plain step.
      const warm = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 5e-2, warmupSteps: 0, totalSteps: 1 } });
      await warm.step(batch);
      warm.destroy();
      const g = new Graph(rt);
      g.backward(batchLoss(g, adapted, batch));
      g.destroy();
      releaseHeld = c.holdConstants?.(rt, adapted);
      const h = 1e-2;
      let checked = 0;
      // A spread of tensors keeps the test short; every kind (name after the last '.') at least once,
      // so a layer with three tensors (DoRA's A, B, m) does not get only its first checked.
      const kinds = new Set<string>();
      for (const [k, t] of adapted.trainable.entries()) {
        const kind = t.tensor.name.slice(t.tensor.name.lastIndexOf('.') + 1);
        if (k % 3 !== 0 && kinds.has(kind)) continue;
        kinds.add(kind);
        const values = await readTensor(rt, t.tensor);
        const analytic = t.tensor.grad ? await rt.read(t.tensor.grad) : new Float32Array(values.length);
        const index = Math.floor(values.length / 2);
        const fd = await centralDifference(rt, adapted, batch, t.tensor, values, index, h);
        expect(Math.abs(fd - analytic[index]!), `${t.tensor.name}[${index}] fd ${fd} analytic ${analytic[index]}`).toBeLessThan(2e-3 + 2e-2 * Math.abs(fd));
        checked++;
      }
      expect(checked).toBeGreaterThan(0);
    } finally {
      releaseHeld?.();
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });
});
