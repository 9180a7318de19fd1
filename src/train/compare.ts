// A comparison: several methods initialised against one shared frozen model and trained on
// identical batches in identical order (one seeded batcher), interleaved step by step so their
// curves grow together. Each method has its own trainer (AdamW state) and reports its memory.
// Validation every `evalEvery` steps on the same validation batches for every method.
// InterleavedRun is that loop's step; the studio (worker/studioRun.ts) and the study
// (cli/study/run.ts) drive it themselves: pausing, adding methods mid-way, keeping the adapters.

import type { CalibrationBatch, InitProgress, MethodDefinition, MethodId, MethodSettings } from '../adapters/types';
import type { CausalLM } from '../models/causalLM';
import type { Runtime } from '../tensor/values';
import { startMethod, type MethodContext, type MethodStart, type StartedMethod } from './methodRun';
import type { Schedule } from './schedule';
import type { Batch, StepMetrics } from './trainer';

export interface MethodChoice {
  readonly id: MethodId;
  /** The method itself when it is not in the registry (a loaded PEFT adapter). */
  readonly definition?: MethodDefinition;
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
  /** Activation checkpointing for every method. */
  readonly checkpointing?: boolean;
  readonly calibration?: (count: number) => readonly CalibrationBatch[];
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
  /** The pool's highest live bytes during this method's steps (everything live then: every method's tensors, this step). */
  readonly peakGpuBytes: number;
  /** Set when the run stopped (non-finite loss). */
  readonly stoppedAt?: { step: number; reason: string };
}

/** What the methods of one interleaved run share. */
export interface RunSetup extends MethodContext {
  readonly steps: number;
  /** Kind and warmup; each method's peak is its own learning rate. */
  readonly schedule: Omit<Schedule, 'peak' | 'totalSteps'>;
  readonly clipNorm: number;
  readonly weightDecay: number;
  readonly validationBatches: readonly Batch[];
  readonly evalEvery: number;
  /** Activation checkpointing for every method (MethodStart.checkpointing overrides). */
  readonly checkpointing?: boolean;
}

/** A method in the run, with the caller's record of it. */
export type RunningMethod<T> = StartedMethod & {
  readonly startStep: number;
  /** Set by the step whose loss is not finite: from then on it neither trains nor evaluates. */
  stopped: boolean;
  readonly record: T;
};

export interface StepHandlers<T> {
  /** After each method's step, awaited before the next method steps. */
  readonly onStep?: (method: RunningMethod<T>, metrics: StepMetrics & { ms: number }) => Promise<void> | void;
  readonly onEval?: (method: RunningMethod<T>, loss: number) => Promise<void> | void;
}

/** Methods trained interleaved on the same batches, in the order they were added. */
export class InterleavedRun<T> {
  readonly methods: RunningMethod<T>[] = [];

  constructor(
    private readonly rt: Runtime,
    private readonly setup: RunSetup,
  ) {}

  /** Initialises a method that trains from step `startStep` on: its schedule spans the steps left. */
  async add(choice: MethodStart, record: (method: StartedMethod) => T, startStep = 0): Promise<RunningMethod<T>> {
    const { setup } = this;
    const totalSteps = Math.max(1, setup.steps - startStep);
    const started = await startMethod(
      this.rt,
      setup,
      {
        ...choice,
        clipNorm: choice.clipNorm ?? setup.clipNorm,
        weightDecay: choice.weightDecay ?? setup.weightDecay,
        checkpointing: choice.checkpointing ?? setup.checkpointing,
      },
      { ...setup.schedule, warmupSteps: Math.min(setup.schedule.warmupSteps, totalSteps), totalSteps },
    );
    const method = { ...started, startStep, stopped: false, record: record(started) };
    this.methods.push(method);
    return method;
  }

  /** Whether validation follows step `index` (0-based): every evalEvery steps and after the last. */
  evaluatesAfter(index: number): boolean {
    return (index + 1) % this.setup.evalEvery === 0 || index === this.setup.steps - 1;
  }

  /**
   * Step `index`: every method not stopped trains on `batch`; then, when due, each is validated.
   * All methods' steps are recorded before any metrics are awaited, so the GPU runs one method's
   * step while the CPU records the next; metrics are handled in the methods' order. `ms` is from
   * recording a method's step to its metrics arriving.
   */
  async step(index: number, batch: Batch, on: StepHandlers<T>): Promise<void> {
    const recorded = this.methods
      .filter((method) => !method.stopped)
      .map((method) => {
        const start = performance.now();
        const metrics = method.trainer.step(batch).then((m) => ({ ...m, ms: performance.now() - start }));
        return { method, metrics };
      });
    for (const { method, metrics } of recorded) {
      const row = await metrics;
      method.stopped = !Number.isFinite(row.loss);
      await on.onStep?.(method, row);
    }
    const batches = this.setup.validationBatches;
    if (batches.length === 0 || !this.evaluatesAfter(index)) return;
    for (const method of this.methods) {
      if (!method.stopped) await on.onEval?.(method, await method.trainer.evaluate(batches));
    }
  }

  /** Destroys the trainers and releases the adapters, or with `keepAdapters` leaves those to the caller. */
  release(keepAdapters = false): void {
    for (const method of this.methods) {
      if (keepAdapters) method.trainer.destroy();
      else method.release();
    }
  }
}

type Report = { -readonly [K in keyof MethodReport]: MethodReport[K] };

export async function runComparison(rt: Runtime, options: CompareOptions): Promise<MethodReport[]> {
  const run = new InterleavedRun<Report>(rt, { ...options, onProgress: options.onInit });
  try {
    for (const choice of options.methods) {
      await run.add({ ...choice, learningRate: choice.learningRate ?? options.schedule.peak }, (m) => ({
        id: m.id,
        trainableParams: m.trainableParams,
        bytes: m.bytes,
        initMs: m.initMs,
        steps: [],
        validation: [],
        trainMs: 0,
        peakGpuBytes: 0,
      }));
    }
    for (let step = 0; step < options.steps; step++) {
      if (options.shouldStop?.()) break;
      await run.step(step, options.trainBatch(step), {
        onStep: ({ id, record, stopped, trainer }, row) => {
          record.trainMs += row.ms;
          record.peakGpuBytes = trainer.peakGpuBytes;
          record.steps.push(row);
          options.onStep?.(id, row);
          if (stopped) record.stoppedAt = { step, reason: `the loss became ${row.loss} at step ${step}` };
        },
        onEval: ({ id, record }, loss) => {
          record.validation.push({ step: step + 1, loss });
          options.onEval?.(id, step + 1, loss);
        },
      });
    }
    return run.methods.map((m) => m.record);
  } finally {
    run.release();
  }
}
