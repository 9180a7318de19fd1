// Method-specific invariants of ADAPTERS.md that the shared contract battery does not cover.

import { describe, expect, it } from 'vitest';
import { LowRankLayer } from '../adapters/forms/lowRank';
import { SppLayer } from '../adapters/forms/sppLayer';
import { methodById } from '../adapters/registry';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type AdaptedModel, type MethodId, type MethodSettings } from '../adapters/types';
import { orthoDeviation } from '../linalg/orthoRegularizer';
import type { CausalLM } from '../models/causalLM';
import { DenseLinear } from '../models/linearLayer';
import { releaseModel } from '../models/load';
import { Graph } from '../tensor/graph';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import { readTensor, targetIds, tokenIds, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { modelFiles } from './testing';
import type { Batch } from './trainer';

const B = 2;
const T = 6;

function batchFor(model: CausalLM): Batch {
  const V = model.config.vocabSize;
  const ids = Array.from({ length: B * T }, (_, i) => (i * 29 + 5) % V);
  return { ids, targets: ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!)), batchSize: B, seqLen: T };
}

async function create(rt: Runtime, model: CausalLM, id: MethodId, settings: MethodSettings, roles: readonly string[] = ['all']): Promise<AdaptedModel> {
  const method = methodById(id);
  return method.create({ rt, model, targets: selectTargets(model, roles), seed: 11, learningRate: 1e-3, calibration: () => [batchFor(model)] }, resolveSettings(method, settings));
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
    const adapted = await create(rt, model, 'lora', { rank: 4 });
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
    const adapted = await create(rt, model, 'pissa', { rank: 4, alpha: 8, niter: 2 });
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
    const adapted = await create(rt, model, 'sorsa', { rank: 4, niter: 4 });
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
    const adapted = await create(rt, model, 'lorasb', { rank, estimationBatches: 1, exactSvd: true });
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
      const W = (model.linear(name) as DenseLinear).weight;
      W.requiresGrad = true;
      const g = new Graph(rt);
      const batch = batchFor(model);
      g.backward(crossEntropy(g, model.forward(g, tokenIds(g, batch.ids, [B, T])), targetIds(g, batch.targets, [B, T])));
      g.destroy();
      W.requiresGrad = false;
      const G = await rt.read(W.grad!);
      rt.release(W.grad);
      W.grad = undefined;
      const eta = 1e-3 / (0.1 * 1);
      const BRA = new Float64Array(out * inF);
      for (let i = 0; i < out; i++) for (let a = 0; a < rank; a++) for (let b = 0; b < rank; b++) {
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
    const adapted = await create(rt, model, 'spp', { ratio: 0.5, pruning: 'magnitude' }, ['q', 'o', 'gate', 'up', 'down']);
    try {
      const batch = batchFor(model);
      const prunedOnly = new Map([...adapted.linears].map(([name, l]) => [name, new DenseLinear(name, (l as SppLayer).pruned, (l as SppLayer).bias)]));
      const run = async (linears: ReadonlyMap<string, DenseLinear | SppLayer>) => {
        const g = new Graph(rt, false);
        try {
          return await readTensor(rt, model.forward(g, tokenIds(g, batch.ids, [B, T]), { linears }));
        } finally {
          g.destroy();
        }
      };
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
