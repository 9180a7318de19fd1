// Wrapper of shaders/rope.wgsl: rotary position embedding (Hugging Face rotate-half convention)
//   x [B, T, H*D] → out [B, T, H*D], position of row t = positionOffset + t, the same for every
//   batch entry. `inverse` rotates by the negative angle (the backward pass).
// Not done: per-sequence position ids (left padding), partial rotary dimensions, scaled
// frequencies (Llama 3 "rope_scaling", YaRN, NTK): only theta^(−2i/D).

import source from '../../shaders/rope.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('rope', source);
const WG = 256;

export interface RopeShape {
  readonly heads: number;
  readonly headDim: number;
  /** Base of the frequencies (10000 for GPT-NeoX/Llama 2, 1e6 for Qwen2 and others). */
  readonly theta: number;
  /** Position of the first row (the cache length when generating); default 0. */
  readonly positionOffset?: number;
}

/** Checks x [B, T, heads*headDim] (or [T, heads*headDim]) and returns T. */
function check(x: GpuTensor, out: GpuTensor | undefined, s: RopeShape): { T: number; label: string } {
  const { heads, headDim, theta, positionOffset = 0 } = s;
  const label = `rope x ${x.describe()} heads=${heads} headDim=${headDim} theta=${theta} offset=${positionOffset}`;
  const fail = (message: string): never => {
    throw new GpuError(message, 'rope', label);
  };
  if (x.dtype !== 'f32' || (out && out.dtype !== 'f32')) fail('x and out must be f32');
  if (!Number.isInteger(heads) || heads < 1) fail('heads must be a positive integer');
  if (!Number.isInteger(headDim) || headDim < 2 || headDim % 2 !== 0) fail('headDim must be a positive even integer');
  if (!(theta > 1) || !Number.isFinite(theta)) fail('theta must be a finite number above 1');
  if (!Number.isInteger(positionOffset) || positionOffset < 0) fail('positionOffset must be a non-negative integer');
  if (x.shape.length < 2 || x.shape[x.shape.length - 1] !== heads * headDim) fail(`x must be [B, T, ${heads * headDim}]`);
  if (out && out.shape.join(',') !== x.shape.join(',')) fail(`out must be ${x.describe()}, is ${out.describe()}`);
  if (out && out.buffer === x.buffer) fail('out must not alias x');
  const T = x.shape[x.shape.length - 2]!;
  return { T, label };
}

/** Writes the rotation of x (or its inverse) into out and returns out. */
export function ropeInto(ctx: GpuContext, x: GpuTensor, out: GpuTensor, s: RopeShape, inverse = false): GpuTensor {
  const { T, label } = check(x, out, s);
  const halfD = s.headDim / 2;
  const n = x.size / 2;
  ctx.dispatch({
    shader,
    entryPoint: 'rope',
    constants: { INVERSE: inverse, WG },
    bindings: { x, out },
    params: { n, T: Math.max(T, 1), H: s.heads, halfD, offset: s.positionOffset ?? 0, log2Theta: Math.log2(s.theta) },
    workgroups: gridFor(ctx, n, WG),
    label: `${inverse ? 'rope⁻¹' : 'rope'} ${label}`,
    // Per pair: the angle, its cos and sin, a 2×2 rotation (≈8 FLOPs); x read and out written once.
    cost: { flops: 8 * n, bytes: 16 * n },
  });
  return out;
}

/** The rotated copy of x [B, T, H*D]. */
export function rope(ctx: GpuContext, x: GpuTensor, s: RopeShape, inverse = false): GpuTensor {
  check(x, undefined, s); // before allocating, so a bad call leaks nothing
  return ropeInto(ctx, x, ctx.empty(x.shape, 'f32', 'rope output'), s, inverse);
}
