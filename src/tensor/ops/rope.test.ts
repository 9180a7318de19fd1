// Tests of the rope op (shaders/rope.wgsl) against a float64 reference of the Hugging Face
// rotate-half rotation: odd T (1, 7, 33), D = 2, 4, 12, 64, theta 1e4 and 1e6, position offsets,
// finite-difference gradients, inverse ∘ forward = identity, and shape errors.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../../errors';
import { rope as ropeKernel } from '../../kernels/rope';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, relativeError } from '../../test/reference';
import { rope } from './rope';

interface Case {
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly D: number;
  readonly theta: number;
  readonly offset: number;
}

/**
 * float64 reference, x [B, T, H*D]. With `f32Angles` the frequency and the angle are rounded to
 * f32 the way Hugging Face computes them (inv_freq and pos·inv_freq in float32): the baseline
 * error any f32 implementation has far from position 0.
 */
function ropeRef(x: ArrayLike<number>, c: Case, f32Angles = false): Float64Array {
  const { B, T, H, D, theta, offset } = c;
  const half = D / 2;
  const y = new Float64Array(B * T * H * D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < H; h++) {
        const base = ((b * T + t) * H + h) * D;
        for (let i = 0; i < half; i++) {
          const freq = Math.pow(theta, (-2 * i) / D);
          const angle = f32Angles ? Math.fround((offset + t) * Math.fround(freq)) : (offset + t) * freq;
          const cos = Math.cos(angle);
          const sin = Math.sin(angle);
          const x1 = x[base + i]!;
          const x2 = x[base + i + half]!;
          y[base + i] = x1 * cos - x2 * sin;
          y[base + i + half] = x2 * cos + x1 * sin;
        }
      }
    }
  }
  return y;
}

const CASES: Case[] = [
  { B: 1, T: 1, H: 1, D: 2, theta: 10000, offset: 0 },
  { B: 1, T: 1, H: 2, D: 4, theta: 10000, offset: 9 },
  { B: 2, T: 7, H: 3, D: 4, theta: 10000, offset: 0 },
  { B: 2, T: 7, H: 2, D: 12, theta: 1e6, offset: 5 },
  { B: 1, T: 33, H: 1, D: 12, theta: 10000, offset: 0 },
  { B: 1, T: 7, H: 2, D: 64, theta: 1e6, offset: 20 },
];

describe('rope', () => {
  for (const c of CASES) {
    it(`forward and backward match float64 and finite differences (B=${c.B} T=${c.T} H=${c.H} D=${c.D} theta=${c.theta} offset=${c.offset})`, async () => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, {
        inputs: [{ name: 'x', shape: [c.B, c.T, c.H * c.D] }],
        gpu: (g, [x]) => rope(g, x!, { heads: c.H, headDim: c.D, theta: c.theta, positionOffset: c.offset }),
        cpu: ([x]) => ropeRef(x!, c),
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(result.gradErrors.x).toBeLessThan(1e-4);
    });
  }

  it('is accurate to the f32 rounding of its angles far from position 0 (offset 3000)', async () => {
    // At position ~3000 an f32 angle is only known to about one ulp(angle) ≈ 2.4e-4 rad (the
    // rounding of freq_i, ×pos, plus the rounding of the product); Hugging Face's float32
    // inv_freq and angles carry the same, so 1e-5 against float64 is out of reach for any f32
    // implementation. Bound: two ulps of the largest angle (the rotated entries are ≤ 1 in size).
    const ctx = await testContext();
    const c: Case = { B: 1, T: 7, H: 2, D: 64, theta: 10000, offset: 3000 };
    const data = randomArray(c.B * c.T * c.H * c.D, 77);
    const x = ctx.uploadF32(data, [c.B, c.T, c.H * c.D]);
    const y = ropeKernel(ctx, x, { heads: c.H, headDim: c.D, theta: c.theta, positionOffset: c.offset });
    const got = await ctx.read(y);
    const exact = ropeRef(data, c);
    const bound = 2 * (c.offset + c.T) * 2 ** -23;
    const hfBaseline = relativeError(ropeRef(data, c, true), exact);
    expect(hfBaseline).toBeGreaterThan(bound / 20); // the premise: f32 angles really are this far off
    expect(relativeError(got, exact)).toBeLessThan(bound); // measured 1.3e-4 (HF's f32: 6.7e-5)
    ctx.release(x, y);
  });

  it('inverse undoes the rotation', async () => {
    const ctx = await testContext();
    const shape = { heads: 3, headDim: 12, theta: 1e6, positionOffset: 11 };
    const data = randomArray(2 * 7 * 36, 5);
    const x = ctx.uploadF32(data, [2, 7, 36]);
    const y = ropeKernel(ctx, x, shape);
    const back = ropeKernel(ctx, y, shape, true);
    expect(relativeError(await ctx.read(back), data)).toBeLessThan(1e-6);
    ctx.release(x, y, back);
  });

  it('rejects bad shapes with a GpuError naming the kernel', async () => {
    const ctx = await testContext();
    const x = ctx.uploadF32(new Float32Array(2 * 12), [2, 12]);
    expect(() => ropeKernel(ctx, x, { heads: 2, headDim: 5, theta: 10000 })).toThrow(GpuError);
    expect(() => ropeKernel(ctx, x, { heads: 2, headDim: 4, theta: 10000 })).toThrow(/rope/);
    expect(() => ropeKernel(ctx, x, { heads: 2, headDim: 6, theta: 10000, positionOffset: -1 })).toThrow(GpuError);
    ctx.release(x);
  });
});
