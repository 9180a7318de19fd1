// The frozen base model's validation loss (no adapters), measured once before the first step so
// the charts have a reference point "base" at step 0: where every method starts from.
// Each block runs on a child graph that keeps only its output (Graph.checkpoint, which a graph with
// gradients off would skip): nothing of the base requires a gradient, so nothing is recorded, and
// the evaluation holds one block's activations at a time beside the model, not every block's (the
// same kernels: the loss is bit for bit the plain forward's). In a run of 4-bit methods only the
// model holds every projection for this while (studioRun.ts), so this is that run's first peak.

import type { CausalLM } from '../models/causalLM';
import { Graph } from '../tensor/graph';
import { readTensor, targetIds, tokenIds, type Runtime } from '../tensor/values';
import type { Batch } from '../train/trainer';

/** Mean cross-entropy (nats per counted token) of the base model over `batches`; NaN without counted tokens. */
export async function baseValidationLoss(rt: Runtime, model: CausalLM, batches: readonly Batch[]): Promise<number> {
  let total = 0;
  let counted = 0;
  for (const batch of batches) {
    let tokens = 0;
    for (let i = 0; i < batch.targets.length; i++) if (batch.targets[i]! >= 0) tokens++;
    if (tokens === 0) continue;
    const g = new Graph(rt, true);
    try {
      const shape = [batch.batchSize, batch.seqLen];
      const [value] = await readTensor(rt, model.loss(g, tokenIds(g, batch.ids, shape), targetIds(g, batch.targets, shape), { checkpoint: true }));
      total += value! * tokens;
      counted += tokens;
    } finally {
      g.destroy();
    }
  }
  return counted === 0 ? Number.NaN : total / counted;
}
