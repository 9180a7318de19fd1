// loraLinear against float64: y = x Wᵀ + b + s · m(x Aᵀ) Bᵀ, forward and every gradient by finite
// differences, on odd sizes, for a dense f32 base, a packed bf16/f16 base and an NF4 base (the
// reference uses the values the GPU sees: rounded to 16 bits, or dequantized), with and without a
// middle map (SORSA's diag(S), LoRA-SB's R), with x shared by two layers (dx accumulated in place)
// and with x needing no gradient; and the dispatch counts the fused kernels are for.

import { describe, expect, it } from 'vitest';
import { dequantizeNf4Ref, quantizeNf4Ref } from '../../io/nf4Reference';
import { decodeHalf, encodeBf16, encodeF16 } from '../../io/halfFloat';
import { uploadHalf } from '../../kernels/half';
import { quantizeNf4, releaseNf4 } from '../../kernels/nf4';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { add } from './elementwiseOps';
import { linear } from './linear';
import { loraLinear, type LoraBase } from './loraLinear';
import { mulColumns } from './scaling';

/** y [N, out] = x Wᵀ + b + s · ((x Aᵀ) ⊙ S) Bᵀ (or ((x Aᵀ) Rᵀ) Bᵀ) in float64. */
function loraRef(
  x: ArrayLike<number>,
  W: ArrayLike<number>,
  A: ArrayLike<number>,
  B: ArrayLike<number>,
  s: number,
  [N, inF, outF, r]: readonly [number, number, number, number],
  extra: { b?: ArrayLike<number>; S?: ArrayLike<number>; R?: ArrayLike<number> } = {},
): Float64Array {
  const h = new Float64Array(N * r);
  for (let n = 0; n < N; n++) {
    for (let j = 0; j < r; j++) {
      let acc = 0;
      for (let i = 0; i < inF; i++) acc += x[n * inF + i]! * A[j * inF + i]!;
      h[n * r + j] = extra.S ? acc * extra.S[j]! : acc;
    }
  }
  let hm = h;
  if (extra.R) {
    hm = new Float64Array(N * r);
    for (let n = 0; n < N; n++) for (let j = 0; j < r; j++) for (let k = 0; k < r; k++) hm[n * r + j]! += h[n * r + k]! * extra.R[j * r + k]!;
  }
  const y = new Float64Array(N * outF);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < outF; o++) {
      let acc = extra.b ? extra.b[o]! : 0;
      for (let i = 0; i < inF; i++) acc += x[n * inF + i]! * W[o * inF + i]!;
      let low = 0;
      for (let j = 0; j < r; j++) low += hm[n * r + j]! * B[o * r + j]!;
      y[n * outF + o] = acc + s * low;
    }
  }
  return y;
}

const dense = (W: Tensor, bias?: Tensor): LoraBase => ({ kind: 'dense', weight: W, ...(bias ? { bias } : {}) });

function expectClose(result: { forwardError: number; gradErrors: Readonly<Record<string, number>> }, names: string[]): void {
  expect(result.forwardError).toBeLessThan(1e-5);
  expect(Object.keys(result.gradErrors).sort()).toEqual([...names].sort());
  for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
}

describe('loraLinear', () => {
  for (const dims of [
    [1, 1, 1, 1],
    [7, 33, 100, 7],
    [33, 100, 7, 1],
    [100, 7, 33, 33],
    [12, 36, 8, 4],
    [12, 36, 8, 3],
  ] as const) {
    const [N, inF, outF, r] = dims;
    it(`dense base: forward and backward match float64 and finite differences (N=${N}, in=${inF}, out=${outF}, r=${r})`, async () => {
      const ctx = await testContext();
      const s = 1.75;
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'x', shape: [N, inF] },
          { name: 'W', shape: [outF, inF] },
          { name: 'A', shape: [r, inF] },
          { name: 'B', shape: [outF, r] },
          { name: 'b', shape: [outF] },
        ],
        gpu: (g, [x, W, A, B, b]) => loraLinear(g, x!, dense(W!, b), { A: A!, B: B!, scaling: s }),
        cpu: ([x, W, A, B, b]) => loraRef(x!, W!, A!, B!, s, dims, { b: b! }),
      });
      expectClose(result, ['A', 'B', 'W', 'b', 'x']);
    });
  }

  for (const format of ['bf16', 'f16'] as const) {
    it(`packed ${format} base (frozen): forward and backward on odd sizes, with leading batch dimensions`, async () => {
      const ctx = await testContext();
      for (const [Bt, T, inF, outF, r] of [
        [1, 7, 33, 100, 7],
        [3, 11, 36, 8, 4],
      ] as const) {
        const raw = randomArray(outF * inF, inF + outF);
        const bits = format === 'bf16' ? encodeBf16(raw) : encodeF16(raw);
        const packed = Tensor.leaf(uploadHalf(ctx, bits, [outF, inF], format, 'W'), false, 'W');
        const values = decodeHalf(bits, format);
        const s = 0.5;
        const result = await gradcheck(ctx, {
          inputs: [
            { name: 'x', shape: [Bt, T, inF] },
            { name: 'A', shape: [r, inF] },
            { name: 'B', shape: [outF, r] },
          ],
          gpu: (g, [x, A, B]) => loraLinear(g, x!, dense(packed), { A: A!, B: B!, scaling: s }),
          cpu: ([x, A, B]) => loraRef(x!, values, A!, B!, s, [Bt * T, inF, outF, r]),
        });
        expectClose(result, ['A', 'B', 'x']);
        ctx.release(packed.data);
      }
    });
  }

  it('NF4 base: forward and backward match a float64 layer on the dequantized weight (odd sizes, double quant)', async () => {
    const ctx = await testContext();
    for (const [N, inF, outF, r, doubleQuant] of [
      [1, 1, 1, 1, false],
      [7, 33, 100, 7, false],
      [33, 100, 7, 1, true],
      [100, 7, 33, 33, true],
    ] as const) {
      const w = randomArray(outF * inF, 17 + inF, 0.1);
      const deq = dequantizeNf4Ref(quantizeNf4Ref(w, { doubleQuant }));
      const W = ctx.uploadF32(w, [outF, inF]);
      const q = quantizeNf4(ctx, W, { doubleQuant });
      const s = 2;
      const result = await gradcheck(ctx, {
        inputs: [
          { name: 'x', shape: [N, inF] },
          { name: 'A', shape: [r, inF] },
          { name: 'B', shape: [outF, r] },
          { name: 'b', shape: [outF] },
        ],
        gpu: (g, [x, A, B, b]) => loraLinear(g, x!, { kind: 'nf4', weight: q, bias: b }, { A: A!, B: B!, scaling: s }),
        cpu: ([x, A, B, b]) => loraRef(x!, deq, A!, B!, s, [N, inF, outF, r], { b: b! }),
      });
      expectClose(result, ['A', 'B', 'b', 'x']);
      releaseNf4(ctx, q);
      ctx.release(W);
    }
  });

  it('NF4 base with a middle map (dx by its own dispatch) and under a checkpoint (the forward run twice)', async () => {
    const ctx = await testContext();
    const dims = [7, 33, 100, 7] as const;
    const [N, inF, outF, r] = dims;
    const w = randomArray(outF * inF, 3, 0.1);
    const deq = dequantizeNf4Ref(quantizeNf4Ref(w, { doubleQuant: true }));
    const W = ctx.uploadF32(w, [outF, inF]);
    const q = quantizeNf4(ctx, W, { doubleQuant: true });
    const inputs = [
      { name: 'x', shape: [N, inF] },
      { name: 'A', shape: [r, inF] },
      { name: 'B', shape: [outF, r] },
      { name: 'S', shape: [r] },
    ];
    const middle = await gradcheck(ctx, {
      inputs,
      gpu: (g, [x, A, B, S]) => loraLinear(g, x!, { kind: 'nf4', weight: q }, { A: A!, B: B!, scaling: 1.5, middle: (gm, h) => mulColumns(gm, h, S!) }),
      cpu: ([x, A, B, S]) => loraRef(x!, deq, A!, B!, 1.5, dims, { S: S! }),
    });
    expectClose(middle, ['A', 'B', 'S', 'x']);
    const checkpointed = await gradcheck(ctx, {
      inputs: inputs.slice(0, 3),
      gpu: (g, [x, A, B]) => g.checkpoint((gc) => loraLinear(gc, x!, { kind: 'nf4', weight: q }, { A: A!, B: B!, scaling: 0.5 })),
      cpu: ([x, A, B]) => loraRef(x!, deq, A!, B!, 0.5, dims),
    });
    expectClose(checkpointed, ['A', 'B', 'x']);
    releaseNf4(ctx, q);
    ctx.release(W);
  });

  it("a middle map: SORSA's diag(S) and LoRA-SB's R between the factors (A and B frozen for LoRA-SB)", async () => {
    const ctx = await testContext();
    const dims = [7, 33, 100, 7] as const;
    const [N, inF, outF, r] = dims;
    const sorsa = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [N, inF] },
        { name: 'W', shape: [outF, inF], requiresGrad: false },
        { name: 'A', shape: [r, inF] },
        { name: 'B', shape: [outF, r] },
        { name: 'S', shape: [r] },
      ],
      gpu: (g, [x, W, A, B, S]) => loraLinear(g, x!, dense(W!), { A: A!, B: B!, scaling: 1.5, middle: (gm, h) => mulColumns(gm, h, S!) }),
      cpu: ([x, W, A, B, S]) => loraRef(x!, W!, A!, B!, 1.5, dims, { S: S! }),
    });
    expectClose(sorsa, ['A', 'B', 'S', 'x']);
    const lorasb = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [N, inF] },
        { name: 'W', shape: [outF, inF], requiresGrad: false },
        { name: 'A', shape: [r, inF], requiresGrad: false },
        { name: 'B', shape: [outF, r], requiresGrad: false },
        { name: 'R', shape: [r, r] },
      ],
      gpu: (g, [x, W, A, B, R]) => loraLinear(g, x!, dense(W!), { A: A!, B: B!, scaling: 1, middle: (gm, h) => linear(gm, h, R!) }),
      cpu: ([x, W, A, B, R]) => loraRef(x!, W!, A!, B!, 1, dims, { R: R! }),
    });
    expectClose(lorasb, ['R', 'x']);
  });

  it('adds dx into an existing x gradient when x feeds three layers (NF4, dense, NF4), and needs none when x does not', async () => {
    const ctx = await testContext();
    const dims = [7, 33, 100, 7] as const;
    const [N, inF, outF, r] = dims;
    const w = randomArray(outF * inF, 5, 0.1);
    const deq = dequantizeNf4Ref(quantizeNf4Ref(w));
    const Wq = ctx.uploadF32(w, [outF, inF]);
    const q = quantizeNf4(ctx, Wq);
    const shared = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [N, inF] },
        { name: 'W', shape: [outF, inF], requiresGrad: false },
        { name: 'A1', shape: [r, inF] },
        { name: 'B1', shape: [outF, r] },
        { name: 'A2', shape: [r, inF] },
        { name: 'B2', shape: [outF, r] },
        { name: 'A3', shape: [r, inF] },
        { name: 'B3', shape: [outF, r] },
      ],
      // The third layer's backward runs first and gives x its gradient; the second and first add into it.
      gpu: (g, [x, W, A1, B1, A2, B2, A3, B3]) =>
        add(
          g,
          add(
            g,
            loraLinear(g, x!, { kind: 'nf4', weight: q }, { A: A1!, B: B1!, scaling: 1.25 }),
            loraLinear(g, x!, dense(W!), { A: A2!, B: B2!, scaling: 0.5 }),
          ),
          loraLinear(g, x!, { kind: 'nf4', weight: q }, { A: A3!, B: B3!, scaling: 2 }),
        ),
      cpu: ([x, W, A1, B1, A2, B2, A3, B3]) => {
        const y1 = loraRef(x!, deq, A1!, B1!, 1.25, dims);
        const y2 = loraRef(x!, W!, A2!, B2!, 0.5, dims);
        const y3 = loraRef(x!, deq, A3!, B3!, 2, dims);
        return y1.map((v, i) => v + y2[i]! + y3[i]!);
      },
    });
    expectClose(shared, ['A1', 'A2', 'A3', 'B1', 'B2', 'B3', 'x']);
    const frozenInput = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [N, inF], requiresGrad: false },
        { name: 'W', shape: [outF, inF], requiresGrad: false },
        { name: 'A', shape: [r, inF] },
        { name: 'B', shape: [outF, r] },
      ],
      gpu: (g, [x, W, A, B]) => loraLinear(g, x!, dense(W!), { A: A!, B: B!, scaling: 1 }),
      cpu: ([x, W, A, B]) => loraRef(x!, W!, A!, B!, 1, dims),
    });
    expectClose(frozenInput, ['A', 'B']);
    const qd = quantizeNf4(ctx, Wq, { doubleQuant: true });
    const deqd = dequantizeNf4Ref(quantizeNf4Ref(w, { doubleQuant: true }));
    const frozenNf4Input = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [N, inF], requiresGrad: false },
        { name: 'A', shape: [r, inF] },
        { name: 'B', shape: [outF, r] },
      ],
      gpu: (g, [x, A, B]) => loraLinear(g, x!, { kind: 'nf4', weight: qd }, { A: A!, B: B!, scaling: 1 }),
      cpu: ([x, A, B]) => loraRef(x!, deqd, A!, B!, 1, dims),
    });
    expectClose(frozenNf4Input, ['A', 'B']);
    releaseNf4(ctx, q);
    releaseNf4(ctx, qd);
    ctx.release(Wq);
  });

  it('records 2 dispatches forward and 2 backward for a dense or NF4 base (3 + 3 where fusing would change the kernel, 3 + 2 for double quant), and frees what it keeps', async () => {
    const ctx = await testContext();
    const [N, inF, outF] = [12, 36, 8];
    const leaf = (shape: number[], seed: number, grad = true) => Tensor.leaf(ctx.uploadF32(randomArray(shape[0]! * shape[1]!, seed), shape), grad, `t${seed}`);
    const x = leaf([N, inF], 1);
    const W = leaf([outF, inF], 2, false);
    const q = quantizeNf4(ctx, W.data);
    const qd = quantizeNf4(ctx, W.data, { doubleQuant: true });
    // Rank 3 on a software adapter: the vec4 kernel needs the rank divisible by 4, the product alone would run vec4.
    const odd = ctx.info.isSoftware ? 3 : 2;
    for (const [base, r, forward, backward] of [
      [dense(W), 4, 2, 2],
      [dense(W), 3, odd, odd],
      [{ kind: 'nf4', weight: q } as const, 3, 2, 2],
      // Restoring the absmax of a double-quantized base: once, in the forward, kept for the backward.
      [{ kind: 'nf4', weight: qd } as const, 7, 3, 2],
    ] as const) {
      const A = leaf([r, inF], 3);
      const B = leaf([outF, r], 4);
      const live = ctx.stats().liveBuffers;
      const g = new Graph(ctx);
      const start = ctx.counters().dispatches;
      const y = loraLinear(g, x, base, { A, B, scaling: 1 });
      expect(ctx.counters().dispatches - start, `${base.kind} r=${r} forward`).toBe(forward);
      const seed = ctx.uploadF32(randomArray(N * outF, 5), [N, outF]);
      const before = ctx.counters().dispatches;
      g.backward(y, seed);
      // backward() copies the seed into y's gradient first (one dispatch).
      expect(ctx.counters().dispatches - before - 1, `${base.kind} r=${r} backward`).toBe(backward);
      g.destroy();
      ctx.release(seed, x.grad, A.grad, B.grad, A.data, B.data);
      x.grad = undefined;
      await ctx.sync();
      expect(ctx.stats().liveBuffers, `${base.kind}: buffers left over`).toBe(live - 2);
    }
    releaseNf4(ctx, q);
    releaseNf4(ctx, qd);
    ctx.release(x.data, W.data);
  });
});
