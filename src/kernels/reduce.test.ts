// Tests of shaders/reduce.wgsl against float64 references: row reductions on odd shapes (rows far
// wider than a workgroup, more rows than 65535), whole-tensor reductions from 1 to 1e6 elements,
// exact maxima of negative data, sumSquaresMany over many tensors, and shape errors.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../errors';
import { testContext } from '../test/gpu';
import { randomArray, reduceRowsRef, relativeError } from '../test/reference';
import { max, MIN_SEGMENT, rowMax, rowSum, rowSumSquares, segmentPlan, sum, sumSquares, sumSquaresMany } from './reduce';

const ROW_SHAPES: number[][] = [
  [1, 1],
  [7, 1],
  [1, 7],
  [33, 7],
  [7, 33],
  [100, 257],
  [257, 100],
  [2, 3, 5],
  [3, 20_011], // C ≫ workgroup size
];

const ROW_KERNELS = [
  { kind: 'sum', fn: rowSum },
  { kind: 'sumSquares', fn: rowSumSquares },
  { kind: 'max', fn: rowMax },
] as const;

describe.each(ROW_KERNELS)('row $kind', ({ kind, fn }) => {
  it('matches float64 on odd shapes', async () => {
    const ctx = await testContext();
    for (const shape of ROW_SHAPES) {
      const C = shape[shape.length - 1]!;
      const R = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const data = randomArray(R * C, R * 1000 + C);
      const x = ctx.uploadF32(data, shape);
      const y = fn(ctx, x);
      expect(y.shape).toEqual(shape.slice(0, -1));
      const got = await ctx.read(y);
      const want = reduceRowsRef(data, R, C, kind);
      if (kind === 'max') expect(Array.from(got), `[${shape}]`).toEqual(Array.from(want));
      else expect(relativeError(got, want), `[${shape}]`).toBeLessThan(1e-5);
      ctx.release(x, y);
    }
  });
});

describe('rowMax', () => {
  it('is exact on all-negative rows, wherever the maximum sits, and on -Infinity rows', async () => {
    const ctx = await testContext();
    for (const [R, C] of [
      [5, 1],
      [5, 7],
      [4, 64],
      [4, 65],
      [3, 257],
      [2, 1000],
    ] as const) {
      const data = Float32Array.from(randomArray(R * C, R + C), (v) => v - 2); // in [-3, -1)
      data[0] = -0.5; // row 0: maximum first
      data[2 * C - 1] = -0.25; // row 1: maximum last
      if (R > 2) data.fill(-Infinity, 2 * C, 3 * C); // row 2: nothing but -Infinity
      const x = ctx.uploadF32(data, [R, C]);
      const y = rowMax(ctx, x);
      const got = await ctx.read(y);
      expect(Array.from(got), `[${R},${C}]`).toEqual(Array.from(reduceRowsRef(data, R, C, 'max')));
      expect(got[0]).toBe(-0.5);
      if (C > 1) expect(got[1]).toBe(-0.25);
      if (R > 2) expect(got[2]).toBe(-Infinity);
      ctx.release(x, y);
    }
  });
});

describe('row reductions over more than 65535 rows (2-D grid)', () => {
  it('reduces every row', async () => {
    const ctx = await testContext();
    const [R, C] = [65_537 + 1000, 2];
    const data = randomArray(R * C, 77);
    const x = ctx.uploadF32(data, [R, C]);
    const y = rowSum(ctx, x);
    expect(relativeError(await ctx.read(y), reduceRowsRef(data, R, C, 'sum'))).toBeLessThan(1e-5);
    ctx.release(x, y);
  });
});

const WHOLE_SIZES = [1, 7, 33, 100, 257, MIN_SEGMENT, MIN_SEGMENT + 1, 100_003, 1_000_000];

const WHOLE_KERNELS = [
  { kind: 'sum', fn: sum },
  { kind: 'sumSquares', fn: sumSquares },
  { kind: 'max', fn: max },
] as const;

describe.each(WHOLE_KERNELS)('whole-tensor $kind', ({ kind, fn }) => {
  it('matches float64 from 1 to 1e6 elements', async () => {
    const ctx = await testContext();
    for (const n of WHOLE_SIZES) {
      // Mean 0.25 so the sum is far from 0 and its relative error means something.
      const data = Float32Array.from(randomArray(n, n + 5), (v) => v + 0.25);
      const x = ctx.uploadF32(data, [n]);
      const y = fn(ctx, x);
      expect(y.shape).toEqual([1]);
      const got = await ctx.read(y);
      const want = reduceRowsRef(data, 1, n, kind);
      if (kind === 'max') expect(got[0], `n=${n}`).toBe(want[0]);
      else expect(relativeError(got, want), `n=${n}`).toBeLessThan(1e-5);
      ctx.release(x, y);
    }
  });
});

describe('whole-tensor reductions', () => {
  it('sum stays accurate for zero-mean data of 1e6 elements, normwise', async () => {
    const ctx = await testContext();
    const n = 1_000_000;
    const data = randomArray(n, 123);
    const x = ctx.uploadF32(data, [n]);
    const y = sum(ctx, x);
    const got = (await ctx.read(y))[0]!;
    const want = reduceRowsRef(data, 1, n, 'sum')[0]!;
    // Relative to Σ|x| (the scale of the rounding error) rather than to the ~0 sum itself.
    const absSum = reduceRowsRef(Float32Array.from(data, Math.abs), 1, n, 'sum')[0]!;
    expect(Math.abs(got - want) / absSum).toBeLessThan(1e-6);
    ctx.release(x, y);
  });

  it('max is exact on negative data of every size, wherever the maximum sits', async () => {
    const ctx = await testContext();
    for (const n of WHOLE_SIZES) {
      for (const at of [0, n - 1, n >> 1]) {
        const data = Float32Array.from(randomArray(n, n + at), (v) => v - 3); // in [-4, -2)
        data[at] = -1.5;
        const x = ctx.uploadF32(data, [n]);
        const y = max(ctx, x);
        expect((await ctx.read(y))[0], `n=${n} at=${at}`).toBe(-1.5);
        ctx.release(x, y);
      }
    }
  });

  it('writes into a given output, repeats bit for bit, and handles empty tensors', async () => {
    const ctx = await testContext();
    const data = randomArray(100_003, 9);
    const x = ctx.uploadF32(data, [100_003]);
    const out = ctx.uploadF32([Number.NaN], [1]);
    expect(sumSquares(ctx, x, out)).toBe(out);
    const first = (await ctx.read(out))[0]!;
    expect(relativeError([first], reduceRowsRef(data, 1, 100_003, 'sumSquares'))).toBeLessThan(1e-5);
    sumSquares(ctx, x, out);
    expect((await ctx.read(out))[0]).toBe(first);

    const empty = ctx.empty([0]);
    const s = sum(ctx, empty, out);
    expect(Array.from(await ctx.read(s))).toEqual([0]);
    expect(() => max(ctx, empty)).toThrow(/max of an empty tensor/);
    ctx.release(x, out, empty);
  });

  it('segmentPlan keeps the first pass within 1024 partials of at least 4096 elements', () => {
    expect(segmentPlan(0)).toEqual({ len: 1, segments: 0 });
    expect(segmentPlan(1)).toEqual({ len: MIN_SEGMENT, segments: 1 });
    expect(segmentPlan(MIN_SEGMENT + 1)).toEqual({ len: MIN_SEGMENT, segments: 2 });
    const big = segmentPlan(10_000_000);
    expect(big.segments).toBeLessThanOrEqual(1024);
    expect(big.len * big.segments).toBeGreaterThanOrEqual(10_000_000);
    expect(big.len * (big.segments - 1)).toBeLessThan(10_000_000);
  });
});

describe('sumSquaresMany', () => {
  it('sums the squares of tensors of mixed sizes into one scalar', async () => {
    const ctx = await testContext();
    const shapes = [[1], [7], [33, 100], [257], [0], [100_003], [4, 250_000]];
    let want = 0;
    const tensors = shapes.map((shape, i) => {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = randomArray(n, 500 + i, 1 + i);
      want += reduceRowsRef(data, 1, n, 'sumSquares')[0]!;
      return ctx.uploadF32(data, shape);
    });
    const y = sumSquaresMany(ctx, tensors);
    expect(y.shape).toEqual([1]);
    expect(relativeError(await ctx.read(y), [want])).toBeLessThan(1e-5);
    ctx.release(y, ...tensors);
  });

  it('sums more tensors than one dispatch binds, of odd sizes, several segments each', async () => {
    const ctx = await testContext();
    const sizes = [1, 7, 33, 100, 4097, 12_289, 1, 99_999, 33, 8193, 7, 260_001, 100, 5, 40_000, 3, 16_385, 2, 1, 700_001, 9, 33, 65_537, 100];
    let want = 0;
    const tensors = sizes.map((n, i) => {
      const data = randomArray(n, 700 + i, 0.5 + (i % 5));
      for (const v of data) want += v * v;
      return ctx.uploadF32(data, [n]);
    });
    const y = sumSquaresMany(ctx, tensors);
    expect(relativeError(await ctx.read(y), [want])).toBeLessThan(1e-5);
    ctx.release(y, ...tensors);
  });

  it('binds thousands of small tensors', async () => {
    const ctx = await testContext();
    // 4100 three-element tensors: hundreds of dispatches of up to K tensors, one partial each.
    const count = MIN_SEGMENT + 4;
    const data = randomArray(count * 3, 600);
    const tensors: ReturnType<typeof ctx.uploadF32>[] = [];
    for (let i = 0; i < count; i++) tensors.push(ctx.uploadF32(data.subarray(3 * i, 3 * i + 3), [3]));
    const y = sumSquaresMany(ctx, tensors);
    expect(relativeError(await ctx.read(y), reduceRowsRef(data, 1, count * 3, 'sumSquares'))).toBeLessThan(1e-5);
    ctx.release(y, ...tensors);
  });

  it('gives 0 for no tensors or only empty ones', async () => {
    const ctx = await testContext();
    const empty = ctx.empty([0, 3]);
    const y = sumSquaresMany(ctx, []);
    const z = sumSquaresMany(ctx, [empty]);
    expect(Array.from(await ctx.read(y))).toEqual([0]);
    expect(Array.from(await ctx.read(z))).toEqual([0]);
    ctx.release(y, z, empty);
  });
});

describe('reduction shape checks', () => {
  it('name the kernel and the shapes', async () => {
    const ctx = await testContext();
    const x = ctx.empty([4, 5]);
    const v = ctx.empty([5]);
    const wrong = ctx.empty([5]);
    const u = ctx.empty([4], 'u32');
    expect(() => rowSum(ctx, v)).toThrow(GpuError);
    expect(() => rowSum(ctx, v)).toThrow(/at least 2 dimensions.*kernel rowSum, x \[5\]/);
    expect(() => rowMax(ctx, x, wrong)).toThrow(/output must be \[4\].*kernel rowMax, x \[4,5\], out \[5\]/);
    expect(() => sum(ctx, x, wrong)).toThrow(/output must be \[1\].*kernel sum, x \[4,5\], out \[5\]/);
    expect(() => rowSumSquares(ctx, x, x)).toThrow(/output must be \[4\]/);
    expect(() => sumSquares(ctx, u)).toThrow(/x must be f32, is u32/);
    expect(() => sumSquaresMany(ctx, [x, u])).toThrow(/tensors\[1\] must be f32/);
    expect(() => sumSquaresMany(ctx, [x], wrong)).toThrow(/output must be \[1\].*out \[5\]/);
    const one = ctx.empty([1]);
    expect(() => sumSquaresMany(ctx, [x, one], one)).toThrow(/must not alias tensors\[1\]/);
    expect(() => max(ctx, one, one)).toThrow(/must not alias/);
    ctx.release(x, v, wrong, u, one);
  });
});
