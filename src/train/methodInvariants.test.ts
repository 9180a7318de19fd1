// Method-specific invariants of ADAPTERS.md that the shared contract battery does not cover.

import { describe, expect, it } from 'vitest';
import { DoraLayer } from '../adapters/forms/doraLayer';
import { LowRankLayer } from '../adapters/forms/lowRank';
import { SppLayer } from '../adapters/forms/sppLayer';
import { dora } from '../adapters/methods/dora';
import { lora } from '../adapters/methods/lora';
import { loraplus } from '../adapters/methods/loraplus';
import { lorasb } from '../adapters/methods/lorasb';
import { pissa } from '../adapters/methods/pissa';
import { olora } from '../adapters/methods/olora';
import { milora } from '../adapters/methods/milora';
import { corda } from '../adapters/methods/corda';
import { loraga } from '../adapters/methods/loraga';
import { inputCovariances, releaseCovariances } from '../adapters/init/inputCovariance';
import { dampedCholesky } from '../linalg/covariance';
import { singularValuesRef } from '../linalg/testMatrices';
import { sorsa } from '../adapters/methods/sorsa';
import { spp } from '../adapters/methods/spp';
import { eva, evaMaxComponents, evaRanks } from '../adapters/methods/eva';
import { targetInputComponents } from '../adapters/init/inputComponents';
import { vera } from '../adapters/methods/vera';
import { shira, topKPositions } from '../adapters/methods/shira';
import type { VeraLayer } from '../adapters/forms/veraLayer';
import type { SparseDeltaLayer } from '../adapters/forms/sparseDeltaLayer';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type AdaptedModel, type MethodDefinition, type MethodSettings } from '../adapters/types';
import { orthoDeviation } from '../linalg/orthoRegularizer';
import type { CausalLM } from '../models/causalLM';
import { DenseLinear } from '../models/linearLayer';
import { releaseModel } from '../models/load';
import { Graph } from '../tensor/graph';
import type { Tensor } from '../tensor/tensor';
import { readTensor, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { batchLogits, batchLoss, logitsOf, modelFiles, testBatch } from './testing';
import { Trainer, type Batch } from './trainer';

const batchFor = (model: CausalLM): Batch => testBatch(model, 29, 5);

/** ∇_W of the base model's loss on `batch` for one shared weight W (made trainable for the pass). */
async function weightGradient(rt: Runtime, model: CausalLM, W: Tensor, batch: Batch): Promise<Float32Array> {
  W.requiresGrad = true;
  const g = new Graph(rt);
  g.backward(batchLoss(g, { model }, batch));
  g.destroy();
  W.requiresGrad = false;
  const G = await rt.read(W.grad!);
  rt.release(W.grad);
  W.grad = undefined;
  return G;
}

async function create(
  rt: Runtime,
  model: CausalLM,
  method: MethodDefinition,
  settings: MethodSettings,
  roles: readonly string[] = ['all'],
): Promise<AdaptedModel> {
  return method.create(
    { rt, model, targets: selectTargets(model, roles), seed: 11, learningRate: 1e-3, calibration: () => [batchFor(model)] },
    resolveSettings(method, settings),
  );
}

/** ‖XᵀX − I‖_max for X [rows, cols] (Gram over columns) or XXᵀ with rowsGram. */
function gramDeviation(X: Float32Array, rows: number, cols: number, rowsGram: boolean): number {
  const n = rowsGram ? rows : cols;
  let worst = 0;
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      let dot = 0;
      if (rowsGram) for (let k = 0; k < cols; k++) dot += X[a * cols + k]! * X[b * cols + k]!;
      else for (let k = 0; k < rows; k++) dot += X[k * cols + a]! * X[k * cols + b]!;
      worst = Math.max(worst, Math.abs(dot - (a === b ? 1 : 0)));
    }
  }
  return worst;
}

describe('method invariants', () => {
  it('LoRA: B = 0 and |A| ≤ 1/√in at init', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const adapted = await create(rt, model, lora, { rank: 4 });
    try {
      for (const layer of adapted.linears.values()) {
        const l = layer as LowRankLayer;
        const A = await readTensor(rt, l.factors.A);
        const Bv = await readTensor(rt, l.factors.B);
        expect(Bv.every((v) => v === 0)).toBe(true);
        const bound = 1 / Math.sqrt(l.inFeatures);
        expect(A.every((v) => Math.abs(v) <= bound)).toBe(true);
        expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.5 * bound);
      }
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it('PiSSA: W_res + s·B·A reproduces W to f32 rounding', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const adapted = await create(rt, model, pissa, { rank: 4, alpha: 8, niter: 2 });
    try {
      for (const layer of adapted.linears.values()) {
        const l = layer as LowRankLayer;
        const W = await readTensor(rt, (model.linear(l.name) as DenseLinear).weight);
        const res = await readTensor(rt, (l.base as DenseLinear).weight);
        const A = await readTensor(rt, l.factors.A);
        const Bv = await readTensor(rt, l.factors.B);
        const r = l.rank;
        let worst = 0;
        for (let i = 0; i < l.outFeatures; i++) {
          for (let j = 0; j < l.inFeatures; j++) {
            let ba = 0;
            for (let k = 0; k < r; k++) ba += Bv[i * r + k]! * A[k * l.inFeatures + j]!;
            worst = Math.max(worst, Math.abs(res[i * l.inFeatures + j]! + l.scaling * ba - W[i * l.inFeatures + j]!));
          }
        }
        expect(worst).toBeLessThan(1e-5);
      }
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it('SORSA: the regulariser is ≈ 0 at init (A, B orthonormal)', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const adapted = await create(rt, model, sorsa, { rank: 4, niter: 4 });
    try {
      expect(await orthoDeviation(rt, adapted.orthoFactors!)).toBeLessThan(1e-4);
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it('LoRA-SB: A and B orthonormal and frozen, only R trains, and B·R·A is the rank-r truncation of −η·sign(G)', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const rank = 3;
    const adapted = await create(rt, model, lorasb, { rank, estimationBatches: 1, exactSvd: true });
    try {
      expect(adapted.trainable.every((t) => t.tensor.name.endsWith('lorasb_R'))).toBe(true);
      const name = 'model.layers.0.self_attn.q_proj';
      const l = adapted.linears.get(name) as LowRankLayer;
      const [out, inF] = [l.outFeatures, l.inFeatures];
      const A = await readTensor(rt, l.factors.A);
      const Bv = await readTensor(rt, l.factors.B);
      const R = await readTensor(rt, l.factors.R!);
      expect(l.factors.A.requiresGrad || l.factors.B.requiresGrad).toBe(false);
      expect(gramDeviation(A, rank, inF, true)).toBeLessThan(1e-4);
      expect(gramDeviation(Bv, out, rank, false)).toBeLessThan(1e-4);
      // Recompute G for this layer on the GPU the same way and compare ΔW's best rank-r part:
      // ‖B R A‖_F² must equal the sum of the top-r squared singular values of −η sign(G), i.e.
      // B R A captures that much of ΔW and lies in its top-r subspace: check ⟨BRA, ΔW⟩ = ‖BRA‖².
      const G = await weightGradient(rt, model, (model.linear(name) as DenseLinear).weight, batchFor(model));
      const eta = 1e-3 / (0.1 * 1);
      const BRA = new Float64Array(out * inF);
      for (let i = 0; i < out; i++)
        for (let a = 0; a < rank; a++)
          for (let b = 0; b < rank; b++) {
            const c = Bv[i * rank + a]! * R[a * rank + b]!;
            for (let j = 0; j < inF; j++) BRA[i * inF + j]! += c * A[b * inF + j]!;
          }
      let inner = 0;
      let norm2 = 0;
      for (let k = 0; k < out * inF; k++) {
        const delta = -eta * Math.sign(G[k]!);
        inner += BRA[k]! * delta;
        norm2 += BRA[k]! * BRA[k]!;
      }
      expect(norm2).toBeGreaterThan(0);
      expect(Math.abs(inner - norm2) / norm2).toBeLessThan(1e-3);
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it('SPP: ΔW = 0 at init (outputs equal the pruned model), and the pruned ratio is exact', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const adapted = await create(rt, model, spp, { ratio: 0.5, pruning: 'magnitude' }, ['q', 'o', 'gate', 'up', 'down']);
    try {
      const batch = batchFor(model);
      const prunedOnly = new Map([...adapted.linears].map(([name, l]) => [name, new DenseLinear(name, (l as SppLayer).pruned, (l as SppLayer).bias)]));
      const run = (linears: ReadonlyMap<string, DenseLinear | SppLayer>) => logitsOf(rt, { model, linears }, batch);
      const a = await run(adapted.linears as ReadonlyMap<string, SppLayer>);
      const b = await run(prunedOnly);
      let worst = 0;
      for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
      expect(worst).toBeLessThan(1e-5);
      for (const l of adapted.linears.values()) {
        const W = await readTensor(rt, (l as SppLayer).pruned);
        const zerosPerRow = Math.floor(0.5 * l.inFeatures);
        for (let i = 0; i < l.outFeatures; i++) expect(W.subarray(i * l.inFeatures, (i + 1) * l.inFeatures).filter((v) => v === 0).length).toBe(zerosPerRow);
      }
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });
});

describe('method invariants: DoRA and LoRA+', () => {
  it('DoRA: m equals the row norms ‖W_i‖ (over the input dimension) and B = 0 at init; the model is the base bit for bit', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const adapted = await create(rt, model, dora, { rank: 4, alpha: 8 });
    try {
      for (const layer of adapted.linears.values()) {
        const l = layer as DoraLayer;
        const W = await readTensor(rt, l.base.weight);
        const m = await readTensor(rt, l.m);
        expect(m.length).toBe(l.outFeatures);
        for (let i = 0; i < l.outFeatures; i++) {
          let sum = 0;
          for (let j = 0; j < l.inFeatures; j++) sum += W[i * l.inFeatures + j]! ** 2;
          expect(Math.abs(m[i]! - Math.sqrt(sum)), `${l.name} m[${i}]`).toBeLessThanOrEqual(1e-6 * Math.sqrt(sum));
        }
        expect((await readTensor(rt, l.B)).every((v) => v === 0)).toBe(true);
        const init = l.effectiveWeight(rt, 'init');
        expect(Array.from(await readTensor(rt, init.tensor))).toEqual(Array.from(W));
        if (init.owned) rt.release(init.tensor.data);
      }
      const batch = batchFor(model);
      const run = (linears?: AdaptedModel['linears']) => logitsOf(rt, { model, linears }, batch);
      expect(Array.from(await run(adapted.linears))).toEqual(Array.from(await run()));
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it("DoRA: after training, each row of W' has norm m (the magnitude is the row norm of the effective weight)", async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const adapted = await create(rt, model, dora, { rank: 4, alpha: 8 }, ['q', 'down']);
    const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 2e-2, warmupSteps: 0, totalSteps: 2 } });
    try {
      for (let i = 0; i < 2; i++) await trainer.step(batchFor(model));
      for (const layer of adapted.linears.values()) {
        const l = layer as DoraLayer;
        const m = await readTensor(rt, l.m);
        const W = await readTensor(rt, l.base.weight);
        const now = l.effectiveWeight(rt, 'now');
        const Wp = await readTensor(rt, now.tensor);
        if (now.owned) rt.release(now.tensor.data);
        let movedNorm = 0;
        for (let i = 0; i < l.outFeatures; i++) {
          const row = Wp.subarray(i * l.inFeatures, (i + 1) * l.inFeatures);
          const norm = Math.hypot(...row);
          expect(Math.abs(norm - m[i]!), `${l.name} row ${i}`).toBeLessThan(1e-5 * m[i]!);
          movedNorm = Math.max(movedNorm, Math.abs(m[i]! - Math.hypot(...W.subarray(i * l.inFeatures, (i + 1) * l.inFeatures))));
        }
        expect(movedNorm).toBeGreaterThan(0); // m trained, so the check is not the init's
      }
    } finally {
      trainer.destroy();
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it('LoRA+: B tensors train at λ·lr (lrScale λ), A tensors at lr', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const adapted = await create(rt, model, loraplus, { rank: 4, ratio: 12 });
    try {
      const scaleOf = new Map(adapted.trainable.map((t) => [t.tensor, t.lrScale ?? 1]));
      expect(scaleOf.size).toBe(2 * adapted.linears.size);
      for (const layer of adapted.linears.values()) {
        const l = layer as LowRankLayer;
        expect(scaleOf.get(l.factors.B)).toBe(12);
        expect(scaleOf.get(l.factors.A)).toBe(1);
      }
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it("LoRA+: from the same init and batch, one AdamW step moves B by λ·lr per element (LoRA: lr), exactly λ times LoRA's step", async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const lr = 1e-3;
    const ratio = 16;
    const stepB = async (method: MethodDefinition, settings: MethodSettings): Promise<Float32Array[]> => {
      const adapted = await create(rt, model, method, { rank: 4, alpha: 8, ...settings }, ['q', 'v']);
      const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: lr, warmupSteps: 0, totalSteps: 1 } });
      try {
        await trainer.step(batchFor(model));
        // B starts at 0, so B after the step is the step itself.
        return await Promise.all([...adapted.linears.values()].map((l) => readTensor(rt, (l as LowRankLayer).factors.B)));
      } finally {
        trainer.destroy();
        adapted.release(rt);
      }
    };
    try {
      const plain = await stepB(lora, {});
      const plus = await stepB(loraplus, { ratio });
      let saturated = 0;
      plain.forEach((b, k) => {
        for (let i = 0; i < b.length; i++) {
          expect(Math.abs(plus[k]![i]! - ratio * b[i]!), `B ${k}[${i}]`).toBeLessThanOrEqual(1e-6 * ratio * lr);
          // First Adam step: lr·g/(|g| + ε) → lr wherever |g| ≫ ε = 1e-8.
          if (Math.abs(b[i]!) > 0.99 * lr) {
            expect(Math.abs(Math.abs(plus[k]![i]!) - ratio * lr)).toBeLessThan(1e-3 * ratio * lr);
            saturated++;
          }
        }
      });
      expect(saturated).toBeGreaterThan(plain.reduce((n, b) => n + b.length, 0) / 2);
    } finally {
      releaseModel(rt, model);
    }
  });
});

describe('residual inits beyond PiSSA (OLoRA, MiLoRA, CorDA, LoRA-GA)', () => {
  /** X [m, k] · Y [k, n] in float64 (transX: X given as [k, m]). */
  const mm = (X: ArrayLike<number>, Y: ArrayLike<number>, m: number, k: number, n: number, transX = false): Float64Array => {
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++)
      for (let t = 0; t < k; t++) {
        const x = transX ? X[t * m + i]! : X[i * k + t]!;
        for (let j = 0; j < n; j++) out[i * n + j]! += x * Y[t * n + j]!;
      }
    return out;
  };
  const transpose = (X: ArrayLike<number>, m: number, n: number): Float64Array => {
    const out = new Float64Array(m * n);
    for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) out[j * m + i] = X[i * n + j]!;
    return out;
  };
  const frob2 = (X: ArrayLike<number>): number => {
    let sum = 0;
    for (let i = 0; i < X.length; i++) sum += X[i]! ** 2;
    return sum;
  };
  const layerOf = (adapted: AdaptedModel, name: string) => adapted.linears.get(name) as LowRankLayer;
  const weightOf = (model: CausalLM, name: string) => (model.linear(name) as DenseLinear).weight;

  it('OLoRA: B = Q[:, :r] and A = R[:r, :] of W = QR (float64 Gram–Schmidt, diag(R) > 0)', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const r = 4;
    const adapted = await create(rt, model, olora, { rank: r, alpha: 8 });
    try {
      for (const name of ['model.layers.0.self_attn.k_proj', 'model.layers.1.mlp.down_proj', 'model.layers.0.mlp.up_proj']) {
        const l = layerOf(adapted, name);
        const [out, inF] = [l.outFeatures, l.inFeatures];
        const W = await readTensor(rt, weightOf(model, name));
        const Q = new Float64Array(out * r);
        for (let j = 0; j < r; j++) {
          for (let i = 0; i < out; i++) Q[i * r + j] = W[i * inF + j]!;
          for (let pass = 0; pass < 2; pass++)
            for (let t = 0; t < j; t++) {
              let c = 0;
              for (let i = 0; i < out; i++) c += Q[i * r + t]! * Q[i * r + j]!;
              for (let i = 0; i < out; i++) Q[i * r + j]! -= c * Q[i * r + t]!;
            }
          const norm = Math.sqrt(Array.from({ length: out }, (_, i) => Q[i * r + j]! ** 2).reduce((a, b) => a + b, 0));
          for (let i = 0; i < out; i++) Q[i * r + j]! /= norm;
        }
        const R = mm(Q, W, r, out, inF, true);
        const Bv = await readTensor(rt, l.factors.B);
        const A = await readTensor(rt, l.factors.A);
        for (let k = 0; k < Q.length; k++) expect(Math.abs(Bv[k]! - Q[k]!), `${name} B[${k}]`).toBeLessThan(1e-4);
        const scale = Math.max(...Array.from(R, Math.abs));
        for (let k = 0; k < R.length; k++) expect(Math.abs(A[k]! - R[k]!), `${name} A[${k}]`).toBeLessThan(1e-4 * scale);
        for (let i = 0; i < r; i++) {
          expect(A[i * inF + i]!).toBeGreaterThan(0);
          for (let j = 0; j < i; j++) expect(Math.abs(A[i * inF + j]!)).toBeLessThan(1e-5 * scale);
        }
      }
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it("MiLoRA: s·B·A has W's r smallest singular values (float64 reference), B·A splits √σ' evenly", async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const r = 3;
    const adapted = await create(rt, model, milora, { rank: r, alpha: 6 });
    try {
      for (const name of ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.v_proj', 'model.layers.1.mlp.gate_proj']) {
        const l = layerOf(adapted, name);
        const [out, inF] = [l.outFeatures, l.inFeatures];
        const sigmaW = singularValuesRef(await readTensor(rt, weightOf(model, name)), out, inF);
        const A = await readTensor(rt, l.factors.A);
        const Bv = await readTensor(rt, l.factors.B);
        const sBA = mm(Bv, A, out, r, inF).map((v) => l.scaling * v);
        const sigma = singularValuesRef(sBA, out, inF);
        const k = sigmaW.length;
        for (let j = 0; j < r; j++) expect(Math.abs(sigma[j]! - sigmaW[k - r + j]!), `${name} σ${j}`).toBeLessThan(1e-4 * sigmaW[0]!);
        expect(sigmaW[k - r]!).toBeLessThan(0.8 * sigmaW[0]!); // not vacuous: the minor end differs from the top
        // ‖A_j‖² = ‖B_j‖² = σ_j/s (the PiSSA split)
        for (let j = 0; j < r; j++) {
          const a = frob2(A.subarray(j * inF, (j + 1) * inF));
          const b = frob2(Array.from({ length: out }, (_, i) => Bv[i * r + j]!));
          expect(Math.abs(a - b)).toBeLessThan(1e-4 * (a + b));
        }
      }
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  for (const mode of ['ipm', 'kpm'] as const) {
    it(`CorDA (${mode}): s·B·A·C_fix holds the ${mode === 'ipm' ? 'top' : 'bottom'} r singular values of W·C_fix (float64 reference)`, async () => {
      const rt = await testContext();
      const model = await modelFiles(rt, 'tiny-llama');
      const r = 3;
      const names = ['model.layers.0.self_attn.k_proj', 'model.layers.1.mlp.down_proj'];
      const adapted = await create(rt, model, corda, { rank: r, alpha: 3, mode, calibrationBatches: 1 });
      const covariances = await inputCovariances(rt, model, names, [batchFor(model)]);
      try {
        for (const name of names) {
          const l = layerOf(adapted, name);
          const [out, inF] = [l.outFeatures, l.inFeatures];
          const { fixed } = dampedCholesky(await readTensor(rt, covariances.get(name)!), inF);
          const WC = mm(await readTensor(rt, weightOf(model, name)), fixed, out, inF, inF);
          const sigmaWC = singularValuesRef(WC, out, inF);
          const A = await readTensor(rt, l.factors.A);
          const Bv = await readTensor(rt, l.factors.B);
          const sBAC = mm(mm(Bv, A, out, r, inF), fixed, out, inF, inF).map((v) => l.scaling * v);
          const sigma = singularValuesRef(sBAC, out, inF);
          const k = sigmaWC.length;
          for (let j = 0; j < r; j++) {
            const want = mode === 'ipm' ? sigmaWC[j]! : sigmaWC[k - r + j]!;
            expect(Math.abs(sigma[j]! - want), `${name} σ${j}`).toBeLessThan(1e-3 * sigmaWC[0]!);
          }
          // B's columns are W·C_fix's left singular vectors times √σ': orthogonal.
          const BtB = mm(Bv, Bv, r, out, r, true);
          for (let a = 0; a < r; a++) for (let b = 0; b < a; b++) expect(Math.abs(BtB[a * r + b]!)).toBeLessThan(1e-4 * (BtB[a * r + a]! + BtB[b * r + b]!));
        }
      } finally {
        releaseCovariances(rt, covariances);
        adapted.release(rt);
        releaseModel(rt, model);
      }
    });
  }

  it('LoRA-GA: A and B come from disjoint singular vectors of the mean gradient, with the stable scale (official and PEFT)', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const r = 3;
    const name = 'model.layers.0.self_attn.q_proj';
    const official = await create(rt, model, loraga, { rank: r, alpha: 8, estimationBatches: 1 });
    const peft = await create(rt, model, loraga, { rank: r, alpha: 8, estimationBatches: 1, reference: 'peft' });
    try {
      // G on the host from the same batch (12 tokens: rank ≤ 12 = q of the rSVD, so its range is exact).
      const G = await weightGradient(rt, model, weightOf(model, name), batchFor(model));
      const l = layerOf(official, name);
      const [out, inF] = [l.outFeatures, l.inFeatures];
      const sigma = singularValuesRef(G, out, inF);
      const c2 = Math.sqrt(out) / 16; // (out^¼/√γ)², γ = 16
      const A = await readTensor(rt, l.factors.A);
      const Bv = await readTensor(rt, l.factors.B);
      const AAt = mm(A, transpose(A, r, inF), r, inF, r);
      const BtB = mm(Bv, Bv, r, out, r, true);
      for (let a = 0; a < r; a++)
        for (let b = 0; b < r; b++) {
          expect(Math.abs(AAt[a * r + b]! - (a === b ? c2 : 0))).toBeLessThan(1e-4 * c2);
          expect(Math.abs(BtB[a * r + b]! - (a === b ? c2 : 0))).toBeLessThan(1e-4 * c2);
        }
      // ArB2r: G Aᵀ = c·U_{:r} S_{:r}, Bᵀ G = c·S_{r:2r} V_{r:2r}ᵀ, and Bᵀ G Aᵀ = 0 (disjoint).
      const GAt = mm(G, transpose(A, r, inF), out, inF, r);
      const BtG = mm(Bv, G, r, out, inF, true);
      const head = sigma.slice(0, r).reduce((a, v) => a + v * v, 0);
      const next = sigma.slice(r, 2 * r).reduce((a, v) => a + v * v, 0);
      expect(Math.abs(frob2(GAt) - c2 * head)).toBeLessThan(1e-3 * c2 * head);
      expect(Math.abs(frob2(BtG) - c2 * next)).toBeLessThan(1e-3 * c2 * next);
      expect(Math.sqrt(frob2(mm(BtG, transpose(A, r, inF), r, inF, r)))).toBeLessThan(1e-3 * c2 * sigma[0]!);
      // PEFT's lora_ga_init: A unscaled, B = U_{r:2r} diag(S) · c (column norms c·σ).
      const lp = layerOf(peft, name);
      const Ap = await readTensor(rt, lp.factors.A);
      const Bp = await readTensor(rt, lp.factors.B);
      for (let j = 0; j < r; j++) {
        expect(Math.abs(frob2(Ap.subarray(j * inF, (j + 1) * inF)) - 1)).toBeLessThan(1e-4);
        const norm = Math.sqrt(frob2(Array.from({ length: out }, (_, i) => Bp[i * r + j]!)));
        expect(Math.abs(norm - Math.sqrt(c2) * sigma[r + j]!)).toBeLessThan(1e-3 * Math.sqrt(c2) * sigma[r + j]!);
      }
    } finally {
      official.release(rt);
      peft.release(rt);
      releaseModel(rt, model);
    }
  });
});

/** Eigen-decomposition of a symmetric [n, n] matrix in float64 (cyclic Jacobi): values descending, vectors as rows. */
function symmetricEigen(S: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(S);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => a[y * n + y]! - a[x * n + x]!);
  const values = Float64Array.from(order, (i) => a[i * n + i]!);
  const vectors = new Float64Array(n * n);
  order.forEach((col, row) => {
    for (let k = 0; k < n; k++) vectors[row * n + k] = v[k * n + col]!;
  });
  return { values, vectors };
}

/** Every target's input rows for one batch, read back to the host during a plain forward pass. */
async function capturedInputs(rt: Runtime, model: CausalLM, targets: readonly string[], batch: Batch): Promise<Map<string, Float32Array>> {
  const pending = new Map<string, Promise<Float32Array>>();
  const linears = new Map(
    targets.map((name) => {
      const inner = model.linear(name);
      const layer = {
        name,
        inFeatures: inner.inFeatures,
        outFeatures: inner.outFeatures,
        forward: (g: Graph, x: Parameters<typeof inner.forward>[1]) => {
          pending.set(name, readTensor(rt, x));
          return inner.forward(g, x);
        },
      };
      return [name, layer];
    }),
  );
  const g = new Graph(rt, false);
  try {
    batchLogits(g, { model, linears }, batch);
    const out = new Map<string, Float32Array>();
    for (const [name, p] of pending) out.set(name, await p);
    return out;
  } finally {
    g.destroy();
  }
}

describe('EVA, VeRA, SHiRA', () => {
  it('EVA: A has orthonormal rows spanning the top-r_l principal directions of the (label-masked, centered) inputs, B = 0, and the ranks follow the pooled explained-variance ratios', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const [rank, rho] = [4, 2];
    const batch = batchFor(model);
    const targets = selectTargets(model, ['all']);
    const adapted = await eva.create(
      { rt, model, targets, seed: 11, learningRate: 1e-3, calibration: () => [batch] },
      resolveSettings(eva, { rank, alpha: 8, rho, calibrationBatches: 1 }),
    );
    try {
      const inputs = await capturedInputs(rt, model, targets, batch);
      // PEFT's label mask on unshifted labels: position p of a row counts when targets[p − 1] does.
      const rows = Array.from({ length: batch.batchSize * batch.seqLen }, (_, p) => p).filter((p) => p % batch.seqLen >= 1 && batch.targets[p - 1] !== -100);
      const host = new Map<string, { values: Float64Array; vectors: Float64Array; total: number }>();
      for (const name of targets) {
        const inF = model.linear(name).inFeatures;
        const x = inputs.get(name)!;
        const mean = new Float64Array(inF);
        for (const p of rows) for (let j = 0; j < inF; j++) mean[j]! += x[p * inF + j]! / rows.length;
        const S = new Float64Array(inF * inF);
        for (const p of rows)
          for (let a = 0; a < inF; a++) for (let b = 0; b < inF; b++) S[a * inF + b]! += (x[p * inF + a]! - mean[a]!) * (x[p * inF + b]! - mean[b]!);
        let total = 0;
        for (let j = 0; j < inF; j++) total += S[j * inF + j]!;
        host.set(name, { ...symmetricEigen(S, inF), total });
      }
      const kMax = (name: string) => evaMaxComponents(rank, rho, model.linear(name).inFeatures);
      const expectedRanks = evaRanks(
        targets.map((name) => Array.from(host.get(name)!.values.subarray(0, kMax(name)), (v) => v / host.get(name)!.total)),
        rank * targets.length,
      );
      const ranks = targets.map((name) => (adapted.linears.get(name) as LowRankLayer | undefined)?.rank ?? 0);
      expect(ranks).toEqual(expectedRanks);
      expect(new Set(ranks).size).toBeGreaterThan(1);
      for (const [name, layer] of adapted.linears) {
        const l = layer as LowRankLayer;
        const [r, inF] = [l.rank, l.inFeatures];
        const A = await readTensor(rt, l.factors.A);
        expect((await readTensor(rt, l.factors.B)).every((v) => v === 0)).toBe(true);
        expect(gramDeviation(A, r, inF, true), name).toBeLessThan(1e-4);
        // Same subspace: Σ_i,k (a_i · v_k)² = r when A's rows lie in span(v_1..v_r).
        const V = host.get(name)!.vectors;
        let captured = 0;
        for (let i = 0; i < r; i++) {
          for (let k = 0; k < r; k++) {
            let dot = 0;
            for (let j = 0; j < inF; j++) dot += A[i * inF + j]! * V[k * inF + j]!;
            captured += dot * dot;
          }
          // PEFT's svd_flip sign: each row's largest-|a| entry is positive.
          const row = Array.from(A.subarray(i * inF, (i + 1) * inF));
          const big = row.reduce((best, v, j) => (Math.abs(v) > Math.abs(row[best]!) ? j : best), 0);
          expect(row[big]!, `${name} row ${i}`).toBeGreaterThan(0);
        }
        expect(Math.abs(captured - r), name).toBeLessThan(1e-3);
        // adjust_scaling_factors: s = alpha / r whatever r_l.
        expect(l.scaling).toBeCloseTo(8 / rank, 12);
      }
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  it('VeRA: one pair of projections shared by every layer (sliced A[:, :in], B[:out]), Kaiming bounds, d = d_initial and b = 0; shared bytes counted once, and a step moves only d and b', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const r = 16;
    const settings = resolveSettings(vera, { rank: r });
    const targets = selectTargets(model, ['all']);
    const adapted = await vera.create({ rt, model, targets, seed: 11, learningRate: 1e-2, calibration: () => [batchFor(model)] }, settings);
    try {
      const layers = [...adapted.linears.values()] as VeraLayer[];
      const projections = layers[0]!.projections;
      expect(layers.every((l) => l.projections === projections)).toBe(true);
      const [inMax, outMax] = [96, 96];
      expect([projections.inMax, projections.outMax]).toEqual([inMax, outMax]);
      const A = await readTensor(rt, projections.A);
      const Bm = await readTensor(rt, projections.B);
      expect(A.every((v) => Math.abs(v) <= Math.sqrt(6 / inMax))).toBe(true);
      expect(Math.max(...A.map(Math.abs))).toBeGreaterThan(0.5 * Math.sqrt(6 / inMax));
      expect(Bm.every((v) => Math.abs(v) <= Math.sqrt(6 / r))).toBe(true);
      for (const l of layers) {
        const As = await readTensor(rt, l.A);
        const Bs = await readTensor(rt, l.B);
        for (let k = 0; k < r; k++) for (let j = 0; j < l.inFeatures; j++) expect(As[k * l.inFeatures + j]).toBe(A[k * inMax + j]);
        expect(Array.from(Bs)).toEqual(Array.from(Bm.subarray(0, l.outFeatures * r)));
        expect((await readTensor(rt, l.d)).every((v) => v === Math.fround(0.1))).toBe(true);
        expect((await readTensor(rt, l.b)).every((v) => v === 0)).toBe(true);
      }
      // Widths 48 and 96: one column copy of A (for in = 48) besides A and B.
      const sharedBytes = 4 * (r * inMax + outMax * r + r * 48);
      expect(projections.bytes).toBe(sharedBytes);
      const vectorBytes = layers.reduce((n, l) => n + 4 * (r + l.outFeatures), 0);
      expect(adapted.extraBytes).toBe(sharedBytes + vectorBytes);
      const plan = vera.plan(
        settings,
        targets.map((name) => ({ name, out: model.linear(name).outFeatures, in: model.linear(name).inFeatures })),
        0,
      );
      expect(plan.trainableParams).toBe(adapted.trainable.reduce((n, t) => n + t.tensor.data.size, 0));
      expect(plan.ownBaseBytes).toBe(sharedBytes);
      const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 1e-2, warmupSteps: 0, totalSteps: 2 } });
      await trainer.step(batchFor(model));
      await trainer.step(batchFor(model));
      trainer.destroy();
      expect(Array.from(await readTensor(rt, projections.A))).toEqual(Array.from(A));
      expect(Array.from(await readTensor(rt, projections.B))).toEqual(Array.from(Bm));
      expect((await readTensor(rt, layers[0]!.b)).some((v) => v !== 0)).toBe(true);
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });

  for (const mask of ['random', 'magnitude'] as const) {
    it(`SHiRA (${mask} mask): r·(in + out) distinct positions per layer, and after training ΔW is exactly zero off the mask`, async () => {
      const rt = await testContext();
      const model = await modelFiles(rt, 'tiny-llama');
      const r = 4;
      const settings = resolveSettings(shira, { rank: r, mask });
      const targets = selectTargets(model, ['all']);
      const adapted = await shira.create({ rt, model, targets, seed: 11, learningRate: 1e-2 }, settings);
      try {
        const plan = shira.plan(
          settings,
          targets.map((name) => ({ name, out: model.linear(name).outFeatures, in: model.linear(name).inFeatures })),
          0,
        );
        expect(plan.trainableParams).toBe(adapted.trainable.reduce((n, t) => n + t.tensor.data.size, 0));
        const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 1e-2, warmupSteps: 0, totalSteps: 3 } });
        for (let i = 0; i < 3; i++) await trainer.step(batchFor(model));
        trainer.destroy();
        for (const layer of adapted.linears.values()) {
          const l = layer as SparseDeltaLayer;
          const k = r * (l.inFeatures + l.outFeatures);
          const idx = l.hostIndices;
          expect(idx.length).toBe(k);
          expect(Array.from(new Uint32Array(await rt.readBytes(l.indices.data)))).toEqual(Array.from(idx));
          for (let t = 1; t < k; t++) expect(idx[t]!).toBeGreaterThan(idx[t - 1]!);
          const W = await readTensor(rt, (model.linear(l.name) as DenseLinear).weight);
          const merged = l.effectiveWeight(rt, 'now');
          const M = await readTensor(rt, merged.tensor);
          rt.release(merged.tensor.data);
          const onMask = new Set(idx);
          let moved = 0;
          for (let p = 0; p < W.length; p++) {
            if (!onMask.has(p)) expect(M[p], `${l.name}[${p}]`).toBe(W[p]);
            else if (M[p] !== W[p]) moved++;
          }
          expect(moved).toBeGreaterThan(0);
          if (mask === 'magnitude') {
            let smallestOn = Infinity;
            let largestOff = 0;
            for (let p = 0; p < W.length; p++) {
              if (onMask.has(p)) smallestOn = Math.min(smallestOn, Math.abs(W[p]!));
              else largestOff = Math.max(largestOff, Math.abs(W[p]!));
            }
            expect(smallestOn).toBeGreaterThanOrEqual(largestOff);
          }
        }
      } finally {
        adapted.release(rt);
        releaseModel(rt, model);
      }
    });
  }

  it('EVA: inputs beyond the memory budget are accumulated in later passes with the same results; projections reading one input share it', async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const targets = selectTargets(model, ['all']);
    const batches = [batchFor(model), { ...batchFor(model), ids: Array.from(batchFor(model).ids, (id) => (id * 7 + 3) % model.config.vocabSize) }];
    const options = { components: () => 5, labelMask: true, niter: 4, exact: false, seed: 2 };
    let progress = 0;
    const onePass = await targetInputComponents(rt, model, targets, batches, options);
    const perInput = await targetInputComponents(rt, model, targets, batches, { ...options, budgetBytes: 1, onProgress: (done) => (progress = done) });
    try {
      // Llama: q/k/v and gate/up read one tensor each, so 4 inputs per layer.
      expect(new Set(onePass.values()).size).toBe(8);
      expect(progress).toBe(8);
      expect(onePass.get('model.layers.0.self_attn.q_proj')).toBe(onePass.get('model.layers.0.self_attn.v_proj'));
      for (const name of targets) {
        const [a, b] = [onePass.get(name)!, perInput.get(name)!];
        expect(Array.from(b.values), name).toEqual(Array.from(a.values));
        expect(Array.from(b.vectors), name).toEqual(Array.from(a.vectors));
        expect(b.tokens).toBe(2 * 10);
      }
    } finally {
      releaseModel(rt, model);
    }
  });

  it('EVA: the rank distribution pools the ratios, gives ties to the earlier layer, and may leave a layer with none', () => {
    expect(
      evaRanks(
        [
          [0.5, 0.3, 0.1],
          [0.4, 0.05, 0.01],
          [0.01, 0.001, 0],
        ],
        6,
      ),
    ).toEqual([3, 3, 0]);
    expect(
      evaRanks(
        [
          [1, 0.5],
          [1, 0.5],
        ],
        3,
      ),
    ).toEqual([2, 1]);
    expect(
      evaRanks(
        [
          [0.6, 0.2],
          [0.5, 0.1],
        ],
        4,
      ),
    ).toEqual([2, 2]); // ρ = 1: every layer keeps r
    expect(evaRanks([[Number.NaN, 0.2], [0.5]], 2)).toEqual([1, 1]);
    expect(evaMaxComponents(4, 2, 5)).toBe(5);
    expect(evaMaxComponents(4, 1.4, 100)).toBe(6);
  });

  it('SHiRA: topKPositions takes the k largest scores in ascending position order, ties to the lower positions', () => {
    expect(Array.from(topKPositions(Float32Array.from([0.5, 3, 1, 3, -2, 7]), 3))).toEqual([1, 3, 5]);
    expect(Array.from(topKPositions(Float32Array.from([1, 1, 1, 1]), 2))).toEqual([0, 1]);
    expect(Array.from(topKPositions(Float32Array.from([2, 1]), 0))).toEqual([]);
    const scores = Float32Array.from({ length: 1000 }, (_, i) => (Math.sin(i * 12.9898) * 43758.5453) % 1);
    const sorted = Array.from(scores.keys())
      .sort((a, b) => scores[b]! - scores[a]! || a - b)
      .slice(0, 137)
      .sort((a, b) => a - b);
    expect(Array.from(topKPositions(scores, 137))).toEqual(sorted);
  });
});
