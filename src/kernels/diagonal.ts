// Wrapper of shaders/diagonal.wgsl: diag(g(v)) [r, r] from v [r] on the GPU, with
// g(x) = max(x, 0) / divisor (power 1) or its square root (power ½). The SVD-based inits scale
// their factors by it (a matmul with D), so σ is never read back on the init path.

import source from '../../shaders/diagonal.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { gridFor } from './elementwise';

const shader = defineShader('diagonal', source);
const WG = 64;

export interface DiagonalOptions {
  /** Divides v before the power (default 1). */
  readonly divisor?: number;
  /** 1 (default) or 0.5. */
  readonly power?: 1 | 0.5;
}

/** D [r, r] = diag((max(v, 0) / divisor)^power) for v [r]. */
export function diagonalFrom(ctx: GpuContext, v: GpuTensor, options: DiagonalOptions = {}, what = 'diagonal'): GpuTensor {
  const { divisor = 1, power = 1 } = options;
  if (v.dtype !== 'f32' || v.shape.length !== 1) throw new GpuError('v must be an f32 vector [r]', 'diagonal_from', v.describe());
  if (!(divisor > 0) || !Number.isFinite(divisor)) throw new GpuError(`divisor must be a positive number, is ${divisor}`, 'diagonal_from', v.describe());
  const r = v.shape[0]!;
  const d = ctx.empty([r, r], 'f32', what);
  ctx.dispatch({
    shader,
    entryPoint: 'diagonal_from',
    constants: { WG },
    bindings: { v, d },
    params: { r, divisor, power },
    workgroups: gridFor(ctx, r * r, WG),
    label: `diagonal_from ${v.describe()}`,
  });
  return d;
}
