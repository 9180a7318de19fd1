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
// A model loaded with deferred projections (models/deferredWeight.ts) holds no W at first: an init
// asks for it with hold() and lets it go with drop(); until then W is refused as a released one is.

import type { Graph } from '../tensor/graph';
import { linear } from '../tensor/ops/linear';
import type { Tensor } from '../tensor/tensor';
import { expandedWeight, type Runtime } from '../tensor/values';
import { UnsupportedError } from '../errors';
import { DeferredWeight } from './deferredWeight';

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
    /** W [out, in], or the loader's DeferredWeight that reads it on demand. */
    private readonly source: Tensor | DeferredWeight,
    /** [out] */
    readonly bias?: Tensor,
  ) {
    const [outFeatures, inFeatures] = this.weight.shape as [number, number];
    this.outFeatures = outFeatures;
    this.inFeatures = inFeatures;
  }

  /** [out, in] */
  get weight(): Tensor {
    return this.source instanceof DeferredWeight ? this.source.tensor : this.source;
  }

  /** Whether W is not held (released by CausalLM.releaseProjections, or deferred and not read yet); forward and denseWeight then refuse. */
  get released(): boolean {
    return this.weight.data.released;
  }

  /** Whether W is read from the checkpoint on demand (hold) rather than kept from the load. */
  get deferred(): boolean {
    return this.source instanceof DeferredWeight;
  }

  /** A deferred W is read from the checkpoint unless it is held; returns whether it was read now (false for a weight kept from the load). */
  hold(rt: Runtime): Promise<boolean> {
    return this.source instanceof DeferredWeight ? this.source.hold(rt) : Promise.resolve(false);
  }

  /** Releases a deferred W (hold reads it again); a weight kept from the load stays. */
  drop(rt: Runtime): void {
    if (this.source instanceof DeferredWeight) this.source.drop(rt);
  }

  forward(g: Graph, x: Tensor): Tensor {
    if (this.released) throw releasedError(this.name, this.deferred);
    return linear(g, x, this.weight, this.bias);
  }

  /**
   * W as f32 [out, in]: W itself when it is f32 (`owned: false`, do not release), else an exact f32
   * copy of the packed weight the caller releases (`owned: true`), made for this one layer.
   */
  denseWeight(rt: Runtime): { readonly tensor: Tensor; readonly owned: boolean } {
    if (this.released) throw releasedError(this.name, this.deferred);
    return expandedWeight(rt, this.weight);
  }
}

/** What a projection whose shared weights were released (or never loaded: `deferred`) says to whatever still needs them. */
export function releasedError(name: string, deferred = false): UnsupportedError {
  if (deferred) {
    return new UnsupportedError(
      `The original weights of ${name} are not held: the model was loaded for 4-bit methods only, which read each weight from the checkpoint while they quantize it, to save GPU memory. ` +
        'Running the base model, a method that keeps the original weights or a quantization-error measurement after the init needs them: reload the model for that.',
    );
  }
  return new UnsupportedError(
    `The original weights of ${name} were released after the 4-bit methods' init, to save GPU memory: ` +
      'running the base model, starting another method or measuring a quantization error needs them. Reload the model to do that.',
  );
}
