// How code above the tensor layer (models, adapters, trainers) creates and reads GPU values
// without touching buffers: parameters from host arrays, token-id and target inputs for a step,
// asynchronous reads, all through the narrow `Runtime` (runtime.ts), re-exported here.
// Frozen 16-bit parameters (halfParameter) stay packed on the GPU, two per u32 (gpu/tensor.ts);
// readTensor decodes them, and expandedWeight / cloneParameter make the f32 copies that inits,
// merges and full fine-tuning need. Trainable tensors, gradients and optimizer state are f32.

import type { PooledBuffer } from '../gpu/pool';
import { GpuTensor, type HalfFormat } from '../gpu/tensor';
import { decodeHalf } from '../io/halfFloat';
import { copy, fill } from '../kernels/elementwise';
import { unpackHalf, uploadHalf } from '../kernels/half';
import { copyColumns } from '../kernels/slice';
import type { Graph } from './graph';
import { gpuContextOf } from './gpuContextOf';
import type { Runtime } from './runtime';
import { Tensor } from './tensor';
import { InternalError } from '../errors';

export type { Runtime } from './runtime';

/** A parameter (leaf) from host data: f32 [shape], trainable or frozen. Release with releaseTensor. */
export function parameterFromArray(rt: Runtime, data: Float32Array, shape: readonly number[], name: string, trainable: boolean): Tensor {
  return Tensor.leaf(rt.uploadF32(data, shape, name), trainable, name);
}

/**
 * A frozen parameter kept as 16-bit floats on the GPU (2 bytes each) from its little-endian 16-bit
 * stream (safetensors' F16/BF16 bytes). Linear layers, the LM head and the embedding read it packed.
 */
export function halfParameter(rt: Runtime, bits: Uint8Array | Uint16Array, shape: readonly number[], format: HalfFormat, name: string): Tensor {
  return Tensor.leaf(uploadHalf(gpuContextOf(rt), bits, shape, format, name), false, name);
}

/**
 * A frozen parameter [shape] that holds nothing on the GPU (a projection the loader reads on demand,
 * models/deferredWeight.ts): released from the start, so every use is refused as a released tensor's
 * is; its shape and storage (`half`: packed 16-bit) say what it holds once loaded.
 */
export function unheldParameter(shape: readonly number[], half: HalfFormat | undefined, name: string): Tensor {
  const data = new GpuTensor(noBuffer(name), shape, half ? 'u32' : 'f32', false, half);
  data.released = true;
  return Tensor.leaf(data, false, name);
}

function noBuffer(what: string): PooledBuffer {
  return {
    get buffer(): GPUBuffer {
      throw new InternalError(`${what} is not held on the GPU`);
    },
    sizeClass: 0,
    usage: 0,
    releasedInGeneration: -1,
    what,
  };
}

/** Whether a tensor is kept packed as 16-bit floats (frozen; never updated in place). */
export function isPacked(t: Tensor): boolean {
  return t.data.half !== undefined;
}

/**
 * `t` as f32: the tensor itself (`owned: false`), or for a packed one an exact f32 copy as a new
 * frozen leaf the caller releases (`owned: true`): SVD and quantization inits, merges, exports.
 */
export function expandedWeight(rt: Runtime, t: Tensor): { readonly tensor: Tensor; readonly owned: boolean } {
  if (!isPacked(t)) return { tensor: t, owned: false };
  return { tensor: Tensor.leaf(unpackHalf(gpuContextOf(rt), t.data), false, t.name), owned: true };
}

/** Token ids for one step, u32 [shape]; released with the graph. */
export function tokenIds(g: Graph, ids: ArrayLike<number>, shape: readonly number[], name = 'token ids'): Tensor {
  return g.input(g.ctx.upload(Uint32Array.from(ids), shape, 'u32', name), name);
}

/** Next-token targets for one step, i32 [shape] with −100 where the loss does not count. */
export function targetIds(g: Graph, targets: ArrayLike<number>, shape: readonly number[], name = 'targets'): Tensor {
  return g.input(g.ctx.upload(Int32Array.from(targets), shape, 'i32', name), name);
}

/** Reads a tensor's values (submits pending work); does not wait for anything else. Packed ones are decoded. */
export async function readTensor(rt: Runtime, t: Tensor): Promise<Float32Array> {
  const { half } = t.data;
  if (!half) return rt.read(t.data);
  return decodeHalf(new Uint16Array(await rt.readBytes(t.data), 0, t.data.size), half);
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
  return filledParameter(rt, shape, 0, name, trainable);
}

/** A zero-filled f32 tensor [shape] (optimizer state, accumulators); the caller releases it. */
export function zeros(rt: Runtime, shape: readonly number[], what: string): GpuTensor {
  return fill(gpuContextOf(rt), rt.empty(shape, 'f32', what), 0);
}

/** A parameter f32 [shape] with every element `value`. */
export function filledParameter(rt: Runtime, shape: readonly number[], value: number, name: string, trainable: boolean): Tensor {
  return Tensor.leaf(fill(gpuContextOf(rt), rt.empty(shape, 'f32', name), value), trainable, name);
}

/** x[:, :width] [rows, width] of x [rows, cols] as a new f32 tensor the caller releases (a slice that is not a view). */
export function leadingColumns(rt: Runtime, x: GpuTensor, width: number, what: string): GpuTensor {
  const [rows = 1] = x.shape;
  return copyColumns(gpuContextOf(rt), x, rt.empty([rows, width], 'f32', what), { srcOffset: 0, dstOffset: 0, width });
}

/** A new f32 copy of `t`'s values, same shape (packed ones expanded exactly); the caller releases it. */
export function f32Copy(rt: Runtime, t: Tensor, what: string): GpuTensor {
  const out = rt.empty(t.shape, 'f32', what);
  const ctx = gpuContextOf(rt);
  return isPacked(t) ? unpackHalf(ctx, t.data, out) : copy(ctx, t.data, out);
}

/** A parameter holding an f32 copy of `source`'s values (full fine-tuning's own weights; packed ones expanded). */
export function cloneParameter(rt: Runtime, source: Tensor, name: string, trainable: boolean): Tensor {
  return Tensor.leaf(f32Copy(rt, source, name), trainable, name);
}
