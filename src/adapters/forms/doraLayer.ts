// DoRA's form (Liu et al. 2024, eq. 5): the shared dense W [out, in] (and bias) frozen, LoRA
// factors A [r, in], B [out, r] and a magnitude m [out] trained:
//   W' = diag(m / ‖W + sBA‖_row) (W + sBA),   y = x W'ᵀ + b
// with the row norm (over the input dimension) a constant in backward (paper §4.3, PEFT
// dora.py). The forward never forms W + sBA (tensor/ops/doraLinear.ts); the merge does, once:
// W + sBA [out, in] dense, its row norms, then the rows scaled in place (PEFT's merge_safe).
// The layer owns ‖W_i‖² [out] (computed once; the norms per step start from it).
// Held norms: holdNorms() computes ‖W + sBA‖² now and the forward uses it until
// releaseHeldNorms() — PEFT's DoRA cache (ENABLE_DORA_CACHING, eval mode); the contract battery
// holds them while probing finite differences, which is what "the norm is a constant" means.

import type { DenseLinear } from '../../models/linearLayer';
import type { Graph } from '../../tensor/graph';
import { doraLinear, doraNormSq, mergeDora } from '../../tensor/ops/doraLinear';
import { Tensor } from '../../tensor/tensor';
import { readTensor, releaseTensors, type Runtime } from '../../tensor/values';
import type { AdaptedLayer, AdaptedModel, WeightTime, WeightView } from '../types';
import { SnapshotUploads } from './snapshotUploads';
import { InternalError } from '../../errors';

/** Host copies of the trained tensors at init (B = 0 and m = ‖W‖ for DoRA's own init). */
export interface DoraInitial {
  readonly A: Float32Array;
  readonly B: Float32Array;
  readonly m: Float32Array;
}

export class DoraLayer implements AdaptedLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  initial: DoraInitial | undefined;
  private held: Tensor | undefined;

  constructor(
    readonly name: string,
    readonly base: DenseLinear,
    /** [r, in] */
    readonly A: Tensor,
    /** [out, r] */
    readonly B: Tensor,
    /** [out], PEFT's lora_magnitude_vector */
    readonly m: Tensor,
    readonly scaling: number,
    /** ‖W_i‖² [out], frozen, owned */
    readonly wsq: Tensor,
  ) {
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    const [r, inA] = A.shape as [number, number];
    if (inA !== base.inFeatures || B.shape[0] !== base.outFeatures || B.shape[1] !== r || m.shape[0] !== base.outFeatures) {
      throw new InternalError(
        `${name}: A [${A.shape.join(',')}], B [${B.shape.join(',')}], m [${m.shape.join(',')}] do not fit a [${base.outFeatures}, ${base.inFeatures}] layer`,
      );
    }
  }

  get rank(): number {
    return this.A.shape[0]!;
  }

  get tensors(): Tensor[] {
    return [this.A, this.B, this.m];
  }

  get bytes(): number {
    return (this.A.data.size + this.B.data.size + this.m.data.size + this.wsq.data.size) * 4;
  }

  forward(g: Graph, x: Tensor): Tensor {
    return doraLinear(g, x, this.base.weight, this.A, this.B, this.m, this.scaling, this.wsq, { bias: this.base.bias, normSq: this.held });
  }

  async snapshot(rt: Runtime): Promise<void> {
    this.initial = { A: await readTensor(rt, this.A), B: await readTensor(rt, this.B), m: await readTensor(rt, this.m) };
  }

  /** diag(m/‖W + sBA‖)(W + sBA) with the tensors now or at init, as a new tensor. */
  effectiveWeight(rt: Runtime, when: WeightTime): WeightView {
    const uploads = new SnapshotUploads(rt);
    let A = this.A;
    let B = this.B;
    let m = this.m;
    if (when === 'init') {
      if (!this.initial) throw new InternalError(`${this.name}: no init snapshot was taken`);
      A = uploads.upload(this.initial.A, this.A);
      B = uploads.upload(this.initial.B, this.B);
      m = uploads.upload(this.initial.m, this.m);
    }
    try {
      return { tensor: mergeDora(rt, this.base.weight, A, B, m, this.scaling, `${this.name}.weight`), owned: true };
    } finally {
      uploads.release();
    }
  }

  /** Computes ‖W + sBA‖² from the factors now; the forward uses it until releaseHeldNorms(). */
  holdNorms(rt: Runtime): void {
    this.releaseHeldNorms(rt);
    this.held = doraNormSq(rt, this.base.weight, this.A, this.B, this.scaling, this.wsq);
  }

  releaseHeldNorms(rt: Runtime): void {
    if (this.held) releaseTensors(rt, this.held);
    this.held = undefined;
  }

  release(rt: Runtime): void {
    this.releaseHeldNorms(rt);
    releaseTensors(rt, this.A, this.B, this.m, this.wsq);
  }
}

/** Holds every DoRA layer's norms at their current value; returns the release. */
export function holdDoraNorms(rt: Runtime, adapted: AdaptedModel): () => void {
  const layers = [...adapted.linears.values()].filter((l): l is DoraLayer => l instanceof DoraLayer);
  for (const layer of layers) layer.holdNorms(rt);
  return () => {
    for (const layer of layers) layer.releaseHeldNorms(rt);
  };
}
