// Tests of AdamW (shaders/adamw.wgsl) against a float64 CPU AdamW written from PyTorch's algorithm:
// several steps with a changing learning rate, weight decay on some parameters only, a gradScale
// tensor, a parameter skipped at one step, repeatability, state accounting; and the multi-tensor
// dispatch bit for bit against the per-parameter kernel (adamw_step) under several chunkings
// (K parameters per dispatch, state chunks that cut parameters), with optimizer groups (lrScale);
// its state read back and written into a fresh optimizer continues bit for bit (checkpoints).

import { describe, expect, it } from 'vitest';
import type { GpuContext } from '../gpu/context';
import { testContext } from '../test/gpu';
import { randomArray, relativeError } from '../test/reference';
import { Tensor } from '../tensor/tensor';
import { gridFor } from '../kernels/elementwise';
import { adamwShader, MAX_TENSORS_PER_DISPATCH, multiTensorSource } from '../kernels/adamw';
import { AdamW, type AdamWChunking } from './adamw';

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
  const initial = SHAPES.map((shape, i) =>
    randomArray(
      shape.reduce((a, b) => a * b, 1),
      40 + i,
    ),
  );
  const tensors = SHAPES.map((shape, i) => Tensor.leaf(ctx.uploadF32(initial[i]!, shape), true, `p${i}`));
  const refs: RefState[] = initial.map((p) => ({ p: Float64Array.from(p), m: new Float64Array(p.length), v: new Float64Array(p.length), t: 0 }));
  const opt = new AdamW(
    ctx,
    tensors.map((tensor, i) => ({ tensor, weightDecay: DECAYS[i]! })),
    { ...HP, eps },
  );
  const gradScale = options.scale === undefined ? undefined : ctx.uploadF32([options.scale], [1]);
  const scale = Math.fround(options.scale ?? 1);
  LRS.forEach((lr, step) => {
    tensors.forEach((tensor, i) => {
      if (options.skip && options.skip[0] === i && options.skip[1] === step) return;
      const g = randomArray(tensor.data.size, 1000 * step + i, i === 0 ? 0.01 : 1);
      tensor.grad = ctx.uploadF32(g, tensor.shape);
      adamwRef(
        refs[i]!,
        Float64Array.from(g, (x) => x * scale),
        lr,
        DECAYS[i] ? HP.weightDecay : 0,
        eps,
      );
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
    const opt = new AdamW(
      ctx,
      [
        { tensor: a, weightDecay: true },
        { tensor: b, weightDecay: false },
      ],
      { weightDecay: 0.5 },
    );
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

  it('reads its state back (m, v, t per parameter, across cut chunks) and, written into a fresh optimizer, continues bit for bit', async () => {
    const ctx = await testContext();
    const sizes = [33, 7, 100, 1];
    const chunking: AdamWChunking = { maxTensors: 2, maxStateBytes: 8 * 40 }; // the 100-element parameter is cut in three
    const make = (seed: number) => sizes.map((n, i) => Tensor.leaf(ctx.uploadF32(randomArray(n, seed + i), [n]), true, `p${i}`));
    const stepAll = (opt: AdamW, params: Tensor[], step: number, skip?: number) => {
      params.forEach((p, i) => {
        if (i !== skip) p.grad = ctx.uploadF32(randomArray(p.data.size, 500 + 10 * step + i), p.shape);
      });
      opt.step(0.01 * (step + 1));
      opt.zeroGrad();
    };
    const straightParams = make(300);
    const straight = new AdamW(
      ctx,
      straightParams.map((tensor, i) => ({ tensor, weightDecay: i % 2 === 0 })),
      { weightDecay: 0.1 },
      chunking,
    );
    const resumedParams = make(300);
    const first = new AdamW(
      ctx,
      resumedParams.map((tensor, i) => ({ tensor, weightDecay: i % 2 === 0 })),
      { weightDecay: 0.1 },
      chunking,
    );
    for (let step = 0; step < 3; step++) {
      stepAll(straight, straightParams, step, step === 1 ? 2 : undefined);
      stepAll(first, resumedParams, step, step === 1 ? 2 : undefined);
    }
    const state = await first.readState();
    expect(state.map((s) => s.steps)).toEqual([3, 3, 2, 3]);
    expect(state.map((s) => s.tensor)).toEqual(resumedParams);
    first.destroy();
    const second = new AdamW(
      ctx,
      resumedParams.map((tensor, i) => ({ tensor, weightDecay: i % 2 === 0 })),
      { weightDecay: 0.1 },
      chunking,
    );
    second.writeState(state);
    expect((await second.readState()).map((s) => [...s.m, ...s.v])).toEqual(state.map((s) => [...s.m, ...s.v]));
    for (let step = 3; step < 5; step++) {
      stepAll(straight, straightParams, step);
      stepAll(second, resumedParams, step);
    }
    for (const [i, p] of straightParams.entries()) {
      expect(new Uint32Array((await ctx.read(resumedParams[i]!.data)).buffer)).toEqual(new Uint32Array((await ctx.read(p.data)).buffer));
    }
    straight.destroy();
    second.destroy();
    ctx.release(...straightParams.map((p) => p.data), ...resumedParams.map((p) => p.data));
  });

  it('rejects bad hyperparameters and a mis-sized gradScale', async () => {
    const ctx = await testContext();
    const p = Tensor.leaf(ctx.uploadF32([1], [1]), true, 'p');
    expect(() => new AdamW(ctx, [{ tensor: p, weightDecay: false }], { beta1: 1 })).toThrow(/beta1/);
    expect(
      () =>
        new AdamW(ctx, [
          { tensor: p, weightDecay: false },
          { tensor: p, weightDecay: true },
        ]),
    ).toThrow(/twice/);
    const opt = new AdamW(ctx, [{ tensor: p, weightDecay: false }]);
    const wrong = ctx.uploadF32([1, 1], [2]);
    expect(() => opt.step(0.1, wrong)).toThrow(/gradScale/);
    expect(() => opt.step(Number.NaN)).toThrow(/learning rate/);
    opt.destroy();
    ctx.release(p.data, wrong);
  });
});

// ---- multi-tensor dispatch -------------------------------------------------------------------------

const MULTI_SIZES = [1, 7, 33, 100, 3, 257, 5];
const MULTI_DECAYS = [true, false, true, true, false, false, true];
const MULTI_LR_SCALES = [1, 16, 1, 0.5, 1, 2, 0];

interface MultiPlan {
  readonly scale?: number;
  /** [parameter, step]: no gradient for that parameter at that step. */
  readonly skip?: readonly [number, number];
}

/** Gradient of parameter i at step s (deterministic, so both runs see the same values). */
const multiGrad = (i: number, s: number) => randomArray(MULTI_SIZES[i]!, 7000 + 100 * s + i, i === 0 ? 0.01 : 1);

/** The per-parameter kernel the optimizer used before (adamw.wgsl's adamw_step, one dispatch and one state [2n] per parameter). */
async function perParameterRun(ctx: GpuContext, plan: MultiPlan): Promise<Float32Array[]> {
  const params = MULTI_SIZES.map((n, i) => ctx.uploadF32(randomArray(n, 60 + i), [n]));
  const states = MULTI_SIZES.map((n) => ctx.uploadF32(new Float32Array(2 * n), [2 * n]));
  const steps = MULTI_SIZES.map(() => 0);
  const gradScale = plan.scale === undefined ? undefined : ctx.uploadF32([plan.scale], [1]);
  for (const [s, lr] of LRS.entries()) {
    for (const [i, n] of MULTI_SIZES.entries()) {
      if (plan.skip && plan.skip[0] === i && plan.skip[1] === s) continue;
      const grad = ctx.uploadF32(multiGrad(i, s), [n]);
      const t = ++steps[i]!;
      const slotLr = lr * MULTI_LR_SCALES[i]!;
      ctx.dispatch({
        shader: adamwShader,
        entryPoint: 'adamw_step',
        constants: { WG: 256, HAS_SCALE: gradScale !== undefined },
        bindings: { grad, gradScale: gradScale ?? ctx.placeholder(), param: params[i]!, state: states[i]! },
        params: {
          n,
          step: t,
          beta1: HP.beta1,
          beta2: HP.beta2,
          eps: 1e-3,
          decayFactor: 1 - slotLr * (MULTI_DECAYS[i] ? HP.weightDecay : 0),
          stepSize: slotLr / (1 - HP.beta1 ** t),
          bc2Sqrt: Math.sqrt(1 - HP.beta2 ** t),
          maxNorm: 0,
        },
        workgroups: gridFor(ctx, n, 256),
        label: `adamw reference p${i}`,
      });
      ctx.release(grad);
    }
  }
  const out = await Promise.all(params.map((p) => ctx.read(p)));
  ctx.release(gradScale, ...params, ...states);
  return out;
}

async function multiRun(ctx: GpuContext, plan: MultiPlan, chunking: AdamWChunking): Promise<{ params: Float32Array[]; dispatches: number[]; opt: AdamW }> {
  const tensors = MULTI_SIZES.map((n, i) => Tensor.leaf(ctx.uploadF32(randomArray(n, 60 + i), [n]), true, `p${i}`));
  const opt = new AdamW(
    ctx,
    tensors.map((tensor, i) => ({ tensor, weightDecay: MULTI_DECAYS[i]!, lrScale: MULTI_LR_SCALES[i]! })),
    { ...HP, eps: 1e-3 },
    chunking,
  );
  const gradScale = plan.scale === undefined ? undefined : ctx.uploadF32([plan.scale], [1]);
  const dispatches: number[] = [];
  for (const [s, lr] of LRS.entries()) {
    tensors.forEach((tensor, i) => {
      if (!(plan.skip && plan.skip[0] === i && plan.skip[1] === s)) tensor.grad = ctx.uploadF32(multiGrad(i, s), tensor.shape);
    });
    const before = ctx.counters().dispatches;
    opt.step(lr, gradScale);
    dispatches.push(ctx.counters().dispatches - before);
    opt.zeroGrad();
  }
  expect(opt.stateBytes()).toBe(8 * MULTI_SIZES.reduce((a, b) => a + b, 0));
  if (plan.skip) expect(opt.stepsOf(tensors[plan.skip[0]]!)).toBe(LRS.length - 1);
  const params = await Promise.all(tensors.map((t) => ctx.read(t.data)));
  opt.destroy();
  ctx.release(gradScale, ...tensors.map((t) => t.data));
  return { params, dispatches, opt };
}

describe('AdamW multi-tensor dispatch', () => {
  const CHUNKINGS: readonly [string, AdamWChunking][] = [
    ['the device’s K', {}],
    ['one parameter per dispatch', { maxTensors: 1 }],
    ['two per dispatch', { maxTensors: 2 }],
    ['state chunks of 40 elements (parameters cut into pieces)', { maxStateBytes: 8 * 40 }],
    ['two per dispatch, state chunks of 13', { maxTensors: 2, maxStateBytes: 8 * 13 }],
  ];
  for (const plan of [{}, { scale: 0.37, skip: [3, 2] }] as MultiPlan[]) {
    it(`is bit-for-bit the per-parameter kernel for every chunking (${plan.scale ? 'gradScale and a skipped parameter' : 'plain'})`, async () => {
      const ctx = await testContext();
      const want = await perParameterRun(ctx, plan);
      for (const [name, chunking] of CHUNKINGS) {
        const { params } = await multiRun(ctx, plan, chunking);
        params.forEach((p, i) => expect(Array.from(p), `${name}: p${i}`).toEqual(Array.from(want[i]!)));
      }
    });
  }

  it('makes ⌈parameters / K⌉ dispatches for parameters of similar size, K from the device’s storage-buffer limit (3 at WebGPU’s defaults)', async () => {
    const ctx = await testContext();
    const K = Math.min(MAX_TENSORS_PER_DISPATCH, Math.floor((ctx.device.limits.maxStorageBuffersPerShaderStage - 2) / 2));
    const sizes = [40, 33, 37, 21, 25, 30, 39, 28]; // all at least half the largest
    const tensors = sizes.map((n, i) => Tensor.leaf(ctx.uploadF32(randomArray(n, i), [n]), true, `q${i}`));
    const opt = new AdamW(
      ctx,
      tensors.map((tensor) => ({ tensor, weightDecay: false })),
    );
    expect(opt.tensorsPerDispatch).toBe(K);
    expect(opt.dispatchesPerStep).toBe(Math.ceil(sizes.length / K));
    const stepDispatches = (skip: readonly number[]) => {
      tensors.forEach((t, i) => {
        if (!skip.includes(i)) t.grad = ctx.uploadF32(randomArray(t.data.size, 50 + i), t.shape);
      });
      const before = ctx.counters().dispatches;
      opt.step(0.01);
      opt.zeroGrad();
      return ctx.counters().dispatches - before;
    };
    expect(stepDispatches([])).toBe(Math.ceil(sizes.length / K));
    // Largest first: 40, 39, 37 | 33, 30, 28 | 25, 21. A chunk none of whose parameters has a
    // gradient is not dispatched; one with some is, for those.
    if (K === 3) expect(stepDispatches([6, 0, 2])).toBe(2);
    opt.destroy();
    ctx.release(...tensors.map((t) => t.data));

    expect((await multiRun(ctx, {}, { maxTensors: 1 })).dispatches).toEqual(LRS.map(() => MULTI_SIZES.length));
    // Sizes 257, 100, 33, 7, 5, 3, 1 in state chunks of 40: 257 → 7 pieces of 36–37 and 100 → 3 of
    // 33–34 (one per chunk: two would exceed 40), 33 alone (7 is less than half of 33), then 7 + 5,
    // 3 and 1 (each less than half of the chunk's first).
    const cut = await multiRun(ctx, {}, { maxStateBytes: 8 * 40 });
    expect(cut.opt.dispatchesPerStep).toBe(7 + 3 + 1 + 1 + 1 + 1);
    expect(cut.dispatches).toEqual(LRS.map(() => 14));
  });

  it('generates a shader whose bindings fit the device limit for K parameters', () => {
    for (const k of [1, 3, 16]) {
      const source = multiTensorSource(k);
      expect(source.match(/var<storage/g)?.length, `k = ${k}`).toBe(2 + 2 * k);
      expect(source).toContain('fn adam_update(');
    }
  });
});
