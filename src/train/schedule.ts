// Learning-rate schedules: lr(step) for step = 0, 1, …, totalSteps − 1 (the index of the optimizer
// update about to run). W = warmupSteps, T = totalSteps, r = minRatio (default 0).
//   warmup, step < W:   lr = peak · (step + 1) / W        step 0 → peak/W, step W − 1 → peak
//                       (HF's schedules give lr 0 at step 0, a wasted update; this one does not)
//   after,  step ≥ W:   p = (step − W) / (T − W), clamped to [0, 1]   (step W → p = 0)
//     constant:  peak
//     linear:    peak · (1 − (1 − r)·p)
//     cosine:    peak · (r + (1 − r) · ½(1 + cos πp))
// p reaches 1 at step T, one past the last update, as in HF's get_linear/cosine_schedule_with_warmup:
// the last update (step T − 1) still moves, with lr = peak·(r + (1 − r)·(1 − p_last)) for linear.
// Steps past T stay at peak·r. Pure function; no GPU.

import { InputError, InternalError } from '../errors';

export type ScheduleKind = 'constant' | 'linear' | 'cosine';

export interface Schedule {
  readonly kind: ScheduleKind;
  readonly peak: number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
  /** Final learning rate as a fraction of peak (linear and cosine); default 0. */
  readonly minRatio?: number;
}

export function learningRate(schedule: Schedule, step: number): number {
  const { kind, peak, warmupSteps: W, totalSteps: T, minRatio: r = 0 } = schedule;
  if (!(Number.isFinite(peak) && peak >= 0)) throw new InputError(`learning rate peak must be finite and ≥ 0, is ${peak}`);
  if (!(Number.isInteger(W) && W >= 0)) throw new InputError(`warmupSteps must be an integer ≥ 0, is ${W}`);
  if (!(Number.isInteger(T) && T >= 1)) throw new InputError(`totalSteps must be an integer ≥ 1, is ${T}`);
  if (!(r >= 0 && r <= 1)) throw new InputError(`minRatio must be in [0, 1], is ${r}`);
  if (!(Number.isInteger(step) && step >= 0)) throw new InternalError(`step must be an integer ≥ 0, is ${step}`);
  if (step < W) return (peak * (step + 1)) / W;
  const p = T > W ? Math.min(1, (step - W) / (T - W)) : 1;
  switch (kind) {
    case 'constant':
      return peak;
    case 'linear':
      return peak * (1 - (1 - r) * p);
    case 'cosine':
      return peak * (r + (1 - r) * 0.5 * (1 + Math.cos(Math.PI * p)));
  }
}
