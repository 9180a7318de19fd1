// Tests of AdamW (shaders/adamw.wgsl) against a float64 CPU AdamW written from PyTorch's algorithm:
// several steps with a changing learning rate, weight decay on some parameters only, a gradScale
// tensor, a parameter skipped at one step, repeatability, state accounting.

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { testContext } from '../test/gpu';
import { randomArray, relativeError } from '../test/reference';
import { Tensor } from '../tensor/tensor';
import { AdamW } from './adamw';

interface RefState {
  p: Float64Array;
  m: Float64Array;
  v: Float64Array;
  t: number;
}

const HP = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };

// float64 PyTorch AdamW step (torch.optim.AdamW, amsgrad=False), g already scaled.
function adamwRef(s: RefState, g: ArrayLike<number>, lr: number, wd: number, eps: number): void {
  s.t++;
  const bc1 = 1 - HP.beta1 ** s.t;
  const bc2 = 1 - HP.beta2 ** s.t;
  for (let i = 0; i < s.p.length; i++) {
    s.p[i] = s.p[i]! * (1 - lr * wd);
    s.m[i] = HP.beta1 * s.m[i]! + (1 - HP.beta1) * g[i]!;
    s.v[i] = HP.beta2 * s.v[i]! + (1 - HP.beta2) * g[i]! * g[i]!;
    s.p[i] = s.p[i]! - (lr / bc1) * (s.m[i]! / (Math.sqrt(s.v[i]!) / Math.sqrt(bc2) + eps));
  }
}

const SHAPES: readonly (readonly number[])[] = [[1], [7], [3, 11]]; // 1, 7 and 33 elements
const DECAYS = [true, false, true];
const LRS = [0.01, 0.02, 0.015, 0.005, 0.01, 0.03];

interface Run {
  params: Float32Array[];
  refs: RefState[];
  initial: Float32Array[];
}

/**
 * Runs LRS.length steps on the GPU and on the CPU. Gradients are random per step (scaled ×0.01 for
 * the first parameter so ε and the bias corrections matter); with `scale`, a gradScale tensor
 * multiplies them; `skip` = [param, step] leaves one parameter without a gradient at one step.
 * Adam is invariant to the scale of the gradients except through ε, so tests of gradScale use a
 * large ε (1e-3, against gradients of 0.01 and 1) that makes the update depend on it.
 */
async function run(ctx: GpuContext, options: { scale?: number; skip?: [number, number]; eps?: number } = {}): Promise<Run> {
  const eps = options.eps ?? HP.eps;
  const initial = SHAPES.map((shape, i) => randomArray(shape.reduce((a, b) => a * b, 1), 40 + i));
  const tensors = SHAPES.map((shape, i) => Tensor.leaf(ctx.uploadF32(initial[i]!, shape), true, `p${i}`));
  const refs: RefState[] = initial.map((p) => ({ p: Float64Array.from(p), m: new Float64Array(p.length), v: new Float64Array(p.length), t: 0 }));
  const opt = new AdamW(ctx, tensors.map((tensor, i) => ({ tensor, weightDecay: DECAYS[i]! })), { ...HP, eps });
  const gradScale = options.scale === undefined ? undefined : ctx.uploadF32([options.scale], [1]);
  const scale = Math.fround(options.scale ?? 1);
  LRS.forEach((lr, step) => {
    tensors.forEach((tensor, i) => {
      if (options.skip && options.skip[0] === i && options.skip[1] === step) return;
      const g = randomArray(tensor.data.size, 1000 * step + i, i === 0 ? 0.01 : 1);
      tensor.grad = ctx.uploadF32(g, tensor.shape);
      adamwRef(refs[i]!, Float64Array.from(g, (x) => x * scale), lr, DECAYS[i] ? HP.weightDecay : 0, eps);
    });
    opt.step(lr, gradScale);
    opt.zeroGrad();
  });
  expect(opt.stateBytes()).toBe(8 * (1 + 7 + 33));
  if (options.skip) expect(opt.stepsOf(tensors[options.skip[0]]!)).toBe(LRS.length - 1);
  const params = await Promise.all(tensors.map((t) => ctx.read(t.data)));
  opt.destroy();
  ctx.release(gradScale, ...tensors.map((t) => t.data));
  return { params, refs, initial };
}

/** Relative errors of the final parameters and of their total change (the updates themselves). */
function errors({ params, refs, initial }: Run): { param: number; update: number }[] {
  return params.map((p, i) => {
    const ref = refs[i]!.p;
    const p0 = initial[i]!;
    return {
      param: relativeError(p, ref),
      update: relativeError(
        p.map((x, j) => x - p0[j]!),
        ref.map((x, j) => x - p0[j]!),
      ),
    };
  });
}

describe('AdamW', () => {
  it('matches a float64 AdamW over several steps, with weight decay on some parameters only', async () => {
    const ctx = await testContext();
    for (const e of errors(await run(ctx))) {
      // p ∈ [-1, 1) is rounded to f32 twice a step (decay, update): 12 roundings of ε/2 ≈ 7e-7.
      expect(e.param).toBeLessThan(2e-6);
      expect(e.update).toBeLessThan(1e-4); // the change is ~0.1 of p, so those roundings are ~1e-5 of it
    }
  });

  it('multiplies gradients by a gradScale tensor read on the GPU', async () => {
    const ctx = await testContext();
    for (const e of errors(await run(ctx, { scale: 0.37, eps: 1e-3 }))) {
      expect(e.param).toBeLessThan(2e-6);
      expect(e.update).toBeLessThan(1e-4);
    }
  });

  it('skips a parameter without a gradient and keeps its own step count', async () => {
    const ctx = await testContext();
    for (const e of errors(await run(ctx, { skip: [1, 2] }))) {
      expect(e.param).toBeLessThan(2e-6);
      expect(e.update).toBeLessThan(1e-4);
    }
  });

  it('decay really is applied only where asked (a zero gradient leaves undecayed parameters alone)', async () => {
    const ctx = await testContext();
    const a = Tensor.leaf(ctx.uploadF32([2, -4], [2]), true, 'a');
    const b = Tensor.leaf(ctx.uploadF32([2, -4], [2]), true, 'b');
    const opt = new AdamW(ctx, [{ tensor: a, weightDecay: true }, { tensor: b, weightDecay: false }], { weightDecay: 0.5 });
    a.grad = ctx.uploadF32([0, 0], [2]);
    b.grad = ctx.uploadF32([0, 0], [2]);
    opt.step(0.1);
    expect(Array.from(await ctx.read(a.data))).toEqual([Math.fround(2 * Math.fround(0.95)), Math.fround(-4 * Math.fround(0.95))]);
    expect(Array.from(await ctx.read(b.data))).toEqual([2, -4]);
    opt.zeroGrad();
    expect(a.grad).toBeUndefined();
    opt.destroy();
    ctx.release(a.data, b.data);
  });

  it('is bit-for-bit repeatable and returns its state to the pool', async () => {
    const ctx = await testContext();
    const live = ctx.stats().liveBytes;
    const first = await run(ctx, { scale: 0.5, eps: 1e-3 });
    const second = await run(ctx, { scale: 0.5, eps: 1e-3 });
    first.params.forEach((p, i) => expect(Array.from(second.params[i]!)).toEqual(Array.from(p)));
    expect(ctx.stats().liveBytes).toBe(live);
  });

  it('rejects bad hyperparameters and a mis-sized gradScale', async () => {
    const ctx = await testContext();
    const p = Tensor.leaf(ctx.uploadF32([1], [1]), true, 'p');
    expect(() => new AdamW(ctx, [{ tensor: p, weightDecay: false }], { beta1: 1 })).toThrow(/beta1/);
    expect(() => new AdamW(ctx, [{ tensor: p, weightDecay: false }, { tensor: p, weightDecay: true }])).toThrow(/twice/);
    const opt = new AdamW(ctx, [{ tensor: p, weightDecay: false }]);
    const wrong = ctx.uploadF32([1, 1], [2]);
    expect(() => opt.step(0.1, wrong)).toThrow(/gradScale/);
    expect(() => opt.step(Number.NaN)).toThrow(/learning rate/);
    opt.destroy();
    ctx.release(p.data, wrong);
  });
});
