// Wanda's calibration: the ℓ2 norm of each input feature of every target projection over a few
// training batches, ‖X_j‖₂ = √(Σ_tokens x_j²), accumulated from each target's input as the
// shared model runs forward (captureInputs.ts).

import type { CausalLM } from '../../models/causalLM';
import { accumulateSquares, normsFromSquares, squaresAccumulator } from '../../linalg/pruning';
import type { Tensor } from '../../tensor/tensor';
import { releaseTensors, type Runtime } from '../../tensor/values';
import type { CalibrationBatch } from '../types';
import { InputCapture } from './captureInputs';

/** ‖X_j‖₂ [in] per target (the caller releases them). */
export async function activationNorms(
  rt: Runtime,
  model: CausalLM,
  targets: readonly string[],
  batches: readonly CalibrationBatch[],
): Promise<Map<string, Tensor>> {
  const squares = new Map<string, Tensor>();
  try {
    for (const name of targets) squares.set(name, squaresAccumulator(rt, model.linear(name).inFeatures, `${name} input squares`));
    const capture = new InputCapture(rt, model, targets, (target, x) => accumulateSquares(rt, x, squares.get(target.name)!));
    for (const batch of batches) await capture.forward(batch.ids, [batch.batchSize, batch.seqLen]);
    const norms = new Map<string, Tensor>();
    for (const [name, sq] of squares) norms.set(name, normsFromSquares(rt, sq, `${name} input norms`));
    return norms;
  } finally {
    releaseTensors(rt, ...squares.values());
  }
}
