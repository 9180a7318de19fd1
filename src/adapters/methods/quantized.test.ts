// The quantized methods' errors are measured off the init path (quantized.ts, linalg/quantInit.ts)
// on the tiny Llama fixture: create() runs no exact SVD and no nuclear-norm kernel, and records
// no error; measureQuantErrors measures them afterwards (resumable, streamed through onProgress
// with phase 'measure', each point naming how its nuclear norm was computed). On the fixture's
// weights: the Q the measurement recomputes is bit for bit the init's base; shape batches give
// exactly the per-layer values; forced randomized estimates stay within their stated bound.

import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../../io/modelFiles';
import { nodeDirectorySources } from '../../io/nodeSource';
import { quantizeNf4 } from '../../kernels/nf4';
import { releaseNf4 } from '../../tensor/ops/nf4Weight';
import { subtractProduct, type SvdSettings } from '../../linalg/principal';
import { loftqInit, qpissaInit, QuantErrorMeasurement, type LayerQuantErrors, type QuantInit } from '../../linalg/quantInit';
import type { CausalLM } from '../../models/causalLM';
import type { DenseLinear } from '../../models/linearLayer';
import { loadCausalLM, releaseModel } from '../../models/load';
import { testContext } from '../../test/gpu';
import type { Runtime } from '../../tensor/values';
import { resolveSettings, type AdaptedModel, type InitProgress, type MethodDefinition, type MethodSettings } from '../types';
import { loftq, qlora, qpissa } from './quantized';

const TARGETS = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.k_proj', 'model.layers.1.self_attn.q_proj', 'model.layers.1.mlp.down_proj'];

async function tiny(rt: Runtime): Promise<CausalLM> {
  return loadCausalLM(rt, await openModelFiles(await nodeDirectorySources('test/fixtures/tiny-llama')));
}

async function kernelsOf<T>(rt: Awaited<ReturnType<typeof testContext>>, run: () => Promise<T>): Promise<{ result: T; kernels: string[] }> {
  const session = rt.startProfiling({ timestamps: false });
  try {
    const result = await run();
    return { result, kernels: (await session.collect()).map((d) => d.label) };
  } finally {
    session.close();
  }
}

async function create(rt: Runtime, model: CausalLM, method: MethodDefinition, settings: MethodSettings, progress: InitProgress[] = []): Promise<AdaptedModel> {
  return method.create({ rt, model, targets: TARGETS, seed: 3, learningRate: 1e-3, onProgress: (p) => progress.push(p) }, resolveSettings(method, settings));
}

describe('quantization errors off the init path', () => {
  it('QLoRA: create() runs no SVD and no norm, records no error; measuring does, resumably, and streams every point', async () => {
    const rt = await testContext();
    const model = await tiny(rt);
    try {
      const progress: InitProgress[] = [];
      const { result: adapted, kernels } = await kernelsOf(rt, () => create(rt, model, qlora, { rank: 4, doubleQuant: false }, progress));
      try {
        expect(kernels.filter((k) => /jacobi|lanczos|sumSquares/.test(k))).toEqual([]);
        expect(progress.filter((p) => p.quantError)).toEqual([]);
        const first = await adapted.measureQuantErrors!(rt, { maxLayers: 3 });
        expect(first.pending).toBe(1);
        expect(first.layers.map((l) => l.layer)).toEqual(TARGETS.slice(0, 3));
        const { result: all, kernels: measuring } = await kernelsOf(rt, () => adapted.measureQuantErrors!(rt));
        expect(measuring.some((k) => k.startsWith('jacobi'))).toBe(true); // tiny layers: exact
        expect(all.pending).toBe(0);
        expect(all.layers.map((l) => l.layer)).toEqual(TARGETS);
        for (const l of all.layers) {
          expect(l.errors).toHaveLength(1);
          expect(l.errors[0]).toMatchObject({ iteration: 0, nuclearMethod: 'exact' });
          expect(l.errors[0]!.nuclear).toBeGreaterThanOrEqual(l.errors[0]!.frobenius);
        }
        const streamed = progress.filter((p) => p.quantError);
        expect(streamed.map((p) => [p.layer, p.phase])).toEqual(TARGETS.map((t) => [t, 'measure']));
        expect(streamed.map((p) => p.quantError)).toEqual(all.layers.map((l) => l.errors[0]));
      } finally {
        adapted.release(rt);
      }
    } finally {
      releaseModel(rt, model);
    }
  });

  it('QPiSSA and LoftQ (T = 3): the only Jacobi at init is the rSVD sketch; errors per iteration', async () => {
    const rt = await testContext();
    const model = await tiny(rt);
    try {
      for (const method of [qpissa, loftq]) {
        const { result: adapted, kernels } = await kernelsOf(rt, () => create(rt, model, method, { rank: 4, iterations: 3, doubleQuant: true }));
        try {
          // The randomized SVD's small SVD runs on the [r, n] sketch: q = r = 4 rows.
          const jacobi = kernels.filter((k) => k.startsWith('jacobi'));
          expect(jacobi.length).toBeGreaterThan(0);
          for (const k of jacobi) expect(k).toMatch(/C \[4,\d+\]$/);
          expect(kernels.filter((k) => /lanczos|sumSquares/.test(k))).toEqual([]);
          const { layers } = await adapted.measureQuantErrors!(rt);
          const iterations = method === loftq ? [0, 1, 2, 3] : [1, 2, 3];
          for (const l of layers) expect(l.errors.map((e) => e.iteration)).toEqual(iterations);
        } finally {
          adapted.release(rt);
        }
      }
    } finally {
      releaseModel(rt, model);
    }
  });
});

describe("QuantErrorMeasurement (linalg/quantInit.ts) on the fixture's weights", () => {
  const SVD: SvdSettings = { rank: 4, niter: 2, oversample: 0, exact: false, seed: 5 };

  /** Each target's init (as the method runs it, s = 1) with its plan; W is the shared f32 weight. */
  async function inits(
    rt: Runtime,
    model: CausalLM,
    init: typeof qpissaInit,
    iterations: number,
    doubleQuant: boolean,
  ): Promise<{ layer: string; q: QuantInit }[]> {
    const out: { layer: string; q: QuantInit }[] = [];
    for (const layer of TARGETS) {
      const W = (model.linear(layer) as DenseLinear).weight;
      out.push({ layer, q: await init(rt, W, 1, SVD, { doubleQuant, iterations, weight: () => ({ W: W.data, done: () => undefined }) }, layer) });
    }
    return out;
  }

  function release(rt: Runtime, all: readonly { q: QuantInit }[]): void {
    for (const { q } of all) {
      releaseNf4(rt, q.base);
      rt.release(q.A!.data, q.B!.data);
    }
  }

  const plans = (all: readonly { layer: string; q: QuantInit }[]) => all.map(({ layer, q }) => ({ layer, plan: q.plan! }));

  it('each iteration’s Q is recomputed bit for bit (LoftQ T = 2: the base is nf4(W − s·B₁A₁))', async () => {
    const rt = await testContext();
    const model = await tiny(rt);
    try {
      for (const doubleQuant of [false, true]) {
        const all = await inits(rt, model, loftqInit, 2, doubleQuant);
        for (const { q } of all) {
          const plan = q.plan!;
          const { W, done } = plan.weight();
          const X = subtractProduct(rt, W, plan.factors[0]!.B, plan.factors[0]!.A, plan.scaling, 'X');
          done();
          const again = quantizeNf4(rt, X, { doubleQuant });
          rt.release(X);
          expect(await rt.readU32(again.packed)).toEqual(await rt.readU32(q.base.packed));
          const absmax = async (w: typeof again) => (w.absmax.kind === 'f32' ? rt.read(w.absmax.values) : rt.readU32(w.absmax.codes8));
          expect(await absmax(again)).toEqual(await absmax(q.base));
          releaseNf4(rt, again);
          // The final factors are a copy: training the adapter does not move them.
          expect(await rt.read(plan.factors[1]!.A)).toEqual(await rt.read(q.A!.data));
          expect(plan.factors[1]!.A).not.toBe(q.A!.data);
        }
        await new QuantErrorMeasurement(plans(all)).measure(rt); // releases the plans
        release(rt, all);
      }
    } finally {
      releaseModel(rt, model);
    }
  });

  it('shape batches give exactly the per-layer values (exact and randomized); forced estimates stay within their bound', async () => {
    const rt = await testContext();
    const model = await tiny(rt);
    try {
      const results: Record<string, readonly LayerQuantErrors[]> = {};
      for (const [name, nuclear, batchBytes] of [
        ['exact batched', {}, undefined],
        ['exact one by one', {}, 1],
        ['estimate batched', { exactMaxSide: 0 }, undefined],
        ['estimate one by one', { exactMaxSide: 0 }, 1],
      ] as const) {
        const all = await inits(rt, model, qpissaInit, 2, false);
        results[name] = await new QuantErrorMeasurement(plans(all), { nuclear, batchBytes }).measure(rt);
        release(rt, all);
      }
      expect(results['exact batched']).toEqual(results['exact one by one']);
      expect(results['estimate batched']).toEqual(results['estimate one by one']);
      for (const [i, layer] of results['estimate batched']!.entries()) {
        for (const [t, e] of layer.errors.entries()) {
          const exact = results['exact batched']![i]!.errors[t]!;
          expect(exact.nuclearMethod).toBe('exact');
          expect(e.nuclearMethod).toBe('randomized');
          expect(e.frobenius).toBeCloseTo(exact.frobenius, 5);
          expect(Math.abs(e.nuclear - exact.nuclear), `${layer.layer} T=${e.iteration}`).toBeLessThanOrEqual(e.nuclearError!);
        }
      }
    } finally {
      releaseModel(rt, model);
    }
  });
});
