// AdamW optimizer on the GPU with PyTorch's torch.optim.AdamW semantics (amsgrad off, maximize off):
// for each parameter p [any shape, n elements] with gradient g (times gradScale[0] when given):
//   p ← p·(1 − lr·wd);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
//   p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
// (shaders/adamw.wgsl). wd is options.weightDecay for parameters registered with weightDecay: true
// and 0 for the others (biases, norms, embeddings by the usual convention; the caller decides).
// State: m and v for a parameter live in one pooled GPU buffer [2n] (m then v), zero at start;
// the step count t is kept per parameter, as PyTorch does: a parameter without a gradient at a
// step is skipped and its t does not advance. t reaches the GPU as a uniform, with the bias
// corrections computed from it in float64. One dispatch per parameter; no readback; deterministic.
// zeroGrad() drops the gradients (PyTorch's set_to_none): their buffers go back to the pool and the
// next backward pass takes them again, so nothing new is allocated in steady state.
// Optimizer groups: a parameter's lrScale multiplies the step's learning rate (LoRA+ trains B at
// λ·lr); the decay uses the scaled rate too, as a PyTorch param group with its own lr would.
// Not done: amsgrad, fused multi-tensor dispatch.

import source from '../../shaders/adamw.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { fill, gridFor } from '../kernels/elementwise';
import type { Tensor } from '../tensor/tensor';

/** shaders/adamw.wgsl; clip.ts uses its clip_scale entry point. */
export const adamwShader = defineShader('adamw', source);

const WG = 256;

export interface AdamWParam {
  readonly tensor: Tensor;
  /** Whether options.weightDecay applies to this parameter. */
  readonly weightDecay: boolean;
  /** Its learning rate as a multiple of step()'s (optimizer groups, e.g. LoRA+); 1 if absent. */
  readonly lrScale?: number;
}

export interface AdamWOptions {
  readonly beta1?: number;
  readonly beta2?: number;
  readonly eps?: number;
  readonly weightDecay?: number;
}

interface Slot {
  readonly tensor: Tensor;
  readonly decay: number;
  readonly lrScale: number;
  /** [2n]: m at [0, n), v at [n, 2n). */
  readonly state: GpuTensor;
  steps: number;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly slots: Slot[];
  private destroyed = false;

  constructor(
    readonly ctx: GpuContext,
    params: readonly AdamWParam[],
    options: AdamWOptions = {},
  ) {
    const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0 } = options;
    const bad = (what: string) => new GpuError(`AdamW: ${what}`, 'adamw');
    if (!(beta1 >= 0 && beta1 < 1)) throw bad(`beta1 must be in [0, 1), is ${beta1}`);
    if (!(beta2 >= 0 && beta2 < 1)) throw bad(`beta2 must be in [0, 1), is ${beta2}`);
    if (!(eps > 0 && Number.isFinite(eps))) throw bad(`eps must be positive, is ${eps}`);
    if (!(weightDecay >= 0 && Number.isFinite(weightDecay))) throw bad(`weight decay must be ≥ 0, is ${weightDecay}`);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
    this.weightDecay = weightDecay;
    const seen = new Set<Tensor>();
    for (const { tensor, lrScale = 1 } of params) {
      if (!(lrScale >= 0 && Number.isFinite(lrScale))) throw bad(`parameter "${tensor.name}" has learning-rate scale ${lrScale}; it must be finite and ≥ 0`);
      if (seen.has(tensor)) throw bad(`parameter "${tensor.name}" is listed twice`);
      seen.add(tensor);
      if (tensor.data.dtype !== 'f32') throw bad(`parameter "${tensor.name}" must be f32, is ${tensor.data.dtype}`);
    }
    this.slots = params.map(({ tensor, weightDecay: decays, lrScale = 1 }) => {
      const state = ctx.empty([2 * tensor.data.size], 'f32', `AdamW state of ${tensor.name}`);
      fill(ctx, state, 0);
      return { tensor, decay: decays ? weightDecay : 0, lrScale, state, steps: 0 };
    });
  }

  /**
   * One update of every parameter that has a gradient, with learning rate lr. gradScale [1], read on
   * the GPU, multiplies every gradient (the clipping factor from clipGradNorm).
   */
  step(lr: number, gradScale?: GpuTensor): void {
    if (this.destroyed) throw new GpuError('AdamW: step() after destroy()', 'adamw');
    if (!(lr >= 0 && Number.isFinite(lr))) throw new GpuError(`AdamW: learning rate must be finite and ≥ 0, is ${lr}`, 'adamw');
    if (gradScale && (gradScale.dtype !== 'f32' || gradScale.size !== 1)) {
      throw new GpuError('AdamW: gradScale must be an f32 tensor of one element', 'adamw', `gradScale ${gradScale.describe()}`);
    }
    for (const slot of this.slots) {
      const { tensor, state } = slot;
      const grad = tensor.grad;
      if (!grad) continue;
      const label = `adamw ${tensor.name} ${tensor.data.describe()}`;
      if (grad.dtype !== 'f32' || grad.size !== tensor.data.size) {
        throw new GpuError(`gradient ${grad.describe()} does not match the parameter`, 'adamw', label);
      }
      if (gradScale && (gradScale.buffer === grad.buffer || gradScale.buffer === tensor.data.buffer)) {
        throw new GpuError('gradScale must not alias a gradient or parameter', 'adamw', label);
      }
      const t = ++slot.steps;
      const slotLr = lr * slot.lrScale;
      // float64 here, f32 on the GPU (see the shader header).
      const bc1 = 1 - this.beta1 ** t;
      const bc2 = 1 - this.beta2 ** t;
      this.ctx.dispatch({
        shader: adamwShader,
        entryPoint: 'adamw_step',
        constants: { WG, HAS_SCALE: gradScale !== undefined },
        bindings: { grad, gradScale: gradScale ?? this.ctx.placeholder(), param: tensor.data, state },
        params: {
          n: tensor.data.size,
          step: t,
          beta1: this.beta1,
          beta2: this.beta2,
          eps: this.eps,
          decayFactor: 1 - slotLr * slot.decay,
          stepSize: slotLr / bc1,
          bc2Sqrt: Math.sqrt(bc2),
          maxNorm: 0,
        },
        workgroups: gridFor(this.ctx, tensor.data.size, WG),
        label: `${label} step ${t}`,
        // ≈14 FLOPs per element (decay, two moments, the square root, the update); reads g, p,
        // m, v and writes p, m, v.
        cost: { flops: 14 * tensor.data.size, bytes: 28 * tensor.data.size },
      });
    }
  }

  /** Releases every parameter's gradient to the pool and unsets it (set_to_none). */
  zeroGrad(): void {
    for (const { tensor } of this.slots) {
      this.ctx.release(tensor.grad);
      tensor.grad = undefined;
    }
  }

  /** Bytes of optimizer state on the GPU (m and v: 8 bytes per parameter element). */
  stateBytes(): number {
    return this.destroyed ? 0 : this.slots.reduce((acc, s) => acc + s.state.byteLength, 0);
  }

  /** How many updates parameter `tensor` has received (its t). */
  stepsOf(tensor: Tensor): number {
    return this.slots.find((s) => s.tensor === tensor)?.steps ?? 0;
  }

  /** Releases the optimizer state (the parameters and their gradients stay). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.ctx.release(...this.slots.map((s) => s.state));
  }
}
