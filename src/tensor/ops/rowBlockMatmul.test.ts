// The ops that take a weight held as row blocks (gpu/rowBlocks.ts) — embedding, linear and the
// chunked LM-head loss — against the same weight in one buffer and against float64 references, at
// odd sizes (V = 1, 7, 33, 100; C = 1, 7, 33), f32 and packed bf16, with gradients into the same
// row blocks (a tied embedding's lookup and head gradients summed into one tensor). The gather and
// its scatter-add keep their order and are bit-identical; products that sum over V differ from one
// buffer's in rounding only.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../gpu/context';
import { joinRowBlocks, rowBlocksOf } from '../../gpu/rowBlocks';
import type { GpuTensor } from '../../gpu/tensor';
import { scale } from '../../kernels/elementwise';
import { uploadHalf } from '../../kernels/half';
import { testContext } from '../../test/gpu';
import { linearRef, matmulRef, randomArray, relativeError, rng } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { add } from './elementwiseOps';
import { embedding } from './embedding';
import { linear } from './linear';
import { lmHeadLoss } from './lmHeadLoss';

/** Rows of each block: about `parts` equal blocks (the last one smaller). */
function blockRows(V: number, parts: number): number[] {
  const per = Math.max(1, Math.ceil(V / parts));
  const out: number[] = [];
  for (let r = 0; r < V; r += per) out.push(Math.min(per, V - r));
  return out;
}

/** bf16 bits of f32 values (truncated: any bf16 value will do) and those values as f32. */
function toBf16(values: Float32Array): { bits: Uint16Array; values: Float32Array } {
  const words = new Uint32Array(values.buffer.slice(0));
  const bits = Uint16Array.from(words, (w) => w >>> 16);
  return { bits, values: new Float32Array(Uint32Array.from(bits, (b) => b << 16).buffer) };
}

/** W [V, C] in one buffer and in row blocks of `rows`, f32 or packed bf16. */
function uploadBoth(ctx: GpuContext, values: Float32Array, V: number, C: number, rows: readonly number[], half: boolean): [GpuTensor, GpuTensor] {
  if (half) {
    const { bits } = toBf16(values);
    const blocks: GpuTensor[] = [];
    let row0 = 0;
    for (const r of rows) {
      blocks.push(uploadHalf(ctx, bits.subarray(row0 * C, (row0 + r) * C), [r, C], 'bf16'));
      row0 += r;
    }
    return [uploadHalf(ctx, bits, [V, C], 'bf16'), joinRowBlocks(blocks, [V, C], 'u32', 'bf16')];
  }
  const blocks: GpuTensor[] = [];
  let row0 = 0;
  for (const r of rows) {
    blocks.push(ctx.uploadF32(values.subarray(row0 * C, (row0 + r) * C), [r, C]));
    row0 += r;
  }
  return [ctx.uploadF32(values, [V, C]), joinRowBlocks(blocks, [V, C], 'f32')];
}

function randomIds(count: number, V: number, seed: number): number[] {
  const next = rng(seed);
  return Array.from({ length: count }, () => Math.floor(next() * V));
}

const SIZES = [
  { V: 1, C: 7, N: 5, parts: 1 },
  { V: 7, C: 1, N: 9, parts: 2 },
  { V: 33, C: 7, N: 7, parts: 3 },
  { V: 100, C: 33, N: 33, parts: 4 },
];

describe('row blocks of a weight', () => {
  it('a tensor in row blocks reads back, writes and releases as one', async () => {
    const ctx = await testContext();
    const values = randomArray(33 * 7, 4);
    const [whole, split] = uploadBoth(ctx, values, 33, 7, [12, 12, 9], false);
    expect(split.blocks).toHaveLength(3);
    expect(rowBlocksOf(split).map((b) => [b.row0, b.rows])).toEqual([
      [0, 12],
      [12, 12],
      [24, 9],
    ]);
    expect(await ctx.read(split)).toEqual(values);
    const other = randomArray(33 * 7, 5);
    ctx.write(split, other);
    expect(await ctx.read(split)).toEqual(other);
    const live = ctx.stats().liveBuffers;
    ctx.release(split, whole);
    expect(ctx.stats().liveBuffers).toBe(live - 4);
    expect(split.blocks!.every((b) => b.released)).toBe(true);
  });

  it('a kernel that takes one buffer refuses row blocks by name, when it is recorded', async () => {
    const ctx = await testContext();
    const [whole, split] = uploadBoth(ctx, randomArray(7 * 3, 6), 7, 3, [4, 3], false);
    try {
      const submits = ctx.counters().submits;
      expect(() => scale(ctx, split, 2)).toThrow(/row blocks.*takes one buffer/);
      expect(ctx.counters().submits).toBe(submits);
    } finally {
      ctx.release(whole, split);
    }
  });

  for (const { V, C, N, parts } of SIZES) {
    for (const half of [false, true]) {
      const label = `V=${V}, C=${C}, N=${N}, ${blockRows(V, parts).length} block(s)${half ? ', bf16 packed' : ''}`;

      it(`embedding: gather and scatter-add bit-identical to one buffer and equal to float64 (${label})`, async () => {
        const ctx = await testContext();
        const values = randomArray(V * C, V + C);
        const exact = half ? toBf16(values).values : values;
        const [whole, split] = uploadBoth(ctx, values, V, C, blockRows(V, parts), half);
        const ids = randomIds(N, V, N);
        const gyData = randomArray(N * C, 9);
        const run = async (table: GpuTensor, trainable: boolean) => {
          const g = new Graph(ctx);
          const t = Tensor.leaf(table, trainable, 'table');
          const idsT = Tensor.leaf(ctx.upload(Uint32Array.from(ids), [N], 'u32'), false, 'ids');
          try {
            const y = embedding(g, idsT, t);
            const out = await ctx.read(y.data);
            if (!trainable) return { out, grad: undefined };
            g.backward(y, ctx.uploadF32(gyData, [N, C]));
            const grad = await ctx.read(t.grad!);
            if (t.grad!.blocks) expect(t.grad!.blocks.map((b) => b.shape[0])).toEqual(blockRows(V, parts));
            ctx.release(t.grad);
            return { out, grad };
          } finally {
            ctx.release(idsT.data);
            g.destroy();
          }
        };
        try {
          const a = await run(whole, !half);
          const b = await run(split, !half);
          expect(b.out).toEqual(a.out);
          const want = new Float32Array(N * C);
          for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) want[n * C + c] = exact[ids[n]! * C + c]!;
          expect(b.out).toEqual(want);
          if (!half) {
            expect(b.grad).toEqual(a.grad);
            const ref = new Float64Array(V * C);
            for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) ref[ids[n]! * C + c]! += gyData[n * C + c]!;
            expect(relativeError(b.grad!, ref)).toBeLessThan(1e-6);
          }
        } finally {
          ctx.release(whole, split);
        }
      });

      it(`linear: y = x Wᵀ + b and its gradients equal one buffer's and float64 (${label})`, async () => {
        const ctx = await testContext();
        const values = randomArray(V * C, 2 * V + C);
        const exact = half ? toBf16(values).values : values;
        const [whole, split] = uploadBoth(ctx, values, V, C, blockRows(V, parts), half);
        const xData = randomArray(N * C, 3);
        const bData = randomArray(V, 4);
        const gyData = randomArray(N * V, 5);
        const run = async (W: GpuTensor) => {
          const g = new Graph(ctx);
          const x = Tensor.leaf(ctx.uploadF32(xData, [N, C]), true, 'x');
          const w = Tensor.leaf(W, !half, 'W');
          const b = Tensor.leaf(ctx.uploadF32(bData, [V]), true, 'b');
          try {
            const y = linear(g, x, w, b);
            const out = await ctx.read(y.data);
            g.backward(y, ctx.uploadF32(gyData, [N, V]));
            const result = { out, dx: await ctx.read(x.grad!), dW: half ? undefined : await ctx.read(w.grad!), db: await ctx.read(b.grad!) };
            ctx.release(x.data, x.grad, w.grad, b.data, b.grad);
            return result;
          } finally {
            g.destroy();
          }
        };
        try {
          const a = await run(whole);
          const s = await run(split);
          expect(relativeError(s.out, a.out)).toBeLessThanOrEqual(1e-6);
          expect(relativeError(s.out, linearRef(xData, exact, bData, N, C, V))).toBeLessThan(1e-5);
          expect(relativeError(s.dx, a.dx)).toBeLessThanOrEqual(1e-6);
          expect(relativeError(s.dx, matmulRef(gyData, exact, N, C, V))).toBeLessThan(1e-5);
          expect(s.db).toEqual(a.db);
          if (!half) {
            expect(relativeError(s.dW!, a.dW!)).toBeLessThanOrEqual(1e-6);
            expect(relativeError(s.dW!, matmulRef(gyData, xData, V, C, N, true))).toBeLessThan(1e-5);
          }
        } finally {
          ctx.release(whole, split);
        }
      });

      it(`lmHeadLoss: loss and gradients over several chunks equal one buffer's; a tied lookup adds into the same blocks (${label})`, async () => {
        const ctx = await testContext();
        const values = randomArray(V * C, 3 * V + C);
        const [whole, split] = uploadBoth(ctx, values, V, C, blockRows(V, parts), half);
        const hData = randomArray(N * C, 6);
        const next = rng(V + N);
        const targets = Int32Array.from({ length: N }, (_, n) => (n % 4 === 3 ? -100 : Math.floor(next() * V)));
        const ids = randomIds(N, V, 2 * N);
        const run = async (W: GpuTensor) => {
          const g = new Graph(ctx);
          const h = Tensor.leaf(ctx.uploadF32(hData, [N, C]), true, 'h');
          const w = Tensor.leaf(W, !half, 'W');
          const t = Tensor.leaf(ctx.upload(targets, [N], 'i32'), false, 'targets');
          const idsT = Tensor.leaf(ctx.upload(Uint32Array.from(ids), [N], 'u32'), false, 'ids');
          try {
            // The lookup joins the loss through the hidden states, as in a tied model: W.grad gets the
            // head's gradient first, then the lookup's added into the same tensor (its row blocks).
            const loss = lmHeadLoss(g, add(g, embedding(g, idsT, w), h), w, t, { chunkBytes: 4 * V * 2 }); // two rows a chunk
            const [value] = await ctx.read(loss.data);
            g.backward(loss);
            const result = { loss: value!, dh: await ctx.read(h.grad!), dW: half ? undefined : await ctx.read(w.grad!), split: w.grad?.blocks?.length };
            ctx.release(h.data, h.grad, w.grad, t.data, idsT.data);
            return result;
          } finally {
            g.destroy();
          }
        };
        try {
          const a = await run(whole);
          const s = await run(split);
          expect(Math.abs(s.loss - a.loss)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(a.loss)));
          expect(relativeError(s.dh, a.dh)).toBeLessThanOrEqual(1e-6);
          if (!half) {
            expect(relativeError(s.dW!, a.dW!)).toBeLessThanOrEqual(1e-6);
            if (parts > 1) expect(s.split).toBe(blockRows(V, parts).length);
          }
        } finally {
          ctx.release(whole, split);
        }
      });
    }
  }
});
