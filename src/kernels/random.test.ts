// Tests of shaders/random.wgsl: Philox4x32-10 against Random123's known-answer vectors and a CPU
// reference (bit-exact), uniforms bit-exact against the CPU mapping, normal and uniform moments,
// determinism, and independence of seeds and streams.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../errors';
import { testContext } from '../test/gpu';
import { philoxBlock, randomBits, randomNormal, randomUniform } from './random';

/** CPU philox4x32_10 (Random123), u32 words. */
function philoxRef(counter: readonly number[], key: readonly number[]): number[] {
  const mulhilo = (a: number, b: number): [number, number] => {
    const p = BigInt(a >>> 0) * BigInt(b >>> 0);
    return [Number(p >> 32n) >>> 0, Number(p & 0xffffffffn) >>> 0];
  };
  let [c0, c1, c2, c3] = counter.map((c) => c >>> 0) as [number, number, number, number];
  let [k0, k1] = key.map((k) => k >>> 0) as [number, number];
  for (let r = 0; r < 10; r++) {
    if (r > 0) {
      k0 = (k0 + 0x9e3779b9) >>> 0;
      k1 = (k1 + 0xbb67ae85) >>> 0;
    }
    const [h0, l0] = mulhilo(0xd2511f53, c0);
    const [h1, l1] = mulhilo(0xcd9e8d57, c2);
    [c0, c1, c2, c3] = [(h1 ^ c1 ^ k0) >>> 0, l1, (h0 ^ c3 ^ k1) >>> 0, l0];
  }
  return [c0, c1, c2, c3];
}

// Random123 kat_vectors, philox4x32 10: counter, key → output.
const KAT: [number[], number[], number[]][] = [
  [
    [0, 0, 0, 0],
    [0, 0],
    [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8],
  ],
  [
    [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff],
    [0xffffffff, 0xffffffff],
    [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd],
  ],
  [
    [0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344],
    [0xa4093822, 0x299f31d0],
    [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1],
  ],
];

function moments(x: Float32Array): { mean: number; variance: number; skew: number; kurtosis: number } {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let m2 = 0;
  let m3 = 0;
  let m4 = 0;
  for (const v of x) {
    const d = v - mean;
    m2 += d * d;
    m3 += d * d * d;
    m4 += d * d * d * d;
  }
  m2 /= x.length;
  m3 /= x.length;
  m4 /= x.length;
  return { mean, variance: m2, skew: m3 / m2 ** 1.5, kurtosis: m4 / (m2 * m2) };
}

describe('philox4x32-10', () => {
  it('matches the Random123 known answers on the CPU reference and the GPU', async () => {
    const ctx = await testContext();
    for (const [counter, key, want] of KAT) {
      expect(philoxRef(counter, key)).toEqual(want);
      const t = philoxBlock(ctx, counter as [number, number, number, number], key as [number, number]);
      expect(Array.from(await ctx.readU32(t))).toEqual(want);
      ctx.release(t);
    }
  });

  it('randomBits equals the CPU stream word for word (odd lengths, large seeds, streams)', async () => {
    const ctx = await testContext();
    for (const [n, seed, stream] of [
      [1, 0, 0],
      [7, 42, 0],
      [33, 2 ** 40 + 12345, 3],
      [1001, 0xffffffff, 0xffffffff],
    ] as const) {
      const t = randomBits(ctx, n, seed, stream);
      const got = Array.from(await ctx.readU32(t));
      const want: number[] = [];
      for (let b = 0; want.length < n; b++) want.push(...philoxRef([b, stream, 0, 0], [seed >>> 0, Math.floor(seed / 2 ** 32)]));
      expect(got, `n=${n} seed=${seed}`).toEqual(want.slice(0, n));
      ctx.release(t);
    }
  });
});

describe('randomUniform', () => {
  it('is the exact map lo + (hi − lo)·(x >> 8)·2⁻²⁴ of the Philox words', async () => {
    const ctx = await testContext();
    const n = 257;
    const u = randomUniform(ctx, [n], 9, -0.5, 0.25, 2);
    const bits = randomBits(ctx, n, 9, 2);
    const [got, words] = [await ctx.read(u), await ctx.readU32(bits)];
    const want = Float32Array.from(words, (w) => Math.fround(-0.5 + Math.fround(0.75 * Math.fround((w >>> 8) / 2 ** 24))));
    expect(Array.from(got)).toEqual(Array.from(want));
    ctx.release(u, bits);
  });

  it('has the moments of U[lo, hi) and stays inside it', async () => {
    const ctx = await testContext();
    const n = 200_003;
    const [lo, hi] = [-0.3, 0.7];
    const u = randomUniform(ctx, [n], 123, lo, hi);
    const x = await ctx.read(u);
    const m = moments(x);
    const se = Math.sqrt(1 / 12 / n); // standard error of the mean for width 1
    expect(Math.abs(m.mean - (lo + hi) / 2)).toBeLessThan(5 * se);
    expect(Math.abs(m.variance - 1 / 12)).toBeLessThan((0.01 / 12) * 2);
    expect(x.reduce((a, b) => Math.min(a, b))).toBeGreaterThanOrEqual(lo);
    expect(x.reduce((a, b) => Math.max(a, b))).toBeLessThanOrEqual(hi);
    ctx.release(u);
  });
});

describe('randomNormal', () => {
  it('has the moments of N(0, 1) and N(mean, std²)', async () => {
    const ctx = await testContext();
    const n = 200_001;
    const z = randomNormal(ctx, [n], 7);
    const m = moments(await ctx.read(z));
    const se = 1 / Math.sqrt(n);
    expect(Math.abs(m.mean)).toBeLessThan(5 * se);
    expect(Math.abs(m.variance - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    expect(Math.abs(m.skew)).toBeLessThan(5 * Math.sqrt(6 / n));
    expect(Math.abs(m.kurtosis - 3)).toBeLessThan(5 * Math.sqrt(24 / n));
    const y = randomNormal(ctx, [1000, 7], 7, 0, { mean: 2, std: 0.5 });
    const my = moments(await ctx.read(y));
    expect(Math.abs(my.mean - 2)).toBeLessThan((5 * 0.5) / Math.sqrt(7000));
    expect(Math.abs(my.variance / 0.25 - 1)).toBeLessThan(5 * Math.sqrt(2 / 7000));
    ctx.release(z, y);
  });

  it('is deterministic in (seed, stream) and shape-independent; seeds and streams differ', async () => {
    const ctx = await testContext();
    const read = async (shape: number[], seed: number, stream = 0) => {
      const t = randomNormal(ctx, shape, seed, stream);
      const x = await ctx.read(t);
      ctx.release(t);
      return x;
    };
    const a = await read([33, 7], 1);
    const b = await read([231], 1);
    expect(Array.from(b)).toEqual(Array.from(a));
    const prefix = await read([100], 1);
    expect(Array.from(prefix)).toEqual(Array.from(a.subarray(0, 100)));
    for (const other of [await read([231], 2), await read([231], 1, 1), await read([231], 2 ** 32 + 1)]) {
      let same = 0;
      let dot = 0;
      for (let i = 0; i < 231; i++) {
        if (other[i] === a[i]) same++;
        dot += other[i]! * a[i]!;
      }
      expect(same).toBe(0);
      expect(Math.abs(dot / 231)).toBeLessThan(0.35); // uncorrelated: |corr| ~ 1/√231 ≈ 0.066
    }
  });

  it('rejects bad seeds, streams and dtypes', async () => {
    const ctx = await testContext();
    expect(() => randomNormal(ctx, [4], -1)).toThrow(GpuError);
    expect(() => randomNormal(ctx, [4], 1.5)).toThrow(GpuError);
    expect(() => randomNormal(ctx, [4], 1, 2 ** 32)).toThrow(GpuError);
  });
});
