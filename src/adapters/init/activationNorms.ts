// Wanda's calibration: the ℓ2 norm of each input feature of every target projection over a few
// training batches, ‖X_j‖₂ = √(Σ_tokens x_j²). The shared model runs forward (no gradients) with
// each target wrapped by a layer that accumulates its input's squares before calling it.

import type { CausalLM } from '../../models/causalLM';
import type { LinearLayer } from '../../models/linearLayer';
import { accumulateSquares, normsFromSquares, squaresAccumulator } from '../../linalg/pruning';
import { Graph } from '../../tensor/graph';
import type { Tensor } from '../../tensor/tensor';
import { releaseTensors, tokenIds, type Runtime } from '../../tensor/values';
import type { CalibrationBatch } from '../types';

class RecordingLinear implements LinearLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;

  constructor(
    readonly inner: LinearLayer,
    readonly squares: Tensor,
    readonly rt: Runtime,
  ) {
    this.inFeatures = inner.inFeatures;
    this.outFeatures = inner.outFeatures;
  }

  get name(): string {
    return this.inner.name;
  }

  forward(g: Graph, x: Tensor): Tensor {
    accumulateSquares(this.rt, x, this.squares);
    return this.inner.forward(g, x);
  }
}

/** ‖X_j‖₂ [in] per target (the caller releases them). */
export async function activationNorms(rt: Runtime, model: CausalLM, targets: readonly string[], batches: readonly CalibrationBatch[]): Promise<Map<string, Tensor>> {
  const recorders = new Map<string, RecordingLinear>();
  for (const name of targets) {
    const layer = model.linear(name);
    recorders.set(name, new RecordingLinear(layer, squaresAccumulator(rt, layer.inFeatures, `${name} input squares`), rt));
  }
  try {
    for (const batch of batches) {
      const g = new Graph(rt, false);
      try {
        model.forward(g, tokenIds(g, batch.ids, [batch.batchSize, batch.seqLen]), { linears: recorders });
        await rt.sync();
      } finally {
        g.destroy();
      }
    }
    const norms = new Map<string, Tensor>();
    for (const [name, r] of recorders) norms.set(name, normsFromSquares(rt, r.squares, `${name} input norms`));
    return norms;
  } finally {
    releaseTensors(rt, ...[...recorders.values()].map((r) => r.squares));
  }
}
