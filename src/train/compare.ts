// A comparison: several methods initialised against one shared frozen model and trained on
// identical batches in identical order (one seeded batcher), interleaved step by step so their
// curves grow together. Each method has its own trainer (AdamW state) and reports its memory.
// Validation every `evalEvery` steps on the same validation batches for every method.

import { resolveSettings, type AdaptedModel, type CalibrationBatch, type InitProgress, type MethodId, type MethodSettings } from '../adapters/types';
import { methodById } from '../adapters/registry';
import type { CausalLM } from '../models/causalLM';
import type { Runtime } from '../tensor/values';
import type { Schedule } from './schedule';
import { Trainer, type Batch, type StepMetrics } from './trainer';

export interface MethodChoice {
  readonly id: MethodId;
  readonly settings?: MethodSettings;
  /** Overrides of the shared optimisation settings (e.g. QLoRA's clip 0.3). */
  readonly learningRate?: number;
  readonly clipNorm?: number;
  readonly weightDecay?: number;
}

export interface CompareOptions {
  readonly model: CausalLM;
  readonly methods: readonly MethodChoice[];
  readonly targets: readonly string[];
  readonly steps: number;
  readonly schedule: Omit<Schedule, 'totalSteps'>;
  readonly clipNorm: number;
  readonly weightDecay: number;
  readonly seed: number;
  readonly trainBatch: (step: number) => Batch;
  readonly validationBatches: readonly Batch[];
  readonly evalEvery: number;
  readonly calibration?: () => readonly CalibrationBatch[];
  readonly onInit?: (progress: InitProgress) => void;
  readonly onStep?: (method: MethodId, metrics: StepMetrics & { ms: number }) => void;
  readonly onEval?: (method: MethodId, step: number, loss: number) => void;
  /** Checked between steps; returning true stops the run. */
  readonly shouldStop?: () => boolean;
}

export interface MethodReport {
  readonly id: MethodId;
  readonly trainableParams: number;
  /** Adapter tensors, owned bases and optimizer state (the shared base not counted). */
  readonly bytes: number;
  readonly initMs: number;
  readonly steps: (StepMetrics & { ms: number })[];
  readonly validation: { step: number; loss: number }[];
  readonly trainMs: number;
  /** Set when the run stopped (non-finite loss). */
  readonly stoppedAt?: { step: number; reason: string };
}

interface Running {
  readonly choice: MethodChoice;
  readonly adapted: AdaptedModel;
  readonly trainer: Trainer;
  readonly report: { -readonly [K in keyof MethodReport]: MethodReport[K] };
}

export async function runComparison(rt: Runtime, options: CompareOptions): Promise<MethodReport[]> {
  const running: Running[] = [];
  try {
    for (const choice of options.methods) {
      const method = methodById(choice.id);
      const start = performance.now();
      const adapted = await method.create(
        { rt, model: options.model, targets: options.targets, seed: options.seed, learningRate: choice.learningRate ?? options.schedule.peak, calibration: options.calibration, onProgress: options.onInit },
        resolveSettings(method, choice.settings),
      );
      const trainer = new Trainer(rt, adapted, {
        schedule: { ...options.schedule, peak: choice.learningRate ?? options.schedule.peak, totalSteps: options.steps },
        clipNorm: choice.clipNorm ?? options.clipNorm,
        weightDecay: choice.weightDecay ?? options.weightDecay,
      });
      await rt.sync();
      const trainableParams = adapted.trainable.reduce((n, t) => n + t.tensor.data.size, 0);
      running.push({
        choice,
        adapted,
        trainer,
        report: { id: choice.id, trainableParams, bytes: adapted.extraBytes + trainer.optimizerBytes(), initMs: performance.now() - start, steps: [], validation: [], trainMs: 0 },
      });
    }
    for (let step = 0; step < options.steps; step++) {
      if (options.shouldStop?.()) break;
      const batch = options.trainBatch(step);
      for (const r of running) {
        if (r.report.stoppedAt) continue;
        const start = performance.now();
        const metrics = await r.trainer.step(batch);
        const ms = performance.now() - start;
        r.report.trainMs += ms;
        const row = { ...metrics, ms };
        r.report.steps.push(row);
        options.onStep?.(r.choice.id, row);
        if (!Number.isFinite(metrics.loss)) r.report.stoppedAt = { step, reason: `the loss became ${metrics.loss} at step ${step}` };
      }
      const last = step === options.steps - 1;
      if (options.validationBatches.length > 0 && ((step + 1) % options.evalEvery === 0 || last)) {
        for (const r of running) {
          if (r.report.stoppedAt) continue;
          const loss = await r.trainer.evaluate(options.validationBatches);
          r.report.validation.push({ step: step + 1, loss });
          options.onEval?.(r.choice.id, step + 1, loss);
        }
      }
    }
    return running.map((r) => r.report);
  } finally {
    for (const r of running) {
      r.trainer.destroy();
      r.adapted.release(rt);
    }
  }
}
