// The low-rank adapter form shared by LoRA, PiSSA, QLoRA, QPiSSA, LoftQ, SORSA and LoRA-SB:
//   y = base(x) + s · ((x Aᵀ) [⊙ S] [Rᵀ]) Bᵀ
// with A [r, in], B [out, r], optional S [r] (SORSA's diag(S)) and R [r, r] (LoRA-SB's mixing
// matrix), never materialising an [out, in] update. base is any frozen linear (dense, NF4).
// A dense base (f32 or packed 16-bit; shared, or a residual) or an NF4 base goes through
// loraLinear (tensor/ops/loraLinear.ts): the branch is added in the base product's epilogue and
// the backward takes 2–3 fused dispatches; S and R stay ops of their own between the factors. Any
// other base takes the plain composition of linear/scale/add ops.
// Which of A, B, S, R train is decided by each tensor's requiresGrad (LoRA-SB freezes A and B).
// Gradients follow from the ops (ADAPTERS.md "Gradients of a low-rank branch").

import { mergeLowRank, type LowRankUpdate } from '../../linalg/merge';
import type { Graph } from '../../tensor/graph';
import { add } from '../../tensor/ops/elementwiseOps';
import { linear } from '../../tensor/ops/linear';
import { loraLinear, type LoraBase } from '../../tensor/ops/loraLinear';
import { mulColumns, scale } from '../../tensor/ops/scaling';
import { Tensor } from '../../tensor/tensor';
import { readTensor, releaseTensors, type Runtime } from '../../tensor/values';
import type { AdaptedLayer, OwnedBase, WeightTime, WeightView } from '../types';
import { DenseLinear } from '../../models/linearLayer';
import { releaseView, type FrozenBase } from './frozenBase';
import { Nf4Base } from './nf4Base';
import { SnapshotUploads } from './snapshotUploads';
import { InternalError } from '../../errors';

export interface LowRankFactors {
  /** [r, in] */
  readonly A: Tensor;
  /** [out, r] */
  readonly B: Tensor;
  /** [r] (SORSA) */
  readonly S?: Tensor;
  /** [r, r] (LoRA-SB) */
  readonly R?: Tensor;
}

/** Host copies of the factors at init: the "before" of spectra, and the reference that PiSSA-like exports subtract. */
export interface InitialFactors {
  readonly A: Float32Array;
  readonly B: Float32Array;
  readonly S?: Float32Array;
  readonly R?: Float32Array;
}

export class LowRankLayer implements AdaptedLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  initial: InitialFactors | undefined;

  constructor(
    readonly name: string,
    readonly base: FrozenBase,
    readonly factors: LowRankFactors,
    readonly scaling: number,
    /** A base this layer owns (PiSSA's residual, QLoRA's 4-bit copy); shared bases are not released. */
    readonly ownedBase?: OwnedBase,
  ) {
    this.inFeatures = base.inFeatures;
    this.outFeatures = base.outFeatures;
    const [r, inA] = factors.A.shape as [number, number];
    const [outB, rB] = factors.B.shape as [number, number];
    if (inA !== base.inFeatures || outB !== base.outFeatures || rB !== r) {
      throw new InternalError(
        `${name}: A [${factors.A.shape.join(',')}] and B [${factors.B.shape.join(',')}] do not fit a [${base.outFeatures}, ${base.inFeatures}] layer`,
      );
    }
  }

  get tensors(): Tensor[] {
    const { A, B, S, R } = this.factors;
    return [A, B, ...(S ? [S] : []), ...(R ? [R] : [])];
  }

  get bytes(): number {
    return this.tensors.reduce((n, t) => n + t.data.size * 4, 0) + (this.ownedBase?.bytes ?? 0);
  }

  release(rt: Runtime): void {
    releaseTensors(rt, ...this.tensors);
    this.ownedBase?.release(rt);
  }

  /** Reads the factors back now, as the reference an export subtracts and the "before" of a spectrum. */
  async snapshot(rt: Runtime): Promise<void> {
    const { A, B, S, R } = this.factors;
    this.initial = {
      A: await readTensor(rt, A),
      B: await readTensor(rt, B),
      S: S ? await readTensor(rt, S) : undefined,
      R: R ? await readTensor(rt, R) : undefined,
    };
  }

  /** base + s·B M A with the factors now or at init, as a new tensor. */
  effectiveWeight(rt: Runtime, when: WeightTime): WeightView {
    const uploads = new SnapshotUploads(rt);
    let update: LowRankUpdate = { ...this.factors, scaling: this.scaling };
    if (when === 'init') {
      const initial = this.initial;
      if (!initial) throw new InternalError(`${this.name}: no init snapshot was taken`);
      const { A, B, S, R } = this.factors;
      update = {
        A: uploads.upload(initial.A, A),
        B: uploads.upload(initial.B, B),
        S: S && initial.S ? uploads.upload(initial.S, S) : undefined,
        R: R && initial.R ? uploads.upload(initial.R, R) : undefined,
        scaling: this.scaling,
      };
    }
    const base = this.base.denseWeight(rt);
    try {
      return { tensor: mergeLowRank(rt, base.tensor, update, `${this.name}.weight`), owned: true };
    } finally {
      releaseView(rt, base);
      uploads.release();
    }
  }

  get rank(): number {
    return this.factors.A.shape[0]!;
  }

  forward(g: Graph, x: Tensor): Tensor {
    const { A, B, S, R } = this.factors;
    const fused = fusedBase(this.base);
    if (fused) {
      const middle = S || R ? (gm: Graph, h: Tensor) => (R ? linear(gm, S ? mulColumns(gm, h, S) : h, R) : mulColumns(gm, h, S!)) : undefined;
      return loraLinear(g, x, fused, { A, B, scaling: this.scaling, ...(middle ? { middle } : {}) });
    }
    let h = linear(g, x, A); // [N, r]
    if (S) h = mulColumns(g, h, S);
    if (R) h = linear(g, h, R);
    let branch = linear(g, h, B); // [N, out]
    if (this.scaling !== 1) branch = scale(g, branch, this.scaling);
    return add(g, this.base.forward(g, x), branch);
  }
}

/** The base as loraLinear takes it, when it is one of the kinds its kernels fuse. */
function fusedBase(base: FrozenBase): LoraBase | undefined {
  if (base instanceof DenseLinear && !base.weight.data.blocks) return { kind: 'dense', weight: base.weight, ...(base.bias ? { bias: base.bias } : {}) };
  if (base instanceof Nf4Base) return { kind: 'nf4', weight: base.weight, ...(base.bias ? { bias: base.bias } : {}) };
  return undefined;
}
