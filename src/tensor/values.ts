// How code above the tensor layer (models, adapters, trainers) creates and reads GPU values
// without touching buffers: parameters from host arrays, token-id and target inputs for a step,
// asynchronous reads. `Runtime` is the GPU context under the name those layers use.

import type { GpuContext } from '../gpu/context';
import { copy, fill } from '../kernels/elementwise';
import type { Graph } from './graph';
import { Tensor } from './tensor';

export type Runtime = GpuContext;

/** A parameter (leaf) from host data: f32 [shape], trainable or frozen. Release with releaseTensor. */
export function parameterFromArray(rt: Runtime, data: Float32Array, shape: readonly number[], name: string, trainable: boolean): Tensor {
  return Tensor.leaf(rt.uploadF32(data, shape, name), trainable, name);
}

/** Token ids for one step, u32 [shape]; released with the graph. */
export function tokenIds(g: Graph, ids: ArrayLike<number>, shape: readonly number[], name = 'token ids'): Tensor {
  return g.input(g.ctx.upload(Uint32Array.from(ids), shape, 'u32', name), name);
}

/** Next-token targets for one step, i32 [shape] with −100 where the loss does not count. */
export function targetIds(g: Graph, targets: ArrayLike<number>, shape: readonly number[], name = 'targets'): Tensor {
  return g.input(g.ctx.upload(Int32Array.from(targets), shape, 'i32', name), name);
}

/** Reads a tensor's values (submits pending work); does not wait for anything else. */
export function readTensor(rt: Runtime, t: Tensor): Promise<Float32Array> {
  return rt.read(t.data);
}

/** Reads a parameter's gradient, or null when it has none yet. */
export async function readGrad(rt: Runtime, t: Tensor): Promise<Float32Array | null> {
  return t.grad ? rt.read(t.grad) : null;
}

/** Releases leaves (parameters) and their gradients; graphs release their own outputs. */
export function releaseTensors(rt: Runtime, ...tensors: Tensor[]): void {
  for (const t of tensors) {
    rt.release(t.data, t.grad);
    t.grad = undefined;
  }
}

/** Drops accumulated gradients (after the optimizer step). */
export function zeroGrads(rt: Runtime, tensors: readonly Tensor[]): void {
  for (const t of tensors) {
    rt.release(t.grad);
    t.grad = undefined;
  }
}

/** A zero-filled parameter f32 [shape]. */
export function zerosParameter(rt: Runtime, shape: readonly number[], name: string, trainable: boolean): Tensor {
  return Tensor.leaf(fill(rt, rt.empty(shape, 'f32', name), 0), trainable, name);
}

/** A parameter holding a copy of `source`'s values (full fine-tuning's own weights). */
export function cloneParameter(rt: Runtime, source: Tensor, name: string, trainable: boolean): Tensor {
  return Tensor.leaf(copy(rt, source.data, rt.empty(source.shape, 'f32', name)), trainable, name);
}
