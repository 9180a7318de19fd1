// Tests of flash attention (shaders/attention.wgsl through the op) against a float64 reference
// that materialises P: forward O and the saved log-sum-exp L, gradients of q, k, v against the
// reference's analytic gradients (T = 1, 7, 9, 64, 300; MHA, GQA H=4/KV=2, MQA; D = 5, 8, 33,
// 128, 256; B = 1, 3; sliding windows 1, 3, 10, 37, = T, > T; a custom scale) and against central
// finite differences; partial requiresGrad; bit-for-bit repeatable gradients; no allocation of
// [B, H, T, T]; the KV-cache path (a prefix, then single tokens or chunks, with windows) against
// the full forward; shape errors.

import { describe, expect, it, vi } from 'vitest';
import { flashAttentionForward, selfAttentionShape } from '../../kernels/attention';
import { GpuError } from '../../errors';
import type { GpuContext } from '../../gpu/context';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, relativeError } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { cachedAttention, causalAttention, writeKvCache, type AttentionHeads } from './attention';

interface Case {
  readonly B: number;
  readonly T: number;
  readonly H: number;
  readonly KV: number;
  readonly D: number;
  readonly window?: number;
  readonly scale?: number;
}

const heads = (c: Case): AttentionHeads => ({ heads: c.H, kvHeads: c.KV, headDim: c.D, window: c.window, scale: c.scale });
const describeCase = (c: Case) => `B=${c.B} T=${c.T} H=${c.H} KV=${c.KV} D=${c.D}${c.window ? ` window=${c.window}` : ''}${c.scale ? ` scale=${c.scale}` : ''}`;

// ---- float64 reference (materialises P row by row) -----------------------------------------

interface Reference {
  readonly O: Float64Array; // [B, T, H*D]
  readonly L: Float64Array; // [B, H, T]
}

interface RowIndex {
  readonly q: (b: number, i: number, h: number) => number;
  readonly k: (b: number, j: number, h: number) => number;
}

function indexOf(c: Case): RowIndex {
  const { T, H, KV, D } = c;
  return {
    q: (b, i, h) => (b * T + i) * H * D + h * D,
    k: (b, j, h) => (b * T + j) * KV * D + Math.floor(h / (H / KV)) * D,
  };
}

/** Softmax row of query (b, h, i) over keys 0..i: P (0 where masked) and its log-sum-exp. */
function probRow(q: ArrayLike<number>, k: ArrayLike<number>, c: Case, b: number, h: number, i: number): { p: Float64Array; lse: number } {
  const { D, window = Infinity, scale = 1 / Math.sqrt(D) } = c;
  const at = indexOf(c);
  const p = new Float64Array(i + 1);
  let m = -Infinity;
  for (let j = 0; j <= i; j++) {
    if (i - j >= window) continue;
    p[j] = dotAt(q, at.q(b, i, h), k, at.k(b, j, h), D) * scale;
    m = Math.max(m, p[j]!);
  }
  let total = 0;
  for (let j = 0; j <= i; j++) {
    p[j] = i - j < window ? Math.exp(p[j]! - m) : 0;
    total += p[j]!;
  }
  for (let j = 0; j <= i; j++) p[j] = p[j]! / total;
  return { p, lse: m + Math.log(total) };
}

function addAt(x: Float64Array, index: number, value: number): void {
  x[index] = x[index]! + value;
}

/** a · b over D elements starting at offsets ia and ib. */
function dotAt(a: ArrayLike<number>, ia: number, b: ArrayLike<number>, ib: number, D: number): number {
  let total = 0;
  for (let d = 0; d < D; d++) total += a[ia + d]! * b[ib + d]!;
  return total;
}

function attentionRef(q: ArrayLike<number>, k: ArrayLike<number>, v: ArrayLike<number>, c: Case): Reference {
  const { B, T, H, D } = c;
  const at = indexOf(c);
  const O = new Float64Array(B * T * H * D);
  const L = new Float64Array(B * H * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const { p, lse } = probRow(q, k, c, b, h, i);
        L[(b * H + h) * T + i] = lse;
        for (let j = 0; j <= i; j++) {
          for (let d = 0; d < D; d++) addAt(O, at.q(b, i, h) + d, p[j]! * v[at.k(b, j, h) + d]!);
        }
      }
    }
  }
  return { O, L };
}

/** Analytic gradients: dS = P ⊙ (dP − rowsum(P ⊙ dP)), dq = scale dS k, dk = scale dSᵀ q, dv = Pᵀ dO. */
function attentionGradRef(
  q: ArrayLike<number>,
  k: ArrayLike<number>,
  v: ArrayLike<number>,
  dO: ArrayLike<number>,
  c: Case,
): Record<'q' | 'k' | 'v', Float64Array> {
  const { B, T, H, D, scale = 1 / Math.sqrt(D) } = c;
  const at = indexOf(c);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < T; i++) {
        const { p } = probRow(q, k, c, b, h, i);
        const dP = new Float64Array(i + 1);
        let delta = 0;
        for (let j = 0; j <= i; j++) {
          dP[j] = dotAt(dO, at.q(b, i, h), v, at.k(b, j, h), D);
          delta += p[j]! * dP[j]!;
        }
        for (let j = 0; j <= i; j++) {
          const dS = p[j]! * (dP[j]! - delta);
          for (let d = 0; d < D; d++) {
            addAt(dq, at.q(b, i, h) + d, scale * dS * k[at.k(b, j, h) + d]!);
            addAt(dk, at.k(b, j, h) + d, scale * dS * q[at.q(b, i, h) + d]!);
            addAt(dv, at.k(b, j, h) + d, p[j]! * dO[at.q(b, i, h) + d]!);
          }
        }
      }
    }
  }
  return { q: dq, k: dk, v: dv };
}

// ---- helpers -----------------------------------------------------------------------------------

interface Inputs {
  readonly q: Float32Array;
  readonly k: Float32Array;
  readonly v: Float32Array;
}

function inputsFor(c: Case, seed: number, qScale = 1): Inputs {
  return {
    q: randomArray(c.B * c.T * c.H * c.D, seed, qScale),
    k: randomArray(c.B * c.T * c.KV * c.D, seed + 1),
    v: randomArray(c.B * c.T * c.KV * c.D, seed + 2),
  };
}

/** Runs the op forward and backward (seeded with dO) and reads O and the three gradients. */
async function runOp(ctx: GpuContext, c: Case, x: Inputs, dO: Float32Array): Promise<Record<'O' | 'q' | 'k' | 'v', Float32Array>> {
  const g = new Graph(ctx);
  const leaf = (name: string, data: Float32Array, cols: number) => Tensor.leaf(ctx.uploadF32(data, [c.B, c.T, cols], name), true, name);
  const q = leaf('q', x.q, c.H * c.D);
  const k = leaf('k', x.k, c.KV * c.D);
  const v = leaf('v', x.v, c.KV * c.D);
  const out = causalAttention(g, q, k, v, heads(c));
  const O = await ctx.read(out.data);
  g.backward(out, ctx.uploadF32(dO, out.shape, 'dO'));
  const [dq, dk, dv] = await Promise.all([q, k, v].map((t) => ctx.read(t.grad!)));
  ctx.release(...[q, k, v].flatMap((t) => [t.data, t.grad]));
  g.destroy();
  return { O, q: dq!, k: dk!, v: dv! };
}

// ---- training forward and backward -----------------------------------------------------------

const CASES: (Case & { qScale?: number })[] = [
  { B: 1, T: 1, H: 1, KV: 1, D: 5 },
  { B: 3, T: 7, H: 4, KV: 2, D: 5 },
  { B: 1, T: 7, H: 4, KV: 4, D: 8 },
  { B: 3, T: 7, H: 4, KV: 1, D: 33, qScale: 3 }, // peaky softmax rows
  { B: 1, T: 9, H: 4, KV: 2, D: 8, window: 3 },
  { B: 3, T: 9, H: 2, KV: 2, D: 8, window: 1 }, // each query sees only itself: O = v
  { B: 1, T: 7, H: 2, KV: 1, D: 8, window: 7 }, // window = T: no effect
  { B: 1, T: 7, H: 2, KV: 1, D: 5, window: 100 },
  { B: 1, T: 7, H: 2, KV: 1, D: 8, scale: 0.3 },
  { B: 1, T: 64, H: 4, KV: 2, D: 8 },
  { B: 1, T: 64, H: 2, KV: 2, D: 33, window: 10 },
  { B: 1, T: 300, H: 4, KV: 2, D: 8 },
  { B: 1, T: 300, H: 2, KV: 1, D: 5, window: 37 },
  { B: 1, T: 7, H: 2, KV: 1, D: 128 },
  { B: 1, T: 9, H: 2, KV: 1, D: 256, window: 4 }, // Gemma 3's head size
];

describe('causalAttention (flash)', () => {
  for (const c of CASES) {
    it(`forward and gradients match float64 (${describeCase(c)}${c.qScale ? ` q×${c.qScale}` : ''})`, async () => {
      const ctx = await testContext();
      const x = inputsFor(c, 11, c.qScale);
      const dO = randomArray(x.q.length, 17);
      const got = await runOp(ctx, c, x, dO);
      expect(relativeError(got.O, attentionRef(x.q, x.k, x.v, c).O)).toBeLessThan(1e-5);
      const want = attentionGradRef(x.q, x.k, x.v, dO, c);
      for (const name of ['q', 'k', 'v'] as const) expect(relativeError(got[name], want[name]), name).toBeLessThan(1e-4);
    });
  }

  for (const c of [
    { B: 3, T: 7, H: 4, KV: 2, D: 5 },
    { B: 1, T: 1, H: 2, KV: 1, D: 5 },
    { B: 1, T: 9, H: 4, KV: 2, D: 8, window: 3 },
    { B: 1, T: 64, H: 2, KV: 1, D: 5, window: 9 },
  ] as Case[]) {
    it(`gradients match central finite differences (${describeCase(c)})`, async () => {
      const ctx = await testContext();
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'q', shape: [c.B, c.T, c.H * c.D] },
          { name: 'k', shape: [c.B, c.T, c.KV * c.D] },
          { name: 'v', shape: [c.B, c.T, c.KV * c.D] },
        ],
        gpu: (g, [q, k, v]) => causalAttention(g, q!, k!, v!, heads(c)),
        cpu: ([q, k, v]) => attentionRef(q!, k!, v!, c).O,
        samples: 32,
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['k', 'q', 'v']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });
  }

  it('saves the row log-sum-exp L [B, H, T] (the kernel, with and without a window)', async () => {
    const ctx = await testContext();
    for (const c of [
      { B: 3, T: 13, H: 4, KV: 2, D: 5 },
      { B: 1, T: 13, H: 2, KV: 1, D: 33, window: 4 },
    ] as Case[]) {
      const x = inputsFor(c, 5);
      const [q, k, v] = [x.q, x.k, x.v].map((data, i) => ctx.uploadF32(data, [c.B, c.T, (i === 0 ? c.H : c.KV) * c.D]));
      const o = ctx.empty([c.B, c.T, c.H * c.D]);
      const lse = ctx.empty([c.B, c.H, c.T]);
      flashAttentionForward(ctx, q!, k!, v!, o, lse, { ...selfAttentionShape(c.B, c.T, c.H, c.KV, c.D), window: c.window ?? c.T });
      const want = attentionRef(x.q, x.k, x.v, c);
      expect(relativeError(await ctx.read(lse), want.L), describeCase(c)).toBeLessThan(1e-6);
      expect(relativeError(await ctx.read(o), want.O), describeCase(c)).toBeLessThan(1e-5);
      ctx.release(q!, k!, v!, o, lse);
    }
  });

  it('gives gradients only to the inputs that need them', async () => {
    const ctx = await testContext();
    const c: Case = { B: 1, T: 7, H: 4, KV: 2, D: 5, window: 4 };
    for (const needs of [['v'], ['q'], ['k'], ['k', 'v']]) {
      const result = await gradcheck(ctx, {
        inputs: (['q', 'k', 'v'] as const).map((name) => ({
          name,
          shape: [c.B, c.T, (name === 'q' ? c.H : c.KV) * c.D],
          requiresGrad: needs.includes(name),
        })),
        gpu: (g, [q, k, v]) => causalAttention(g, q!, k!, v!, heads(c)),
        cpu: ([q, k, v]) => attentionRef(q!, k!, v!, c).O,
      });
      expect(Object.keys(result.gradErrors).sort()).toEqual([...needs].sort());
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    }
  });

  it('has bit-for-bit repeatable gradients (GQA sums without atomics)', async () => {
    const ctx = await testContext();
    const c: Case = { B: 2, T: 11, H: 4, KV: 1, D: 8 };
    const x = inputsFor(c, 1);
    const dO = randomArray(x.q.length, 4);
    const first = await runOp(ctx, c, x, dO);
    const second = await runOp(ctx, c, x, dO);
    for (const name of ['O', 'q', 'k', 'v'] as const) expect(Array.from(second[name]), name).toEqual(Array.from(first[name]));
  });

  it('never allocates anything of B·H·T·T floats, forward or backward', async () => {
    const ctx = await testContext();
    const c: Case = { B: 2, T: 64, H: 4, KV: 2, D: 8 };
    const sizes: number[] = [];
    const empty = ctx.empty.bind(ctx);
    const spy = vi.spyOn(ctx, 'empty').mockImplementation((shape, dtype, what) => {
      sizes.push(shape.reduce((a, b) => a * b, 1));
      return empty(shape, dtype, what);
    });
    try {
      const x = inputsFor(c, 3);
      await runOp(ctx, c, x, randomArray(x.q.length, 9));
    } finally {
      spy.mockRestore();
    }
    expect(sizes.length).toBeGreaterThan(0);
    expect(Math.max(...sizes)).toBeLessThan(c.B * c.H * c.T * c.T);
    expect(Math.max(...sizes)).toBe(c.B * c.T * c.H * c.D); // the largest is a [B, T, H*D] tensor
  });

  it('records nothing and keeps nothing without gradients', async () => {
    const ctx = await testContext();
    const c: Case = { B: 1, T: 7, H: 2, KV: 1, D: 5 };
    const x = inputsFor(c, 1);
    const g = new Graph(ctx, false);
    const q = Tensor.leaf(ctx.uploadF32(x.q, [1, c.T, c.H * c.D]), true, 'q');
    const k = Tensor.leaf(ctx.uploadF32(x.k, [1, c.T, c.KV * c.D]), true, 'k');
    const v = Tensor.leaf(ctx.uploadF32(x.v, [1, c.T, c.KV * c.D]), true, 'v');
    const before = ctx.stats();
    const out = causalAttention(g, q, k, v, heads(c));
    expect(out.requiresGrad).toBe(false);
    expect(relativeError(await ctx.read(out.data), attentionRef(x.q, x.k, x.v, c).O)).toBeLessThan(1e-5);
    g.destroy();
    expect(ctx.stats().liveBytes).toBe(before.liveBytes);
    ctx.release(q.data, k.data, v.data);
  });

  it('rejects inconsistent shapes, head sizes above 256 and bad windows with a GpuError', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const t = (shape: number[]) => Tensor.leaf(ctx.uploadF32(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape), true, 't');
    const q = t([1, 3, 12]);
    const kv = t([1, 3, 4]);
    expect(() => causalAttention(g, q, kv, kv, { heads: 3, kvHeads: 2, headDim: 4 })).toThrow(GpuError); // H % KV ≠ 0
    expect(() => causalAttention(g, q, kv, kv, { heads: 2, kvHeads: 1, headDim: 4 })).toThrow(/q must be/);
    const shortKv = t([1, 2, 4]);
    expect(() => causalAttention(g, q, shortKv, shortKv, { heads: 3, kvHeads: 1, headDim: 4 })).toThrow(/must match q/);
    for (const window of [0, -1, 2.5]) {
      expect(() => causalAttention(g, q, kv, kv, { heads: 3, kvHeads: 1, headDim: 4, window })).toThrow(/window must be a positive integer/);
    }
    const lse = ctx.empty([1, 3, 3]);
    expect(() => flashAttentionForward(ctx, q.data, kv.data, kv.data, q.data, lse, { ...selfAttentionShape(1, 3, 3, 1, 4), window: 3 })).toThrow(
      /must not alias/,
    );
    ctx.release(lse);
    const wide = t([1, 2, 257]);
    expect(() => causalAttention(g, wide, wide, wide, { heads: 1, kvHeads: 1, headDim: 257 })).toThrow(/exceeds the 256/);
    ctx.release(q.data, kv.data, shortKv.data, wide.data);
    g.destroy();
  });
});

// ---- generation with a KV cache --------------------------------------------------------------

describe('KV cache', () => {
  for (const c of [
    { B: 2, T: 9, H: 4, KV: 2, D: 5, prefix: 4, chunk: 1 },
    { B: 1, T: 7, H: 4, KV: 4, D: 8, prefix: 1, chunk: 1 },
    { B: 3, T: 11, H: 4, KV: 1, D: 33, prefix: 3, chunk: 2 },
    { B: 1, T: 9, H: 4, KV: 2, D: 8, prefix: 5, chunk: 1, window: 3 },
    { B: 2, T: 14, H: 2, KV: 1, D: 5, prefix: 6, chunk: 3, window: 4 },
  ] as (Case & { prefix: number; chunk: number })[]) {
    it(`a prefix of ${c.prefix}, then chunks of ${c.chunk}, equals the full forward (${describeCase(c)})`, async () => {
      const ctx = await testContext();
      const { B, T, H, KV, D, prefix, chunk } = c;
      const maxT = T + 3;
      const x = inputsFor(c, 21);
      // Rows past the written ones hold NaN: reading any of them would poison the output.
      const kCache = ctx.uploadF32(new Float32Array(B * maxT * KV * D).fill(NaN), [B, maxT, KV * D], 'k cache');
      const vCache = ctx.uploadF32(new Float32Array(B * maxT * KV * D).fill(NaN), [B, maxT, KV * D], 'v cache');
      const rowsOf = (data: Float32Array, cols: number, start: number, count: number) => {
        const out = new Float32Array(B * count * cols);
        for (let b = 0; b < B; b++) out.set(data.subarray((b * T + start) * cols, (b * T + start + count) * cols), b * count * cols);
        return out;
      };
      const got = new Float32Array(B * T * H * D);
      for (let start = 0; start < T;) {
        const count = Math.min(start === 0 ? prefix : chunk, T - start);
        const q = ctx.uploadF32(rowsOf(x.q, H * D, start, count), [B, count, H * D]);
        const k = ctx.uploadF32(rowsOf(x.k, KV * D, start, count), [B, count, KV * D]);
        const v = ctx.uploadF32(rowsOf(x.v, KV * D, start, count), [B, count, KV * D]);
        writeKvCache(ctx, kCache, k, start);
        writeKvCache(ctx, vCache, v, start);
        const out = cachedAttention(ctx, q, kCache, vCache, { ...heads(c), start });
        expect(out.shape).toEqual([B, count, H * D]);
        const rows = await ctx.read(out);
        for (let b = 0; b < B; b++) got.set(rows.subarray(b * count * H * D, (b + 1) * count * H * D), (b * T + start) * H * D);
        ctx.release(q, k, v, out);
        start += count;
      }
      expect(relativeError(got, attentionRef(x.q, x.k, x.v, c).O)).toBeLessThan(1e-5);
      ctx.release(kCache, vCache);
    });
  }

  it('writes cache rows wider than the largest head size', async () => {
    const ctx = await testContext();
    const cache = ctx.uploadF32(new Float32Array(2 * 4 * 300), [2, 4, 300]);
    const x = randomArray(2 * 2 * 300, 3);
    writeKvCache(ctx, cache, ctx.uploadF32(x, [2, 2, 300]), 1);
    const got = await ctx.read(cache);
    for (let b = 0; b < 2; b++) {
      expect(Array.from(got.subarray((b * 4 + 1) * 300, (b * 4 + 3) * 300))).toEqual(Array.from(x.subarray(b * 600, (b + 1) * 600)));
      expect(got.subarray(b * 4 * 300, (b * 4 + 1) * 300).every((value) => value === 0)).toBe(true);
    }
    ctx.release(cache);
  });

  it('rejects writes past the end of the cache and mismatched caches', async () => {
    const ctx = await testContext();
    const cache = ctx.uploadF32(new Float32Array(2 * 5 * 8), [2, 5, 8]);
    const x = ctx.uploadF32(new Float32Array(2 * 2 * 8), [2, 2, 8]);
    expect(() => writeKvCache(ctx, cache, x, 4)).toThrow(GpuError);
    expect(() => writeKvCache(ctx, cache, ctx.placeholder(), 0)).toThrow(GpuError);
    const q = ctx.uploadF32(new Float32Array(2 * 1 * 16), [2, 1, 16]);
    expect(() => cachedAttention(ctx, q, cache, cache, { heads: 4, kvHeads: 2, headDim: 4, start: 5 })).toThrow(/exceeds/);
    expect(() => cachedAttention(ctx, q, cache, cache, { heads: 4, kvHeads: 1, headDim: 4, start: 0 })).toThrow(GpuError);
    expect(() => cachedAttention(ctx, q, cache, cache, { heads: 4, kvHeads: 2, headDim: 4, start: 0, window: 0 })).toThrow(/window/);
    ctx.release(cache, x, q);
  });
});
