// Wrapper of shaders/half.wgsl and the helpers that make packed 16-bit tensors (frozen bf16/f16
// weights kept two per u32 word; layout in gpu/tensor.ts):
//   emptyHalf(ctx, shape, format) → packed, uninitialised    uploadHalf(ctx, bytes, shape, format)
//   unpackHalf(ctx, packed [shape]) → f32 [shape], exact (a new tensor the caller releases)
// Packed tensors are read by matmul (kernels/matmul.ts) and the embedding gather directly; this
// expansion is for what needs f32 values (SVD and quantization inits, merges, full fine-tuning's
// own copy), one layer at a time.

import source from '../../shaders/half.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import { GpuTensor, type HalfFormat } from '../gpu/tensor';
import { GpuError } from '../errors';
import { packedHalfBytes } from '../io/halfFloat';
import { gridFor } from './elementwise';

const shader = defineShader('half', source);
const WG = 256;

/** A packed tensor of the logical `shape` (⌈size/2⌉ words), uninitialised. */
export function emptyHalf(ctx: GpuContext, shape: readonly number[], format: HalfFormat, what = 'tensor'): GpuTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const words = ctx.empty([Math.ceil(size / 2)], 'u32', `${what} (${format})`);
  return new GpuTensor(words.entry, shape, 'u32', false, format);
}

/**
 * A packed tensor from its 16-bit stream: 2·size little-endian bytes (safetensors' F16/BF16 data,
 * or the bytes of a host Uint16Array), element i at bytes 2i..2i+1.
 */
export function uploadHalf(ctx: GpuContext, bits: Uint8Array | Uint16Array, shape: readonly number[], format: HalfFormat, what = 'tensor'): GpuTensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const bytes = bits instanceof Uint16Array ? new Uint8Array(bits.buffer, bits.byteOffset, bits.byteLength) : bits;
  if (bytes.byteLength !== 2 * size) throw new GpuError(`${bytes.byteLength} bytes do not hold ${size} 16-bit values`, 'uploadHalf', `[${shape.join(',')}]`);
  let padded = packedHalfBytes(bytes);
  if (padded.byteOffset % 4 !== 0) padded = padded.slice();
  const t = emptyHalf(ctx, shape, format, what);
  try {
    ctx.write(t, padded);
  } catch (error) {
    ctx.release(t);
    throw error;
  }
  return t;
}

/** The f32 values of a packed tensor (exact), same shape, into `out` or a new tensor. */
export function unpackHalf(ctx: GpuContext, packed: GpuTensor, out?: GpuTensor): GpuTensor {
  const label = `half unpack ${packed.describe()}`;
  if (!packed.half) throw new GpuError('the input is not a packed 16-bit tensor', 'half_unpack', label);
  if (out && (out.dtype !== 'f32' || out.half || out.size !== packed.size))
    throw new GpuError(`out must be f32 with ${packed.size} elements`, 'half_unpack', label);
  const result = out ?? ctx.empty(packed.shape, 'f32', 'unpacked weight');
  const words = Math.ceil(packed.size / 2);
  ctx.dispatch({
    shader,
    entryPoint: 'half_unpack',
    constants: { WG, FORMAT: packed.half === 'bf16' ? 1 : 2 },
    bindings: { src: packed, dst: result },
    params: { n: packed.size },
    workgroups: gridFor(ctx, words, WG),
    label,
    cost: { flops: 0, bytes: 2 * packed.size + 4 * packed.size },
  });
  return result;
}
