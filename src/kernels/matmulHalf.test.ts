import { describe, expect, it } from 'vitest';
import { testContext } from '../test/gpu';
import { matmulRef, randomArray, relativeError, rng } from '../test/reference';
import { decodeHalf, encodeBf16, encodeF16, f16BitsToF32, packedHalfBytes, type HalfFloatFormat } from '../io/halfFloat';
import { embeddingForward } from './embedding';
import { unpackHalf, uploadHalf } from './half';
import { F16_PAIR, matmul, matmulInto, MATMUL_VARIANTS, vec4Compatible, type MatmulVariant } from './matmul';
import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';

const FORMATS: readonly HalfFloatFormat[] = ['bf16', 'f16'];

/** Odd sizes [M, out, in] (1, 7, 33, 100 in every position); vec4 gets aligned ones. */
const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 100],
  [33, 100, 7],
  [100, 7, 33],
  [7, 1, 33],
  [1, 100, 7],
  [33, 7, 1],
];
const ALIGNED: [number, number, number][] = [
  [7, 36, 100],
  [33, 4, 260],
  [1, 100, 32],
  [100, 8, 4],
];

/** A packed weight [rows, cols] of random values rounded to `format`, and those values as f32. */
function packedWeight(ctx: GpuContext, rows: number, cols: number, format: HalfFloatFormat, seed: number): { t: GpuTensor; values: Float32Array } {
  const raw = randomArray(rows * cols, seed);
  const bits = format === 'bf16' ? encodeBf16(raw) : encodeF16(raw);
  return { t: uploadHalf(ctx, bits, [rows, cols], format, 'test weight'), values: decodeHalf(bits, format) };
}

function forwardSizes(variant: MatmulVariant): [number, number, number][] {
  return variant === 'vec4' ? ALIGNED.filter(([M, out, inF]) => vec4Compatible({ M, N: out, K: inF }, false)) : SIZES;
}

function gradSizes(variant: MatmulVariant): [number, number, number][] {
  return variant === 'vec4' ? ALIGNED.filter(([M, out, inF]) => vec4Compatible({ M, N: inF, K: out }, false)) : SIZES;
}

describe.each(MATMUL_VARIANTS)('matmul with a packed 16-bit weight (%s variant)', (variant) => {
  for (const format of FORMATS) {
    it(`${format}: y = x Wᵀ matches float64 on odd sizes`, async () => {
      const ctx = await testContext();
      for (const [M, out, inF] of forwardSizes(variant)) {
        const seed = M * 7919 + out * 131 + inF;
        const xData = randomArray(M * inF, seed);
        const x = ctx.uploadF32(xData, [M, inF]);
        const W = packedWeight(ctx, out, inF, format, seed + 1);
        const y = matmul(ctx, x, W.t, { transB: true, variant });
        const want = matmulRef(xData, W.values, M, out, inF, false, true);
        expect(relativeError(await ctx.read(y), want), `M=${M} out=${out} in=${inF}`).toBeLessThan(1e-5);
        ctx.release(x, W.t, y);
      }
    });

    it(`${format}: the input gradient dx = G W matches float64 on odd sizes`, async () => {
      const ctx = await testContext();
      for (const [M, out, inF] of gradSizes(variant)) {
        const seed = M * 31 + out * 17 + inF;
        const gData = randomArray(M * out, seed);
        const G = ctx.uploadF32(gData, [M, out]);
        const W = packedWeight(ctx, out, inF, format, seed + 2);
        const dx = matmul(ctx, G, W.t, { variant });
        const want = matmulRef(gData, W.values, M, inF, out);
        expect(relativeError(await ctx.read(dx), want), `M=${M} out=${out} in=${inF}`).toBeLessThan(1e-5);
        ctx.release(G, W.t, dx);
      }
    });

    it(`${format}: adds a bias, scales by alpha and accumulates`, async () => {
      const ctx = await testContext();
      const [M, out, inF] = variant === 'vec4' ? [33, 36, 8] : [33, 33, 7];
      const xData = randomArray(M * inF, 1);
      const biasData = randomArray(out, 3);
      const prior = randomArray(M * out, 4);
      const x = ctx.uploadF32(xData, [M, inF]);
      const W = packedWeight(ctx, out, inF, format, 2);
      const bias = ctx.uploadF32(biasData, [out]);
      const y = ctx.uploadF32(prior, [M, out]);
      matmulInto(ctx, x, W.t, y, { transB: true, bias, alpha: 0.5, accumulate: true, variant });
      const xw = matmulRef(xData, W.values, M, out, inF, false, true);
      expect(
        relativeError(
          await ctx.read(y),
          xw.map((v, i) => 0.5 * v + biasData[i % out]! + prior[i]!),
        ),
      ).toBeLessThan(1e-5);
      ctx.release(x, W.t, bias, y);
    });
  }

  if (variant !== 'vec4') {
    it("reads a packed A (W Aᵀ with W [out, in] packed, as DoRA's norms do) on odd sizes", async () => {
      const ctx = await testContext();
      for (const format of FORMATS) {
        for (const [r, out, inF] of SIZES) {
          const W = packedWeight(ctx, out, inF, format, out + inF);
          const aData = randomArray(r * inF, r + 5);
          const A = ctx.uploadF32(aData, [r, inF]);
          const P = matmul(ctx, W.t, A, { transB: true, variant });
          expect(relativeError(await ctx.read(P), matmulRef(W.values, aData, out, r, inF, false, true)), `${format} r=${r} out=${out} in=${inF}`).toBeLessThan(
            1e-5,
          );
          ctx.release(W.t, A, P);
        }
      }
    });
  }
});

describe('packed 16-bit weights', () => {
  it('falls back from vec4 to registers for a packed A when no variant is forced, and refuses a forced vec4', async () => {
    const ctx = await testContext();
    const W = packedWeight(ctx, 8, 8, 'bf16', 9);
    const A = ctx.uploadF32(randomArray(64, 10), [8, 8]);
    const P = matmul(ctx, W.t, A, { transB: true });
    expect(relativeError(await ctx.read(P), matmulRef(W.values, await ctx.read(A), 8, 8, 8, false, true))).toBeLessThan(1e-5);
    expect(() => matmul(ctx, W.t, A, { transB: true, variant: 'vec4' })).toThrow(/f32 A/);
    ctx.release(W.t, A, P);
  });

  it('shares one packed weight across a batch (stride 0)', async () => {
    const ctx = await testContext();
    const [batch, M, out, inF] = [3, 7, 33, 7];
    const xData = randomArray(batch * M * inF, 11);
    const x = ctx.uploadF32(xData, [batch, M, inF]);
    const W = packedWeight(ctx, out, inF, 'f16', 12);
    const y = matmul(ctx, x, W.t, { transB: true });
    const got = await ctx.read(y);
    for (let b = 0; b < batch; b++) {
      const want = matmulRef(xData.subarray(b * M * inF, (b + 1) * M * inF), W.values, M, out, inF, false, true);
      expect(relativeError(got.subarray(b * M * out, (b + 1) * M * out), want)).toBeLessThan(1e-5);
    }
    ctx.release(x, W.t, y);
  });

  it('unpacks to f32 exactly, odd counts and special values included', async () => {
    const ctx = await testContext();
    const next = rng(5);
    for (const format of FORMATS) {
      for (const n of [1, 7, 33, 100]) {
        const bits = new Uint16Array(n);
        for (let i = 0; i < n; i++) bits[i] = Math.floor(next() * 65536);
        // ±0, the smallest f16 subnormal, the largest finite f16 / a large bf16, ±Inf.
        const specials = [0x0000, 0x8000, 0x0001, 0x7bff, 0x7c00, 0xfc00, 0x03ff];
        for (let i = 0; i < Math.min(n, specials.length); i++) bits[i] = specials[i]!;
        const packed = uploadHalf(ctx, bits, [n], format);
        expect(packed.byteLength).toBe(4 * Math.ceil(n / 2));
        const out = unpackHalf(ctx, packed);
        const got = new Uint32Array((await ctx.read(out)).buffer);
        const want = new Uint32Array(decodeHalf(bits, format).buffer);
        for (let i = 0; i < n; i++) {
          if (Number.isNaN(decodeHalf([bits[i]!], format)[0])) continue; // NaN payloads may be canonicalised
          expect(got[i], `${format} n=${n} element ${i} bits ${bits[i]!.toString(16)}`).toBe(want[i]);
        }
        ctx.release(packed, out);
      }
    }
  });

  it('gathers embedding rows from a packed table exactly (odd C and V)', async () => {
    const ctx = await testContext();
    for (const format of FORMATS) {
      for (const [V, C] of [
        [7, 33],
        [33, 7],
        [100, 1],
      ] as const) {
        const table = packedWeight(ctx, V, C, format, V * C);
        const idList = [0, V - 1, 3 % V, 1 % V, V + 5];
        const ids = ctx.upload(Uint32Array.from(idList), [idList.length], 'u32');
        const out = embeddingForward(ctx, ids, table.t);
        const got = await ctx.read(out);
        const want = new Float32Array(idList.length * C);
        idList.forEach((id, n) => want.set(table.values.subarray(Math.min(id, V - 1) * C, (Math.min(id, V - 1) + 1) * C), n * C));
        expect(Array.from(got), `${format} V=${V} C=${C}`).toEqual(Array.from(want));
        ctx.release(table.t, ids, out);
      }
    }
  });
});

describe('shader-f16 path of the packed f16 layout', () => {
  // SwiftShader has no shader-f16, so the shader-f16 reading is emulated here: under shader-f16 the
  // half shaders read a word as bitcast<vec2<f16>>(w), whose component 0 is bits 0..15 (WGSL's
  // bitcast keeps lanes in little-endian order). The packed layout must put element 2i there.
  function emulatedVec2F16(word: number): [number, number] {
    return [f16BitsToF32(word & 0xffff), f16BitsToF32(word >>> 16)];
  }

  it('element 2i is component 0 and 2i+1 component 1 of word i, odd counts padded with a zero half', () => {
    for (const n of [1, 7, 33, 100]) {
      const values = randomArray(n, n);
      const bits = encodeF16(values);
      const bytes = packedHalfBytes(new Uint8Array(bits.buffer));
      expect(bytes.byteLength).toBe(4 * Math.ceil(n / 2));
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const decoded = decodeHalf(bits, 'f16');
      for (let i = 0; i < bytes.byteLength / 4; i++) {
        const [lo, hi] = emulatedVec2F16(view.getUint32(4 * i, true));
        expect(lo).toBe(decoded[2 * i]);
        if (2 * i + 1 < n) expect(hi).toBe(decoded[2 * i + 1]);
        else expect(hi).toBe(0);
      }
    }
  });

  it('the shader-f16 shaders differ from the core ones only in f16_pair, which reads the same two values', () => {
    // unpack2x16float(w) = (f16 of bits 0..15, f16 of bits 16..31) = vec2<f32>(bitcast<vec2<f16>>(w)).
    expect(F16_PAIR.core).toContain('unpack2x16float(w)');
    expect(F16_PAIR.shaderF16).toContain('bitcast<vec2<f16>>(w)');
    const next = rng(7);
    for (let i = 0; i < 1000; i++) {
      const w = Math.floor(next() * 2 ** 32) >>> 0;
      const [lo, hi] = emulatedVec2F16(w);
      const bits = new Uint16Array(new Uint32Array([w]).buffer);
      const [a, b] = decodeHalf(bits, 'f16');
      if (!Number.isNaN(lo)) expect(lo).toBe(a);
      if (!Number.isNaN(hi)) expect(hi).toBe(b);
    }
  });

  it('where the device has shader-f16, both readings give the same products', async () => {
    const ctx = await testContext();
    if (!ctx.info.features.shaderF16) return; // SwiftShader: covered by the emulation above
    for (const variant of MATMUL_VARIANTS) {
      const [M, out, inF] = [7, 36, 100];
      const xData = randomArray(M * inF, 1);
      const x = ctx.uploadF32(xData, [M, inF]);
      const W = packedWeight(ctx, out, inF, 'f16', 2);
      const withF16 = matmul(ctx, x, W.t, { transB: true, variant, shaderF16: true });
      const core = matmul(ctx, x, W.t, { transB: true, variant, shaderF16: false });
      const want = matmulRef(xData, W.values, M, out, inF, false, true);
      // Not asserted bit for bit: a device may flush f16 subnormals in the f16 reading.
      expect(relativeError(await ctx.read(withF16), want), variant).toBeLessThan(1e-5);
      expect(relativeError(await ctx.read(core), want), variant).toBeLessThan(1e-5);
      ctx.release(x, W.t, withF16, core);
    }
  });
});
