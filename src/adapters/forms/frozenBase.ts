// The frozen base under an adapter form: any linear slot that can also hand out its weight as a
// dense [out, in] tensor (the shared DenseLinear, a residual, an NF4 copy dequantized on demand),
// for merges, exports and spectra. The forward pass never asks for it. The shared base may be
// packed 16-bit (a bf16/f16 checkpoint): inits that need W in f32 (SVD, NF4, pruning, norms) get
// an exact f32 temporary for one layer through withDenseWeight, released when the init is done.

import type { LinearLayer } from '../../models/linearLayer';
import type { Tensor } from '../../tensor/tensor';
import type { Runtime } from '../../tensor/values';
import type { WeightView } from '../types';

export interface FrozenBase extends LinearLayer {
  denseWeight(rt: Runtime): WeightView;
}

export function releaseView(rt: Runtime, view: WeightView): void {
  if (view.owned) rt.release(view.tensor.data);
}

/** Runs `use` on the base's W [out, in] as f32 (a temporary for a packed base, released once `use` has finished). */
export async function withDenseWeight<T>(rt: Runtime, base: { denseWeight(rt: Runtime): WeightView }, use: (W: Tensor) => T | Promise<T>): Promise<T> {
  const view = base.denseWeight(rt);
  try {
    return await use(view.tensor);
  } finally {
    releaseView(rt, view);
  }
}
