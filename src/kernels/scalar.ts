// Wrapper of shaders/scalar.wgsl: elementwise updates scaled by a value that stays on the GPU.

import source from '../../shaders/scalar.wgsl?raw';
import { defineShader, type GpuContext } from '../gpu/context';
import type { GpuTensor } from '../gpu/tensor';
import { GpuError } from '../errors';
import { ELEMENTWISE_WORKGROUP_SIZE, gridFor } from './elementwise';

const shader = defineShader('scalar', source);

function checkScalar(kernel: string, s: GpuTensor): void {
  if (s.size !== 1 || s.dtype !== 'f32') throw new GpuError(`the scalar must be f32 [1], is ${s.dtype} ${s.describe()}`, kernel);
}

/** x ← x · s[0], in place. */
export function scaleByScalar(ctx: GpuContext, x: GpuTensor, s: GpuTensor): GpuTensor {
  checkScalar('scale_by_scalar', s);
  ctx.dispatch({
    shader,
    entryPoint: 'scale_by_scalar',
    constants: { WG: ELEMENTWISE_WORKGROUP_SIZE },
    bindings: { scalar: s, x: s, y: x },
    params: { n: x.size, coef: 0, eps: 0 },
    workgroups: gridFor(ctx, x.size, ELEMENTWISE_WORKGROUP_SIZE),
    label: `scale_by_scalar ${x.describe()}`,
    cost: { flops: x.size, bytes: 8 * x.size + 4 },
  });
  return x;
}

/** y ← y + coef · x / √(ss[0] + eps), in place on y (x and y same size). */
export function axpyInverseNorm(ctx: GpuContext, coef: number, x: GpuTensor, ss: GpuTensor, eps: number, y: GpuTensor): GpuTensor {
  checkScalar('axpy_inverse_norm', ss);
  if (x.size !== y.size) throw new GpuError(`x ${x.describe()} and y ${y.describe()} differ in size`, 'axpy_inverse_norm');
  ctx.dispatch({
    shader,
    entryPoint: 'axpy_inverse_norm',
    constants: { WG: ELEMENTWISE_WORKGROUP_SIZE },
    bindings: { scalar: ss, x, y },
    params: { n: y.size, coef, eps },
    workgroups: gridFor(ctx, y.size, ELEMENTWISE_WORKGROUP_SIZE),
    label: `axpy_inverse_norm ${y.describe()}`,
    cost: { flops: 3 * y.size, bytes: 12 * y.size + 4 },
  });
  return y;
}
