// SPP's form (Lu et al. 2024): W'_ij = W_ij · (1 + s·Wcol[i]·Wrow[k(i), j]) over a pruned frozen
// W [out, in] that the layer owns, with trainable Wrow [16, in] and Wcol [out]; pruned zeros stay
// zero in training and in the merge (tensor/ops/sppLinear.ts).

import type { Graph } from '../../tensor/graph';
import { mergeSpp, sppLinear } from '../../tensor/ops/sppLinear';
import { Tensor } from '../../tensor/tensor';
import { readTensor, releaseTensors, type Runtime } from '../../tensor/values';
import type { AdaptedLayer, WeightTime, WeightView } from '../types';

export class SppLayer implements AdaptedLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Exact zeros of the pruned copy, counted at init (the sparsity the training must keep). */
  prunedZeros: number | undefined;

  constructor(
    readonly name: string,
    /** [out, in], pruned, frozen, owned */
    readonly pruned: Tensor,
    /** [16, in] */
    readonly Wrow: Tensor,
    /** [out] */
    readonly Wcol: Tensor,
    readonly scaling: number,
    readonly bias?: Tensor,
  ) {
    [this.outFeatures, this.inFeatures] = pruned.shape as [number, number];
  }

  get tensors(): Tensor[] {
    return [this.Wrow, this.Wcol];
  }

  get bytes(): number {
    return (this.pruned.data.size + this.Wrow.data.size + this.Wcol.data.size) * 4;
  }

  forward(g: Graph, x: Tensor): Tensor {
    return sppLinear(g, x, this.pruned, this.Wrow, this.Wcol, this.scaling, this.bias);
  }

  async snapshot(rt: Runtime): Promise<void> {
    this.prunedZeros = countZeros(await readTensor(rt, this.pruned));
  }

  /** Now: the sparse merge; at init ΔW = 0, so the pruned copy itself. */
  effectiveWeight(rt: Runtime, when: WeightTime): WeightView {
    return when === 'init' ? { tensor: this.pruned, owned: false } : { tensor: this.mergedWeight(rt), owned: true };
  }

  /** Exact zeros of the merged weight now. */
  async zerosNow(rt: Runtime): Promise<number> {
    const merged = this.mergedWeight(rt);
    try {
      return countZeros(await readTensor(rt, merged));
    } finally {
      releaseTensors(rt, merged);
    }
  }

  /** W' with exactly the pruned zero pattern (a new frozen leaf). */
  mergedWeight(rt: Runtime): Tensor {
    return Tensor.leaf(mergeSpp(rt, this.pruned.data, this.Wrow.data, this.Wcol.data, this.scaling), false, `${this.name}.weight`);
  }

  release(rt: Runtime): void {
    releaseTensors(rt, this.pruned, this.Wrow, this.Wcol);
  }
}

function countZeros(values: Float32Array): number {
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return zeros;
}
