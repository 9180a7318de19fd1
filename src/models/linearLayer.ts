// The slot every projection of a model goes through. A model owns its linear layers by their
// Hugging Face module path (e.g. `model.layers.0.self_attn.q_proj`, GPT-2 `h.0.attn.c_attn`), and
// adapters replace a slot with a layer that wraps the frozen base (adapters/). The base layer
// here is a dense weight W [out, in] (PyTorch nn.Linear layout; GPT-2's Conv1D weights are
// transposed to it at load) with an optional bias [out]. W may be packed 16-bit (a frozen bf16/f16
// checkpoint, tensor/values.ts): the forward and input gradient read it packed, and denseWeight
// hands out an f32 copy for what needs f32 values.
// When every method of a run keeps a base of its own (4-bit copies), the shared weights can be
// released after the inits (CausalLM.releaseProjections, train/baseRelease.ts): the slot keeps its
// DenseLinear (its shape, its bias, which the 4-bit bases share), and whatever still asks for the
// weights (the base model's forward, a new method on it, a quantization-error measurement) is told
// to reload the model.

import type { Graph } from '../tensor/graph';
import { linear } from '../tensor/ops/linear';
import type { Tensor } from '../tensor/tensor';
import { expandedWeight, type Runtime } from '../tensor/values';
import { UnsupportedError } from '../errors';

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

  /** Whether W was released (CausalLM.releaseProjections); forward and denseWeight then refuse. */
  get released(): boolean {
    return this.weight.data.released;
  }

  forward(g: Graph, x: Tensor): Tensor {
    if (this.released) throw releasedError(this.name);
    return linear(g, x, this.weight, this.bias);
  }

  /**
   * W as f32 [out, in]: W itself when it is f32 (`owned: false`, do not release), else an exact f32
   * copy of the packed weight the caller releases (`owned: true`), made for this one layer.
   */
  denseWeight(rt: Runtime): { readonly tensor: Tensor; readonly owned: boolean } {
    if (this.released) throw releasedError(this.name);
    return expandedWeight(rt, this.weight);
  }
}

/** What a projection whose shared weights were released says to whatever still needs them. */
export function releasedError(name: string): UnsupportedError {
  return new UnsupportedError(
    `The original weights of ${name} were released after the 4-bit methods' init, to save GPU memory: ` +
      'running the base model, starting another method or measuring a quantization error needs them. Reload the model to do that.',
  );
}
