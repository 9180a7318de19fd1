// Tests of DoRA's adapted linear op against a float64 reference that forms W + sBA densely and
// its row norms (PEFT's way): forward, and gradients of x, A, B, m, bias against central finite
// differences of the reference with the norm held at its value at the point (the detached norm
// of paper §4.3 is exactly that derivative); leading batch dimensions; parameters used twice;
// the factored ‖W + sBA‖² against the dense one; the exact start (B = 0, m = ‖W‖ gives linear(x,
// W, b) bit for bit); held norms; the merge; a packed bf16 W; the row-scaling kernel; shape errors.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../gpu/context';
import { decodeBf16, encodeBf16 } from '../../io/halfFloat';
import { doraNormSq as doraNormSqKernel, doraOverNorm, scaleRowsInPlace } from '../../kernels/dora';
import { uploadHalf } from '../../kernels/half';
import { rowSumSquares } from '../../kernels/reduce';
import { randomLeaf, testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray, relativeError } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { doraInitialMagnitude, doraLinear, doraNormSq, mergeDora } from './doraLinear';
import { add } from './elementwiseOps';
import { linear } from './linear';

const S = 2; // alpha / r

interface Dims {
  readonly N: number;
  readonly inF: number;
  readonly out: number;
  readonly r: number;
}

/** W + sBA [out, in] in float64. */
function mergedRef(W: ArrayLike<number>, A: ArrayLike<number>, B: ArrayLike<number>, s: number, d: Dims): Float64Array {
  const M = Float64Array.from(W);
  for (let i = 0; i < d.out; i++) for (let k = 0; k < d.r; k++) for (let j = 0; j < d.inF; j++) M[i * d.inF + j]! += s * B[i * d.r + k]! * A[k * d.inF + j]!;
  return M;
}

/** ‖(W + sBA)_i‖ [out] in float64. */
function rowNormsRef(W: ArrayLike<number>, A: ArrayLike<number>, B: ArrayLike<number>, s: number, d: Dims): Float64Array {
  const M = mergedRef(W, A, B, s, d);
  const n = new Float64Array(d.out);
  for (let i = 0; i < d.out; i++) {
    let sum = 0;
    for (let j = 0; j < d.inF; j++) sum += M[i * d.inF + j]! ** 2;
    n[i] = Math.sqrt(sum);
  }
  return n;
}

/** y = (m / norms) ⊙ (x (W + sBA)ᵀ) + b in float64, with the norms given (held constant). */
function doraRef(
  x: ArrayLike<number>,
  W: ArrayLike<number>,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  m: ArrayLike<number>,
  b: ArrayLike<number> | undefined,
  norms: ArrayLike<number>,
  d: Dims,
): Float64Array {
  const M = mergedRef(W, A, B, S, d);
  const y = new Float64Array(d.N * d.out);
  for (let n = 0; n < d.N; n++) {
    for (let i = 0; i < d.out; i++) {
      let acc = 0;
      for (let j = 0; j < d.inF; j++) acc += x[n * d.inF + j]! * M[i * d.inF + j]!;
      y[n * d.out + i] = (m[i]! / norms[i]!) * acc + (b ? b[i]! : 0);
    }
  }
  return y;
}

interface Data {
  readonly W: Float32Array;
  readonly A: Float32Array;
  readonly B: Float32Array;
  readonly m: Float32Array;
  readonly norms: Float64Array;
}

function dataFor(d: Dims, seed: number): Data {
  const W = randomArray(d.out * d.inF, seed);
  const A = randomArray(d.r * d.inF, seed + 1, 0.5);
  const B = randomArray(d.out * d.r, seed + 2, 0.5);
  const norms = rowNormsRef(W, A, B, S, d);
  // A magnitude near the norms, as training leaves it.
  const jitter = randomArray(d.out, seed + 3, 0.3);
  const m = Float32Array.from(norms, (v, i) => v * (1 + jitter[i]!));
  return { W, A, B, m, norms };
}

/** ‖W_i‖² as an op-made tensor the graph releases. */
function wsqOf(g: Graph, W: Tensor): Tensor {
  return g.output(rowSumSquares(g.ctx, W.data), [], 'wsq');
}

describe('doraLinear', () => {
  const cases: readonly (Dims & { bias: boolean })[] = [
    { N: 5, inF: 7, out: 6, r: 3, bias: true },
    { N: 4, inF: 33, out: 16, r: 4, bias: false },
    { N: 3, inF: 12, out: 20, r: 1, bias: true },
  ];
  for (const c of cases) {
    it(`forward and backward match float64 and finite differences with the norm held (N=${c.N}, in=${c.inF}, out=${c.out}, r=${c.r}${c.bias ? ', bias' : ''})`, async () => {
      const ctx = await testContext();
      const d = dataFor(c, c.inF + c.out);
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'x', shape: [c.N, c.inF] },
          { name: 'W', shape: [c.out, c.inF], data: d.W, requiresGrad: false },
          { name: 'A', shape: [c.r, c.inF], data: d.A },
          { name: 'B', shape: [c.out, c.r], data: d.B },
          { name: 'm', shape: [c.out], data: d.m },
          ...(c.bias ? [{ name: 'b', shape: [c.out] }] : []),
        ],
        gpu: (g, [x, W, A, B, m, b]) => doraLinear(g, x!, W!, A!, B!, m!, S, wsqOf(g, W!), { bias: b }),
        cpu: ([x, W, A, B, m, b]) => doraRef(x!, W!, A!, B!, m!, b, d.norms, c),
      });
      expect(result.forwardError).toBeLessThan(1e-5);
      expect(Object.keys(result.gradErrors).sort()).toEqual(c.bias ? ['A', 'B', 'b', 'm', 'x'] : ['A', 'B', 'm', 'x']);
      for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
    });
  }

  it('handles leading batch dimensions (x [2, 9, 12])', async () => {
    const ctx = await testContext();
    const dims = { N: 18, inF: 12, out: 8, r: 2 };
    const d = dataFor(dims, 4);
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [2, 9, 12] },
        { name: 'W', shape: [8, 12], data: d.W, requiresGrad: false },
        { name: 'A', shape: [2, 12], data: d.A },
        { name: 'B', shape: [8, 2], data: d.B },
        { name: 'm', shape: [8], data: d.m },
      ],
      gpu: (g, [x, W, A, B, m]) => doraLinear(g, x!, W!, A!, B!, m!, S, wsqOf(g, W!)),
      cpu: ([x, W, A, B, m]) => doraRef(x!, W!, A!, B!, m!, undefined, d.norms, dims),
      samples: 30,
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
  });

  it('accumulates into existing gradients when the parameters are used twice', async () => {
    const ctx = await testContext();
    const dims = { N: 3, inF: 9, out: 5, r: 2 };
    const d = dataFor(dims, 8);
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [3, 9] },
        { name: 'W', shape: [5, 9], data: d.W, requiresGrad: false },
        { name: 'A', shape: [2, 9], data: d.A },
        { name: 'B', shape: [5, 2], data: d.B },
        { name: 'm', shape: [5], data: d.m },
        { name: 'b', shape: [5] },
      ],
      gpu: (g, [x, W, A, B, m, b]) => {
        const wsq = wsqOf(g, W!);
        return add(g, doraLinear(g, x!, W!, A!, B!, m!, S, wsq, { bias: b }), doraLinear(g, x!, W!, A!, B!, m!, S, wsq, { bias: b }));
      },
      cpu: ([x, W, A, B, m, b]) => doraRef(x!, W!, A!, B!, m!, b, d.norms, dims).map((v) => 2 * v),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(Object.keys(result.gradErrors).sort()).toEqual(['A', 'B', 'b', 'm', 'x']);
    for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
  });

  it('the factored ‖W + sBA‖² equals the dense row norms (out=24, in=40, r=4)', async () => {
    const ctx = await testContext();
    const dims = { N: 1, inF: 40, out: 24, r: 4 };
    const d = dataFor(dims, 12);
    const W = ctx.uploadF32(d.W, [24, 40]);
    const A = ctx.uploadF32(d.A, [4, 40]);
    const B = ctx.uploadF32(d.B, [24, 4]);
    const wsq = rowSumSquares(ctx, W);
    const nsq = await ctx.read(doraNormSqKernel(ctx, W, A, B, S, wsq));
    expect(
      relativeError(
        nsq,
        d.norms.map((v) => v * v),
      ),
    ).toBeLessThan(1e-5);
    ctx.release(W, A, B, wsq);
  });

  it('starts exactly at the base: B = 0 and m = ‖W‖ give linear(x, W, b) bit for bit, and m matches float64 norms', async () => {
    const ctx = await testContext();
    for (const [N, inF, out, r] of [
      [6, 32, 48, 4],
      [5, 7, 9, 3],
    ] as const) {
      const g = new Graph(ctx, false);
      const leaf = (data: Float32Array, shape: number[]) => Tensor.leaf(ctx.uploadF32(data, shape), false, 't');
      const x = leaf(randomArray(N * inF, 1), [N, inF]);
      const Wdata = randomArray(out * inF, 2);
      const W = leaf(Wdata, [out, inF]);
      const A = leaf(randomArray(r * inF, 3), [r, inF]);
      const B = leaf(new Float32Array(out * r), [out, r]);
      const b = leaf(randomArray(out, 4), [out]);
      const { wsq, m } = doraInitialMagnitude(ctx, W, 'm');
      const mine = await ctx.read(doraLinear(g, x, W, A, B, m, S, wsq, { bias: b }).data);
      const base = await ctx.read(linear(g, x, W, b).data);
      expect(Array.from(mine)).toEqual(Array.from(base));
      const nsq = doraNormSq(ctx, W, A, B, S, wsq);
      const c = await ctx.read(doraOverNorm(ctx, m.data, nsq.data, true));
      expect(c.every((v) => v === 1)).toBe(true);
      const norms = rowNormsRef(Wdata, new Float32Array(r * inF), new Float32Array(out * r), S, { N, inF, out, r });
      expect(relativeError(await ctx.read(m.data), norms)).toBeLessThan(1e-6);
      // The merge at init is W itself, bit for bit (B = 0 and the row scale is exactly 1).
      const merged = mergeDora(ctx, W, A, B, m, S, 'merged');
      expect(Array.from(await ctx.read(merged.data))).toEqual(Array.from(Wdata));
      g.destroy();
      ctx.release(x.data, W.data, A.data, B.data, b.data, m.data, wsq.data, nsq.data, merged.data);
    }
  });

  it('held norms replace the computed ones (and equal them when taken at the same factors)', async () => {
    const ctx = await testContext();
    const dims = { N: 4, inF: 10, out: 6, r: 2 };
    const d = dataFor(dims, 20);
    const g = new Graph(ctx, false);
    const leaf = (data: Float32Array, shape: number[]) => Tensor.leaf(ctx.uploadF32(data, shape), false, 't');
    const xData = randomArray(4 * 10, 21);
    const x = leaf(xData, [4, 10]);
    const W = leaf(d.W, [6, 10]);
    const A = leaf(d.A, [2, 10]);
    const B = leaf(d.B, [6, 2]);
    const m = leaf(d.m, [6]);
    const wsq = Tensor.leaf(rowSumSquares(ctx, W.data), false, 'wsq');
    const held = doraNormSq(ctx, W, A, B, S, wsq);
    const fresh = await ctx.read(doraLinear(g, x, W, A, B, m, S, wsq).data);
    const withHeld = await ctx.read(doraLinear(g, x, W, A, B, m, S, wsq, { normSq: held }).data);
    expect(Array.from(withHeld)).toEqual(Array.from(fresh));
    // Other factors, same held norms: the scale stays m / (the held norms).
    const B2 = leaf(randomArray(6 * 2, 22), [6, 2]);
    const moved = await ctx.read(doraLinear(g, x, W, A, B2, m, S, wsq, { normSq: held }).data);
    expect(relativeError(moved, doraRef(xData, d.W, d.A, await ctx.read(B2.data), d.m, undefined, d.norms, dims))).toBeLessThan(1e-5);
    g.destroy();
    ctx.release(x.data, W.data, A.data, B.data, B2.data, m.data, wsq.data, held.data);
  });

  it("the merged weight gives the op's forward, and its rows have norm m (PEFT merge_safe)", async () => {
    const ctx = await testContext();
    const dims = { N: 5, inF: 24, out: 12, r: 3 };
    const d = dataFor(dims, 30);
    const g = new Graph(ctx, false);
    const leaf = (data: Float32Array, shape: number[]) => Tensor.leaf(ctx.uploadF32(data, shape), false, 't');
    const x = leaf(randomArray(5 * 24, 31), [5, 24]);
    const W = leaf(d.W, [12, 24]);
    const A = leaf(d.A, [3, 24]);
    const B = leaf(d.B, [12, 3]);
    const m = leaf(d.m, [12]);
    const b = leaf(randomArray(12, 32), [12]);
    const wsq = Tensor.leaf(rowSumSquares(ctx, W.data), false, 'wsq');
    const merged = mergeDora(ctx, W, A, B, m, S, 'merged');
    const op = await ctx.read(doraLinear(g, x, W, A, B, m, S, wsq, { bias: b }).data);
    const viaMerged = await ctx.read(linear(g, x, merged, b).data);
    expect(relativeError(viaMerged, op)).toBeLessThan(1e-5);
    const M = await ctx.read(merged.data);
    const rowNorms = Array.from({ length: 12 }, (_, i) => Math.hypot(...M.subarray(i * 24, (i + 1) * 24)));
    expect(relativeError(rowNorms, d.m)).toBeLessThan(1e-5);
    g.destroy();
    ctx.release(x.data, W.data, A.data, B.data, m.data, b.data, wsq.data, merged.data);
  });

  it('reads a packed bf16 W as the f32 W of the same values (forward, start, merge)', async () => {
    const ctx = await testContext();
    const [N, inF, out, r] = [4, 16, 12, 2];
    const bits = encodeBf16(randomArray(out * inF, 40));
    const values = decodeBf16(bits);
    const g = new Graph(ctx, false);
    const leaf = (data: Float32Array, shape: number[]) => Tensor.leaf(ctx.uploadF32(data, shape), false, 't');
    const x = leaf(randomArray(N * inF, 41), [N, inF]);
    const A = leaf(randomArray(r * inF, 42), [r, inF]);
    const B = leaf(randomArray(out * r, 43, 0.5), [out, r]);
    const W32 = leaf(values, [out, inF]);
    const Wh = Tensor.leaf(uploadHalf(ctx, bits, [out, inF], 'bf16'), false, 'W (bf16)');
    const from32 = doraInitialMagnitude(ctx, W32, 'm32');
    const fromH = doraInitialMagnitude(ctx, Wh, 'mh');
    expect(Array.from(await ctx.read(fromH.m.data))).toEqual(Array.from(await ctx.read(from32.m.data)));
    const y32 = await ctx.read(doraLinear(g, x, W32, A, B, from32.m, S, from32.wsq).data);
    const yh = await ctx.read(doraLinear(g, x, Wh, A, B, fromH.m, S, fromH.wsq).data);
    expect(relativeError(yh, y32)).toBeLessThan(1e-6);
    const m32 = mergeDora(ctx, W32, A, B, from32.m, S, 'merged32');
    const mh = mergeDora(ctx, Wh, A, B, fromH.m, S, 'mergedh');
    expect(Array.from(await ctx.read(mh.data))).toEqual(Array.from(await ctx.read(m32.data)));
    g.destroy();
    ctx.release(x.data, A.data, B.data, W32.data, Wh.data, from32.m.data, from32.wsq.data, fromH.m.data, fromH.wsq.data, m32.data, mh.data);
  });

  it('rejects bad shapes and a W that requires a gradient', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const leaf = (shape: number[], requiresGrad = true) => randomLeaf(ctx, shape, requiresGrad);
    const wsq = Tensor.leaf(ctx.uploadF32(new Float32Array(6).fill(1), [6]), false, 'wsq');
    const x = leaf([2, 8]);
    expect(() => doraLinear(g, x, leaf([6, 8]), leaf([2, 8]), leaf([6, 2]), leaf([6]), S, wsq)).toThrow(/frozen/);
    expect(() => doraLinear(g, leaf([2, 7]), leaf([6, 8], false), leaf([2, 8]), leaf([6, 2]), leaf([6]), S, wsq)).toThrow(/does not end/);
    expect(() => doraLinear(g, x, leaf([6, 8], false), leaf([2, 7]), leaf([6, 2]), leaf([6]), S, wsq)).toThrow(/A must be/);
    expect(() => doraLinear(g, x, leaf([6, 8], false), leaf([2, 8]), leaf([6, 3]), leaf([6]), S, wsq)).toThrow(/A must be/);
    expect(() => doraLinear(g, x, leaf([6, 8], false), leaf([2, 8]), leaf([6, 2]), leaf([5]), S, wsq)).toThrow(/m and/);
    g.destroy();
    ctx.release(wsq.data);
  });
});

async function scaledRows(ctx: GpuContext, X: Float32Array, v: Float32Array, R: number, C: number): Promise<Float32Array> {
  const Xg = ctx.uploadF32(X, [R, C]);
  const vg = ctx.uploadF32(v, [R]);
  const out = await ctx.read(scaleRowsInPlace(ctx, Xg, vg));
  ctx.release(Xg, vg);
  return out;
}

describe('scaleRowsInPlace (the merge diag(m/‖·‖)(W + sBA))', () => {
  it('multiplies row i by v[i]', async () => {
    const ctx = await testContext();
    for (const [R, C] of [
      [3, 5],
      [17, 300],
    ] as const) {
      const X = randomArray(R * C, R);
      const v = randomArray(R, C);
      const got = await scaledRows(ctx, X, v, R, C);
      expect(Array.from(got)).toEqual(Array.from(X, (x, i) => Math.fround(x * v[Math.floor(i / C)]!)));
    }
  });
});
