// Tests of the NF4 CPU reference (nf4Reference.ts) against hand-made vectors and bitsandbytes'
// own constants: the decision-tree literals of dQuantizeNF4, torch's create_dynamic_map output,
// ties at code midpoints (→ lower index), zeros, all-zero blocks, partial last blocks, extremes,
// nibble order, round trips, double-quantization error and bits per weight.

import { describe, expect, it } from 'vitest';
import { rng } from '../test/reference';
import {
  DOUBLE_QUANT_BLOCK,
  NF4_CODE,
  NF4_THRESHOLDS,
  absmaxMeanRef,
  dequantizeNf4Ref,
  doubleQuantizeRef,
  dynamicMap,
  nf4AbsmaxRef,
  nf4BitsPerWeight,
  nf4BytesToWords,
  nf4CodeAt,
  nf4WordsToBytes,
  quantizeDynamic,
  quantizeNf4Ref,
  quantizeNf4Value,
} from './nf4Reference';

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const bitsOf = (x: number) => ((f32[0] = x), u32[0]!);
const fromBits = (b: number) => ((u32[0] = b >>> 0), f32[0]!);
/** The next f32 above / below x (x finite, nonzero or zero). */
const nextUp = (x: number) => (x === 0 ? fromBits(1) : x > 0 ? fromBits(bitsOf(x) + 1) : fromBits(bitsOf(x) - 1));
const nextDown = (x: number) => -nextUp(-x);

// bitsandbytes csrc/kernels.cu dQuantizeNF4: the decision tree's literals, in ascending order.
const BNB_TREE_LITERALS = [
  -0.8480964004993439, -0.6106329262256622, -0.4599952697753906, -0.33967943489551544, -0.23460740596055984, -0.13791173323988914, -0.045525018125772476,
  0.03979014977812767, 0.1202552504837513, 0.2035212516784668, 0.2920137718319893, 0.3893125355243683, 0.5016634166240692, 0.6427869200706482,
  0.8614784181118011,
];

// torch 1.13 (x86-64, AVX2): bitsandbytes.functional.create_dynamic_map(signed=True) as f32 bits.
const TORCH_DYNAMIC_MAP = [
  'bf7e3333 bf7a9999 bf770000 bf736666 bf6fcccc bf6c3333 bf68999a bf650000',
  'bf616666 bf5dcccc bf5a3333 bf569999 bf530000 bf4f6666 bf4bcccc bf483333',
  'bf44999a bf410000 bf3d6667 bf39cccd bf363334 bf32999a bf2f0000 bf2b6667',
  'bf27cccd bf243333 bf20999a bf1d0000 bf196666 bf15cccd bf123334 bf0e999a',
  'bf0b0000 bf076666 bf03cccd bf003333 bef93334 bef20000 beeacccc bee3999a',
  'bedc6666 bed53332 bece0000 bec6cccc bebf999a beb86666 beb13332 beaa0000',
  'bea2cccc be9b999a be946666 be8d3334 be860000 be7d999a be6f3334 be60cccd',
  'be526666 be440000 be359999 be273333 be18cccd be0a6666 bdf80000 bddb3334',
  'bdc9eb85 bdc428f5 bdbe6667 bdb8a3d7 bdb2e148 bdad1eb8 bda75c28 bda1999a',
  'bd9bd70a bd96147b bd9051eb bd8a8f5d bd84cccd bd7e147a bd728f5d bd670a3d',
  'bd5b851f bd500000 bd447ae1 bd38f5c3 bd2d70a3 bd21eb85 bd166667 bd0ae147',
  'bcfeb852 bce7ae13 bcd0a3d7 bcb9999a bca28f5c bc8b851f bc68f5c3 bc3ae148',
  'bc1f3b64 bc160418 bc0ccccd bc039581 bbf4bc6a bbe24dd3 bbcfdf3b bbbd70a4',
  'bbab020d bb989374 bb8624dd bb676c8a bb428f5c bb1db22d baf1a9fc baa7ef9d',
  'ba7765ff ba59e83e ba3c6a80 ba1eecc1 ba016f01 b9c7e283 b98ce705 b923d70b',
  'b8ba1f4b b88aefb3 b8378034 b7b24206 b70205ff b65a1a94 b513a3b7 00000000',
  '3513a3b7 365a1a94 370205ff 37b24206 38378034 388aefb3 38ba1f4b 3923d70b',
  '398ce705 39c7e283 3a016f01 3a1eecc1 3a3c6a80 3a59e83e 3a7765ff 3aa7ef9d',
  '3af1a9fc 3b1db22d 3b428f5c 3b676c8a 3b8624dd 3b989374 3bab020d 3bbd70a4',
  '3bcfdf3b 3be24dd3 3bf4bc6a 3c039581 3c0ccccd 3c160418 3c1f3b64 3c3ae148',
  '3c68f5c3 3c8b851f 3ca28f5c 3cb9999a 3cd0a3d7 3ce7ae13 3cfeb852 3d0ae147',
  '3d166667 3d21eb85 3d2d70a3 3d38f5c3 3d447ae1 3d500000 3d5b851f 3d670a3d',
  '3d728f5d 3d7e147a 3d84cccd 3d8a8f5d 3d9051eb 3d96147b 3d9bd70a 3da1999a',
  '3da75c28 3dad1eb8 3db2e148 3db8a3d7 3dbe6667 3dc428f5 3dc9eb85 3ddb3334',
  '3df80000 3e0a6666 3e18cccd 3e273333 3e359999 3e440000 3e526666 3e60cccd',
  '3e6f3334 3e7d999a 3e860000 3e8d3334 3e946666 3e9b999a 3ea2cccc 3eaa0000',
  '3eb13332 3eb86666 3ebf999a 3ec6cccc 3ece0000 3ed53332 3edc6666 3ee3999a',
  '3eeacccc 3ef20000 3ef93334 3f003333 3f03cccd 3f076666 3f0b0000 3f0e999a',
  '3f123334 3f15cccd 3f196666 3f1d0000 3f20999a 3f243333 3f27cccd 3f2b6667',
  '3f2f0000 3f32999a 3f363334 3f39cccd 3f3d6667 3f410000 3f44999a 3f483333',
  '3f4bcccc 3f4f6666 3f530000 3f569999 3f5a3333 3f5dcccc 3f616666 3f650000',
  '3f68999a 3f6c3333 3f6fcccc 3f736666 3f770000 3f7a9999 3f7e3333 3f800000',
]
  .join(' ')
  .split(' ')
  .map((h) => parseInt(h, 16));

function randomWeights(n: number, seed: number, scale = 1): Float32Array {
  const next = rng(seed);
  // Roughly normal (sum of uniforms), like real weights, so every code gets used.
  return Float32Array.from({ length: n }, () => (next() + next() + next() - 1.5) * scale);
}

describe('NF4 constants', () => {
  it('thresholds are the f32 roundings of bitsandbytes tree literals, the midpoints of adjacent codes', () => {
    expect(Array.from(NF4_THRESHOLDS)).toEqual(BNB_TREE_LITERALS.map(Math.fround));
    for (let j = 0; j < 15; j++) expect(BNB_TREE_LITERALS[j]).toBe((NF4_CODE[j]! + NF4_CODE[j + 1]!) / 2);
  });

  it('the dynamic map is torch create_dynamic_map(signed=True), value for value', () => {
    const map = dynamicMap();
    expect(map.length).toBe(256);
    expect(Array.from(map, bitsOf)).toEqual(TORCH_DYNAMIC_MAP);
    expect(map[127]).toBe(0);
    expect(map[255]).toBe(1);
    for (let i = 1; i < 256; i++) expect(map[i]!).toBeGreaterThan(map[i - 1]!);
  });
});

describe('NF4 code of one value', () => {
  it('a value exactly at a threshold takes the lower index, the next f32 above the upper', () => {
    for (let j = 0; j < 15; j++) {
      const t = NF4_THRESHOLDS[j]!;
      expect(quantizeNf4Value(t), `T${j}`).toBe(j);
      expect(quantizeNf4Value(nextDown(t)), `below T${j}`).toBe(j);
      expect(quantizeNf4Value(nextUp(t)), `above T${j}`).toBe(j + 1);
    }
  });

  it('exact midpoints representable in f32 (6 of 15) tie to the lower index', () => {
    let exact = 0;
    for (let j = 0; j < 15; j++) {
      const mid = (NF4_CODE[j]! + NF4_CODE[j + 1]!) / 2;
      if (Math.fround(mid) !== mid) continue;
      exact++;
      expect(quantizeNf4Value(mid)).toBe(j);
    }
    expect(exact).toBe(6);
  });

  it('is the nearest code everywhere else (independent argmin)', () => {
    const next = rng(5);
    const thresholds = new Set(NF4_THRESHOLDS);
    for (let i = 0; i < 20000; i++) {
      const x = Math.fround(next() * 2.2 - 1.1);
      if (thresholds.has(x)) continue;
      let best = 0;
      for (let q = 1; q < 16; q++) if (Math.abs(x - NF4_CODE[q]!) < Math.abs(x - NF4_CODE[best]!)) best = q;
      expect(quantizeNf4Value(x)).toBe(best);
    }
  });

  it('codes: exact values, extremes, zero and NaN', () => {
    NF4_CODE.forEach((c, q) => expect(quantizeNf4Value(c)).toBe(q));
    expect(quantizeNf4Value(1.0000001)).toBe(15);
    expect(quantizeNf4Value(-1.0000001)).toBe(0);
    expect(quantizeNf4Value(0)).toBe(7);
    expect(quantizeNf4Value(-0)).toBe(7);
    expect(quantizeNf4Value(Number.NaN)).toBe(0);
  });
});

describe('quantizeNf4Ref', () => {
  it('packs the first element of each pair in the HIGH nibble', () => {
    expect(Array.from(quantizeNf4Ref([-1, 1]).bytes)).toEqual([0x0f]);
    expect(Array.from(quantizeNf4Ref([1, -1]).bytes)).toEqual([0xf0]);
    // absmax 2: 1 → x = 0.5 (T12 = 0.50166 > 0.5 → code 12), 0.25·2 → 0.25 → code 10, −0.1·2 → −0.1 → 6.
    const q = quantizeNf4Ref([2, 1, 0.5, -0.2, 0]);
    expect(Array.from(q.absmax)).toEqual([2]);
    expect(Array.from(q.bytes)).toEqual([0xfc, 0xa6, 0x77]); // last low nibble: the pad, coded as 0 → 7
  });

  it('hand-made block: negative extreme, zeros, exact ties at absmax 1', () => {
    const w = [-1, 0, -0, 0.5, NF4_THRESHOLDS[3]!, nextUp(NF4_THRESHOLDS[3]!), NF4_THRESHOLDS[11]!, 0.75];
    const q = quantizeNf4Ref(w);
    expect(q.absmax[0]).toBe(1);
    // codes 0, 7, 7, 12, 3 (tie → lower), 4, 11 (tie → lower), 14 (0.75 < T14)
    expect(Array.from(q.bytes)).toEqual([0x07, 0x7c, 0x34, 0xbe]);
  });

  it('normalises by multiplying with fl(1/absmax), as the CUDA kernel does, not by dividing', () => {
    // With absmax 3 these land on the other side of T11 / T7 when divided: w / 3 gives codes 11 and 7.
    const [w1, w2] = [1.1679376363754272, 0.11937045305967331];
    expect(quantizeNf4Value(Math.fround(w1 / 3))).toBe(11);
    expect(quantizeNf4Value(Math.fround(w2 / 3))).toBe(7);
    expect(Array.from(quantizeNf4Ref([3, w1, -3, w2]).bytes)).toEqual([0xfc, 0x08]);
  });

  it('n = 1: one element, pad nibble 7; a lone negative is the −1 code', () => {
    expect(Array.from(quantizeNf4Ref([0.3]).bytes)).toEqual([0xf7]);
    expect(Array.from(quantizeNf4Ref([-0.3]).bytes)).toEqual([0x07]);
    expect(Array.from(quantizeNf4Ref([-0.3]).absmax)).toEqual([Math.fround(0.3)]);
  });

  it('all-zero blocks: absmax 0, every code 0 (bitsandbytes NaN path, pad included), dequantized to −0', () => {
    for (const n of [1, 7, 64]) {
      const q = quantizeNf4Ref(new Float32Array(n));
      expect(Array.from(q.absmax)).toEqual([0]);
      expect(q.bytes.every((b) => b === 0)).toBe(true);
      expect(dequantizeNf4Ref(q).every((v) => Object.is(v, -0))).toBe(true);
    }
    // A zero block between nonzero ones does not disturb its neighbours.
    const w = new Float32Array(192);
    w.fill(0.5, 0, 64);
    w.fill(-0.25, 128, 192);
    const q = quantizeNf4Ref(w);
    expect(Array.from(q.absmax)).toEqual([0.5, 0, 0.25]);
    expect(q.bytes.subarray(0, 32).every((b) => b === 0xff)).toBe(true);
    expect(q.bytes.subarray(32, 64).every((b) => b === 0)).toBe(true);
    expect(q.bytes.subarray(64, 96).every((b) => b === 0)).toBe(true); // all −1 codes
  });

  it('partial last blocks: n = 1, 7, 63, 65, 100, 257', () => {
    for (const n of [1, 7, 63, 65, 100, 257]) {
      const w = randomWeights(n, n);
      const q = quantizeNf4Ref(w);
      expect(q.absmax.length).toBe(Math.ceil(n / 64));
      expect(q.bytes.length).toBe(Math.ceil(n / 2));
      for (let b = 0; b < q.absmax.length; b++) {
        let m = 0;
        for (let e = 64 * b; e < Math.min(n, 64 * b + 64); e++) m = Math.max(m, Math.abs(w[e]!));
        expect(q.absmax[b]).toBe(m);
      }
      if (n % 2 === 1) expect(q.bytes[q.bytes.length - 1]! & 15).toBe(7);
      // Each element: its code is the tree's code of w·fl(1/absmax).
      for (let e = 0; e < n; e++) {
        const a = q.absmax[Math.floor(e / 64)]!;
        expect(nf4CodeAt(q.bytes, e)).toBe(quantizeNf4Value(Math.fround(w[e]! * Math.fround(1 / a))));
      }
    }
  });

  it('the largest magnitude of each block gets an extreme code (15 if positive, 0 if negative)', () => {
    const w = randomWeights(640, 3);
    w[10] = 5;
    w[70] = -5;
    w[140] = 3;
    w[141] = -3;
    const q = quantizeNf4Ref(w);
    expect(nf4CodeAt(q.bytes, 10)).toBe(15);
    expect(nf4CodeAt(q.bytes, 70)).toBe(0);
    expect(nf4CodeAt(q.bytes, 140)).toBe(15);
    expect(nf4CodeAt(q.bytes, 141)).toBe(0);
    for (let b = 0; b < 10; b++) {
      let extreme = false;
      for (let e = 64 * b; e < 64 * b + 64; e++) extreme ||= Math.abs(w[e]!) === q.absmax[b]! && [0, 15].includes(nf4CodeAt(q.bytes, e));
      expect(extreme).toBe(true);
    }
  });

  it('dequantizes to code · absmax and re-quantizes to the same codes, with and without double quantization', () => {
    for (const n of [1, 7, 63, 65, 100, 257, 64 * 300 + 5]) {
      const w = randomWeights(n, 11 * n, 0.05);
      if (n > 200) w.fill(0, 64, 128); // an all-zero block
      for (const doubleQuant of [false, true]) {
        const q = quantizeNf4Ref(w, { doubleQuant });
        const d = dequantizeNf4Ref(q);
        const absmax = nf4AbsmaxRef(q);
        for (let e = 0; e < n; e++) expect(d[e]).toBe(Math.fround(NF4_CODE[nf4CodeAt(q.bytes, e)]! * absmax[Math.floor(e / 64)]!));
        const again = quantizeNf4Ref(d, { doubleQuant });
        // With double quantization a block whose restored absmax is negative (an all-zero block can
        // restore to −ε) dequantizes to −code·|absmax'|: its −1 codes come back as +1 codes, the
        // same values. Every other block keeps its codes.
        for (let b = 0; b < absmax.length; b++) {
          const slice = (bytes: Uint8Array) => bytes.subarray(32 * b, Math.min(32 * b + 32, bytes.length));
          if (absmax[b]! >= 0) expect(slice(again.bytes)).toEqual(slice(q.bytes));
          else expect(q.absmax[b]).toBe(0);
        }
        if (!doubleQuant) expect(dequantizeNf4Ref(again)).toEqual(d);
        if (!doubleQuant) expect(again.absmax).toEqual(q.absmax);
      }
    }
  });

  it('the dequantization error is at most half the gap around the value times absmax', () => {
    const w = randomWeights(4096, 9);
    const q = quantizeNf4Ref(w);
    const d = dequantizeNf4Ref(q);
    for (let e = 0; e < w.length; e++) {
      const code = nf4CodeAt(q.bytes, e);
      const gap = Math.max(NF4_CODE[code]! - (NF4_CODE[code - 1] ?? NF4_CODE[code]!), (NF4_CODE[code + 1] ?? NF4_CODE[code]!) - NF4_CODE[code]!);
      expect(Math.abs(d[e]! - w[e]!)).toBeLessThanOrEqual((gap / 2) * q.absmax[Math.floor(e / 64)]! * (1 + 1e-6));
    }
  });

  it('words and bytes: byte i is bits 8(i%4).. of word i/4, little-endian like Uint8Array on the words', () => {
    const q = quantizeNf4Ref(randomWeights(37, 2));
    const words = nf4BytesToWords(q.bytes);
    expect(words.length).toBe(Math.ceil(37 / 8));
    expect(new Uint8Array(words.buffer).subarray(0, q.bytes.length)).toEqual(q.bytes);
    expect(new Uint8Array(words.buffer).subarray(q.bytes.length).every((b) => b === 0)).toBe(true);
    expect(nf4WordsToBytes(words, 37)).toEqual(q.bytes);
  });
});

describe('double quantization', () => {
  it('quantizeDynamic: map values map to themselves, ties at f32 midpoints go to the pivot side, NaN → 0', () => {
    const map = dynamicMap();
    for (let i = 0; i < 256; i++) expect(quantizeDynamic(map, map[i]!)).toBe(i);
    const next = rng(8);
    for (let t = 0; t < 5000; t++) {
      const x = Math.fround(next() * 2 - 1);
      const q = quantizeDynamic(map, x);
      let best = 0;
      for (let i = 1; i < 256; i++) if (Math.abs(x - map[i]!) < Math.abs(x - map[best]!)) best = i;
      expect(Math.abs(x - map[q]!)).toBeLessThanOrEqual(Math.abs(x - map[best]!) * (1 + 1e-6) + 1e-12);
    }
    expect(quantizeDynamic(map, Number.NaN)).toBe(0);
  });

  it('mean is summed in f32 by chunks of 256 in order', () => {
    const a = Float32Array.from({ length: 600 }, (_, i) => 0.001 * (i % 17) + 0.1);
    let total = 0;
    for (let c = 0; c < 600; c += 256) {
      let s = 0;
      for (let j = c; j < Math.min(c + 256, 600); j++) s = Math.fround(s + a[j]!);
      total = Math.fround(total + s);
    }
    expect(absmaxMeanRef(a)).toBe(Math.fround(total / 600));
  });

  it('restored absmax values are close and the memory is ≈ 4.127 bits per weight (4.5 without)', () => {
    const rows = 512;
    const n = rows * 512;
    const next = rng(4);
    // Row scales vary like real layers, so the absmax values spread.
    const w = new Float32Array(n);
    for (let r = 0; r < rows; r++) {
      const s = 0.01 + 0.05 * next();
      for (let c = 0; c < 512; c++) w[r * 512 + c] = (next() + next() + next() - 1.5) * s;
    }
    const plain = quantizeNf4Ref(w);
    const dq = quantizeNf4Ref(w, { doubleQuant: true });
    expect(dq.bytes).toEqual(plain.bytes);
    const restored = nf4AbsmaxRef(dq);
    // Error relative to the chunk's scale: at most half the map's widest spacing (0.9/64 in [0.1, 1]).
    let maxErr = 0;
    let maxRel = 0;
    for (let b = 0; b < plain.absmax.length; b++) {
      const scale = dq.double!.scales[Math.floor(b / DOUBLE_QUANT_BLOCK)]!;
      maxErr = Math.max(maxErr, Math.abs(restored[b]! - plain.absmax[b]!) / scale);
      maxRel = Math.max(maxRel, Math.abs(restored[b]! - plain.absmax[b]!) / plain.absmax[b]!);
    }
    expect(maxErr).toBeLessThan(0.9 / 64 / 2 + 1e-6);
    const blocks = plain.absmax.length;
    expect(dq.double!.scales.length).toBe(Math.ceil(blocks / DOUBLE_QUANT_BLOCK));
    // Weight error: double quantization adds little to the 4-bit error.
    const e1 = rmsError(w, dequantizeNf4Ref(plain));
    const e2 = rmsError(w, dequantizeNf4Ref(dq));
    expect(e2 / e1).toBeLessThan(1.02);
    expect(nf4BitsPerWeight(n, false)).toBe(4.5);
    expect(nf4BitsPerWeight(4096 * 4096, true)).toBeCloseTo(4.127, 3);
    console.log(
      `double quant: max absmax error ${maxErr.toExponential(2)} of the chunk scale (${maxRel.toExponential(2)} of the absmax), rms weight error ${e1.toExponential(3)} → ${e2.toExponential(3)}; ` +
        `bits/weight ${nf4BitsPerWeight(n, false)} → ${nf4BitsPerWeight(n, true).toFixed(4)}`,
    );
  });

  it('a chunk whose values all equal the mean gets scale 0, codes 0 and restores the mean exactly', () => {
    const d = doubleQuantizeRef(new Float32Array(10).fill(0.125));
    expect(d.mean).toBe(0.125);
    expect(Array.from(d.scales)).toEqual([0]);
    expect(d.codes8.every((c) => c === 0)).toBe(true);
  });
});

function rmsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(s / a.length);
}
