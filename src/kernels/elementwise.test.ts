// Tests of shaders/elementwise.wgsl against float64 references: every op on odd sizes, in place
// (output aliasing an input), a tensor past 65535 workgroups (2-D grid), and shape errors.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../errors';
import { testContext } from '../test/gpu';
import { randomArray, relativeError } from '../test/reference';
import {
  add,
  addInto,
  addRowVector,
  addRowVectorInto,
  axpy,
  copy,
  ELEMENTWISE_WORKGROUP_SIZE,
  fill,
  mul,
  mulInto,
  mulRowVectorInto,
  signScaledInto,
  scale,
  scaleInto,
  sub,
  subInto,
  workgroupGrid,
} from './elementwise';

const SIZES = [1, 7, 33, 100, 257, 100_003];

/** Float64 elementwise reference. */
function map2(x: ArrayLike<number>, y: ArrayLike<number>, f: (p: number, q: number) => number): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i]!, y[i]!);
  return out;
}

const BINARY = [
  { name: 'add', fn: add, into: addInto, ref: (p: number, q: number) => p + q },
  { name: 'sub', fn: sub, into: subInto, ref: (p: number, q: number) => p - q },
  { name: 'mul', fn: mul, into: mulInto, ref: (p: number, q: number) => p * q },
] as const;

describe.each(BINARY)('$name', ({ fn, into, ref }) => {
  it('matches float64 on odd sizes', async () => {
    const ctx = await testContext();
    for (const n of SIZES) {
      const aData = randomArray(n, n);
      const bData = randomArray(n, n + 1, 3);
      const a = ctx.uploadF32(aData, [n]);
      const b = ctx.uploadF32(bData, [n]);
      const c = fn(ctx, a, b);
      expect(c.shape).toEqual([n]);
      expect(relativeError(await ctx.read(c), map2(aData, bData, ref)), `n=${n}`).toBeLessThan(1e-5);
      ctx.release(a, b, c);
    }
  });

  it('writes into an output that is either input, or both', async () => {
    const ctx = await testContext();
    const shape = [7, 33];
    const aData = randomArray(7 * 33, 11);
    const bData = randomArray(7 * 33, 12);
    const a = ctx.uploadF32(aData, shape);
    const b = ctx.uploadF32(bData, shape);
    into(ctx, a, a, b); // a ← a op b
    expect(relativeError(await ctx.read(a), map2(aData, bData, ref))).toBeLessThan(1e-5);
    ctx.write(a, aData);
    into(ctx, b, a, b); // b ← a op b
    expect(relativeError(await ctx.read(b), map2(aData, bData, ref))).toBeLessThan(1e-5);
    ctx.write(a, aData);
    into(ctx, a, a, a); // a ← a op a
    expect(relativeError(await ctx.read(a), map2(aData, aData, ref))).toBeLessThan(1e-5);
    ctx.release(a, b);
  });
});

describe('scale and axpy', () => {
  it('scale matches float64, out of place and in place', async () => {
    const ctx = await testContext();
    for (const n of SIZES) {
      const data = randomArray(n, 20 + n);
      const a = ctx.uploadF32(data, [n]);
      const s = -1.75;
      const want = Float64Array.from(data, (v) => s * v);
      const c = scale(ctx, a, s);
      expect(relativeError(await ctx.read(c), want), `n=${n}`).toBeLessThan(1e-5);
      scaleInto(ctx, a, a, s);
      expect(relativeError(await ctx.read(a), want), `in place n=${n}`).toBeLessThan(1e-5);
      ctx.release(a, c);
    }
  });

  it('axpy adds alpha·x into y in place', async () => {
    const ctx = await testContext();
    for (const n of SIZES) {
      const xData = randomArray(n, 30 + n);
      const yData = randomArray(n, 31 + n);
      const x = ctx.uploadF32(xData, [n]);
      const y = ctx.uploadF32(yData, [n]);
      const alpha = 0.3;
      expect(axpy(ctx, alpha, x, y)).toBe(y);
      expect(
        relativeError(
          await ctx.read(y),
          map2(xData, yData, (p, q) => q + alpha * p),
        ),
        `n=${n}`,
      ).toBeLessThan(1e-5);
      // x itself is unchanged
      expect(relativeError(await ctx.read(x), xData)).toBe(0);
      ctx.release(x, y);
    }
  });

  it('axpy with x = y doubles-and-scales in place', async () => {
    const ctx = await testContext();
    const data = randomArray(257, 40);
    const y = ctx.uploadF32(data, [257]);
    axpy(ctx, 2, y, y);
    expect(
      relativeError(
        await ctx.read(y),
        Float64Array.from(data, (v) => 3 * v),
      ),
    ).toBeLessThan(1e-5);
    ctx.release(y);
  });
});

describe('fill and copy', () => {
  it('fill overwrites every element, including NaN garbage', async () => {
    const ctx = await testContext();
    for (const n of SIZES) {
      const t = ctx.uploadF32(new Float32Array(n).fill(Number.NaN), [n]);
      fill(ctx, t, -2.5);
      const got = await ctx.read(t);
      expect(
        got.every((v) => v === -2.5),
        `n=${n}`,
      ).toBe(true);
      ctx.release(t);
    }
  });

  it('copy is exact and may reshape', async () => {
    const ctx = await testContext();
    for (const n of SIZES) {
      const data = randomArray(n, 50 + n);
      const src = ctx.uploadF32(data, [n]);
      const dst = ctx.uploadF32(new Float32Array(n).fill(Number.NaN), [1, n]);
      expect(copy(ctx, src, dst)).toBe(dst);
      expect(await ctx.read(dst)).toEqual(data);
      ctx.release(src, dst);
    }
  });
});

describe('addRowVector', () => {
  const SHAPES: number[][] = [[1, 1], [7, 33], [33, 7], [100, 257], [257, 1], [3, 5, 7], [100_003]];
  it('adds v [C] to every row of a [..., C]', async () => {
    const ctx = await testContext();
    for (const shape of SHAPES) {
      const n = shape.reduce((x, y) => x * y, 1);
      const C = shape[shape.length - 1]!;
      const aData = randomArray(n, n + C);
      const vData = randomArray(C, n + C + 1, 5);
      const a = ctx.uploadF32(aData, shape);
      const v = ctx.uploadF32(vData, [C]);
      const want = Float64Array.from(aData, (x, i) => x + vData[i % C]!);
      const c = addRowVector(ctx, a, v);
      expect(c.shape).toEqual(shape);
      expect(relativeError(await ctx.read(c), want), `[${shape}]`).toBeLessThan(1e-5);
      addRowVectorInto(ctx, a, a, v);
      expect(relativeError(await ctx.read(a), want), `in place [${shape}]`).toBeLessThan(1e-5);
      ctx.release(a, v, c);
    }
  });
});

describe('2-D workgroup grid', () => {
  it('workgroupGrid stays under the limit and covers the count with less than a row of overshoot', () => {
    expect(workgroupGrid(0)).toEqual([0, 1]);
    expect(workgroupGrid(1)).toEqual([1, 1]);
    expect(workgroupGrid(65535)).toEqual([65535, 1]);
    for (const groups of [65536, 65535 * 2 + 1, 1_000_000, 65535 * 65535]) {
      const [x, y] = workgroupGrid(groups);
      expect(x).toBeLessThanOrEqual(65535);
      expect(y).toBeLessThanOrEqual(65535);
      expect(x * y).toBeGreaterThanOrEqual(groups);
      expect(x * y - groups).toBeLessThan(y);
    }
    expect(workgroupGrid(10, 4)).toEqual([4, 3]);
    expect(() => workgroupGrid(65535 * 65535 + 1)).toThrow(GpuError);
  });

  it('reaches every element of a tensor needing more than 65535 workgroups', async () => {
    const ctx = await testContext();
    // 65535 full workgroups plus a partial one: the grid becomes 32768 × 2.
    const n = 65535 * ELEMENTWISE_WORKGROUP_SIZE + 77;
    const data = randomArray(n, 99);
    const a = ctx.uploadF32(data, [n]);
    const c = scale(ctx, a, 2);
    const got = await ctx.read(c);
    let bad = -1;
    for (let i = 0; i < n; i++) {
      if (got[i] !== 2 * data[i]!) {
        bad = i;
        break;
      }
    }
    expect(bad).toBe(-1);
    ctx.release(a, c);
  });
});

describe('elementwise shape checks', () => {
  it('name the kernel and the shapes', async () => {
    const ctx = await testContext();
    const a = ctx.empty([2, 3]);
    const b = ctx.empty([3, 2]);
    const v = ctx.empty([2]);
    const n6 = ctx.empty([6]);
    const n5 = ctx.empty([5]);
    expect(() => add(ctx, a, b)).toThrow(GpuError);
    expect(() => add(ctx, a, b)).toThrow(/kernel add, a \[2,3\], b \[3,2\]/);
    expect(() => mul(ctx, a, n6)).toThrow(/kernel mul, a \[2,3\], b \[6\]/);
    expect(() => subInto(ctx, b, a, a)).toThrow(/output must be \[2,3\].*out \[3,2\]/);
    expect(() => scaleInto(ctx, b, a, 2)).toThrow(/kernel scale, a \[2,3\], out \[3,2\]/);
    expect(() => axpy(ctx, 1, a, b)).toThrow(/kernel axpy, x \[2,3\], y \[3,2\]/);
    expect(() => copy(ctx, a, n5)).toThrow(/element counts differ \(6 vs 5\).*src \[2,3\], dst \[5\]/);
    expect(() => addRowVector(ctx, a, v)).toThrow(/v must be \[3\].*a \[2,3\], v \[2\]/);
    // a [6] has the same element count as [2,3] but is not a row vector of the right length
    expect(() => addRowVector(ctx, b, n6)).toThrow(/v must be \[2\]/);
    ctx.release(a, b, v, n6, n5);
  });

  it('rejects non-f32 tensors', async () => {
    const ctx = await testContext();
    const a = ctx.empty([4], 'u32');
    const b = ctx.empty([4]);
    expect(() => add(ctx, a, b)).toThrow(/a must be f32, is u32/);
    expect(() => fill(ctx, a, 1)).toThrow(/t must be f32/);
    ctx.release(a, b);
  });
});

describe('mulRowVector and signScaled', () => {
  it('mulRowVector scales each column; signScaled gives alpha·sign with sign(0) = 0', async () => {
    const ctx = await testContext();
    const [R, C] = [7, 33];
    const a = Float32Array.from({ length: R * C }, (_, i) => ((i * 7919) % 13) - 6);
    const v = Float32Array.from({ length: C }, (_, j) => j * 0.5 - 3);
    const ta = ctx.uploadF32(a, [R, C]);
    const tv = ctx.uploadF32(v, [C]);
    const out = mulRowVectorInto(ctx, ctx.empty([R, C]), ta, tv);
    const got = await ctx.read(out);
    for (let i = 0; i < R * C; i++) expect(got[i]).toBe(a[i]! * v[i % C]!);
    const signs = await ctx.read(signScaledInto(ctx, ctx.empty([R, C]), ta, -0.25));
    for (let i = 0; i < R * C; i++) expect(signs[i]! + 0).toBe(a[i] === 0 ? 0 : a[i]! > 0 ? -0.25 : 0.25); // + 0: −0 counts as 0
    ctx.release(ta, tv, out);
  });
});
