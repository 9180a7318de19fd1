// A dense frozen base a method owns: PiSSA's and SORSA's residual W_res [out, in] (the original
// bias, if any, is shared).

import { DenseLinear } from '../../models/linearLayer';
import type { Tensor } from '../../tensor/tensor';
import { releaseTensors, type Runtime } from '../../tensor/values';
import type { OwnedBase } from '../types';

export class ResidualBase extends DenseLinear implements OwnedBase {
  constructor(name: string, residual: Tensor, bias?: Tensor) {
    super(name, residual, bias);
  }

  get bytes(): number {
    return this.weight.data.size * 4;
  }

  release(rt: Runtime): void {
    releaseTensors(rt, this.weight);
  }
}
