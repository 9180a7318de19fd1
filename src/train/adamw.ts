// AdamW optimizer on the GPU with PyTorch's torch.optim.AdamW semantics (amsgrad off, maximize off):
// for each parameter p [any shape, n elements] with gradient g (times gradScale[0] when given):
//   p ← p·(1 − lr·wd);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
//   p ← p − lr/(1−β1^t) · m / (√v/√(1−β2^t) + ε)
// (shaders/adamw.wgsl, wrapped by kernels/adamw.ts and reached through tensor/ops/optimizer.ts).
// wd is options.weightDecay for parameters registered with weightDecay: true
// and 0 for the others (biases, norms, embeddings by the usual convention; the caller decides).
// The step count t is kept per parameter, as PyTorch does: a parameter without a gradient at a
// step is skipped and its t does not advance. t reaches the GPU as a uniform, with the bias
// corrections computed from it in float64. No readback; deterministic.
// zeroGrad() drops the gradients (PyTorch's set_to_none): their buffers go back to the pool and the
// next backward pass takes them again, so nothing new is allocated in steady state.
// Optimizer groups: a parameter's lrScale multiplies the step's learning rate (LoRA+ trains B at
// λ·lr); the decay uses the scaled rate too, as a PyTorch param group with its own lr would.
//
// Multi-tensor dispatch (shaders/adamw_multi.wgsl): the parameters are cut, once, into chunks of
// at most K parameters, K = ⌊(maxStorageBuffersPerShaderStage − 2) / 2⌋ capped at 16 (each
// parameter binds its values and its gradient; the state and gradScale take two more bindings):
// 3 at WebGPU's default limits, 5 on SwiftShader. Only parameters of similar size share a chunk
// (the grid covers a chunk's largest; see planChunks). A chunk's m and v live in one pooled state
// buffer [2·S] (m of every parameter of the chunk, then v), at most
// min(maxStorageBufferBindingSize, maxBufferSize) bytes; a parameter whose own state would not
// fit is cut into pieces that go to different chunks. step() makes one dispatch per chunk that has a gradient (⌈56 / 5⌉ = 12 instead of 56
// for LoRA on the built-in model), with per-parameter step sizes in the uniform, so per-parameter
// t, lrScale and weight decay are kept, and the result is bit for bit that of one dispatch per
// parameter (same arithmetic per element; tested).
// Not done: amsgrad; one dispatch for all parameters, which would need parameters and gradients
// stored in shared buffers (GpuTensor has no byte offset, and WGSL no arrays of buffer bindings).

import { GpuError, InternalError } from '../errors';
import { adamwLimits, adamwMulti } from '../tensor/ops/optimizer';
import type { GpuTensor } from '../tensor/runtime';
import type { Tensor } from '../tensor/tensor';
import { zeros, type Runtime } from '../tensor/values';

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

/** One parameter's optimizer state as host copies: m and v [n], and its step count t. */
export interface AdamWParamState {
  readonly tensor: Tensor;
  readonly m: Float32Array;
  readonly v: Float32Array;
  readonly steps: number;
}

/** How parameters are grouped into dispatches; the defaults come from the device (tests force small ones). */
export interface AdamWChunking {
  /** At most this many parameters (pieces) per dispatch; capped by the device's storage-buffer limit. */
  readonly maxTensors?: number;
  /** At most this many bytes of state (m and v) per chunk; capped by the device's binding and buffer limits. */
  readonly maxStateBytes?: number;
}

interface Slot {
  readonly tensor: Tensor;
  readonly decay: number;
  readonly lrScale: number;
  steps: number;
}

/** A run of elements [first, first + count) of one parameter, with its m at `state` in its chunk's state buffer. */
interface Piece {
  readonly slot: Slot;
  readonly first: number;
  readonly count: number;
  readonly state: number;
}

interface Chunk {
  readonly pieces: Piece[];
  /** [2·S]: m at [0, S), v at [S, 2S), S = Σ piece counts. */
  state: GpuTensor | undefined;
  size: number;
}

/** Per-parameter values of one step, in float64 (see adamw.wgsl's header). */
interface StepValues {
  readonly t: number;
  readonly stepSize: number;
  readonly decayFactor: number;
  readonly bc2Sqrt: number;
}

export class AdamW {
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  /** Parameters per dispatch (K) on this device. */
  readonly tensorsPerDispatch: number;
  private readonly slots: Slot[];
  private readonly chunks: Chunk[];
  private destroyed = false;

  constructor(
    readonly ctx: Runtime,
    params: readonly AdamWParam[],
    options: AdamWOptions = {},
    chunking: AdamWChunking = {},
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
    this.slots = params.map(({ tensor, weightDecay: decays, lrScale = 1 }) => ({ tensor, decay: decays ? weightDecay : 0, lrScale, steps: 0 }));

    const limits = adamwLimits(ctx);
    this.tensorsPerDispatch = Math.max(1, Math.min(limits.maxTensors, chunking.maxTensors ?? Infinity));
    // State elements per half (m or v) of one chunk: 8 bytes per parameter element.
    const stateBytes = Math.min(limits.maxStateBytes, chunking.maxStateBytes ?? Infinity);
    const maxHalf = Math.floor(stateBytes / 8);
    if (maxHalf < 1) throw bad(`a state chunk of ${stateBytes} bytes cannot hold one element`);
    this.chunks = planChunks(this.slots, this.tensorsPerDispatch, maxHalf);
    for (const chunk of this.chunks) {
      chunk.state = zeros(ctx, [2 * chunk.size], `AdamW state of ${chunk.pieces.map((p) => p.slot.tensor.name).join(', ')}`);
    }
  }

  /**
   * One update of every parameter that has a gradient, with learning rate lr. gradScale [1], read on
   * the GPU, multiplies every gradient (the clipping factor from clipGradNorm); with `guardOnly` it
   * does not multiply (the caller scaled the gradients). Either way a negative gradScale (clip_scale's
   * marker for a non-finite gradient norm) makes the GPU skip the update: parameters, m and v keep
   * their values, though each stepped parameter's t has advanced here (the trainer stops a method
   * whose step was skipped, so that t is never used again).
   */
  step(lr: number, gradScale?: GpuTensor, options: { readonly guardOnly?: boolean } = {}): void {
    if (this.destroyed) throw new GpuError('AdamW: step() after destroy()', 'adamw');
    if (!(lr >= 0 && Number.isFinite(lr))) throw new GpuError(`AdamW: learning rate must be finite and ≥ 0, is ${lr}`, 'adamw');
    if (gradScale && (gradScale.dtype !== 'f32' || gradScale.size !== 1)) {
      throw new GpuError('AdamW: gradScale must be an f32 tensor of one element', 'adamw', `gradScale ${gradScale.describe()}`);
    }
    // Check every gradient and advance each stepped parameter's t once (a parameter cut into
    // pieces appears in several chunks but takes one step).
    const values = new Map<Slot, StepValues>();
    for (const slot of this.slots) {
      const { tensor } = slot;
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
      values.set(slot, { t, stepSize: slotLr / bc1, decayFactor: 1 - slotLr * slot.decay, bc2Sqrt: Math.sqrt(bc2) });
    }
    for (const chunk of this.chunks) {
      const pieces = chunk.pieces.filter((p) => values.has(p.slot));
      if (pieces.length > 0) this.dispatchChunk(chunk, pieces, values, gradScale, options.guardOnly ?? false);
    }
  }

  private dispatchChunk(
    chunk: Chunk,
    pieces: readonly Piece[],
    values: ReadonlyMap<Slot, StepValues>,
    gradScale: GpuTensor | undefined,
    guardOnly: boolean,
  ): void {
    const names = pieces.map((p) => `${p.slot.tensor.name}${p.count < p.slot.tensor.data.size ? `[${p.first}..${p.first + p.count})` : ''}`);
    const steps = [...new Set(pieces.map((p) => values.get(p.slot)!.t))].join('/');
    adamwMulti(this.ctx, {
      state: chunk.state!,
      stateHalf: chunk.size,
      beta1: this.beta1,
      beta2: this.beta2,
      eps: this.eps,
      gradScale,
      guardOnly,
      slots: pieces.map((piece) => {
        const v = values.get(piece.slot)!;
        const { tensor } = piece.slot;
        return {
          param: tensor.data,
          grad: tensor.grad!,
          first: piece.first,
          count: piece.count,
          state: piece.state,
          stepSize: v.stepSize,
          decayFactor: v.decayFactor,
          bc2Sqrt: v.bc2Sqrt,
        };
      }),
      label: `adamw ${pieces.length} tensors (${names.join(', ')}) step ${steps}`,
    });
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
    return this.destroyed ? 0 : this.chunks.reduce((acc, c) => acc + (c.state?.byteLength ?? 0), 0);
  }

  /** How many updates parameter `tensor` has received (its t). */
  stepsOf(tensor: Tensor): number {
    return this.slots.find((s) => s.tensor === tensor)?.steps ?? 0;
  }

  /** Every parameter's m, v [n] and t, in the order the parameters were given (read back from the chunks' state buffers). */
  async readState(): Promise<AdamWParamState[]> {
    if (this.destroyed) throw new GpuError('AdamW: readState() after destroy()', 'adamw');
    const out = new Map<Slot, AdamWParamState>(
      this.slots.map((slot) => [
        slot,
        { tensor: slot.tensor, m: new Float32Array(slot.tensor.data.size), v: new Float32Array(slot.tensor.data.size), steps: slot.steps },
      ]),
    );
    for (const chunk of this.chunks) {
      const state = await this.ctx.read(chunk.state!); // [2·S]: m, then v
      for (const piece of chunk.pieces) {
        const target = out.get(piece.slot)!;
        target.m.set(state.subarray(piece.state, piece.state + piece.count), piece.first);
        target.v.set(state.subarray(chunk.size + piece.state, chunk.size + piece.state + piece.count), piece.first);
      }
    }
    return [...out.values()];
  }

  /** Sets every parameter's m, v and t (a checkpoint's), given in the order of readState(). */
  writeState(states: readonly Omit<AdamWParamState, 'tensor'>[]): void {
    if (this.destroyed) throw new GpuError('AdamW: writeState() after destroy()', 'adamw');
    if (states.length !== this.slots.length) throw new InternalError(`AdamW.writeState: ${states.length} states for ${this.slots.length} parameters`);
    this.slots.forEach((slot, i) => {
      const { m, v, steps } = states[i]!;
      if (m.length !== slot.tensor.data.size || v.length !== slot.tensor.data.size || !(Number.isSafeInteger(steps) && steps >= 0)) {
        throw new InternalError(`AdamW.writeState: the state of "${slot.tensor.name}" does not fit it (m ${m.length}, v ${v.length}, t ${steps})`);
      }
    });
    const bySlot = new Map(this.slots.map((slot, i) => [slot, states[i]!]));
    for (const chunk of this.chunks) {
      const state = new Float32Array(2 * chunk.size);
      for (const piece of chunk.pieces) {
        const source = bySlot.get(piece.slot)!;
        state.set(source.m.subarray(piece.first, piece.first + piece.count), piece.state);
        state.set(source.v.subarray(piece.first, piece.first + piece.count), chunk.size + piece.state);
      }
      this.ctx.write(chunk.state!, state);
    }
    for (const slot of this.slots) slot.steps = bySlot.get(slot)!.steps;
  }

  /** Dispatches a step makes when every parameter has a gradient (one per chunk). */
  get dispatchesPerStep(): number {
    return this.chunks.length;
  }

  /** Releases the optimizer state (the parameters and their gradients stay). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.ctx.release(...this.chunks.map((c) => c.state));
  }
}

/**
 * A parameter of n elements becomes ⌈n / maxHalf⌉ pieces of near-equal length (so each piece's
 * state fits a chunk); then, from the longest piece to the shortest, a chunk takes pieces while it
 * has fewer than `maxTensors`, its state stays within `maxHalf` elements per half, and the piece is
 * at least half as long as the chunk's first (longest) one. The grid of a dispatch covers its
 * longest piece, and on SwiftShader lanes past the end of a shorter piece cost as much as working
 * ones, so a dispatch holds pieces of similar length (full fine-tuning of the built-in model: the
 * two [1024, 128] tables, then the MLP weights, and so on). Two parameters that share a buffer
 * never share a chunk (one dispatch may not bind a buffer writable twice).
 */
function planChunks(slots: readonly Slot[], maxTensors: number, maxHalf: number): Chunk[] {
  const pieces: Omit<Piece, 'state'>[] = [];
  for (const slot of slots) {
    const n = slot.tensor.data.size;
    const parts = Math.ceil(n / maxHalf);
    for (let p = 0, first = 0; p < parts; p++) {
      const count = Math.ceil((n - first) / (parts - p));
      pieces.push({ slot, first, count });
      first += count;
    }
  }
  // Array.prototype.sort is stable: equal lengths keep the caller's order.
  pieces.sort((a, b) => b.count - a.count);
  const chunks: Chunk[] = [];
  let current: Chunk | undefined;
  for (const piece of pieces) {
    const buffer = piece.slot.tensor.data.buffer;
    if (
      !current ||
      current.pieces.length >= maxTensors ||
      current.size + piece.count > maxHalf ||
      2 * piece.count < current.pieces[0]!.count ||
      current.pieces.some((p) => p.slot.tensor.data.buffer === buffer)
    ) {
      current = { pieces: [], state: undefined, size: 0 };
      chunks.push(current);
    }
    current.pieces.push({ ...piece, state: current.size });
    current.size += piece.count;
  }
  return chunks;
}
