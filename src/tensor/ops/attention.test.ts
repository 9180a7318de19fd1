// Tests of causal grouped-query attention (shaders/attention.wgsl) against a float64 reference:
// forward and finite-difference gradients of q, k, v for H = KV, H = 4 / KV = 2 and KV = 1, odd
// T (1, 7, 33) and D = 4, 12; bit-for-bit repeatable dk/dv; partial requiresGrad; the KV cache
// (prefix then single tokens) against full causal attention; shape errors.

import { describe, expect, it } from 'vitest';
import { GpuError } from '../../errors';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, relativeError } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { cachedAttention, causalAttention, writeKvCache } from './attention';

interface Case {
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly KV: number;
  readonly D: number;
}

/** float64 reference: q [B, T, H*D], k, v [B, T, KV*D] → O [B, T, H*D]. */
function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, c: Case): Float64Array {
  const { B, T, H, KV, D } = c;
  const out = new Float64Array(B * T * H * D);
  const scale = 1 / Math.sqrt(D);
  const p = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const kh = Math.floor(h / (H / KV));
      for (let i = 0; i < T; i++) {
        let m = -Infinity;
        for (let j = 0; j <= i; j++) {
          let dot = 0;
          for (let d = 0; d < D; d++) dot += q[(b * T + i) * H * D + h * D + d]! * k[(b * T + j) * KV * D + kh * D + d]!;
          p[j] = dot * scale;
          m = Math.max(m, p[j]!);
        }
        let total = 0;
        for (let j = 0; j <= i; j++) {
          p[j] = Math.exp(p[j]! - m);
          total += p[j]!;
        }
        for (let d = 0; d < D; d++) {
          let acc = 0;
          for (let j = 0; j <= i; j++) acc += (p[j]! / total) * v[(b * T + j) * KV * D + kh * D + d]!;
          out[(b * T + i) * H * D + h * D + d] = acc;
        }
      }
    }
  }
  return out;
}

const CASES: (Case & { qScale?: number })[] = [
  { B: 1, T: 1, H: 1, KV: 1, D: 4 },
  { B: 2, T: 7, H: 4, KV: 2, D: 4 },
  { B: 1, T: 7, H: 4, KV: 4, D: 12 },
  { B: 2, T: 7, H: 4, KV: 1, D: 12, qScale: 3 }, // peaky softmax rows
  { B: 1, T: 33, H: 2, KV: 1, D: 4 },
  { B: 1, T: 1, H: 4, KV: 2, D: 12 },
];

describe('causalAttention', () => {
  for (const c of CASES) {
    const { B, T, H, KV, D, qScale = 1 } = c;
    it(`forward and backward match float64 and finite differences (B=${B} T=${T} H=${H} KV=${KV} D=${D}${qScale !== 1 ? ` q×${qScale}` : ''})`, async () => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'q', shape: [B, T, H * D], data: randomArray(B * T * H * D, 11, qScale) },
          { name: 'k', shape: [B, T, KV * D] },
          { name: 'v', shape: [B, T, KV * D] },
        ],
        gpu: (g, [q, k, v]) => causalAttention(g, q!, k!, v!, { heads: H, kvHeads: KV, headDim: D }),
        cpu: ([q, k, v]) => attentionRef(q!, k!, v!, c),
        samples: 32,
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['k', 'q', 'v']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });
  }

  it('gives gradients only to the inputs that need them', async () => {
    const ctx = await testContext();
    const c: Case = { B: 1, T: 7, H: 4, KV: 2, D: 4 };
    for (const needs of [
      ['v'],
      ['q'],
      ['k', 'v'],
    ]) {
      const result = await gradcheck(ctx, {
        inputs: (['q', 'k', 'v'] as const).map((name) => ({
          name,
          shape: [c.B, c.T, (name === 'q' ? c.H : c.KV) * c.D],
          requiresGrad: needs.includes(name),
        })),
        gpu: (g, [q, k, v]) => causalAttention(g, q!, k!, v!, { heads: c.H, kvHeads: c.KV, headDim: c.D }),
        cpu: ([q, k, v]) => attentionRef(q!, k!, v!, c),
      });
      expect(Object.keys(result.gradErrors).sort()).toEqual([...needs].sort());
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    }
  });

  it('has bit-for-bit repeatable gradients (GQA sums without atomics)', async () => {
    const ctx = await testContext();
    const c: Case = { B: 2, T: 7, H: 4, KV: 1, D: 12 };
    const run = async () => {
      const g = new Graph(ctx);
      const leaf = (name: string, cols: number, seed: number) =>
        Tensor.leaf(ctx.uploadF32(randomArray(c.B * c.T * cols, seed), [c.B, c.T, cols], name), true, name);
      const q = leaf('q', c.H * c.D, 1);
      const k = leaf('k', c.KV * c.D, 2);
      const v = leaf('v', c.KV * c.D, 3);
      const out = causalAttention(g, q, k, v, { heads: c.H, kvHeads: c.KV, headDim: c.D });
      g.backward(out, ctx.uploadF32(randomArray(out.data.size, 4), out.shape, 'seed'));
      const grads = await Promise.all([q, k, v].map((t) => ctx.read(t.grad!)));
      ctx.release(...[q, k, v].flatMap((t) => [t.data, t.grad]));
      g.destroy();
      return grads;
    };
    const first = await run();
    const second = await run();
    for (let i = 0; i < 3; i++) expect(Array.from(second[i]!)).toEqual(Array.from(first[i]!));
  });

  it('records nothing and keeps no probabilities without gradients', async () => {
    const ctx = await testContext();
    const c: Case = { B: 1, T: 7, H: 2, KV: 1, D: 4 };
    const g = new Graph(ctx, false);
    const q = Tensor.leaf(ctx.uploadF32(randomArray(c.T * c.H * c.D, 1), [1, c.T, c.H * c.D]), true, 'q');
    const k = Tensor.leaf(ctx.uploadF32(randomArray(c.T * c.KV * c.D, 2), [1, c.T, c.KV * c.D]), true, 'k');
    const v = Tensor.leaf(ctx.uploadF32(randomArray(c.T * c.KV * c.D, 3), [1, c.T, c.KV * c.D]), true, 'v');
    const before = ctx.stats();
    const out = causalAttention(g, q, k, v, { heads: c.H, kvHeads: c.KV, headDim: c.D });
    expect(out.requiresGrad).toBe(false);
    const got = await ctx.read(out.data);
    expect(relativeError(got, attentionRef(await ctx.read(q.data), await ctx.read(k.data), await ctx.read(v.data), c))).toBeLessThan(1e-5);
    g.destroy();
    expect(ctx.stats().liveBytes).toBe(before.liveBytes);
    ctx.release(q.data, k.data, v.data);
  });

  it('rejects inconsistent shapes with a GpuError', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const t = (shape: number[]) => Tensor.leaf(ctx.uploadF32(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape), true, 't');
    const q = t([1, 3, 12]);
    const kv = t([1, 3, 4]);
    expect(() => causalAttention(g, q, kv, kv, { heads: 3, kvHeads: 2, headDim: 4 })).toThrow(GpuError); // H % KV ≠ 0
    expect(() => causalAttention(g, q, kv, kv, { heads: 2, kvHeads: 1, headDim: 4 })).toThrow(/q must be/);
    const shortKv = t([1, 2, 4]);
    expect(() => causalAttention(g, q, shortKv, shortKv, { heads: 3, kvHeads: 1, headDim: 4 })).toThrow(/must match q/);
    ctx.release(q.data, kv.data, shortKv.data);
    g.destroy();
  });
});

describe('KV cache', () => {
  for (const c of [
    { B: 2, T: 9, H: 4, KV: 2, D: 4, prefix: 4 },
    { B: 1, T: 7, H: 4, KV: 4, D: 12, prefix: 1 },
    { B: 2, T: 6, H: 4, KV: 1, D: 12, prefix: 3 },
  ]) {
    it(`prefix of ${c.prefix} then single tokens equals full causal attention (B=${c.B} T=${c.T} H=${c.H} KV=${c.KV})`, async () => {
      const ctx = await testContext();
      const { B, T, H, KV, D, prefix } = c;
      const maxT = T + 3;
      const qAll = randomArray(B * T * H * D, 21);
      const kAll = randomArray(B * T * KV * D, 22);
      const vAll = randomArray(B * T * KV * D, 23);
      // Rows past the written ones hold NaN: reading any of them would poison the output.
      const kCache = ctx.uploadF32(new Float32Array(B * maxT * KV * D).fill(NaN), [B, maxT, KV * D], 'k cache');
      const vCache = ctx.uploadF32(new Float32Array(B * maxT * KV * D).fill(NaN), [B, maxT, KV * D], 'v cache');
      const rowsOf = (data: Float32Array, cols: number, start: number, count: number) => {
        const out = new Float32Array(B * count * cols);
        for (let b = 0; b < B; b++) out.set(data.subarray((b * T + start) * cols, (b * T + start + count) * cols), b * count * cols);
        return out;
      };
      const got = new Float32Array(B * T * H * D);
      for (let start = 0; start < T; ) {
        const count = start === 0 ? prefix : 1;
        const q = ctx.uploadF32(rowsOf(qAll, H * D, start, count), [B, count, H * D]);
        const k = ctx.uploadF32(rowsOf(kAll, KV * D, start, count), [B, count, KV * D]);
        const v = ctx.uploadF32(rowsOf(vAll, KV * D, start, count), [B, count, KV * D]);
        writeKvCache(ctx, kCache, k, start);
        writeKvCache(ctx, vCache, v, start);
        const out = cachedAttention(ctx, q, kCache, vCache, { heads: H, kvHeads: KV, headDim: D, start });
        expect(out.shape).toEqual([B, count, H * D]);
        const rows = await ctx.read(out);
        for (let b = 0; b < B; b++) got.set(rows.subarray(b * count * H * D, (b + 1) * count * H * D), (b * T + start) * H * D);
        ctx.release(q, k, v, out);
        start += count;
      }
      const want = attentionRef(qAll, kAll, vAll, { B, T, H, KV, D });
      expect(relativeError(got, want)).toBeLessThan(1e-5);
      ctx.release(kCache, vCache);
    });
  }

  it('rejects writes past the end of the cache and mismatched caches', async () => {
    const ctx = await testContext();
    const cache = ctx.uploadF32(new Float32Array(2 * 5 * 8), [2, 5, 8]);
    const x = ctx.uploadF32(new Float32Array(2 * 2 * 8), [2, 2, 8]);
    expect(() => writeKvCache(ctx, cache, x, 4)).toThrow(GpuError);
    expect(() => writeKvCache(ctx, cache, ctx.placeholder(), 0)).toThrow(GpuError);
    const q = ctx.uploadF32(new Float32Array(2 * 1 * 16), [2, 1, 16]);
    expect(() => cachedAttention(ctx, q, cache, cache, { heads: 4, kvHeads: 2, headDim: 4, start: 5 })).toThrow(/exceeds/);
    expect(() => cachedAttention(ctx, q, cache, cache, { heads: 4, kvHeads: 1, headDim: 4, start: 0 })).toThrow(GpuError);
    ctx.release(cache, x, q);
  });
});
