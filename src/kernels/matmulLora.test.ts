import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { matmulRef, randomArray, relativeError } from '../test/reference';
import { decodeHalf, encodeBf16, encodeF16, type HalfFloatFormat } from '../io/halfFloat';
import { uploadHalf } from './half';
import { MATMUL_VARIANTS, type MatmulVariant } from './matmul';
import { matmulLoraInto } from './matmulLora';
import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';

/** [M, N, K, R]: 1, 7, 33 and 100 in every position; vec4 gets K, N and R divisible by 4. */
const SIZES: [number, number, number, number][] = [
  [1, 1, 1, 1],
  [7, 33, 100, 7],
  [33, 100, 7, 1],
  [100, 7, 33, 33],
  [33, 1, 7, 100],
];
const ALIGNED: [number, number, number, number][] = [
  [1, 4, 4, 4],
  [7, 36, 100, 8],
  [33, 100, 8, 4],
  [100, 8, 36, 36],
  [65, 4, 260, 8],
];

function sizes(variant: MatmulVariant): [number, number, number, number][] {
  return variant === 'vec4' ? ALIGNED : SIZES;
}

const add = (x: ArrayLike<number>, y: ArrayLike<number>, sy = 1) => Float64Array.from(x, (v, i) => v + sy * y[i]!);
const scaled = (x: ArrayLike<number>, s: number) => Float64Array.from(x, (v) => s * v);

interface Operand {
  readonly t: GpuTensor;
  /** The values the GPU sees (rounded to the 16-bit format when packed). */
  readonly values: Float32Array;
}

function operand(ctx: GpuContext, shape: [number, number], seed: number, format?: HalfFloatFormat): Operand {
  const raw = randomArray(shape[0] * shape[1], seed);
  if (!format) return { t: ctx.uploadF32(raw, shape), values: raw };
  const bits = format === 'bf16' ? encodeBf16(raw) : encodeF16(raw);
  return { t: uploadHalf(ctx, bits, shape, format, 'test weight'), values: decodeHalf(bits, format) };
}

describe.each(MATMUL_VARIANTS)('matmulLora (%s variant)', (variant) => {
  for (const format of [undefined, 'bf16', 'f16'] as const) {
    it(`forward form: out = alpha·a·bᵀ + s·p·qᵀ + bias matches float64 on odd sizes (b ${format ?? 'f32'})`, async () => {
      const ctx = await testContext();
      for (const [M, N, K, R] of sizes(variant)) {
        const seed = M * 7919 + N * 131 + K * 17 + R;
        const x = operand(ctx, [M, K], seed);
        const W = operand(ctx, [N, K], seed + 1, format);
        const h = operand(ctx, [M, R], seed + 2);
        const B = operand(ctx, [N, R], seed + 3);
        const bias = operand(ctx, [1, N], seed + 4);
        const y = ctx.empty([M, N]);
        matmulLoraInto(ctx, { a: x.t, b: W.t, transB: true, alpha: 0.75, p: h.t, q: B.t, transQ: true, scale: 1.5, bias: bias.t.view([N]), out: y, variant });
        const base = matmulRef(x.values, W.values, M, N, K, false, true);
        const low = matmulRef(h.values, B.values, M, N, R, false, true);
        const want = Float64Array.from(base, (v, i) => 0.75 * v + 1.5 * low[i]! + bias.values[i % N]!);
        expect(relativeError(await ctx.read(y), want), `M=${M} N=${N} K=${K} R=${R}`).toBeLessThan(1e-5);
        ctx.release(x.t, W.t, h.t, B.t, bias.t, y);
      }
    });

    it(`input-gradient form: out += a·b + p·q beside grad.out = Eᵀ·f with E = p (b ${format ?? 'f32'})`, async () => {
      const ctx = await testContext();
      for (const [M, N, K, R] of sizes(variant)) {
        const seed = M * 31 + N * 17 + K * 5 + R;
        // dx [M, N] += G [M, K] · W [K, N] + dh [M, R] · A [R, N]; dA [R, N] += 0.5 · dhᵀ · x [M, N].
        const G = operand(ctx, [M, K], seed);
        const W = operand(ctx, [K, N], seed + 1, format);
        const dh = operand(ctx, [M, R], seed + 2);
        const A = operand(ctx, [R, N], seed + 3);
        const x = operand(ctx, [M, N], seed + 4);
        const prior = operand(ctx, [M, N], seed + 5);
        const priorGrad = operand(ctx, [R, N], seed + 6);
        matmulLoraInto(ctx, {
          a: G.t,
          b: W.t,
          p: dh.t,
          q: A.t,
          out: prior.t,
          accumulate: true,
          grad: { e: 'p', f: x.t, out: priorGrad.t, alpha: 0.5, accumulate: true },
          variant,
        });
        const want = add(add(matmulRef(G.values, W.values, M, N, K), matmulRef(dh.values, A.values, M, N, R)), prior.values);
        expect(relativeError(await ctx.read(prior.t), want), `dx M=${M} N=${N} K=${K} R=${R}`).toBeLessThan(1e-5);
        const wantGrad = add(scaled(matmulRef(dh.values, x.values, R, N, M, true), 0.5), priorGrad.values);
        expect(relativeError(await ctx.read(priorGrad.t), wantGrad), `dA M=${M} N=${N} K=${K} R=${R}`).toBeLessThan(1e-5);
        ctx.release(G.t, W.t, dh.t, A.t, x.t, prior.t, priorGrad.t);
      }
    });
  }

  it('a plain product (R = 0) beside grad.out = s·aᵀ·f, as a LoRA backward computes dh and dB', async () => {
    const ctx = await testContext();
    for (const [M, N, K, R] of sizes(variant)) {
      const seed = M + N * 3 + K * 7 + R * 11;
      // dh [M, N] = s · G [M, K] · B [K, N]; dB [K, N] = s · Gᵀ · h [M, N] (N plays the rank).
      const G = operand(ctx, [M, K], seed);
      const B = operand(ctx, [K, N], seed + 1);
      const h = operand(ctx, [M, N], seed + 2);
      const dh = ctx.empty([M, N]);
      const dB = ctx.empty([K, N]);
      matmulLoraInto(ctx, { a: G.t, b: B.t, alpha: 2, out: dh, grad: { e: 'a', f: h.t, out: dB, alpha: 2 }, variant });
      expect(relativeError(await ctx.read(dh), scaled(matmulRef(G.values, B.values, M, N, K), 2)), `dh M=${M} N=${N} K=${K}`).toBeLessThan(1e-5);
      expect(relativeError(await ctx.read(dB), scaled(matmulRef(G.values, h.values, K, N, M, true), 2)), `dB M=${M} N=${N} K=${K}`).toBeLessThan(1e-5);
      ctx.release(G.t, B.t, h.t, dh, dB);
    }
  });

  it('the low-rank term alone (K = 0) added into an existing output, and each product alone', async () => {
    const ctx = await testContext();
    for (const [M, N, , R] of sizes(variant)) {
      const seed = M * 3 + N * 5 + R;
      const h = operand(ctx, [M, R], seed);
      const B = operand(ctx, [N, R], seed + 1);
      const y = operand(ctx, [M, N], seed + 2);
      matmulLoraInto(ctx, { p: h.t, q: B.t, transQ: true, scale: -0.5, out: y.t, accumulate: true, variant });
      const want = add(y.values, matmulRef(h.values, B.values, M, N, R, false, true), -0.5);
      expect(relativeError(await ctx.read(y.t), want), `K=0 M=${M} N=${N} R=${R}`).toBeLessThan(1e-5);

      // The grad product with no main product (a LoRA layer whose input needs no gradient).
      const x = operand(ctx, [M, N], seed + 3);
      const dA = ctx.empty([R, N]);
      matmulLoraInto(ctx, { p: h.t, grad: { e: 'p', f: x.t, out: dA }, variant });
      expect(relativeError(await ctx.read(dA), matmulRef(h.values, x.values, R, N, M, true)), `grad only M=${M} N=${N} R=${R}`).toBeLessThan(1e-5);
      ctx.release(h.t, B.t, y.t, x.t, dA);
    }
  });
});

describe('matmulLora', () => {
  it('refuses mismatched shapes, aliasing and a vec4 variant on unaligned sizes, by name', async () => {
    const ctx = await testContext();
    const a = ctx.empty([3, 5]);
    const b = ctx.empty([6, 5]);
    const out = ctx.empty([3, 6]);
    expect(() => matmulLoraInto(ctx, { a, b, out })).toThrow(/does not give out/);
    expect(() => matmulLoraInto(ctx, { a, b, transB: true, out, variant: 'vec4' })).toThrow(/vec4 variant needs K, N, R/);
    expect(() => matmulLoraInto(ctx, { a, b, transB: true, out: a.view([3, 5]) })).toThrow();
    expect(() => matmulLoraInto(ctx, { a: out, b: ctx.empty([6, 6]), out })).toThrow(/must not alias/);
    expect(() => matmulLoraInto(ctx, { grad: { e: 'p', f: a, out: b } })).toThrow(/reads p, which is not given/);
    expect(() => matmulLoraInto(ctx, { out })).toThrow(/needs a and b, or p and q/);
    ctx.release(a, b, out);
  });
});
