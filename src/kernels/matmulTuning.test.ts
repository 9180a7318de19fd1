// The autotuner: every class gets the fastest variant it timed, products then follow the table and
// stay correct, a store spares the timing on the next context, and a stored choice this device
// cannot run is timed again.

import { afterEach, describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { matmulRef, randomArray, relativeError } from '../test/reference';
import { defaultMatmulVariant, matmul, matmulShape, matmulShapeClass, type MatmulVariant } from './matmul';
import { adapterKey, memoryTuningStore, modelTrainingProblems, trainingProblems, tuneMatmul, type MatmulTuningStore } from './matmulTuning';

afterEach(async () => (await testContext()).matmulTuning.clear());

describe('matmul autotuner', () => {
  it('times every variant that can run, keeps the fastest, and products follow it correctly', async () => {
    const ctx = await testContext();
    const problems = trainingProblems([{ out: 36, in: 20 }], 33);
    const tuned = await tuneMatmul(ctx, problems, { reps: 2 });
    expect(tuned).toHaveLength(3);
    for (const entry of tuned) {
      const timed = Object.entries(entry.msByVariant) as [MatmulVariant, number][];
      expect(timed.map(([v]) => v)).toEqual(expect.arrayContaining(['registers', 'tiled']));
      if (ctx.info.features.subgroups) expect(timed.map(([v]) => v)).toContain('subgroup');
      const fastest = timed.reduce((best, next) => (next[1] < best[1] ? next : best))[0];
      expect(entry.variant).toBe(fastest);
      expect(ctx.matmulTuning.get(entry.shapeClass)).toBe(fastest);
    }
    // The unaligned class (K = 33 rows of tokens in dW) never times vec4.
    const dW = tuned.find((t) => t.shapeClass === matmulShapeClass(problems[2]!, true, false, false))!;
    expect(dW.msByVariant.vec4).toBeUndefined();
    for (const p of problems) {
      const a = randomArray(p.M * p.K, 11);
      const b = randomArray(p.K * p.N, 12);
      const ta = ctx.uploadF32(a, p.transA ? [p.K, p.M] : [p.M, p.K]);
      const tb = ctx.uploadF32(b, p.transB ? [p.N, p.K] : [p.K, p.N]);
      const shape = matmulShape(ta.shape, tb.shape, p.transA, p.transB);
      expect(defaultMatmulVariant(ctx, shape, p.transA, p.transB)).toBe(ctx.matmulTuning.get(matmulShapeClass(p, p.transA, p.transB, false)));
      const c = matmul(ctx, ta, tb, { transA: p.transA, transB: p.transB });
      expect(relativeError(await ctx.read(c), matmulRef(a, b, p.M, p.N, p.K, p.transA, p.transB))).toBeLessThan(1e-5);
      ctx.release(ta, tb, c);
    }
  });

  it('takes the choices from the store on the next context and times nothing', async () => {
    const ctx = await testContext();
    const saved: Record<string, MatmulVariant>[] = [];
    const inner = memoryTuningStore();
    const store: MatmulTuningStore = {
      load: (k) => inner.load(k),
      save: (k, t) => (saved.push({ ...t }), inner.save(k, t)),
    };
    const problems = trainingProblems([{ out: 8, in: 12 }], 7);
    const first = await tuneMatmul(ctx, problems, { reps: 1, store });
    expect(saved).toHaveLength(1);
    ctx.matmulTuning.clear(); // as a fresh context would start
    const second = await tuneMatmul(ctx, problems, { reps: 1, store });
    expect(second.map((t) => t.variant)).toEqual(first.map((t) => t.variant));
    expect(second.every((t) => Object.keys(t.msByVariant).length === 0)).toBe(true);
    expect(saved).toHaveLength(1);
  });

  it('times again a stored choice this device or shape cannot run', async () => {
    const ctx = await testContext();
    const problem = { M: 7, N: 7, K: 7, transA: false, transB: false };
    const shapeClass = matmulShapeClass(problem, false, false, false);
    const store = memoryTuningStore();
    await store.save(adapterKey(ctx.info), { [shapeClass]: 'vec4' });
    const [entry] = await tuneMatmul(ctx, [problem], { reps: 1, store });
    expect(entry!.variant).not.toBe('vec4');
    expect(Object.keys(entry!.msByVariant).length).toBeGreaterThan(1);
  });

  it("lists a model's step products: forward, input and weight gradients of every projection and the LM head", () => {
    const dims: Record<string, { outFeatures: number; inFeatures: number }> = { q: { outFeatures: 12, inFeatures: 8 }, up: { outFeatures: 20, inFeatures: 8 } };
    const model = { linearNames: () => Object.keys(dims), linear: (name: string) => dims[name]!, headWeight: () => ({ shape: [50, 8] }) };
    expect(modelTrainingProblems(model, 33)).toEqual([
      { M: 33, N: 12, K: 8, transA: false, transB: true },
      { M: 33, N: 8, K: 12, transA: false, transB: false },
      { M: 12, N: 8, K: 33, transA: true, transB: false },
      { M: 33, N: 20, K: 8, transA: false, transB: true },
      { M: 33, N: 8, K: 20, transA: false, transB: false },
      { M: 20, N: 8, K: 33, transA: true, transB: false },
      { M: 33, N: 50, K: 8, transA: false, transB: true },
      { M: 33, N: 8, K: 50, transA: false, transB: false },
      { M: 50, N: 8, K: 33, transA: true, transB: false },
    ]);
  });

  it('classes products by transposes, packing and power-of-two sizes', () => {
    expect(matmulShapeClass({ M: 33, N: 100, K: 7 }, false, true, false)).toBe('ntf 64x128x8');
    expect(matmulShapeClass({ M: 64, N: 128, K: 8 }, false, true, false)).toBe('ntf 64x128x8');
    expect(matmulShapeClass({ M: 1, N: 1, K: 1 }, true, false, true)).toBe('tnh 1x1x1');
  });
});
