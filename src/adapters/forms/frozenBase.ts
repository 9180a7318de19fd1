// The frozen base under an adapter form: any linear slot that can also hand out its weight as a
// dense [out, in] tensor (the shared DenseLinear, a residual, an NF4 copy dequantized on demand),
// for merges, exports and spectra. The forward pass never asks for it.

import type { LinearLayer } from '../../models/linearLayer';
import type { Runtime } from '../../tensor/values';
import type { WeightView } from '../types';

export interface FrozenBase extends LinearLayer {
  denseWeight(rt: Runtime): WeightView;
}

export function releaseView(rt: Runtime, view: WeightView): void {
  if (view.owned) rt.release(view.tensor.data);
}
