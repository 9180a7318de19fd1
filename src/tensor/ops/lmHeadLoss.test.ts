// Tests of lmHeadLoss (chunked LM-head cross-entropy) against a float64 reference with finite
// differences, and against the unfused crossEntropy(linear(h, W)) it replaces: odd sizes, chunks
// that do not divide N, all-ignored rows, a tied embedding, the chunk-size rule and the peak
// memory (no [N, V] buffer).

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../gpu/context';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, relativeError, rng } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { crossEntropy } from './crossEntropy';
import { embedding } from './embedding';
import { linear } from './linear';
import { DEFAULT_CHUNK_BYTES, lmHeadChunkRows, lmHeadLoss } from './lmHeadLoss';

// float64 reference: mean over rows with 0 ≤ target < V of logsumexp(z[n]) − z[n, target],
// z = h Wᵀ; 0 when no row counts.
function lmHeadLossRef(h: ArrayLike<number>, W: ArrayLike<number>, targets: ArrayLike<number>, C: number): Float64Array {
  const N = targets.length;
  const V = W.length / C;
  let sum = 0;
  let count = 0;
  const z = new Float64Array(V);
  for (let n = 0; n < N; n++) {
    const t = targets[n]!;
    if (!(t >= 0 && t < V)) continue;
    for (let v = 0; v < V; v++) {
      let acc = 0;
      for (let c = 0; c < C; c++) acc += h[n * C + c]! * W[v * C + c]!;
      z[v] = acc;
    }
    const m = Math.max(...z);
    let s = 0;
    for (let v = 0; v < V; v++) s += Math.exp(z[v]! - m);
    sum += m + Math.log(s) - z[t]!;
    count++;
  }
  return Float64Array.of(count > 0 ? sum / count : 0);
}

/** Targets in [0, V), with every `ignoreEvery`-th row set to −100. */
function randomTargets(N: number, V: number, seed: number, ignoreEvery = 0): Float32Array {
  const next = rng(seed);
  return Float32Array.from({ length: N }, (_, n) => (ignoreEvery > 0 && n % ignoreEvery === ignoreEvery - 1 ? -100 : Math.floor(next() * V)));
}

/** Bytes of a chunk of `rows` rows: forces R = rows (for rows < 4 or a multiple of 4). */
function bytesForRows(rows: number, V: number): number {
  return 4 * V * rows;
}

interface Result {
  readonly loss: number;
  readonly dh: Float32Array;
  readonly dW: Float32Array;
}

/** Loss and gradients of h [N, C], W [V, C] by the fused op (chunkBytes) or the unfused pair. */
async function run(ctx: GpuContext, h: Float32Array, W: Float32Array, targets: Float32Array, C: number, chunkBytes?: number): Promise<Result> {
  const N = targets.length;
  const V = W.length / C;
  const g = new Graph(ctx);
  const ht = Tensor.leaf(ctx.uploadF32(h, [N, C]), true, 'h');
  const Wt = Tensor.leaf(ctx.uploadF32(W, [V, C]), true, 'W');
  const tt = Tensor.leaf(ctx.upload(Int32Array.from(targets), [N], 'i32'), false, 'targets');
  try {
    const loss = chunkBytes === undefined ? crossEntropy(g, linear(g, ht, Wt), tt) : lmHeadLoss(g, ht, Wt, tt, { chunkBytes });
    const [value] = await ctx.read(loss.data);
    g.backward(loss);
    return { loss: value!, dh: await ctx.read(ht.grad!), dW: await ctx.read(Wt.grad!) };
  } finally {
    ctx.release(ht.data, ht.grad, Wt.data, Wt.grad, tt.data);
    g.destroy();
  }
}

function expectClose(fused: Result, unfused: Result, tolerance = 1e-5): void {
  expect(Math.abs(fused.loss - unfused.loss)).toBeLessThanOrEqual(tolerance * Math.max(1, Math.abs(unfused.loss)));
  expect(relativeError(fused.dh, unfused.dh)).toBeLessThan(tolerance);
  expect(relativeError(fused.dW, unfused.dW)).toBeLessThan(tolerance);
}

describe('lmHeadChunkRows', () => {
  const big = { maxStorageBufferBindingSize: 2 ** 30, maxBufferSize: 2 ** 30 };

  it('fits the byte budget, rounds down to a multiple of 4 and clamps to [1, N]', () => {
    expect(lmHeadChunkRows(4096, 151936, big)).toBe(24); // 16 MiB / (4 · 151936) = 27.6
    expect(lmHeadChunkRows(4096, 262144, big)).toBe(16);
    expect(lmHeadChunkRows(4096, 151936, big, 64 * 2 ** 20)).toBe(108); // 110.4
    expect(lmHeadChunkRows(7, 37, big)).toBe(7);
    expect(lmHeadChunkRows(100, 37, big, bytesForRows(3, 37))).toBe(3);
    expect(lmHeadChunkRows(100, 37, big, bytesForRows(7, 37))).toBe(4);
    expect(lmHeadChunkRows(100, 37, big, 1)).toBe(1);
  });

  it("is capped by the device's binding and buffer limits", () => {
    const small = { maxStorageBufferBindingSize: 128 * 2 ** 20, maxBufferSize: 128 * 2 ** 20 };
    // 0.8 · 128 MiB / (4 · 262144) = 102.4 rows: the budget is ignored above the limit.
    expect(lmHeadChunkRows(4096, 262144, small, 2 ** 30)).toBe(100);
    expect(lmHeadChunkRows(4096, 262144, { ...small, maxStorageBufferBindingSize: 2 ** 20 }, 2 ** 30)).toBe(1);
    expect(() => lmHeadChunkRows(4, 2 ** 20, { ...small, maxStorageBufferBindingSize: 2 ** 20 })).toThrow(/one row of logits/);
    expect(DEFAULT_CHUNK_BYTES).toBe(16 * 2 ** 20);
  });
});

describe('lmHeadLoss', () => {
  // [N, V, C, rows per chunk (undefined: one chunk), ignore every k-th row]
  for (const [N, V, C, rows, ignoreEvery] of [
    [1, 5, 3, undefined, 0],
    [7, 37, 5, 3, 3], // chunks 3 + 3 + 1
    [33, 61, 8, 4, 4], // 8 chunks of 4 + 1
    [100, 129, 12, 12, 5], // 8 chunks of 12 + 4
    [100, 33, 7, undefined, 6],
  ] as const) {
    const chunks = rows === undefined ? 1 : Math.ceil(N / rows);
    const chunkBytes = rows === undefined ? undefined : bytesForRows(rows, V);

    it(`N=${N}, V=${V}, C=${C} in ${chunks} chunk(s): loss and gradients match float64 and finite differences`, async () => {
      const ctx = await testContext();
      if (rows !== undefined) expect(lmHeadChunkRows(N, V, ctx.device.limits, chunkBytes)).toBe(rows);
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'h', shape: [N, C], data: randomArray(N * C, N + C, 2) },
          { name: 'W', shape: [V, C], data: randomArray(V * C, V + C, 2) },
          { name: 'targets', shape: [N], data: randomTargets(N, V, N * 31 + V, ignoreEvery), dtype: 'i32', requiresGrad: false },
        ],
        gpu: (g, [h, W, t]) => lmHeadLoss(g, h!, W!, t!, { chunkBytes }),
        cpu: ([h, W, t]) => lmHeadLossRef(h!, W!, t!, C),
        samples: 48,
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(['W', 'h']);
      expect(result.gradErrors.h).toBeLessThan(1e-4);
      expect(result.gradErrors.W).toBeLessThan(1e-4);
    });

    it(`N=${N}, V=${V}, C=${C} in ${chunks} chunk(s): equals the unfused crossEntropy(linear(h, W))`, async () => {
      const ctx = await testContext();
      const h = randomArray(N * C, N * 3 + 1, 2);
      const W = randomArray(V * C, V * 3 + 2, 2);
      const targets = randomTargets(N, V, N + V, ignoreEvery);
      expectClose(await run(ctx, h, W, targets, C, chunkBytes ?? DEFAULT_CHUNK_BYTES), await run(ctx, h, W, targets, C));
    });
  }

  it('gives the same loss and gradients with one chunk and with many (tiny budget)', async () => {
    const ctx = await testContext();
    const [N, V, C] = [33, 101, 9];
    const h = randomArray(N * C, 5, 3);
    const W = randomArray(V * C, 6, 3);
    const targets = randomTargets(N, V, 7, 5);
    const one = await run(ctx, h, W, targets, C, DEFAULT_CHUNK_BYTES);
    for (const budget of [1, bytesForRows(2, V), bytesForRows(8, V) + 3]) {
      expect(lmHeadChunkRows(N, V, ctx.device.limits, budget)).toBeLessThan(N);
      expectClose(await run(ctx, h, W, targets, C, budget), one);
    }
  });

  it('gives loss 0 and gradients 0 when every row is ignored, in one chunk or several', async () => {
    const ctx = await testContext();
    const [N, V, C] = [7, 11, 4];
    const targets = new Float32Array(N).fill(-100);
    targets[3] = V; // out of range: not counted either
    for (const chunkBytes of [undefined, bytesForRows(2, V)]) {
      const r = await run(ctx, randomArray(N * C, 1), randomArray(V * C, 2), targets, C, chunkBytes ?? DEFAULT_CHUNK_BYTES);
      expect(r.loss).toBe(0);
      expect(r.dh.every((x) => x === 0)).toBe(true);
      expect(r.dW.every((x) => x === 0)).toBe(true);
    }
  });

  it('takes [B, T, C] hidden states and [B, T] targets; accumulates into an existing W.grad', async () => {
    const ctx = await testContext();
    const [B, T, V, C] = [2, 5, 13, 6];
    const targets = randomTargets(B * T, V, 3, 4);
    const g = new Graph(ctx);
    const h = Tensor.leaf(ctx.uploadF32(randomArray(B * T * C, 4), [B, T, C]), true, 'h');
    const W = Tensor.leaf(ctx.uploadF32(randomArray(V * C, 5), [V, C]), true, 'W');
    W.grad = ctx.uploadF32(new Float32Array(V * C).fill(0.5), [V, C]);
    const t = Tensor.leaf(ctx.upload(Int32Array.from(targets), [B, T], 'i32'), false, 'targets');
    g.backward(lmHeadLoss(g, h, W, t, { chunkBytes: bytesForRows(3, V) }));
    expect(h.grad!.shape).toEqual([B, T, C]);
    const got = await ctx.read(W.grad);
    const reference = await run(ctx, await ctx.read(h.data), await ctx.read(W.data), targets, C);
    expect(
      relativeError(
        got,
        reference.dW.map((x) => x + 0.5),
      ),
    ).toBeLessThan(1e-6);
    expect(relativeError(await ctx.read(h.grad!), reference.dh)).toBeLessThan(1e-5);
    ctx.release(h.data, h.grad, W.data, W.grad, t.data);
    g.destroy();
  });

  it('sums the head and embedding-lookup gradients of a tied embedding into one W.grad, as unfused', async () => {
    const ctx = await testContext();
    const [N, V, C] = [9, 23, 8];
    const ids = Array.from({ length: N }, (_, n) => (n * 7) % V);
    const targets = randomTargets(N, V, 11, 4);
    const table = randomArray(V * C, 12);
    const tiedGrad = async (fused: boolean) => {
      const g = new Graph(ctx);
      const W = Tensor.leaf(ctx.uploadF32(table, [V, C]), true, 'embedding');
      const idsT = Tensor.leaf(ctx.upload(Uint32Array.from(ids), [N], 'u32'), false, 'ids');
      const t = Tensor.leaf(ctx.upload(Int32Array.from(targets), [N], 'i32'), false, 'targets');
      const h = embedding(g, idsT, W); // [N, C], the same W feeds the head below
      g.backward(fused ? lmHeadLoss(g, h, W, t, { chunkBytes: bytesForRows(2, V) }) : crossEntropy(g, linear(g, h, W), t));
      const grad = await ctx.read(W.grad!);
      ctx.release(W.data, W.grad, idsT.data, t.data);
      g.destroy();
      return grad;
    };
    const fused = await tiedGrad(true);
    const unfused = await tiedGrad(false);
    expect(relativeError(fused, unfused)).toBeLessThan(1e-5);
    // The lookup's share is present: the rows of looked-up ids differ from the head-only gradient.
    const headOnly = await run(ctx, new Float32Array(ids.flatMap((id) => Array.from(table.subarray(id * C, id * C + C)))), table, targets, C);
    expect(relativeError(fused, headOnly.dW)).toBeGreaterThan(1e-3);
  });

  it('never holds an [N, V] buffer: peak live bytes stay near one chunk', async () => {
    const ctx = await testContext();
    const [N, V, C] = [64, 1000, 8];
    const g = new Graph(ctx);
    const h = Tensor.leaf(ctx.uploadF32(randomArray(N * C, 1), [N, C]), true, 'h');
    const W = Tensor.leaf(ctx.uploadF32(randomArray(V * C, 2), [V, C]), true, 'W');
    const t = Tensor.leaf(ctx.upload(Int32Array.from(randomTargets(N, V, 3)), [N], 'i32'), false, 'targets');
    ctx.pool.resetPeak();
    const before = ctx.stats().liveBytes;
    const chunkBytes = bytesForRows(4, V);
    const loss = lmHeadLoss(g, h, W, t, { chunkBytes });
    g.backward(loss);
    await ctx.read(loss.data);
    const added = ctx.stats().peakLiveBytes - before;
    // dW [V, C] and dh [N, C] are the gradients themselves; the rest is one [4, V] block and scratch.
    const gradients = 4 * (V * C + N * C);
    expect(added).toBeLessThan(gradients + 2 * chunkBytes + 64 * 1024);
    expect(added).toBeLessThan(4 * N * V); // the logits alone would be 256 000 bytes
    ctx.release(h.data, h.grad, W.data, W.grad, t.data);
    g.destroy();
  });

  it('rejects targets that require a gradient or do not match the rows of h', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const h = Tensor.leaf(ctx.uploadF32(randomArray(6, 1), [2, 3]), true, 'h');
    const W = Tensor.leaf(ctx.uploadF32(randomArray(12, 2), [4, 3]), true, 'W');
    const short = Tensor.leaf(ctx.upload(Int32Array.of(0), [1], 'i32'), false, 'targets');
    expect(() => lmHeadLoss(g, h, W, short)).toThrow(/one entry per row/);
    const wrongC = Tensor.leaf(ctx.uploadF32(randomArray(8, 2), [4, 2]), true, 'W2');
    expect(() => lmHeadLoss(g, h, wrongC, short)).toThrow(/do not end in C/);
    ctx.release(h.data, W.data, short.data, wrongC.data);
    g.destroy();
  });
});
