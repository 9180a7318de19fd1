// LoRA-SB's data step: the weight gradients of the dense (shared, frozen) model summed over a
// few calibration batches, G = Σ_b ∇_W L_b, for the target projections only. The shared weights
// are made to require a gradient for the duration and restored afterwards; nothing else of the
// model changes. Returns one gradient per target (owned by the caller: release with
// releaseGradients).

import { DenseLinear } from '../../models/linearLayer';
import type { CausalLM } from '../../models/causalLM';
import { Graph } from '../../tensor/graph';
import { crossEntropy } from '../../tensor/ops/crossEntropy';
import type { Tensor } from '../../tensor/tensor';
import { targetIds, tokenIds, type Runtime } from '../../tensor/values';
import type { CalibrationBatch } from '../types';
import { InternalError } from '../../errors';

export interface EstimatedGradients {
  /** The weight tensors whose .grad holds G. */
  readonly weights: ReadonlyMap<string, Tensor>;
  readonly batches: number;
}

export async function estimateGradients(
  rt: Runtime,
  model: CausalLM,
  targets: readonly string[],
  batches: readonly CalibrationBatch[],
  onBatch?: (done: number) => void,
): Promise<EstimatedGradients> {
  const weights = new Map<string, Tensor>();
  for (const name of targets) {
    const layer = model.linear(name);
    if (!(layer instanceof DenseLinear)) throw new InternalError(`${name} is not a dense projection`);
    weights.set(name, layer.weight);
  }
  if (model.parameters().some((p) => p.tensor.requiresGrad)) throw new InternalError('gradient estimation expects a frozen shared model');
  for (const w of weights.values()) w.requiresGrad = true;
  try {
    for (const [i, batch] of batches.entries()) {
      const g = new Graph(rt);
      try {
        const shape = [batch.batchSize, batch.seqLen];
        const logits = model.forward(g, tokenIds(g, batch.ids, shape));
        g.backward(crossEntropy(g, logits, targetIds(g, batch.targets, shape)));
      } finally {
        g.destroy();
      }
      await rt.sync();
      onBatch?.(i + 1);
    }
  } finally {
    for (const w of weights.values()) w.requiresGrad = false;
  }
  return { weights, batches: batches.length };
}

export function releaseGradients(rt: Runtime, estimate: EstimatedGradients): void {
  for (const w of estimate.weights.values()) {
    rt.release(w.grad);
    w.grad = undefined;
  }
}
