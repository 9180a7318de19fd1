// Tests of the SPP adapted linear op against a float64 reference that builds W' explicitly:
// forward and finite-difference gradients of x, Wrow, Wcol, bias (out = 16, 32, 48; in = 7, 33;
// leading batch dimensions; more tokens than one partial chunk); merged forward equals the op's
// forward; the merged zero pattern is W's exactly; ΔW = 0 (and ∂L/∂Wrow = 0) when Wcol = 0;
// shape errors.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../../gpu/context';
import { randomLeaf, testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { linearRef, randomArray, relativeError, rng } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { add } from './elementwiseOps';
import { linear } from './linear';
import { mergeSpp, sppLinear } from './sppLinear';

const S = 2; // alpha / r = 16 / 8, the code default

/** W'_ij = W_ij (1 + s Wcol[i] Wrow[k(i), j]) in float64, k(i) = floor(i / (out/16)). */
function mergedRef(W: ArrayLike<number>, Wrow: ArrayLike<number>, Wcol: ArrayLike<number>, s: number, outF: number, inF: number): Float64Array {
  const blockRows = outF / 16;
  const M = new Float64Array(outF * inF);
  for (let i = 0; i < outF; i++) {
    const k = Math.floor(i / blockRows);
    for (let j = 0; j < inF; j++) M[i * inF + j] = W[i * inF + j]! * (1 + s * Wcol[i]! * Wrow[k * inF + j]!);
  }
  return M;
}

/** y = x W'ᵀ (+ b) in float64. */
function sppRef(
  x: Float64Array,
  W: Float64Array,
  Wrow: Float64Array,
  Wcol: Float64Array,
  b: Float64Array | undefined,
  N: number,
  inF: number,
  outF: number,
): Float64Array {
  return linearRef(x, mergedRef(W, Wrow, Wcol, S, outF, inF), b, N, inF, outF);
}

/** A "pruned" weight: about half the entries exactly zero. */
function prunedArray(size: number, seed: number): Float32Array {
  const W = randomArray(size, seed);
  const next = rng(seed + 1);
  for (let i = 0; i < size; i++) if (next() < 0.5) W[i] = 0;
  return W;
}

describe('sppLinear', () => {
  for (const outF of [16, 32, 48]) {
    for (const inF of [7, 33]) {
      const withBias = outF !== 32;
      it(`forward and backward match float64 and finite differences (N=5, in=${inF}, out=${outF}${withBias ? ', bias' : ''})`, async () => {
        const ctx = await testContext();
        const N = 5;
        const result = await gradcheck(ctx, {
          inputs: [
            { name: 'x', shape: [N, inF] },
            { name: 'W', shape: [outF, inF], data: prunedArray(outF * inF, outF + inF), requiresGrad: false },
            { name: 'Wrow', shape: [16, inF] },
            { name: 'Wcol', shape: [outF] },
            ...(withBias ? [{ name: 'b', shape: [outF] }] : []),
          ],
          gpu: (g, [x, W, Wrow, Wcol, b]) => sppLinear(g, x!, W!, Wrow!, Wcol!, S, b),
          cpu: ([x, W, Wrow, Wcol, b]) => sppRef(x!, W!, Wrow!, Wcol!, b, N, inF, outF),
        });
        expect(result.forwardError).toBeLessThan(1e-5);
        expect(Object.keys(result.gradErrors).sort()).toEqual(withBias ? ['Wcol', 'Wrow', 'b', 'x'] : ['Wcol', 'Wrow', 'x']);
        for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
      });
    }
  }

  it('handles leading batch dimensions and more tokens than one partial chunk (x [2, 19, 33])', async () => {
    const ctx = await testContext();
    const [B, T, inF, outF] = [2, 19, 33, 32];
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [B, T, inF] },
        { name: 'W', shape: [outF, inF], data: prunedArray(outF * inF, 9), requiresGrad: false },
        { name: 'Wrow', shape: [16, inF] },
        { name: 'Wcol', shape: [outF] },
      ],
      gpu: (g, [x, W, Wrow, Wcol]) => sppLinear(g, x!, W!, Wrow!, Wcol!, S),
      cpu: ([x, W, Wrow, Wcol]) => sppRef(x!, W!, Wrow!, Wcol!, undefined, B * T, inF, outF),
      samples: 40,
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
  });
});

interface Setup {
  readonly W: Float32Array;
  readonly Wrow: Float32Array;
  readonly Wcol: Float32Array;
  readonly x: Float32Array;
}

function setup(N: number, inF: number, outF: number, seed: number): Setup {
  return {
    W: prunedArray(outF * inF, seed),
    Wrow: randomArray(16 * inF, seed + 2),
    Wcol: randomArray(outF, seed + 3, 0.5),
    x: randomArray(N * inF, seed + 4),
  };
}

/** The op's forward (no gradients recorded) and plain linear with the merged weight. */
async function forwards(ctx: GpuContext, d: Setup, N: number, inF: number, outF: number): Promise<{ op: Float32Array; merged: Float32Array; M: Float32Array }> {
  const g = new Graph(ctx, false);
  const x = Tensor.leaf(ctx.uploadF32(d.x, [N, inF], 'x'), false, 'x');
  const W = Tensor.leaf(ctx.uploadF32(d.W, [outF, inF], 'W'), false, 'W');
  const Wrow = Tensor.leaf(ctx.uploadF32(d.Wrow, [16, inF], 'Wrow'), false, 'Wrow');
  const Wcol = Tensor.leaf(ctx.uploadF32(d.Wcol, [outF], 'Wcol'), false, 'Wcol');
  const merged = Tensor.leaf(mergeSpp(ctx, W.data, Wrow.data, Wcol.data, S), false, 'merged');
  const op = await ctx.read(sppLinear(g, x, W, Wrow, Wcol, S).data);
  const viaMerged = await ctx.read(linear(g, x, merged).data);
  const M = await ctx.read(merged.data);
  g.destroy();
  ctx.release(x.data, W.data, Wrow.data, Wcol.data, merged.data);
  return { op, merged: viaMerged, M };
}

describe('mergeSpp', () => {
  for (const [outF, inF] of [
    [16, 7],
    [48, 33],
    [64, 100],
  ] as const) {
    it(`merged forward equals the op's forward, and W' has W's zero pattern exactly (out=${outF}, in=${inF})`, async () => {
      const ctx = await testContext();
      const N = 7;
      const d = setup(N, inF, outF, outF + inF);
      const { op, merged, M } = await forwards(ctx, d, N, inF, outF);
      expect(relativeError(merged, op)).toBeLessThan(1e-6);
      expect(relativeError(M, mergedRef(d.W, d.Wrow, d.Wcol, S, outF, inF))).toBeLessThan(1e-6);
      const zerosW = Array.from(d.W, (v) => v === 0);
      const zerosM = Array.from(M, (v) => v === 0);
      expect(zerosM).toEqual(zerosW);
      expect(zerosW.filter(Boolean).length).toBeGreaterThan(0);
      expect(M.every((v) => !Object.is(v, -0))).toBe(true); // pruned entries are +0, not −0
    });
  }

  it('keeps the zero pattern even when the adapter factor overflows', async () => {
    const ctx = await testContext();
    const [outF, inF] = [16, 5];
    const W = ctx.uploadF32(prunedArray(outF * inF, 3), [outF, inF], 'W');
    const Wrow = ctx.uploadF32(new Float32Array(16 * inF).fill(1e30), [16, inF], 'Wrow');
    const Wcol = ctx.uploadF32(new Float32Array(outF).fill(1e30), [outF], 'Wcol');
    const w = await ctx.read(W);
    const M = await ctx.read(mergeSpp(ctx, W, Wrow, Wcol, S));
    expect(Array.from(M, (v) => v === 0)).toEqual(Array.from(w, (v) => v === 0));
  });

  it("ΔW = 0 when Wcol = 0 (SPP init): W' == W bit for bit, outputs equal the base, ∂L/∂Wrow = 0", async () => {
    const ctx = await testContext();
    const [N, inF, outF] = [6, 33, 32];
    const d = { ...setup(N, inF, outF, 5), Wcol: new Float32Array(outF) };
    const { op, merged, M } = await forwards(ctx, d, N, inF, outF);
    expect(Array.from(M)).toEqual(Array.from(d.W));
    expect(relativeError(op, merged)).toBeLessThan(1e-6);

    const g = new Graph(ctx);
    const x = Tensor.leaf(ctx.uploadF32(d.x, [N, inF], 'x'), false, 'x');
    const W = Tensor.leaf(ctx.uploadF32(d.W, [outF, inF], 'W'), false, 'W');
    const Wrow = Tensor.leaf(ctx.uploadF32(d.Wrow, [16, inF], 'Wrow'), true, 'Wrow');
    const Wcol = Tensor.leaf(ctx.uploadF32(d.Wcol, [outF], 'Wcol'), true, 'Wcol');
    const y = sppLinear(g, x, W, Wrow, Wcol, S);
    g.backward(y, ctx.uploadF32(randomArray(N * outF, 8), [N, outF], 'seed'));
    const dWrow = await ctx.read(Wrow.grad!);
    const dWcol = await ctx.read(Wcol.grad!);
    expect(dWrow.every((v) => v === 0)).toBe(true);
    expect(dWcol.some((v) => v !== 0)).toBe(true); // only Wcol moves at the first step
    g.destroy();
  });

  it('accumulates into existing gradients when the parameters are used twice', async () => {
    const ctx = await testContext();
    const [N, inF, outF] = [3, 7, 16];
    // y = spp(x) + spp(x): the second backward adds into Wrow.grad, Wcol.grad, b.grad, x.grad.
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'x', shape: [N, inF] },
        { name: 'W', shape: [outF, inF], data: prunedArray(outF * inF, 4), requiresGrad: false },
        { name: 'Wrow', shape: [16, inF] },
        { name: 'Wcol', shape: [outF] },
        { name: 'b', shape: [outF] },
      ],
      gpu: (g, [x, W, Wrow, Wcol, b]) => add(g, sppLinear(g, x!, W!, Wrow!, Wcol!, S, b), sppLinear(g, x!, W!, Wrow!, Wcol!, S, b)),
      cpu: ([x, W, Wrow, Wcol, b]) => sppRef(x!, W!, Wrow!, Wcol!, b, N, inF, outF).map((v) => 2 * v),
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(Object.keys(result.gradErrors).sort()).toEqual(['Wcol', 'Wrow', 'b', 'x']);
    for (const [name, error] of Object.entries(result.gradErrors)) expect(error, name).toBeLessThan(1e-4);
  });

  it('rejects bad shapes and a W that requires a gradient', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const leaf = (shape: number[], requiresGrad = true) => randomLeaf(ctx, shape, requiresGrad);
    const x = leaf([2, 8]);
    expect(() => sppLinear(g, x, leaf([24, 8], false), leaf([16, 8]), leaf([24]), S)).toThrow(/multiple of 16/);
    expect(() => sppLinear(g, x, leaf([16, 8], false), leaf([8, 8]), leaf([16]), S)).toThrow(/Wrow must be \[16, 8\]/);
    expect(() => sppLinear(g, x, leaf([16, 8], false), leaf([16, 8]), leaf([15]), S)).toThrow(/Wcol must be \[16\]/);
    expect(() => sppLinear(g, x, leaf([16, 8]), leaf([16, 8]), leaf([16]), S)).toThrow(/frozen/);
    expect(() => sppLinear(g, leaf([2, 7]), leaf([16, 8], false), leaf([16, 8]), leaf([16]), S)).toThrow(/does not end in 8/);
    g.destroy();
  });
});
