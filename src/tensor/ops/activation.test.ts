// Tests of ops/activation.ts (gelu tanh/exact, silu, swiglu): GPU forward against float64
// references, GPU backward against finite differences, on odd sizes (1, 7, 33) and inputs spread
// over [-4, 4) so both pieces of the erf construction (|x/√2| below and above 0.75) are hit; a
// dense sweep measuring the f32 erf against float64; and large inputs that must stay finite.

import { describe, expect, it } from 'vitest';
import { testContext } from '../../test/gpu';
import { gradcheck } from '../../test/gradcheck';
import { randomArray } from '../../test/reference';
import { Graph } from '../graph';
import { Tensor } from '../tensor';
import { gelu, silu, swiglu } from './activation';

// ---- float64 references -------------------------------------------------------------------------

/** erf in float64: Taylor series for |x| < 3, 1 − erfc by Lentz's continued fraction beyond. */
function erf64(x: number): number {
  const t = Math.abs(x);
  if (t >= 3) return Math.sign(x) * (1 - erfcTail64(t));
  let sum = 0;
  let power = t; // t^(2n+1) (−1)^n / n!
  for (let n = 0; n < 200; n++) {
    const term = power / (2 * n + 1);
    sum += term;
    if (Math.abs(term) < 1e-18) break;
    power *= (-t * t) / (n + 1);
  }
  return (Math.sign(x) * sum * 2) / Math.sqrt(Math.PI);
}

/** erfc(t) for t ≥ 3: exp(−t²)/√π · 1/(t + (1/2)/(t + 1/(t + (3/2)/(t + …)))). */
function erfcTail64(t: number): number {
  const tiny = 1e-300;
  let f = t;
  let C = t;
  let D = 0;
  for (let n = 1; n < 500; n++) {
    const a = n / 2;
    D = t + a * D;
    if (D === 0) D = tiny;
    C = t + a / C;
    if (C === 0) C = tiny;
    D = 1 / D;
    const delta = C * D;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-t * t) / Math.sqrt(Math.PI) / f;
}

/** Φ(x) = 0.5·(1 + erf(x/√2)), with the left tail as erfc/2 (no cancellation). */
function normalCdf64(x: number): number {
  const z = x / Math.SQRT2;
  if (z < -3) return 0.5 * erfcTail64(-z);
  return 0.5 * (1 + erf64(z));
}

const sigmoid64 = (v: number) => 1 / (1 + Math.exp(-v));
const geluTanh64 = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v * v * v)));
const geluExact64 = (v: number) => v * normalCdf64(v);
const silu64 = (v: number) => v * sigmoid64(v);

const map = (x: Float64Array, f: (v: number) => number) => Float64Array.from(x, f);

const UNARY = [
  { name: 'gelu tanh', gpu: (g: Graph, x: Tensor) => gelu(g, x, 'tanh'), cpu: geluTanh64 },
  { name: 'gelu exact', gpu: (g: Graph, x: Tensor) => gelu(g, x, 'exact'), cpu: geluExact64 },
  { name: 'silu', gpu: (g: Graph, x: Tensor) => silu(g, x), cpu: silu64 },
] as const;

const SHAPES: number[][] = [[1], [7], [33], [3, 7, 33], [2, 1, 7]];

// ---- tests --------------------------------------------------------------------------------------

describe.each(UNARY)('$name', ({ gpu, cpu }) => {
  it.each(SHAPES.map((s) => [s]))('matches float64 and finite differences on %j', async (shape) => {
    const ctx = await testContext();
    const size = shape.reduce((a, b) => a * b, 1);
    const result = await gradcheck(ctx, {
      inputs: [{ name: 'x', shape, data: randomArray(size, size + 17, 4) }],
      gpu: (g, [x]) => gpu(g, x!),
      cpu: ([x]) => map(x!, cpu),
      samples: 40,
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.x).toBeLessThan(1e-4);
  });

  it('stays finite and correct for large |x|', async () => {
    const ctx = await testContext();
    const values = [-1e4, -200, -100, -50, -20, 20, 50, 100, 200, 1e4];
    const g = new Graph(ctx);
    const x = Tensor.leaf(ctx.uploadF32(values, [values.length], 'x'), true, 'x');
    const y = gpu(g, x);
    const seed = ctx.uploadF32(new Float32Array(values.length).fill(1), [values.length], 'seed');
    g.backward(y, seed);
    const got = await ctx.read(y.data);
    const grad = await ctx.read(x.grad!);
    values.forEach((v, i) => {
      expect(Number.isFinite(got[i]), `y(${v})`).toBe(true);
      expect(Number.isFinite(grad[i]), `dy/dx(${v})`).toBe(true);
      // Far from 0 every form is relu: x for x > 0, 0 for x < 0 (and the slope 1 or 0).
      expect(got[i], `y(${v})`).toBeCloseTo(Math.max(v, 0), 3);
      expect(grad[i], `dy/dx(${v})`).toBeCloseTo(v > 0 ? 1 : 0, 5);
    });
    ctx.release(x.data, x.grad, seed);
    g.destroy();
  });
});

describe('swiglu', () => {
  it.each(SHAPES.map((s) => [s]))('matches float64 and finite differences on %j', async (shape) => {
    const ctx = await testContext();
    const size = shape.reduce((a, b) => a * b, 1);
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'gate', shape, data: randomArray(size, size + 5, 4) },
        { name: 'up', shape, data: randomArray(size, size + 6, 2) },
      ],
      gpu: (g, [gate, up]) => swiglu(g, gate!, up!),
      cpu: ([gate, up]) => gate!.map((v, i) => silu64(v) * up![i]!),
      samples: 40,
    });
    expect(result.forwardError).toBeLessThan(1e-5);
    expect(result.gradErrors.gate).toBeLessThan(1e-4);
    expect(result.gradErrors.up).toBeLessThan(1e-4);
  });

  it('gives no gradient to an input that does not require one', async () => {
    const ctx = await testContext();
    const result = await gradcheck(ctx, {
      inputs: [
        { name: 'gate', shape: [7, 5] },
        { name: 'up', shape: [7, 5], requiresGrad: false },
      ],
      gpu: (g, [gate, up]) => swiglu(g, gate!, up!),
      cpu: ([gate, up]) => gate!.map((v, i) => silu64(v) * up![i]!),
    });
    expect(Object.keys(result.gradErrors)).toEqual(['gate']);
    expect(result.gradErrors.gate).toBeLessThan(1e-4);
  });

  it('rejects operands of different shapes', async () => {
    const ctx = await testContext();
    const g = new Graph(ctx);
    const gate = Tensor.leaf(ctx.uploadF32(new Float32Array(6), [2, 3]), false, 'gate');
    const up = Tensor.leaf(ctx.uploadF32(new Float32Array(6), [3, 2]), false, 'up');
    expect(() => swiglu(g, gate, up)).toThrow(/same shape.*swiglu/);
    ctx.release(gate.data, up.data);
    g.destroy();
  });
});

describe('exact gelu erf accuracy', () => {
  it('Φ(x) = gelu(x)/x is within 1e-7 of float64 on a dense sweep of [-8, 8]; tails keep relative accuracy', async () => {
    const ctx = await testContext();
    // y = x·Φ(x) is compared itself: its error is |x|·|ΔΦ| plus the final product's rounding
    // (≤ 2⁻²⁴|y|), which is removed before bounding ΔΦ.
    const n = 16001;
    const xs = Float32Array.from({ length: n }, (_, i) => -8 + (16 * i) / (n - 1));
    const g = new Graph(ctx, false);
    const x = Tensor.leaf(ctx.uploadF32(xs, [n], 'x'), false, 'x');
    const y = await ctx.read(gelu(g, x, 'exact').data);
    let cdfAbs = 0; // max |Φ_gpu − Φ| over the sweep, with Φ_gpu's product rounding removed
    let tailRel = 0; // max relative error of y in the left tail, over its conditioning
    for (let i = 0; i < n; i++) {
      const v = xs[i]!;
      if (v === 0) continue;
      const want = v * normalCdf64(v);
      const err = Math.abs(y[i]! - want);
      // |y − x·Φ| ≤ |x|·|ΔΦ| + 2⁻²⁴|y| (one rounding of the final product).
      cdfAbs = Math.max(cdfAbs, (err - Math.abs(want) * 2 ** -24) / Math.abs(v));
      if (v < -1.1 && want !== 0) {
        // Φ's relative condition number at x is about x² (d log Φ / d log x ≈ x² in the tail):
        // an f32 input alone allows x²·2⁻²⁴ relative error. Measure against that.
        tailRel = Math.max(tailRel, err / Math.abs(want) / ((v * v + 4) * 2 ** -24));
      }
    }
    // erf = 2Φ − 1, so |Δerf| = 2|ΔΦ|: the bound below is |Δerf| ≤ 2e-7.
    expect(cdfAbs).toBeLessThan(1e-7);
    expect(tailRel).toBeLessThan(8);
    console.log(`exact gelu: max |ΔΦ| = ${cdfAbs.toExponential(2)}, tail error / ((x²+4)·2⁻²⁴) ≤ ${tailRel.toFixed(2)}`);
    ctx.release(x.data);
    g.destroy();
  });
});
