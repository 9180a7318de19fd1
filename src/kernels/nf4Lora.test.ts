// Tests of nf4LoraMatmul and nf4LoraInputGrad (shaders/nf4_matmul.wgsl with a LoRA layer's low-rank
// term in its epilogue): against float64 on weights decoded on the CPU from the GPU's own codes, on
// odd sizes, with and without bias and double quantization, overwriting and accumulating; bit for bit
// the plain NF4 products when the low-rank term is zero; one dispatch each; shape errors.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../errors';
import type { GpuContext } from '../gpu/context';
import { dequantizeNf4Ref, nf4WordsToBytes, type Nf4Data } from '../io/nf4Reference';
import { testContext } from '../test/gpu';
import { matmulRef, randomArray, relativeError } from '../test/reference';
import { nf4Absmax, nf4LoraInputGrad, nf4LoraMatmul, nf4Matmul, nf4MatmulInputGrad, quantizeNf4, releaseNf4, type Nf4Weight } from './nf4';

/** deq(Q) [out, in] decoded on the CPU from the codes (and absmax, or its double quantization) on the GPU. */
async function decodeOnCpu(ctx: GpuContext, q: Nf4Weight): Promise<Float32Array> {
  const bytes = nf4WordsToBytes(await ctx.readU32(q.packed), q.n);
  if (q.absmax.kind === 'f32') return dequantizeNf4Ref({ n: q.n, bytes, absmax: await ctx.read(q.absmax.values) });
  const codes8 = new Uint8Array((await ctx.readU32(q.absmax.codes8)).buffer).slice(0, q.blocks);
  const data: Nf4Data = {
    n: q.n,
    bytes,
    absmax: new Float32Array(q.blocks), // not read when double is present
    double: { codes8, scales: await ctx.read(q.absmax.scales), mean: (await ctx.read(q.absmax.mean))[0]! },
  };
  return dequantizeNf4Ref(data);
}

const plus = (a: ArrayLike<number>, b: ArrayLike<number>, sb = 1) => Float64Array.from(a, (v, i) => v + sb * b[i]!);

describe('nf4LoraMatmul / nf4LoraInputGrad', () => {
  const CASES: [number, number, number, number][] = [
    // [N, in, out, r]
    [1, 1, 1, 1],
    [7, 33, 100, 7],
    [33, 100, 7, 1],
    [100, 7, 33, 33],
    [7, 100, 1, 100],
  ];
  for (const doubleQuant of [false, true]) {
    it(`match float64 on odd sizes, with and without bias, overwriting and accumulating${doubleQuant ? ' (double quantization)' : ''}`, async () => {
      const ctx = await testContext();
      for (const [N, inF, outF, r] of CASES) {
        const seed = N + 3 * inF + 7 * outF + 11 * r;
        const W = ctx.uploadF32(randomArray(outF * inF, seed, 0.1), [outF, inF]);
        const q = quantizeNf4(ctx, W, { doubleQuant });
        const deq = await decodeOnCpu(ctx, q);
        const data = {
          x: randomArray(N * inF, seed + 1),
          h: randomArray(N * r, seed + 2),
          B: randomArray(outF * r, seed + 3),
          bias: randomArray(outF, seed + 4),
          G: randomArray(N * outF, seed + 5),
          dh: randomArray(N * r, seed + 6),
          A: randomArray(r * inF, seed + 7),
          dx0: randomArray(N * inF, seed + 8),
          dA0: randomArray(r * inF, seed + 9),
        };
        const x = ctx.uploadF32(data.x, [N, inF]);
        const h = ctx.uploadF32(data.h, [N, r]);
        const B = ctx.uploadF32(data.B, [outF, r]);
        const bias = ctx.uploadF32(data.bias, [outF]);
        const G = ctx.uploadF32(data.G, [N, outF]);
        const dh = ctx.uploadF32(data.dh, [N, r]);
        const A = ctx.uploadF32(data.A, [r, inF]);
        const what = `N=${N} in=${inF} out=${outF} r=${r}`;
        const s = 1.75;

        const yRef = plus(matmulRef(data.x, deq, N, outF, inF, false, true), matmulRef(data.h, data.B, N, outF, r, false, true), s);
        const y = ctx.empty([N, outF]);
        nf4LoraMatmul(ctx, { x, q, p: h, B, scale: s, out: y });
        expect(relativeError(await ctx.read(y), yRef), `${what} y`).toBeLessThan(1e-5);
        // bias, accumulated on top: 2 · yRef + bias
        nf4LoraMatmul(ctx, { x, q, p: h, B, scale: s, bias, out: y, accumulate: true });
        const ybRef = Float64Array.from(yRef, (v, i) => 2 * v + data.bias[i % outF]!);
        expect(relativeError(await ctx.read(y), ybRef), `${what} y + bias, accumulated`).toBeLessThan(1e-5);

        const dxRef = plus(matmulRef(data.G, deq, N, inF, outF), matmulRef(data.dh, data.A, N, inF, r));
        const dARef = matmulRef(data.dh, data.x, r, inF, N, true);
        const dx = ctx.empty([N, inF]);
        const dA = ctx.empty([r, inF]);
        nf4LoraInputGrad(ctx, { G, q, dh, A, dx, gradA: { x, out: dA } });
        expect(relativeError(await ctx.read(dx), dxRef), `${what} dx`).toBeLessThan(1e-5);
        expect(relativeError(await ctx.read(dA), dARef), `${what} dA`).toBeLessThan(1e-5);
        // into existing gradients (x shared by q, k and v; A's gradient from an earlier micro-batch)
        const dxAcc = ctx.uploadF32(data.dx0, [N, inF]);
        const dAAcc = ctx.uploadF32(data.dA0, [r, inF]);
        nf4LoraInputGrad(ctx, { G, q, dh, A, dx: dxAcc, accumulate: true, gradA: { x, out: dAAcc, accumulate: true } });
        expect(relativeError(await ctx.read(dxAcc), plus(dxRef, data.dx0)), `${what} dx accumulated`).toBeLessThan(1e-5);
        expect(relativeError(await ctx.read(dAAcc), plus(dARef, data.dA0)), `${what} dA accumulated`).toBeLessThan(1e-5);
        // dx alone (A frozen)
        nf4LoraInputGrad(ctx, { G, q, dh, A, dx });
        expect(relativeError(await ctx.read(dx), dxRef), `${what} dx without dA`).toBeLessThan(1e-5);

        releaseNf4(ctx, q);
        ctx.release(W, x, h, B, bias, G, dh, A, y, dx, dA, dxAcc, dAAcc);
      }
    });
  }

  it('give the plain NF4 products bit for bit while the low-rank term is zero (B = 0 at init)', async () => {
    const ctx = await testContext();
    for (const [N, inF, outF, r] of [
      [7, 33, 100, 7],
      [33, 100, 7, 4],
    ] as const) {
      const W = ctx.uploadF32(randomArray(outF * inF, inF, 0.1), [outF, inF]);
      const q = quantizeNf4(ctx, W, { doubleQuant: true });
      const x = ctx.uploadF32(randomArray(N * inF, 1), [N, inF]);
      const G = ctx.uploadF32(randomArray(N * outF, 2), [N, outF]);
      const bias = ctx.uploadF32(randomArray(outF, 3), [outF]);
      const h = ctx.uploadF32(randomArray(N * r, 4), [N, r]);
      const A = ctx.uploadF32(randomArray(r * inF, 5), [r, inF]);
      const B0 = ctx.uploadF32(new Float32Array(outF * r), [outF, r]);
      const dh0 = ctx.uploadF32(new Float32Array(N * r), [N, r]);
      const plain = nf4Matmul(ctx, x, q, ctx.empty([N, outF]), { bias });
      const fused = ctx.empty([N, outF]);
      nf4LoraMatmul(ctx, { x, q, p: h, B: B0, scale: 2, bias, out: fused });
      expect(Array.from(await ctx.read(fused)), `N=${N} y`).toEqual(Array.from(await ctx.read(plain)));
      const plainDx = nf4MatmulInputGrad(ctx, G, q, ctx.empty([N, inF]));
      const fusedDx = ctx.empty([N, inF]);
      nf4LoraInputGrad(ctx, { G, q, dh: dh0, A, dx: fusedDx });
      expect(Array.from(await ctx.read(fusedDx)), `N=${N} dx`).toEqual(Array.from(await ctx.read(plainDx)));
      releaseNf4(ctx, q);
      ctx.release(W, x, G, bias, h, A, B0, dh0, plain, fused, plainDx, fusedDx);
    }
  });

  it('run as one dispatch each, given a double-quantized weight its restored absmax; reject mismatched shapes', async () => {
    const ctx = await testContext();
    const [N, inF, outF, r] = [5, 33, 12, 3];
    const W = ctx.uploadF32(randomArray(outF * inF, 9, 0.1), [outF, inF]);
    const q = quantizeNf4(ctx, W, { doubleQuant: true });
    const x = ctx.uploadF32(randomArray(N * inF, 1), [1, N, inF]); // leading dims flattened
    const h = ctx.uploadF32(randomArray(N * r, 2), [N, r]);
    const B = ctx.uploadF32(randomArray(outF * r, 3), [outF, r]);
    const A = ctx.uploadF32(randomArray(r * inF, 4), [r, inF]);
    const G = ctx.uploadF32(randomArray(N * outF, 5), [N, outF]);
    const y = ctx.empty([N, outF]);
    const dx = ctx.empty([N, inF]);
    const dA = ctx.empty([r, inF]);
    const absmax = nf4Absmax(ctx, q);
    const count = (fn: () => void) => {
      const start = ctx.counters().dispatches;
      fn();
      return ctx.counters().dispatches - start;
    };
    expect(count(() => nf4LoraMatmul(ctx, { x, q, p: h, B, scale: 1, out: y }))).toBe(2); // restore + product
    const restoredHere = await ctx.read(y);
    expect(count(() => nf4LoraMatmul(ctx, { x, q, p: h, B, scale: 1, out: y, absmax: absmax.values }))).toBe(1);
    expect(Array.from(await ctx.read(y))).toEqual(Array.from(restoredHere));
    expect(count(() => nf4LoraInputGrad(ctx, { G, q, dh: h, A, dx, gradA: { x, out: dA }, absmax: absmax.values }))).toBe(1);

    expect(() => nf4LoraMatmul(ctx, { x, q, p: h, B: A, scale: 1, out: y })).toThrow(GpuError);
    expect(() => nf4LoraMatmul(ctx, { x, q, p: h, B, scale: 1, out: dx })).toThrow(/out .* must end in 12/);
    expect(() => nf4LoraMatmul(ctx, { x, q, p: h, B, scale: 1, out: y, absmax: h })).toThrow(/absmax/);
    expect(() => nf4LoraInputGrad(ctx, { G, q, dh: h, A, dx, gradA: { x, out: A } })).toThrow(/alias/);
    expect(() => nf4LoraInputGrad(ctx, { G: x, q, dh: h, A, dx })).toThrow(/must end in 12/);
    releaseNf4(ctx, q);
    ctx.release(W, x, h, B, A, G, y, dx, dA, absmax.values);
  });
});
