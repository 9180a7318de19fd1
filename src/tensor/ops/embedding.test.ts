// Tests of the embedding op (shaders/embedding.wgsl) against float64 references: gather forward,
// scatter-add backward by finite differences and in full, repeated ids (more tokens than a
// workgroup), accumulation into an existing table gradient, clamping of ids ≥ V, determinism.

import { describe, expect, it } from 'vitest';
import { EMBEDDING_BACKWARD_VARIANTS, embeddingBackwardInto, forceEmbeddingBackwardVariant } from '../../kernels/embedding';
import type { GpuContext } from '../../gpu/context';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, relativeError, rng } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { embedding } from './embedding';

// float64 reference: y[n, c] = table[min(ids[n], V − 1), c]
function embeddingRef(ids: ArrayLike<number>, table: ArrayLike<number>, V: number, C: number): Float64Array {
  const y = new Float64Array(ids.length * C);
  for (let n = 0; n < ids.length; n++) {
    const v = Math.min(ids[n]!, V - 1);
    for (let c = 0; c < C; c++) y[n * C + c] = table[v * C + c]!;
  }
  return y;
}

// float64 reference of the backward: dTable[v, c] = Σ_{n: min(ids[n], V−1) = v} gy[n, c]
function embeddingGradRef(ids: ArrayLike<number>, gy: ArrayLike<number>, V: number, C: number): Float64Array {
  const d = new Float64Array(V * C);
  for (let n = 0; n < ids.length; n++) {
    const v = Math.min(ids[n]!, V - 1);
    for (let c = 0; c < C; c++) d[v * C + c] = d[v * C + c]! + gy[n * C + c]!;
  }
  return d;
}

function randomIds(count: number, V: number, seed: number): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: count }, () => Math.floor(next() * V));
}

const CASES = [
  { B: 1, T: 1, V: 1, C: 1 },
  { B: 1, T: 7, V: 3, C: 33 }, // 7 tokens over 3 rows: repeats certain
  { B: 3, T: 11, V: 33, C: 7 },
  { B: 2, T: 70, V: 5, C: 3 }, // 140 tokens > 64-wide workgroup: strided first-occurrence search
  { B: 1, T: 300, V: 7, C: 65 }, // C > 64: 256-wide workgroups; 300 tokens > 256
  { B: 1, T: 5, V: 3, C: 257 }, // more columns than invocations
];

describe('embedding', () => {
  for (const { B, T, V, C } of CASES) {
    it(`forward and backward match float64 and finite differences (B=${B}, T=${T}, V=${V}, C=${C})`, async () => {
      const ctx = await testContext();
      const ids = randomIds(B * T, V, B * 100 + T);
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'ids', shape: [B, T], data: ids, dtype: 'u32', requiresGrad: false },
          { name: 'table', shape: [V, C] },
        ],
        gpu: (g, [i, t]) => embedding(g, i!, t!),
        cpu: ([i, t]) => embeddingRef(i!, t!, V, C),
        samples: 64,
      });
      expect(result.forwardError).toBe(0); // a gather is exact
      expect(Object.keys(result.gradErrors)).toEqual(['table']);
      expect(result.gradErrors.table).toBeLessThan(1e-5);
    });

    it(`full table gradient equals the float64 scatter-add, bit for bit the same from both kernels (B=${B}, T=${T}, V=${V}, C=${C})`, async () => {
      const ctx = await testContext();
      const idsData = randomIds(B * T, V, B * 7 + T);
      const gyData = randomArray(B * T * C, 11 + V);
      const ids = ctx.upload(Uint32Array.from(idsData), [B, T], 'u32');
      const gy = ctx.uploadF32(gyData, [B, T, C]);
      const results: Float32Array[] = [];
      try {
        for (const variant of EMBEDDING_BACKWARD_VARIANTS) {
          forceEmbeddingBackwardVariant(ctx, variant);
          const dTable = ctx.empty([V, C]);
          embeddingBackwardInto(ctx, ids, gy, dTable);
          const got = await ctx.read(dTable);
          expect(relativeError(got, embeddingGradRef(idsData, gyData, V, C)), variant).toBeLessThan(1e-6);
          results.push(got);
          ctx.release(dTable);
        }
      } finally {
        forceEmbeddingBackwardVariant(ctx, undefined);
      }
      // Both sum each row's tokens in increasing order.
      expect(Array.from(results[0]!)).toEqual(Array.from(results[1]!));
      ctx.release(ids, gy);
    });
  }

  for (const variant of EMBEDDING_BACKWARD_VARIANTS) {
    it(`accumulates into an existing table gradient (tied embeddings; ${variant} kernel)`, async () => {
      const ctx = await testContext();
      forceEmbeddingBackwardVariant(ctx, variant);
      try {
        await accumulatesIntoExistingGradient(ctx);
      } finally {
        forceEmbeddingBackwardVariant(ctx, undefined);
      }
    });
  }

  async function accumulatesIntoExistingGradient(ctx: GpuContext): Promise<void> {
    const [N, V, C] = [9, 4, 5];
    const idsData = Float32Array.from([3, 0, 3, 3, 1, 0, 3, 1, 0]); // row 2 unused
    const gyData = randomArray(N * C, 5);
    const prior = randomArray(V * C, 6);
    const ids = ctx.upload(Uint32Array.from(idsData), [N], 'u32');
    const g = new Graph(ctx);
    const table = Tensor.leaf(ctx.uploadF32(randomArray(V * C, 7), [V, C]), true, 'table');
    table.grad = ctx.uploadF32(prior, [V, C]);
    const y = embedding(g, Tensor.leaf(ids, false, 'ids'), table);
    g.backward(y, ctx.uploadF32(gyData, [N, C]));
    const got = await ctx.read(table.grad);
    const want = embeddingGradRef(idsData, gyData, V, C).map((d, i) => d + prior[i]!);
    expect(relativeError(got, want)).toBeLessThan(1e-6);
    ctx.release(ids, table.data, table.grad);
    g.destroy();
  }

  it('clamps ids ≥ V to the last row in forward and backward (no out-of-bounds access)', async () => {
    const ctx = await testContext();
    const [V, C] = [3, 4];
    const idsData = Float32Array.from([0, 7, 2, 4_000_000_000, 1]);
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'ids', shape: [idsData.length], data: idsData, dtype: 'u32', requiresGrad: false },
        { name: 'table', shape: [V, C] },
      ],
      gpu: (g, [i, t]) => embedding(g, i!, t!),
      cpu: ([i, t]) => embeddingRef(i!, t!, V, C),
    });
    expect(result.forwardError).toBe(0);
    expect(result.gradErrors.table).toBeLessThan(1e-5);
  });

  it('gives bit-identical gradients on repeated runs', async () => {
    const ctx = await testContext();
    const [N, V, C] = [200, 6, 9];
    const ids = ctx.upload(Uint32Array.from(randomIds(N, V, 3)), [N], 'u32');
    const gy = ctx.uploadF32(randomArray(N * C, 4), [N, C]);
    const runs: Float32Array[] = [];
    for (let r = 0; r < 3; r++) {
      const d = embeddingBackwardInto(ctx, ids, gy, ctx.empty([V, C]));
      runs.push(await ctx.read(d));
      ctx.release(d);
    }
    expect(Array.from(runs[1]!)).toEqual(Array.from(runs[0]!));
    expect(Array.from(runs[2]!)).toEqual(Array.from(runs[0]!));
    ctx.release(ids, gy);
  });

  it('rejects f32 ids and ids that require a gradient', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const table = Tensor.leaf(ctx.uploadF32([1, 2], [1, 2]), true, 'table');
    const f32Ids = Tensor.leaf(ctx.uploadF32([0], [1]), false, 'ids');
    expect(() => embedding(g, f32Ids, table)).toThrow(/ids must be u32/);
    const gradIds = Tensor.leaf(ctx.upload(Uint32Array.from([0]), [1], 'u32'), true, 'ids');
    expect(() => embedding(g, gradIds, table)).toThrow(/must not require a gradient/);
    ctx.release(table.data, f32Ids.data, gradIds.data);
    g.destroy();
  });
});
