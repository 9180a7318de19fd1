// Tests of clipGradNorm against float64: the norm over gradients of 1, 7, 33 and 5000 elements (the
// last takes two reduction passes), the scale when clipping and when not, and the scale feeding
// AdamW.step so that the update equals one made with the clipped gradients; the non-finite guard
// (a NaN or infinite norm gives scale −1, and the step it feeds changes nothing).

import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { randomArray, relativeError } from '../test/reference';
import { Tensor } from '../tensor/tensor';
import { AdamW } from './adamw';
import { clipGradNorm, NEVER_CLIP } from './clip';

const SIZES = [1, 7, 33, 5000];

function norm64(arrays: readonly Float32Array[]): number {
  let s = 0;
  for (const a of arrays) for (const x of a) s += x * x;
  return Math.sqrt(s);
}

describe('clipGradNorm', () => {
  it('computes the float64 L2 norm over all gradients, and scale = maxNorm/(norm + 1e-6) when clipping', async () => {
    const ctx = await testContext();
    const data = SIZES.map((n, i) => randomArray(n, 70 + i));
    const grads = data.map((d) => ctx.uploadF32(d, [d.length]));
    const want = norm64(data);
    for (const maxNorm of [want / 3, want / 1.5, 0.01]) {
      const { norm, scale } = clipGradNorm(ctx, grads, maxNorm);
      expect(norm.shape).toEqual([1]);
      expect(scale.shape).toEqual([1]);
      const [gotNorm] = await ctx.read(norm);
      const [gotScale] = await ctx.read(scale);
      expect(relativeError([gotNorm!], [want])).toBeLessThan(1e-6);
      expect(relativeError([gotScale!], [maxNorm / (want + 1e-6)])).toBeLessThan(1e-6);
      ctx.release(norm, scale);
    }
    ctx.release(...grads);
  });

  it('gives scale exactly 1 when the norm is within maxNorm (and for all-zero gradients)', async () => {
    const ctx = await testContext();
    const data = SIZES.map((n, i) => randomArray(n, 80 + i));
    const grads = data.map((d) => ctx.uploadF32(d, [d.length]));
    const want = norm64(data);
    for (const maxNorm of [want * 1.01, want * 100]) {
      const { norm, scale } = clipGradNorm(ctx, grads, maxNorm);
      expect(relativeError(await ctx.read(norm), [want])).toBeLessThan(1e-6);
      expect(Array.from(await ctx.read(scale))).toEqual([1]);
      ctx.release(norm, scale);
    }
    const zeros = ctx.uploadF32(new Float32Array(7), [7]);
    const { norm, scale } = clipGradNorm(ctx, [zeros], 1);
    expect(Array.from(await ctx.read(norm))).toEqual([0]);
    expect(Array.from(await ctx.read(scale))).toEqual([1]);
    ctx.release(norm, scale, zeros, ...grads);
  });

  it('feeds AdamW: stepping with the scale equals stepping with pre-clipped gradients', async () => {
    const ctx = await testContext();
    const data = [randomArray(7, 90), randomArray(33, 91)];
    const maxNorm = norm64(data) / 4;
    const clipped = data.map((d) => Float32Array.from(d, (x) => x * (maxNorm / (norm64(data) + 1e-6))));
    const results: Float32Array[][] = [];
    for (const mode of ['scale', 'preclipped'] as const) {
      const params = data.map((d, i) => Tensor.leaf(ctx.uploadF32(randomArray(d.length, 95 + i), [d.length]), true, `p${i}`));
      const opt = new AdamW(
        ctx,
        params.map((tensor) => ({ tensor, weightDecay: false })),
        { eps: 1e-3 },
      );
      params.forEach((p, i) => (p.grad = ctx.uploadF32(mode === 'scale' ? data[i]! : clipped[i]!, p.shape)));
      const clip =
        mode === 'scale'
          ? clipGradNorm(
              ctx,
              params.map((p) => p.grad!),
              maxNorm,
            )
          : undefined;
      opt.step(0.1, clip?.scale);
      results.push(await Promise.all(params.map((p) => ctx.read(p.data))));
      opt.zeroGrad();
      opt.destroy();
      ctx.release(clip?.norm, clip?.scale, ...params.map((p) => p.data));
    }
    // eps = 1e-3 makes the first Adam step depend on the gradient's size, not only its sign.
    results[0]!.forEach((p, i) => expect(relativeError(p, results[1]![i]!)).toBeLessThan(1e-6));
  });

  it('marks a non-finite norm with scale −1, on which AdamW leaves parameters, m and v untouched (with guardOnly too); NEVER_CLIP gives scale 1', async () => {
    const ctx = await testContext();
    const data = [randomArray(7, 60), randomArray(33, 61)];
    for (const bad of [Number.NaN, Infinity, -Infinity, 3e38]) {
      const params = data.map((d, i) => Tensor.leaf(ctx.uploadF32(randomArray(d.length, 62 + i), [d.length]), true, `p${i}`));
      const opt = new AdamW(
        ctx,
        params.map((tensor) => ({ tensor, weightDecay: true })),
        { weightDecay: 0.1 },
      );
      // One good step first, so that m and v are not zero.
      params.forEach((p, i) => (p.grad = ctx.uploadF32(data[i]!, p.shape)));
      opt.step(0.1);
      opt.zeroGrad();
      const before = await opt.readState();
      const values = await Promise.all(params.map((p) => ctx.read(p.data)));
      for (const guardOnly of [false, true]) {
        params.forEach((p, i) => {
          const g = data[i]!.slice();
          g[i + 2] = bad; // 3e38 is finite, but its square overflows the sum of squares
          p.grad = ctx.uploadF32(g, p.shape);
        });
        const clip = clipGradNorm(
          ctx,
          params.map((p) => p.grad!),
          1,
        );
        const [norm] = await ctx.read(clip.norm);
        expect(Number.isFinite(norm!), `norm for ${bad}`).toBe(false);
        expect(Array.from(await ctx.read(clip.scale))).toEqual([-1]);
        opt.step(0.1, clip.scale, { guardOnly });
        opt.zeroGrad();
        ctx.release(clip.norm, clip.scale);
        const after = await opt.readState();
        for (const [i, p] of params.entries()) {
          expect(Array.from(await ctx.read(p.data)), `${bad}, guardOnly ${guardOnly}: p${i}`).toEqual(Array.from(values[i]!));
          expect(Array.from(after[i]!.m)).toEqual(Array.from(before[i]!.m));
          expect(Array.from(after[i]!.v)).toEqual(Array.from(before[i]!.v));
        }
      }
      opt.destroy();
      ctx.release(...params.map((p) => p.data));
    }
    const grads = data.map((d) =>
      ctx.uploadF32(
        d.map((x) => x * 1e18),
        [d.length],
      ),
    );
    const { norm, scale } = clipGradNorm(ctx, grads, NEVER_CLIP);
    expect(relativeError(await ctx.read(norm), [norm64(data) * 1e18])).toBeLessThan(1e-6);
    expect(Array.from(await ctx.read(scale))).toEqual([1]);
    ctx.release(norm, scale, ...grads);
  });

  it('rejects a non-positive maxNorm', async () => {
    const ctx = await testContext();
    expect(() => clipGradNorm(ctx, [], 0)).toThrow(/maximum gradient norm/);
  });
});
