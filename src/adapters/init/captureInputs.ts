// How calibration sees the inputs of the target projections: the shared model runs forward (no
// gradients) with each target wrapped by a layer that hands its input x [..., in] to a sink before
// calling the target itself. EVA (inputComponents.ts), CorDA (inputCovariance.ts) and Wanda
// (activationNorms.ts) differ only in what their sinks accumulate; this file only delivers.
// A sink records GPU work on x while the forward pass is being built: x lives until that pass's
// graph is destroyed, after the work has finished. Projections that read the very same tensor in
// a pass (Llama's q/k/v, gate/up) receive the same Tensor object, which is how sinks find inputs
// they share. Nothing here keeps state between passes.

import type { CausalLM } from '../../models/causalLM';
import type { LinearLayer } from '../../models/linearLayer';
import { Graph } from '../../tensor/graph';
import type { Tensor } from '../../tensor/tensor';
import { tokenIds, type Runtime } from '../../tensor/values';

/** Receives a target's input x [..., in]; `target` is the model's own projection (name, widths). */
export type InputSink = (target: LinearLayer, x: Tensor) => void;

class CapturingLinear implements LinearLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(
    readonly inner: LinearLayer,
    readonly sink: InputSink,
  ) {
    this.inFeatures = inner.inFeatures;
    this.outFeatures = inner.outFeatures;
  }

  get name(): string {
    return this.inner.name;
  }

  forward(g: Graph, x: Tensor): Tensor {
    this.sink(this.inner, x);
    return this.inner.forward(g, x);
  }
}

/** The targets of `model` wrapped to send their inputs to `sink`, for forward passes over token ids. */
export class InputCapture {
  private readonly linears: ReadonlyMap<string, LinearLayer>;

  constructor(
    private readonly rt: Runtime,
    private readonly model: CausalLM,
    targets: readonly string[],
    sink: InputSink,
  ) {
    this.linears = new Map(targets.map((name) => [name, new CapturingLinear(model.linear(name), sink)]));
  }

  /** One forward pass over ids [B, T] (shape [B, T]); resolves when the GPU has finished it. */
  async forward(ids: ArrayLike<number>, shape: readonly [number, number]): Promise<void> {
    const g = new Graph(this.rt, false);
    try {
      this.model.forward(g, tokenIds(g, ids, shape), { linears: this.linears });
      await this.rt.sync();
    } finally {
      g.destroy();
    }
  }
}
