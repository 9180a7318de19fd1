// Reverse-mode automatic differentiation on GPU tensors.
//
// A Graph records, for every op run with gradients enabled, a closure that maps the gradient of
// the op's output to gradients of its inputs (all on the GPU). `backward(loss)` seeds dL/dloss = 1
// and runs the closures in reverse order; gradients are accumulated into `Tensor.grad`.
// Lifetimes are explicit: every activation an op creates is tracked and released by `dispose()`
// at the end of the step, so a steady-state step reuses the same pooled buffers and allocates
// nothing new. Parameters (leaves) are never released by the graph; their `.grad` persists until
// the optimizer consumes it.
// Activation checkpointing (Chen et al. 2016, "Training Deep Nets with Sublinear Memory Cost"):
// `checkpoint(fn)` runs a segment (a transformer block) on a child graph that records nothing and
// keeps only the segment's output; backward runs the segment again on a recording child graph and
// backpropagates through that local tape, which is freed before the previous segment's turn. Per
// block only the output [B, T, C] stays between forward and backward; the price is one more
// forward pass of every block. The kernels are deterministic and nothing draws random numbers, so
// the recomputed activations, and hence the gradients, are bit for bit those of a plain step.

import type { GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { gpuContextOf } from './gpuContextOf';
import type { Runtime } from './runtime';
import { Tensor } from './tensor';
import { addInto } from './gradAccumulate';
import { InternalError } from '../errors';

interface TapeEntry {
  readonly op: string;
  readonly output: Tensor;
  readonly backward: (gradOutput: GpuTensor) => void;
}

export class Graph {
  private tape: TapeEntry[] = [];
  private tracked: GpuTensor[] = [];
  /** Shared with child graphs (checkpoint), which never release them. */
  private constants = new Map<string, GpuTensor>();
  /** Whether some op saw an input that requires a gradient (even with gradients off): checkpoint() asks. */
  private reachedGrad = false;

  /** The full context, for the ops that record kernels; models, adapters and train pass and see only the Runtime. */
  readonly ctx: GpuContext;

  constructor(
    rt: Runtime,
    /** When false, ops record nothing (inference, evaluation). */
    readonly gradEnabled = true,
  ) {
    this.ctx = gpuContextOf(rt);
  }

  /** Wraps a new activation produced by an op; it is released by dispose(). */
  output(data: GpuTensor, inputs: readonly Tensor[], name: string): Tensor {
    this.tracked.push(data);
    const anyGrad = inputs.some((t) => t.requiresGrad);
    if (anyGrad) this.reachedGrad = true;
    return new Tensor(data, this.gradEnabled && anyGrad, name);
  }

  /** A scratch tensor saved for the backward pass or used within one op; released by dispose(). */
  scratch(shape: readonly number[], what: string): GpuTensor {
    const t = this.ctx.empty(shape, 'f32', what);
    this.tracked.push(t);
    return t;
  }

  /** Uploaded non-trainable input (token ids, masks); released by dispose(). */
  input(data: GpuTensor, name: string): Tensor {
    this.tracked.push(data);
    return new Tensor(data, false, name);
  }

  /**
   * Records how to push the output's gradient back to the inputs. Only called when the output
   * requires a gradient. The closure must call `accumulate(input, grad)` for each input that
   * requires one.
   */
  record(op: string, output: Tensor, backward: (gradOutput: GpuTensor) => void): void {
    if (output.requiresGrad) this.tape.push({ op, output, backward });
  }

  /**
   * Adds `grad` into `t.grad`. The graph takes ownership of `grad`: it becomes `t.grad` when `t`
   * had none, otherwise it is added in and released.
   */
  accumulate(t: Tensor, grad: GpuTensor): void {
    if (!t.requiresGrad) {
      this.ctx.release(grad);
      return;
    }
    if (!t.grad) {
      t.grad = grad;
      return;
    }
    addInto(this.ctx, t.grad, grad);
    this.ctx.release(grad);
  }

  /** A tensor of ones of the given length (cached for the graph's life; used for column sums). */
  ones(length: number): GpuTensor {
    const key = `ones:${length}`;
    let t = this.constants.get(key);
    if (!t) {
      t = this.ctx.uploadF32(new Float32Array(length).fill(1), [1, length], 'ones');
      this.constants.set(key, t);
    }
    return t;
  }

  /**
   * y = fn(g') without keeping fn's intermediate activations (see the header). fn runs twice, on
   * child graphs: now without recording, and again in backward with recording; it must compute
   * the same values both times and read only tensors that outlive this graph's backward (earlier
   * outputs of this graph, parameters), whose gradients then reach their .grad as without
   * checkpointing. With gradients off this is fn(this).
   */
  checkpoint(fn: (g: Graph) => Tensor, name = 'checkpoint'): Tensor {
    if (!this.gradEnabled) return fn(this);
    const plain = this.child(false);
    let data: GpuTensor;
    try {
      const y = fn(plain);
      const index = plain.tracked.indexOf(y.data);
      if (index >= 0) {
        plain.tracked.splice(index, 1);
        data = y.data;
      } else if (y.data.isView) {
        data = copyOf(this.ctx, y.data, 'checkpoint output');
      } else {
        return y; // fn computed nothing: it handed back a tensor from outside
      }
    } finally {
      plain.dispose();
    }
    this.tracked.push(data);
    if (plain.reachedGrad) this.reachedGrad = true;
    const out = new Tensor(data, plain.reachedGrad, name);
    this.record(name, out, (gy) => {
      const local = this.child(true);
      try {
        const again = fn(local);
        if (again.requiresGrad) local.backward(again, gy);
      } finally {
        local.dispose();
      }
    });
    return out;
  }

  /** A graph for a checkpointed segment: same context and constants; dispose() it, never destroy(). */
  private child(gradEnabled: boolean): Graph {
    const g = new Graph(this.ctx, gradEnabled);
    g.constants = this.constants;
    return g;
  }

  /** Backpropagates from `output`, whose gradient is `seed` (default: 1 for a scalar loss). */
  backward(output: Tensor, seed?: GpuTensor): void {
    if (!output.requiresGrad) throw new InternalError('backward() from a tensor that does not require a gradient');
    const start = seed ?? this.ctx.uploadF32(new Float32Array(output.data.size).fill(1), output.shape, 'loss seed');
    if (start.size !== output.data.size) throw new InternalError(`seed has ${start.size} elements, output ${output.data.size}`);
    this.accumulate(output, seed ? copyOf(this.ctx, seed) : start);
    for (let i = this.tape.length - 1; i >= 0; i--) {
      const entry = this.tape[i]!;
      const grad = entry.output.grad;
      if (!grad) continue; // this branch does not reach the output
      entry.backward(grad);
      // Intermediate gradients are not needed once pushed back to the op's inputs. A closure that
      // handed this very buffer on as an input's gradient (add, reshape) cleared output.grad.
      if (!entry.output.isLeaf) {
        if (entry.output.grad === grad) this.ctx.release(grad);
        entry.output.grad = undefined;
      }
    }
    this.tape = [];
  }

  /** Releases every activation and scratch buffer of this step (parameters are untouched). */
  dispose(): void {
    this.ctx.release(...this.tracked);
    this.tracked = [];
    this.tape = [];
  }

  /** Also releases cached constants; call when the graph object itself is dropped. */
  destroy(): void {
    this.dispose();
    this.ctx.release(...this.constants.values());
    this.constants.clear();
  }
}

function copyOf(ctx: GpuContext, t: GpuTensor, what = 'gradient seed'): GpuTensor {
  const out = ctx.empty(t.shape, 'f32', what);
  addInto(ctx, out, t, true);
  return out;
}
