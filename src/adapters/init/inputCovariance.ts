// CorDA's calibration: the mean input covariance C = (1/samples) Σ X̂ᵀX̂ [in, in] of every target
// projection (linalg/covariance.ts), as PEFT's preprocess_corda collects it with a forward hook
// while the user's run_model feeds one sample at a time. Here each calibration batch is run one
// sequence at a time (batch of one, so the per-sample max normalisation is PEFT's), cut after
// its last counted target + 1 to drop trailing padding (causal attention leaves the kept
// positions unchanged). Projections fed the same input tensor in a forward pass (Llama's q/k/v,
// gate/up) share one accumulator, which PEFT computes once per module.

import type { CausalLM } from '../../models/causalLM';
import type { LinearLayer } from '../../models/linearLayer';
import { accumulateScaledGram, scaleCovariance } from '../../linalg/covariance';
import { Graph } from '../../tensor/graph';
import type { Tensor } from '../../tensor/tensor';
import { releaseTensors, tokenIds, zerosParameter, type Runtime } from '../../tensor/values';
import type { CalibrationBatch } from '../types';

class CovarianceRecorder implements LinearLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  covariance: Tensor | undefined;

  constructor(
    readonly inner: LinearLayer,
    /** Inputs already accumulated in the current forward pass, with their accumulator. */
    readonly seen: Map<Tensor, Tensor>,
    readonly rt: Runtime,
  ) {
    this.inFeatures = inner.inFeatures;
    this.outFeatures = inner.outFeatures;
  }

  get name(): string {
    return this.inner.name;
  }

  forward(g: Graph, x: Tensor): Tensor {
    const shared = this.seen.get(x);
    if (shared && (this.covariance === undefined || this.covariance === shared)) {
      this.covariance = shared;
    } else {
      this.covariance ??= zerosParameter(this.rt, [this.inFeatures, this.inFeatures], `${this.name} input covariance`, false);
      accumulateScaledGram(this.rt, x.data, this.covariance.data);
      this.seen.set(x, this.covariance);
    }
    return this.inner.forward(g, x);
  }
}

/** Positions of row b to keep: through the last counted target, plus one (the next real token). */
function keptLength(batch: CalibrationBatch, b: number): number {
  const T = batch.seqLen;
  for (let t = T - 1; t >= 0; t--) if (batch.targets[b * T + t] !== -100) return Math.min(T, t + 2);
  return T;
}

/** C [in, in] per target, the mean over calibration sequences (the caller releases them; shared ones once). */
export async function inputCovariances(rt: Runtime, model: CausalLM, targets: readonly string[], batches: readonly CalibrationBatch[]): Promise<Map<string, Tensor>> {
  const seen = new Map<Tensor, Tensor>();
  const recorders = new Map<string, CovarianceRecorder>();
  for (const name of targets) recorders.set(name, new CovarianceRecorder(model.linear(name), seen, rt));
  const owned = () => [...new Set([...recorders.values()].flatMap((r) => (r.covariance ? [r.covariance] : [])))];
  let samples = 0;
  try {
    for (const batch of batches) {
      for (let b = 0; b < batch.batchSize; b++) {
        const length = keptLength(batch, b);
        const ids = Array.from({ length }, (_, t) => batch.ids[b * batch.seqLen + t]!);
        const g = new Graph(rt, false);
        try {
          model.forward(g, tokenIds(g, ids, [1, length]), { linears: recorders });
          seen.clear();
          await rt.sync();
        } finally {
          g.destroy();
        }
        samples++;
      }
    }
    if (samples === 0) throw new Error('no calibration sequence to collect input covariances from');
    const out = new Map<string, Tensor>();
    for (const [name, r] of recorders) {
      if (!r.covariance) throw new Error(`${name} received no input during calibration`);
      out.set(name, r.covariance);
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
