// VeRA's form (Kopiczko et al. 2024; PEFT tuners/vera/layer.py Linear.forward):
//   y = base(x) + (((x A_slᵀ) ⊙ d) B_slᵀ) ⊙ b,   i.e. ΔW = diag(b) B_sl diag(d) A_sl,
// with A [r, in_max] and B [out_max, r] frozen random projections SHARED by every adapted layer,
// sliced to the layer's shape as PEFT slices them: A_sl = A[:, :in] [r, in], B_sl = B[:out, :]
// [out, r]; trainable per layer d [r] and b [out]. No scale factor.
// Gradients follow from the ops (linear with frozen weights, mulColumns): with H = x A_slᵀ [N, r],
// U = (H ⊙ d) B_slᵀ [N, out] and G = ∂L/∂y: ∂L/∂b = Σ_n G ⊙ U, ∂L/∂d = Σ_n H ⊙ ((G ⊙ b) B_sl),
// ∂L/∂x = G W + ((G ⊙ b) B_sl ⊙ d) A_sl.
// Slices: B[:out, :] is a prefix of the row-major B, so it is a view; A[:, :in] is not
// contiguous, so VeraProjections keeps one owned copy per distinct in < in_max, shared by the
// layers of that width. The projections and their copies belong to VeraProjections (released and
// counted once, by the method), not to the layers: a layer's bytes are its d and b only.

import type { Graph } from '../../tensor/graph';
import { add } from '../../tensor/ops/elementwiseOps';
import { linear } from '../../tensor/ops/linear';
import { mulColumns } from '../../tensor/ops/scaling';
import { mergeScaledProduct } from '../../tensor/ops/scaledProductMerge';
import { Tensor } from '../../tensor/tensor';
import { leadingColumns, readTensor, releaseTensors, type Runtime } from '../../tensor/values';
import type { AdaptedLayer, WeightTime, WeightView } from '../types';
import { releaseView, type FrozenBase } from './frozenBase';
import { InternalError } from '../../errors';

/** The shared frozen projections and their per-shape slices. */
export class VeraProjections {
  readonly rank: number;
  readonly inMax: number;
  readonly outMax: number;
  private readonly columnSlices = new Map<number, Tensor>();
  private readonly rowSlices = new Map<number, Tensor>();

  constructor(
    /** [r, in_max], frozen */
    readonly A: Tensor,
    /** [out_max, r], frozen */
    readonly B: Tensor,
    /** The generator seed they were drawn with (PEFT's projection_prng_key). */
    readonly seed = 0,
  ) {
    [this.rank, this.inMax] = A.shape as [number, number];
    const [outMax, rB] = B.shape as [number, number];
    if (rB !== this.rank) throw new InternalError(`VeRA projections A [${A.shape.join(',')}] and B [${B.shape.join(',')}] have different ranks`);
    this.outMax = outMax;
  }

  /** A[:, :in] [r, in]: A itself at in_max, else one owned copy per width. */
  sliceA(rt: Runtime, inFeatures: number): Tensor {
    if (inFeatures > this.inMax) throw new InternalError(`VeRA: in ${inFeatures} exceeds the shared projection's ${this.inMax}`);
    if (inFeatures === this.inMax) return this.A;
    let slice = this.columnSlices.get(inFeatures);
    if (!slice) {
      const data = leadingColumns(rt, this.A.data, inFeatures, `vera_A[:, :${inFeatures}]`);
      slice = Tensor.leaf(data, false, `vera_A[:, :${inFeatures}]`);
      this.columnSlices.set(inFeatures, slice);
    }
    return slice;
  }

  /** B[:out, :] [out, r]: a view of B's first rows (no copy). */
  sliceB(outFeatures: number): Tensor {
    if (outFeatures > this.outMax) throw new InternalError(`VeRA: out ${outFeatures} exceeds the shared projection's ${this.outMax}`);
    if (outFeatures === this.outMax) return this.B;
    let slice = this.rowSlices.get(outFeatures);
    if (!slice) {
      slice = Tensor.leaf(this.B.data.prefix([outFeatures, this.rank]), false, `vera_B[:${outFeatures}, :]`);
      this.rowSlices.set(outFeatures, slice);
    }
    return slice;
  }

  /** A, B and the column copies (views cost nothing). */
  get bytes(): number {
    let n = this.A.data.size + this.B.data.size;
    for (const t of this.columnSlices.values()) n += t.data.size;
    return 4 * n;
  }

  release(rt: Runtime): void {
    releaseTensors(rt, this.A, this.B, ...this.columnSlices.values());
    this.columnSlices.clear();
    this.rowSlices.clear();
  }
}

export class VeraLayer implements AdaptedLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** A_sl [r, in], B_sl [out, r]: shared, not owned. */
  readonly A: Tensor;
  readonly B: Tensor;
  initial: { readonly d: Float32Array; readonly b: Float32Array } | undefined;

  constructor(
    readonly name: string,
    readonly base: FrozenBase,
    readonly projections: VeraProjections,
    rt: Runtime,
    /** [r], trainable */
    readonly d: Tensor,
    /** [out], trainable */
    readonly b: Tensor,
  ) {
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    if (d.shape.length !== 1 || d.shape[0] !== projections.rank || b.shape.length !== 1 || b.shape[0] !== base.outFeatures) {
      throw new InternalError(`${name}: d [${d.shape.join(',')}] and b [${b.shape.join(',')}] do not fit rank ${projections.rank} and out ${base.outFeatures}`);
    }
    this.A = projections.sliceA(rt, base.inFeatures);
    this.B = projections.sliceB(base.outFeatures);
  }

  get tensors(): Tensor[] {
    return [this.d, this.b];
  }

  get bytes(): number {
    return (this.d.data.size + this.b.data.size) * 4;
  }

  forward(g: Graph, x: Tensor): Tensor {
    const h = mulColumns(g, linear(g, x, this.A), this.d); // [N, r]
    const branch = mulColumns(g, linear(g, h, this.B), this.b); // [N, out]
    return add(g, this.base.forward(g, x), branch);
  }

  async snapshot(rt: Runtime): Promise<void> {
    this.initial = { d: await readTensor(rt, this.d), b: await readTensor(rt, this.b) };
  }

  /** W + diag(b) B_sl diag(d) A_sl, now or with the init vectors, as a new tensor. */
  effectiveWeight(rt: Runtime, when: WeightTime): WeightView {
    let d = this.d.data;
    let b = this.b.data;
    const uploads = [];
    if (when === 'init') {
      if (!this.initial) throw new InternalError(`${this.name}: no init snapshot was taken`);
      d = rt.uploadF32(this.initial.d, this.d.shape, `${this.name} d (init)`);
      b = rt.uploadF32(this.initial.b, this.b.shape, `${this.name} b (init)`);
      uploads.push(d, b);
    }
    const base = this.base.denseWeight(rt);
    const merged = mergeScaledProduct(rt, base.tensor.data, b, this.B.data, d, this.A.data, `${this.name}.weight`);
    releaseView(rt, base);
    rt.release(...uploads);
    return { tensor: Tensor.leaf(merged, false, `${this.name}.weight`), owned: true };
  }

  release(rt: Runtime): void {
    releaseTensors(rt, this.d, this.b);
  }
}
