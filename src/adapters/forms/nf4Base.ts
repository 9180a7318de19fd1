// A frozen 4-bit base (QLoRA, QPiSSA, LoftQ): the weight kept as NF4 codes + block absmax and
// multiplied by the fused dequant-matmul (tensor/ops/nf4Linear.ts), never expanded to f32 for the
// forward or the input gradient. Owned by the method that quantized it.

import type { LinearLayer } from '../../models/linearLayer';
import type { Graph } from '../../tensor/graph';
import { nf4Linear } from '../../tensor/ops/nf4Linear';
import { dequantizeNf4, releaseNf4, type Nf4Weight } from '../../tensor/ops/nf4Weight';
import { Tensor } from '../../tensor/tensor';
import type { Runtime } from '../../tensor/values';
import type { OwnedBase, WeightView } from '../types';

export class Nf4Base implements LinearLayer, OwnedBase {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(
    readonly name: string,
    readonly weight: Nf4Weight,
    readonly bias?: Tensor,
  ) {
    [this.outFeatures, this.inFeatures] = weight.shape;
  }

  get bytes(): number {
    return this.weight.byteSize();
  }

  forward(g: Graph, x: Tensor): Tensor {
    return nf4Linear(g, x, this.weight, this.bias);
  }

  /** deq(Q) [out, in] as a new frozen leaf the caller releases (merges, exports, spectra). */
  denseWeight(rt: Runtime): WeightView {
    return { tensor: Tensor.leaf(dequantizeNf4(rt, this.weight), false, `${this.name}.weight`), owned: true };
  }

  release(rt: Runtime): void {
    releaseNf4(rt, this.weight);
  }
}
