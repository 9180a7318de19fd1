// A comparison: several methods initialised against one shared frozen model and trained on
// identical batches in identical order (one seeded batcher), interleaved step by step so their
// curves grow together. Each method has its own trainer (AdamW state) and reports its memory.
// Validation every `evalEvery` steps on the same validation batches for every method.
// InterleavedRun is that loop's step; the studio (worker/studioRun.ts) and the study
// (cli/study/run.ts) drive it themselves: pausing, adding methods mid-way, keeping the adapters.
// Health (train/health.ts): a method whose loss or gradient norm comes back non-finite stops
// alone (`stopped`, with `halt` naming the step, layer and tensor); the others go on. A diverging
// loss is flagged on the step's metrics (`diverging`) and stays on the method (`health.flag`).
// Checkpoints (train/checkpoint.ts): runComparison saves one every N steps and at the end or on a
// stop, and resumes from one.

import { resolveSettings, type CalibrationBatch, type InitProgress, type MethodDefinition, type MethodId, type MethodSettings } from '../adapters/types';
import { methodById } from '../adapters/registry';
import type { Checkpoint, MethodHistory, RunIdentity } from '../io/checkpointFile';
import type { CausalLM } from '../models/causalLM';
import type { Runtime } from '../tensor/values';
import { BaseReleaser, type BaseRelease, type BaseReleaseOptions } from './baseRelease';
import { captureCheckpoint, checkResume, restoreCheckpoint, type CapturedCheckpoint } from './checkpoint';
import { DivergenceMonitor, diagnoseNonFinite, type DivergenceFlag, type NonFiniteReport } from './health';
import { startMethod, type MethodContext, type MethodStart, type StartedMethod } from './methodRun';
import type { Schedule } from './schedule';
import type { Batch, StepMetrics } from './trainer';

/** A step's metrics as a run reports them: with the time it took and whether the loss is diverging (health.ts). */
export type RunStepMetrics = StepMetrics & { readonly ms: number; readonly diverging?: boolean };

/** Checkpoints of a runComparison: saved every `every` steps (0: only at the end or on a stop); `resume` continues one. */
export interface CompareCheckpoints {
  /** What a resume must match (model, data, seed, steps, shared settings). */
  readonly identity: RunIdentity;
  readonly every: number;
  readonly save: (checkpoint: CapturedCheckpoint) => Promise<void>;
  /** A checkpoint read back, and where it came from (for messages). */
  readonly resume?: { readonly checkpoint: Checkpoint; readonly where: string };
}

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
  readonly onStep?: (method: MethodId, metrics: RunStepMetrics) => void;
  readonly onEval?: (method: MethodId, step: number, loss: number) => void;
  /** Checked between steps; returning true stops the run (after a checkpoint, when checkpoints are on). */
  readonly shouldStop?: () => boolean;
  readonly checkpoints?: CompareCheckpoints;
  /** Called after a checkpoint is saved, with the steps it holds. */
  readonly onCheckpoint?: (step: number) => void;
  /** Called once the methods hold a checkpoint's state, with the step training continues from. */
  readonly onResume?: (step: number) => void;
  /** A method stopped: its loss or gradient norm was not finite; where (health.ts). Called before its onStep. */
  readonly onHalt?: (method: MethodId, halt: NonFiniteReport) => void;
  /** A method's loss was first flagged as diverging (health.ts); it trains on. Called before its onStep. */
  readonly onDiverging?: (method: MethodId, flag: DivergenceFlag) => void;
  /** After every method is initialised (and the base released, with releaseBase), before the first step. */
  readonly afterInit?: (methods: readonly StartedMethod[]) => Promise<void> | void;
  /**
   * Release the shared projection weights no method reads (baseRelease.ts): layer by layer during the
   * last init, the rest after it; `onRelease` is told what went.
   */
  readonly releaseBase?: BaseReleaseOptions & { readonly onRelease?: (release: BaseRelease) => void };
}

export interface MethodReport {
  readonly id: MethodId;
  readonly trainableParams: number;
  /** Adapter tensors, owned bases and optimizer state (the shared base not counted). */
  readonly bytes: number;
  readonly initMs: number;
  readonly steps: RunStepMetrics[];
  readonly validation: { step: number; loss: number }[];
  readonly trainMs: number;
  /** The pool's highest live bytes during this method's steps (everything live then: every method's tensors, this step). */
  readonly peakGpuBytes: number;
  /**
   * Set when the method stopped: at update `step` (from 1), its loss or gradient norm not finite;
   * `reason` names the layer and the tensor found first (health.ts), also given apart.
   */
  readonly stoppedAt?: { step: number; reason: string; source?: string; layer?: string; tensor?: string };
  /** Set when its loss was first flagged as diverging (health.ts's rule); it kept training. */
  readonly diverging?: DivergenceFlag;
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
  /** Set by the step whose loss or gradient norm is not finite: from then on it neither trains nor evaluates. */
  stopped: boolean;
  /** Why it stopped: the first non-finite tensor (health.ts). */
  halt?: NonFiniteReport;
  /** Its loss's divergence monitor (restored from a checkpoint on resume). */
  health: DivergenceMonitor;
  readonly record: T;
};

export interface StepHandlers<T> {
  /** After each method's step, awaited before the next method steps. */
  readonly onStep?: (method: RunningMethod<T>, metrics: RunStepMetrics) => Promise<void> | void;
  readonly onEval?: (method: RunningMethod<T>, loss: number) => Promise<void> | void;
}

/** Methods trained interleaved on the same batches, in the order they were added. */
export class InterleavedRun<T> {
  readonly methods: RunningMethod<T>[] = [];

  constructor(
    private readonly rt: Runtime,
    private readonly setup: RunSetup,
  ) {}

  /**
   * Initialises a method that trains from step `startStep` on: its schedule spans the steps left.
   * `onLayerReady`: the run's last init releases the shared base layer by layer (BaseReleaser.hookFor).
   */
  async add(choice: MethodStart, record: (method: StartedMethod) => T, startStep = 0, onLayerReady?: MethodContext['onLayerReady']): Promise<RunningMethod<T>> {
    const { setup } = this;
    const totalSteps = Math.max(1, setup.steps - startStep);
    const started = await startMethod(
      this.rt,
      onLayerReady ? { ...setup, onLayerReady } : setup,
      {
        ...choice,
        clipNorm: choice.clipNorm ?? setup.clipNorm,
        weightDecay: choice.weightDecay ?? setup.weightDecay,
        checkpointing: choice.checkpointing ?? setup.checkpointing,
      },
      { ...setup.schedule, warmupSteps: Math.min(setup.schedule.warmupSteps, totalSteps), totalSteps },
    );
    const method: RunningMethod<T> = { ...started, startStep, stopped: false, health: new DivergenceMonitor(), record: record(started) };
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
   * recording a method's step to its metrics arriving. A method whose metrics come back
   * non-finite is diagnosed (health.ts) and stopped before its handler runs.
   */
  async step(index: number, batch: Batch, on: StepHandlers<T>): Promise<void> {
    const recorded = this.methods
      .filter((method) => !method.stopped)
      .map((method) => {
        const start = performance.now();
        const metrics = method.trainer.step(batch).then((m) => ({ ...m, ms: performance.now() - start }));
        return { method, metrics };
      });
    const done = index + 1;
    // When one method's step fails (a lost device fails them all), nothing awaits the others' any more.
    for (const { metrics } of recorded) metrics.catch(() => undefined);
    for (const { method, metrics } of recorded) {
      const row: RunStepMetrics = await metrics;
      if (row.nonFinite) {
        method.halt = await diagnoseNonFinite(this.rt, method.trainer, batch, done, row.nonFinite);
        method.stopped = true;
      }
      await on.onStep?.(method, method.health.observe(done, row.loss) ? { ...row, diverging: true } : row);
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

/** A report as a checkpoint keeps it (MethodHistory), and back. */
function historyOf(report: MethodReport): MethodHistory {
  return { steps: report.steps, validation: report.validation, trainMs: report.trainMs, peakGpuBytes: report.peakGpuBytes };
}

/** The run's choices as resolved for add(): the settings, learning rate, clip and weight decay each method gets. */
export function resolvedChoices(
  options: Pick<CompareOptions, 'methods' | 'clipNorm' | 'weightDecay'> & { readonly schedule: { readonly peak: number } },
): MethodStart[] {
  return options.methods.map((choice) => ({
    ...choice,
    settings: resolveSettings(choice.definition ?? methodById(choice.id), choice.settings),
    learningRate: choice.learningRate ?? options.schedule.peak,
    clipNorm: choice.clipNorm ?? options.clipNorm,
    weightDecay: choice.weightDecay ?? options.weightDecay,
  }));
}

/**
 * Every method initialised, then trained step by step on the same batches, with validation every
 * `evalEvery` steps. With `checkpoints`, a checkpoint is saved every `every` steps, after the last
 * step, and when `shouldStop` ends the run early; with `checkpoints.resume`, the run is checked
 * against it before any init, the methods are initialised and given its state, and training
 * continues from its step with the reports holding the whole history.
 */
export async function runComparison(rt: Runtime, options: CompareOptions): Promise<MethodReport[]> {
  const choices = resolvedChoices(options);
  const saving = options.checkpoints;
  const resume = saving?.resume;
  if (resume) checkResume(resume.checkpoint, resume.where, saving.identity, choices);
  const run = new InterleavedRun<Report>(rt, { ...options, onProgress: options.onInit });
  const releaser = options.releaseBase && new BaseReleaser(rt, options.model, options.releaseBase);
  try {
    for (const [i, choice] of choices.entries()) {
      const record = (m: StartedMethod): Report => ({
        id: m.id,
        trainableParams: m.trainableParams,
        bytes: m.bytes,
        initMs: m.initMs,
        steps: [],
        validation: [],
        trainMs: 0,
        peakGpuBytes: 0,
      });
      const lastInit = i === choices.length - 1;
      await run.add(choice, record, 0, lastInit ? releaser?.hookFor(run.methods.map((m) => m.adapted)) : undefined);
    }
    if (releaser) options.releaseBase?.onRelease?.(await releaser.finish(run.methods.map((m) => m.adapted)));
    await options.afterInit?.(run.methods);
    let first = 0;
    if (resume) {
      first = await restoreCheckpoint(rt, run, resume.checkpoint, resume.where, saving.identity);
      resume.checkpoint.manifest.methods.forEach((saved, i) => {
        const { record, halt, health } = run.methods[i]!;
        if (saved.history) Object.assign(record, { ...saved.history, steps: [...saved.history.steps], validation: [...saved.history.validation] });
        if (halt) record.stoppedAt = stoppedAtOf(halt);
        if (health.flag) record.diverging = health.flag;
      });
      options.onResume?.(first);
    }
    let saved = first;
    const save = async (step: number) => {
      if (!saving || step === saved) return;
      await saving.save(await captureCheckpoint(rt, run, { identity: saving.identity, step, history: (m) => historyOf(m.record) }));
      saved = step;
      options.onCheckpoint?.(step);
    };
    let step = first;
    for (; step < options.steps; step++) {
      if (options.shouldStop?.()) break;
      const index = step;
      await run.step(index, options.trainBatch(index), {
        onStep: ({ id, record, halt, health, trainer }, row) => {
          record.trainMs += row.ms;
          record.peakGpuBytes = Math.max(record.peakGpuBytes, trainer.peakGpuBytes);
          record.steps.push(row);
          if (halt && !record.stoppedAt) {
            record.stoppedAt = stoppedAtOf(halt);
            options.onHalt?.(id, halt);
          }
          if (health.flag && !record.diverging) {
            record.diverging = health.flag;
            options.onDiverging?.(id, health.flag);
          }
          options.onStep?.(id, row);
        },
        onEval: ({ id, record }, loss) => {
          record.validation.push({ step: index + 1, loss });
          options.onEval?.(id, index + 1, loss);
        },
      });
      if (saving && saving.every > 0 && (index + 1) % saving.every === 0) await save(index + 1);
    }
    await save(step);
    return run.methods.map((m) => m.record);
  } finally {
    run.release();
  }
}

/** MethodReport.stoppedAt from a diagnosis. */
export function stoppedAtOf(halt: NonFiniteReport): NonNullable<MethodReport['stoppedAt']> {
  return { step: halt.step, reason: halt.message, source: halt.source, layer: halt.layer, tensor: halt.tensor };
}
