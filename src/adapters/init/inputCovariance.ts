// CorDA's calibration: the mean input covariance C = (1/samples) Σ X̂ᵀX̂ [in, in] of every target
// projection (linalg/covariance.ts), as PEFT's preprocess_corda collects it with a forward hook
// (here captureInputs.ts) while the user's run_model feeds one sample at a time. Here each
// calibration batch is run one sequence at a time (batch of one, so the per-sample max
// normalisation is PEFT's), cut after its last counted target + 1 to drop trailing padding
// (causal attention leaves the kept positions unchanged). Projections fed the same input tensor
// in a forward pass (Llama's q/k/v, gate/up) share one accumulator, which PEFT computes once per
// module.

import type { CausalLM } from '../../models/causalLM';
import { accumulateScaledGram, scaleCovariance } from '../../linalg/covariance';
import type { Tensor } from '../../tensor/tensor';
import { releaseTensors, zerosParameter, type Runtime } from '../../tensor/values';
import type { CalibrationBatch } from '../types';
import { InputCapture } from './captureInputs';
import { InputError, InternalError } from '../../errors';

/** Positions of row b to keep: through the last counted target, plus one (the next real token). */
function keptLength(batch: CalibrationBatch, b: number): number {
  const T = batch.seqLen;
  for (let t = T - 1; t >= 0; t--) if (batch.targets[b * T + t] !== -100) return Math.min(T, t + 2);
  return T;
}

/** C [in, in] per target, the mean over calibration sequences (the caller releases them; shared ones once). */
export async function inputCovariances(
  rt: Runtime,
  model: CausalLM,
  targets: readonly string[],
  batches: readonly CalibrationBatch[],
): Promise<Map<string, Tensor>> {
  const covariances = new Map<string, Tensor>();
  /** Inputs already accumulated in the current forward pass, with their accumulator. */
  const seen = new Map<Tensor, Tensor>();
  const capture = new InputCapture(rt, model, targets, (target, x) => {
    const own = covariances.get(target.name);
    const shared = seen.get(x);
    if (shared && (own === undefined || own === shared)) {
      covariances.set(target.name, shared);
      return;
    }
    const C = own ?? zerosParameter(rt, [target.inFeatures, target.inFeatures], `${target.name} input covariance`, false);
    covariances.set(target.name, C);
    accumulateScaledGram(rt, x.data, C.data);
    seen.set(x, C);
  });
  const owned = () => [...new Set(covariances.values())];
  let samples = 0;
  try {
    for (const batch of batches) {
      for (let b = 0; b < batch.batchSize; b++) {
        const length = keptLength(batch, b);
        const ids = Array.from({ length }, (_, t) => batch.ids[b * batch.seqLen + t]!);
        await capture.forward(ids, [1, length]);
        seen.clear();
        samples++;
      }
    }
    if (samples === 0) throw new InputError('no calibration sequence to collect input covariances from');
    const out = new Map<string, Tensor>();
    for (const name of targets) {
      const C = covariances.get(name);
      if (!C) throw new InternalError(`${name} received no input during calibration`);
      out.set(name, C);
    }
    for (const C of owned()) scaleCovariance(rt, C.data, 1 / samples);
    return out;
  } catch (error) {
    releaseTensors(rt, ...owned());
    throw error;
  }
}

/** Releases what inputCovariances returned (each shared accumulator once). */
export function releaseCovariances(rt: Runtime, covariances: ReadonlyMap<string, Tensor>): void {
  releaseTensors(rt, ...new Set(covariances.values()));
}
