// A sparse trainable update on the shared frozen weight (SHiRA's form, ADAPTERS.md):
//   y = x (W + ΔW)ᵀ (+ b),  ΔW [out, in] zero except at k fixed flat positions idx [k] (u32,
//   row-major i·in + j, ascending, distinct), where it holds the trainable values [k].
// W and its bias are the shared model's (never copied or modified); the layer owns only values
// and idx (8k bytes). The mask is fixed at init: every entry off it stays exactly W's, through
// training and in the merge (tensor/ops/sparseDeltaLinear.ts).

import type { DenseLinear } from '../../models/linearLayer';
import type { Graph } from '../../tensor/graph';
import { mergedSparseDelta, sparseDeltaLinear } from '../../tensor/ops/sparseDeltaLinear';
import { Tensor } from '../../tensor/tensor';
import { readTensor, releaseTensors, type Runtime } from '../../tensor/values';
import type { AdaptedLayer, WeightTime, WeightView } from '../types';
import { InternalError } from '../../errors';

export class SparseDeltaLayer implements AdaptedLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** The trainable values at init (SHiRA: zeros), for the 'init' weight. */
  initialValues: Float32Array | undefined;

  constructor(
    readonly name: string,
    readonly base: DenseLinear,
    /** [k], trainable */
    readonly values: Tensor,
    /** [k] u32 on the GPU, frozen */
    readonly indices: Tensor,
    /** The same positions on the host (exports, invariants). */
    readonly hostIndices: Uint32Array,
  ) {
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    const total = this.inFeatures * this.outFeatures;
    if (values.shape.length !== 1 || values.shape[0] !== hostIndices.length || indices.data.size !== hostIndices.length) {
      throw new InternalError(`${name}: ${hostIndices.length} positions but values [${values.shape.join(',')}] and indices [${indices.shape.join(',')}]`);
    }
    for (let t = 0; t < hostIndices.length; t++) {
      if (hostIndices[t]! >= total || (t > 0 && hostIndices[t]! <= hostIndices[t - 1]!)) {
        throw new InternalError(`${name}: positions must be ascending, distinct and below ${total} (entry ${t} is ${hostIndices[t]})`);
      }
    }
  }

  /** The trainable values only: the u32 positions are not parameters (released with the layer). */
  get tensors(): Tensor[] {
    return [this.values];
  }

  get bytes(): number {
    return (this.values.data.size + this.indices.data.size) * 4;
  }

  forward(g: Graph, x: Tensor): Tensor {
    return sparseDeltaLinear(g, x, this.base.weight, this.values, this.indices, this.base.bias);
  }

  async snapshot(rt: Runtime): Promise<void> {
    this.initialValues = await readTensor(rt, this.values);
  }

  /** W + ΔW now; at init W itself when the values started at zero (SHiRA), else W + ΔW₀. */
  effectiveWeight(rt: Runtime, when: WeightTime): WeightView {
    if (when === 'now') return { tensor: mergedSparseDelta(rt, this.base.weight, this.values, this.indices, `${this.name}.weight`), owned: true };
    const initial = this.initialValues;
    if (!initial) throw new InternalError(`${this.name}: no init snapshot was taken`);
    if (initial.every((v) => v === 0)) return this.base.denseWeight(rt);
    const upload = Tensor.leaf(rt.uploadF32(initial, [initial.length], `${this.name} values (init)`), false, `${this.name} values (init)`);
    try {
      return { tensor: mergedSparseDelta(rt, this.base.weight, upload, this.indices, `${this.name}.weight`), owned: true };
    } finally {
      releaseTensors(rt, upload);
    }
  }

  release(rt: Runtime): void {
    releaseTensors(rt, this.values, this.indices);
  }
}
