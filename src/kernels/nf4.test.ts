// Tests of shaders/nf4.wgsl: quantization bit-exact to the CPU reference (io/nf4Reference.ts,
// itself bitsandbytes' algorithm) on hand-made and random matrices, with and without double
// quantization; dequantization bit-exact; the exact division; the fused products against
// float64 products with the reference's dequantized weights; memory; shape errors.

import { describe, expect, it } from 'vitest';
import source from '../../shaders/nf4.wgsl?raw';
import { GpuError } from '../errors';
import type { GpuContext } from '../gpu/context';
import { NF4_CODE, NF4_THRESHOLDS, dequantizeNf4Ref, nf4AbsmaxRef, nf4BitsPerWeight, nf4WordsToBytes, quantizeNf4Ref, type Nf4Data } from '../io/nf4Reference';
import { testContext } from '../test/gpu';
import { matmulRef, randomArray, relativeError, rng } from '../test/reference';
import { dequantizeNf4, nf4DivideForTest, nf4Matmul, nf4MatmulInputGrad, quantizeNf4, releaseNf4, uploadNf4, type Nf4Weight } from './nf4';

const bits = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

/** Roughly normal weights with a per-row scale, a zero block, ties and extremes planted. */
function testWeights(rows: number, cols: number, seed: number): Float32Array {
  const next = rng(seed);
  const w = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    const s = 0.02 + 0.1 * next();
    for (let c = 0; c < cols; c++) w[r * cols + c] = (next() + next() + next() - 1.5) * s;
  }
  const n = w.length;
  if (n >= 192) w.fill(0, 64, 128); // an all-zero block
  if (n >= 256) {
    // A block with absmax exactly 1 whose values sit exactly on thresholds (ties) and next to them.
    w[128] = -1;
    for (let j = 0; j < 15; j++) w[129 + j] = NF4_THRESHOLDS[j]!;
    for (let j = 0; j < 15; j++) w[144 + j] = Math.fround(NF4_THRESHOLDS[j]! * (1 + 2 ** -23));
  }
  return w;
}

async function expectMatchesReference(ctx: GpuContext, q: Nf4Weight, ref: Nf4Data, what: string): Promise<void> {
  expect(nf4WordsToBytes(await ctx.readU32(q.packed), ref.n), `${what} codes`).toEqual(ref.bytes);
  const words = await ctx.readU32(q.packed);
  expect(
    new Uint8Array(words.buffer).subarray(ref.bytes.length).every((b) => b === 0),
    `${what} padding`,
  ).toBe(true);
  if (q.absmax.kind === 'f32') {
    expect(bits(await ctx.read(q.absmax.values)), `${what} absmax`).toEqual(bits(ref.absmax));
  } else {
    const d = ref.double!;
    const codes8 = new Uint8Array((await ctx.readU32(q.absmax.codes8)).buffer).subarray(0, d.codes8.length);
    expect((await ctx.read(q.absmax.mean))[0], `${what} mean`).toBe(d.mean);
    expect(bits(await ctx.read(q.absmax.scales)), `${what} scales`).toEqual(bits(d.scales));
    expect(codes8, `${what} codes8`).toEqual(d.codes8);
  }
}

/**
 * The codes of a re-quantized dequantization equal the original ones, except (double quantization
 * only) in blocks whose restored absmax came out negative: an all-zero block (codes 0, value −1)
 * with absmax' = −ε dequantizes to +ε everywhere and comes back as codes 15 — the same values.
 * Such blocks must be ones whose true absmax is 0 or tiny against the chunk's scale.
 */
function expectSameCodes(ref: Nf4Data, bytes: Uint8Array, what: string): void {
  const absmax = nf4AbsmaxRef(ref);
  for (let b = 0; b < absmax.length; b++) {
    const begin = 32 * b;
    const end = Math.min(begin + 32, ref.bytes.length);
    if (absmax[b]! < 0) {
      expect(ref.absmax[b], `${what} block ${b} restored below 0`).toBeLessThan(1e-3);
      continue;
    }
    expect(bytes.subarray(begin, end), `${what} block ${b}`).toEqual(ref.bytes.subarray(begin, end));
  }
}

const SHAPES: [number, number][] = [
  [1, 1],
  [1, 7],
  [7, 9], // 63
  [5, 13], // 65
  [10, 10],
  [1, 257],
  [33, 100],
  [300, 65], // 305 blocks: two double-quantization chunks, the last partial
];

describe('NF4 shader constants', () => {
  it('the hex-float codes and thresholds in nf4.wgsl are the reference values', () => {
    const parse = (name: string) => {
      const body = new RegExp(`const ${name} = array<f32, \\d+>\\(([^)]*)\\)`).exec(source)![1]!;
      return body.split(',').map((s) => {
        const t = s.trim().replace(/f$/, '');
        const m = /^(-?)0x1\.([0-9a-f]+)p(-?\d+)$/.exec(t);
        if (!m) return Number(t);
        return (m[1] ? -1 : 1) * (1 + parseInt(m[2]!, 16) / 16 ** m[2]!.length) * 2 ** Number(m[3]);
      });
    };
    expect(parse('NF4')).toEqual(Array.from(NF4_CODE));
    expect(parse('THRESHOLDS')).toEqual(Array.from(NF4_THRESHOLDS));
  });

  it('div_rn is the correctly rounded f32 quotient', async () => {
    const ctx = await testContext();
    const next = rng(12);
    const pairs: number[] = [1, 1, 1, 3, 1, 7, 3, 1, 1, 0.1, 10, 3, 1, Math.fround(1 + 2 ** -23), 1, Math.fround(2 - 2 ** -23), 12345, 13];
    for (let i = 0; i < 4000; i++) {
      pairs.push(Math.fround((0.5 + next()) * 2 ** Math.floor(next() * 60 - 30)), Math.fround((0.5 + next()) * 2 ** Math.floor(next() * 60 - 30)));
    }
    const t = ctx.uploadF32(pairs, [pairs.length]);
    const got = await ctx.read(nf4DivideForTest(ctx, t));
    const want = Float32Array.from({ length: pairs.length / 2 }, (_, i) => pairs[2 * i]! / pairs[2 * i + 1]!);
    expect(bits(got)).toEqual(bits(want));
  });
});

describe('quantizeNf4 / dequantizeNf4', () => {
  it('hand-made vectors: nibble order, ties, zeros, the pad nibble', async () => {
    const ctx = await testContext();
    const cases: [number[], number[]][] = [
      [[-1, 1], [0x0f]],
      [[1, -1], [0xf0]],
      [
        [2, 1, 0.5, -0.2, 0],
        [0xfc, 0xa6, 0x77],
      ],
      [
        [-1, 0, -0, 0.5, NF4_THRESHOLDS[3]!, Math.fround(NF4_THRESHOLDS[3]! * (1 - 2 ** -23)), NF4_THRESHOLDS[11]!, 0.75],
        [0x07, 0x7c, 0x34, 0xbe],
      ],
      [[0.3], [0xf7]],
      [
        [3, 1.1679376363754272, -3, 0.11937045305967331],
        [0xfc, 0x08],
      ], // w · fl(1/3), not w / 3
      [
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0],
      ],
    ];
    for (const [w, bytes] of cases) {
      const W = ctx.uploadF32(w, [1, w.length]);
      const q = quantizeNf4(ctx, W);
      expect(nf4WordsToBytes(await ctx.readU32(q.packed), w.length), JSON.stringify(w)).toEqual(Uint8Array.from(bytes));
      releaseNf4(ctx, q);
      ctx.release(W);
    }
  });

  for (const doubleQuant of [false, true]) {
    it(`matches the CPU reference bit for bit on random matrices${doubleQuant ? ' (double quantization)' : ''}`, async () => {
      const ctx = await testContext();
      for (const [rows, cols] of SHAPES) {
        const w = testWeights(rows, cols, rows * 1000 + cols);
        const ref = quantizeNf4Ref(w, { doubleQuant });
        const W = ctx.uploadF32(w, [rows, cols]);
        const q = quantizeNf4(ctx, W, { doubleQuant });
        const what = `[${rows},${cols}]`;
        expect(q.blocks).toBe(Math.ceil((rows * cols) / 64));
        await expectMatchesReference(ctx, q, ref, what);
        const d = dequantizeNf4(ctx, q);
        expect(d.shape).toEqual([rows, cols]);
        const deq = await ctx.read(d);
        expect(bits(deq), `${what} dequantized`).toEqual(bits(dequantizeNf4Ref(ref)));
        // quantize(dequantize(q)) == q: the 4-bit codes (and without double quantization the absmax) come back.
        const q2 = quantizeNf4(ctx, d, { doubleQuant });
        expectSameCodes(ref, nf4WordsToBytes(await ctx.readU32(q2.packed), ref.n), `${what} re-quantized`);
        if (!doubleQuant) await expectMatchesReference(ctx, q2, ref, `${what} re-quantized`);
        // Uploading the CPU result gives the same weight.
        const up = uploadNf4(ctx, ref, [rows, cols]);
        expect(bits(await ctx.read(dequantizeNf4(ctx, up)))).toEqual(bits(deq));
        releaseNf4(ctx, q);
        releaseNf4(ctx, q2);
        releaseNf4(ctx, up);
        ctx.release(W, d);
      }
    });
  }

  it('memory: byteSize and bits per weight, ≈ 4.5 without and ≈ 4.127 with double quantization', async () => {
    const ctx = await testContext();
    const [rows, cols] = [256, 256];
    const W = ctx.uploadF32(testWeights(rows, cols, 5), [rows, cols]);
    const plain = quantizeNf4(ctx, W);
    const dq = quantizeNf4(ctx, W, { doubleQuant: true });
    const n = rows * cols;
    expect(plain.byteSize()).toBe(n / 2 + 4 * (n / 64));
    expect(dq.byteSize()).toBe(n / 2 + n / 64 + 4 * Math.ceil(n / 64 / 256) + 4);
    expect((8 * plain.byteSize()) / n).toBe(4.5);
    expect((8 * dq.byteSize()) / n).toBeCloseTo(nf4BitsPerWeight(n, true), 6);
    expect(nf4BitsPerWeight(4096 * 4096, true)).toBeCloseTo(4.127, 3);
    console.log(`nf4 [${rows},${cols}]: ${(8 * plain.byteSize()) / n} bits/weight, with double quantization ${((8 * dq.byteSize()) / n).toFixed(4)}`);
    releaseNf4(ctx, plain);
    releaseNf4(ctx, dq);
    ctx.release(W);
  });

  it('rejects non-f32 or non-matrix weights', async () => {
    const ctx = await testContext();
    const t = ctx.upload(new Uint32Array(4), [4], 'u32');
    expect(() => quantizeNf4(ctx, t)).toThrow(GpuError);
    const v = ctx.uploadF32([1, 2, 3], [3]);
    expect(() => quantizeNf4(ctx, v)).toThrow(/\[out, in\]/);
    ctx.release(t, v);
  });
});

describe('nf4Matmul / nf4MatmulInputGrad', () => {
  const CASES: [number, number, number][] = [
    // [N, in, out]
    [1, 1, 1],
    [7, 33, 5],
    [5, 100, 7],
    [33, 7, 65],
    [3, 64, 40],
  ];
  for (const doubleQuant of [false, true]) {
    it(`match float64 products with the dequantized weight${doubleQuant ? ' (double quantization)' : ''}`, async () => {
      const ctx = await testContext();
      for (const [N, inF, outF] of CASES) {
        const w = testWeights(outF, inF, N + inF + outF);
        const ref = quantizeNf4Ref(w, { doubleQuant });
        const deq = dequantizeNf4Ref(ref); // [out, in]
        const W = ctx.uploadF32(w, [outF, inF]);
        const q = quantizeNf4(ctx, W, { doubleQuant });
        const xData = randomArray(N * inF, 3 * N + inF);
        const gData = randomArray(N * outF, 5 * N + outF);
        const bData = randomArray(outF, 7);
        const x = ctx.uploadF32(xData, [N, inF]);
        const G = ctx.uploadF32(gData, [N, outF]);
        const bias = ctx.uploadF32(bData, [outF]);
        const what = `N=${N} in=${inF} out=${outF}`;

        const y = nf4Matmul(ctx, x, q, ctx.empty([N, outF]));
        const yRef = matmulRef(xData, deq, N, outF, inF, false, true);
        expect(relativeError(await ctx.read(y), yRef), `${what} y`).toBeLessThan(1e-5);
        // bias, then accumulate on top: y = 2·x·Wᵀ + bias
        nf4Matmul(ctx, x, q, y, { bias, accumulate: true });
        const yb = Float64Array.from(yRef, (v, i) => 2 * v + bData[i % outF]!);
        expect(relativeError(await ctx.read(y), yb), `${what} y + bias, accumulated`).toBeLessThan(1e-5);

        const dx = nf4MatmulInputGrad(ctx, G, q, ctx.empty([N, inF]));
        const dxRef = matmulRef(gData, deq, N, inF, outF);
        expect(relativeError(await ctx.read(dx), dxRef), `${what} dx`).toBeLessThan(1e-5);
        nf4MatmulInputGrad(ctx, G, q, dx, true);
        expect(
          relativeError(
            await ctx.read(dx),
            dxRef.map((v) => 2 * v),
          ),
          `${what} dx accumulated`,
        ).toBeLessThan(1e-5);

        releaseNf4(ctx, q);
        ctx.release(W, x, G, bias, y, dx);
      }
    });
  }

  it('accept leading batch dimensions and reject mismatched shapes', async () => {
    const ctx = await testContext();
    const [B, T, inF, outF] = [2, 3, 16, 12];
    const w = testWeights(outF, inF, 1);
    const W = ctx.uploadF32(w, [outF, inF]);
    const q = quantizeNf4(ctx, W);
    const xData = randomArray(B * T * inF, 2);
    const x = ctx.uploadF32(xData, [B, T, inF]);
    const y = nf4Matmul(ctx, x, q, ctx.empty([B, T, outF]));
    expect(relativeError(await ctx.read(y), matmulRef(xData, dequantizeNf4Ref(quantizeNf4Ref(w)), B * T, outF, inF, false, true))).toBeLessThan(1e-5);
    expect(() => nf4Matmul(ctx, x, q, ctx.empty([B, T, outF + 1]))).toThrow(GpuError);
    expect(() => nf4Matmul(ctx, ctx.empty([B, T, inF + 1]), q, y)).toThrow(/must end in 16/);
    expect(() => nf4MatmulInputGrad(ctx, x, q, ctx.empty([B, T, inF]))).toThrow(GpuError);
    releaseNf4(ctx, q);
    ctx.release(W, x, y);
  });
});
