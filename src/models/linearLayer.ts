// The slot every projection of a model goes through. A model owns its linear layers by their
// Hugging Face module path (e.g. `model.layers.0.self_attn.q_proj`, GPT-2 `h.0.attn.c_attn`), and
// adapters replace a slot with a layer that wraps the frozen base (adapters/). The base layer
// here is a dense weight W [out, in] (PyTorch nn.Linear layout; GPT-2's Conv1D weights are
// transposed to it at load) with an optional bias [out].

import type { Graph } from '../tensor/graph';
import { linear } from '../tensor/ops/linear';
import type { Tensor } from '../tensor/tensor';

export interface LinearLayer {
  /** Hugging Face module path. */
  readonly name: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** x [..., in] → y [..., out] */
  forward(g: Graph, x: Tensor): Tensor;
}

export class DenseLinear implements LinearLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(
    readonly name: string,
    /** [out, in] */
    readonly weight: Tensor,
    /** [out] */
    readonly bias?: Tensor,
  ) {
    const [outFeatures, inFeatures] = weight.shape as [number, number];
    this.outFeatures = outFeatures;
    this.inFeatures = inFeatures;
  }

  forward(g: Graph, x: Tensor): Tensor {
    return linear(g, x, this.weight, this.bias);
  }

  /** W itself (not a copy: the caller must not release it). */
  denseWeight(): { readonly tensor: Tensor; readonly owned: boolean } {
    return { tensor: this.weight, owned: false };
  }
}
