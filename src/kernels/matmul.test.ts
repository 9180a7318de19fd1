import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { matmulRef, randomArray, relativeError } from '../test/reference';
import { F32_MATMUL_VARIANTS, matmul, matmulInto, matmulShape, vec4Compatible, type MatmulVariant } from './matmul';
import { GpuError } from '../errors';

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 100],
  [33, 7, 1],
  [100, 257, 33],
  [257, 100, 7],
  [64, 64, 64],
  [1, 257, 100],
  // Aligned shapes (odd M included) so the vec4 variant is exercised on more than one size.
  [7, 36, 100],
  [33, 4, 260],
  [100, 260, 32],
  [4, 4, 4],
];

function sizesFor(variant: MatmulVariant, transA: boolean): [number, number, number][] {
  if (variant !== 'vec4') return SIZES;
  return SIZES.filter(([M, N, K]) => vec4Compatible({ M, N, K }, transA));
}

describe.each(F32_MATMUL_VARIANTS)('matmul (%s variant)', (variant) => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`matches float64 for transA=${transA} transB=${transB} on odd sizes`, async () => {
        const ctx = await testContext();
        for (const [M, N, K] of sizesFor(variant, transA)) {
          const seed = M * 7919 + N * 131 + K;
          const aData = randomArray(M * K, seed);
          const bData = randomArray(K * N, seed + 1);
          const a = ctx.uploadF32(aData, transA ? [K, M] : [M, K]);
          const b = ctx.uploadF32(bData, transB ? [N, K] : [K, N]);
          const c = matmul(ctx, a, b, { transA, transB, variant });
          const got = await ctx.read(c);
          const want = matmulRef(aData, bData, M, N, K, transA, transB);
          expect(relativeError(got, want), `M=${M} N=${N} K=${K}`).toBeLessThan(1e-5);
          ctx.release(a, b, c);
        }
      });
    }
  }

  it('adds a bias, scales by alpha and accumulates into the output', async () => {
    const ctx = await testContext();
    const [M, N, K] = variant === 'vec4' ? [33, 100, 8] : [33, 100, 7];
    const aData = randomArray(M * K, 1);
    const bData = randomArray(N * K, 2);
    const biasData = randomArray(N, 3);
    const prior = randomArray(M * N, 4);
    const a = ctx.uploadF32(aData, [M, K]);
    const b = ctx.uploadF32(bData, [N, K]);
    const bias = ctx.uploadF32(biasData, [N]);
    const out = ctx.uploadF32(prior, [M, N]);
    matmulInto(ctx, a, b, out, { transB: true, bias, alpha: 0.5, accumulate: true, variant });
    const got = await ctx.read(out);
    const ab = matmulRef(aData, bData, M, N, K, false, true);
    const want = ab.map((v, i) => 0.5 * v + biasData[i % N]! + prior[i]!);
    expect(relativeError(got, want)).toBeLessThan(1e-5);
    ctx.release(a, b, bias, out);
  });

  it('overwrites NaN garbage in the output when not accumulating', async () => {
    const ctx = await testContext();
    const n = variant === 'vec4' ? 8 : 7;
    const a = ctx.uploadF32(randomArray(n * n, 5), [n, n]);
    const b = ctx.uploadF32(randomArray(n * n, 6), [n, n]);
    const out = ctx.uploadF32(new Float32Array(n * n).fill(Number.NaN), [n, n]);
    matmulInto(ctx, a, b, out, { variant });
    const got = await ctx.read(out);
    expect(got.every(Number.isFinite)).toBe(true);
    ctx.release(a, b, out);
  });

  it('runs batched products and broadcasts an operand without batch dimensions', async () => {
    const ctx = await testContext();
    const [batch, M, N, K] = variant === 'vec4' ? [3, 7, 36, 16] : [3, 7, 33, 17];
    const aData = randomArray(batch * M * K, 7);
    const bData = randomArray(batch * N * K, 8);
    const a = ctx.uploadF32(aData, [batch, M, K]);
    const b = ctx.uploadF32(bData, [batch, N, K]);
    const c = matmul(ctx, a, b, { transB: true, variant });
    expect(c.shape).toEqual([batch, M, N]);
    const got = await ctx.read(c);
    for (let i = 0; i < batch; i++) {
      const want = matmulRef(aData.subarray(i * M * K, (i + 1) * M * K), bData.subarray(i * N * K, (i + 1) * N * K), M, N, K, false, true);
      expect(relativeError(got.subarray(i * M * N, (i + 1) * M * N), want)).toBeLessThan(1e-5);
    }
    const shared = ctx.uploadF32(bData.subarray(0, N * K), [N, K]);
    const c2 = matmul(ctx, a, shared, { transB: true, variant });
    const got2 = await ctx.read(c2);
    for (let i = 0; i < batch; i++) {
      const want = matmulRef(aData.subarray(i * M * K, (i + 1) * M * K), bData.subarray(0, N * K), M, N, K, false, true);
      expect(relativeError(got2.subarray(i * M * N, (i + 1) * M * N), want)).toBeLessThan(1e-5);
    }
    ctx.release(a, b, c, shared, c2);
  });
});

describe('matmul shape checks', () => {
  it('refuses the vec4 variant on unaligned shapes', async () => {
    const ctx = await testContext();
    const a = ctx.uploadF32(randomArray(21, 1), [3, 7]);
    const b = ctx.uploadF32(randomArray(28, 2), [7, 4]);
    expect(() => matmul(ctx, a, b, { variant: 'vec4' })).toThrow(/vec4 variant needs/);
    ctx.release(a, b);
  });

  it('names the kernel and the shapes when inner dimensions differ', () => {
    expect(() => matmulShape([3, 4], [5, 6])).toThrow(GpuError);
    expect(() => matmulShape([3, 4], [5, 6])).toThrow(/matmul.*\[3,4\].*\[5,6\]/);
  });

  it('rejects an output of the wrong shape before dispatching', async () => {
    const ctx = await testContext();
    const a = ctx.uploadF32(randomArray(6, 1), [2, 3]);
    const b = ctx.uploadF32(randomArray(12, 2), [3, 4]);
    const out = ctx.empty([4, 2]);
    expect(() => matmulInto(ctx, a, b, out)).toThrow(/output must be \[2,4\]/);
    ctx.release(a, b, out);
  });
});
