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
// Overlap (InterleavedRun.stepOverlapped, depth 2): step n+1 of every method is recorded and
// submitted before step n's metrics are awaited, so the GPU never waits for the CPU to record;
// handlers still run in step order and method order, and the numbers are bit for bit those of
// step(). Whatever reads the weights between steps must see them after step n with no step n+1
// recorded, so the run drains (finishes step n before recording n+1) before: validation, the
// last step, a checkpoint save, a stop (shouldStop), and in the hosts a pause, a cancel, a command
// between steps, and a diagnostic that reads weights (worker/studioRun.ts, cli/commands/train.ts).

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
import { StepClock } from './stepClock';
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
  /** Record each step before the previous one's metrics are handled (InterleavedRun.stepOverlapped); default true. */
  readonly overlap?: boolean;
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
  /** After each method's step, in step and method order, awaited before the next method's metrics are handled. */
  readonly onStep?: (method: RunningMethod<T>, metrics: RunStepMetrics) => Promise<void> | void;
  readonly onEval?: (method: RunningMethod<T>, loss: number) => Promise<void> | void;
}

/** A step recorded for the running methods, its metrics not yet handled. */
interface RecordedStep<T> {
  readonly index: number;
  readonly batch: Batch;
  readonly on: StepHandlers<T>;
  readonly rows: { readonly method: RunningMethod<T>; readonly metrics: Promise<RunStepMetrics> }[];
}

/** Methods trained interleaved on the same batches, in the order they were added. */
export class InterleavedRun<T> {
  readonly methods: RunningMethod<T>[] = [];
  /** The step stepOverlapped recorded and has not finished. */
  private inFlight: RecordedStep<T> | undefined;
  private finished = 0;
  /**
   * The steps' times, one clock for every method: the queue runs submissions in order, so a step
   * is charged from the previous step's arrival, whichever method's, not its own method's previous
   * step (which would charge every method the whole round of the run's methods). Read-backs
   * delivered together share their interval (StepClock).
   */
  private readonly clock = new StepClock();

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
   * Step `index`, one at a time: every method not stopped trains on `batch`; then, when due, each
   * is validated. All methods' steps are recorded before any metrics are awaited, so the GPU runs
   * one method's step while the CPU records the next; metrics are handled in the methods' order.
   * A step left in flight by stepOverlapped is finished first.
   */
  async step(index: number, batch: Batch, on: StepHandlers<T>): Promise<void> {
    await this.drain();
    await this.finish(this.record(index, batch, on, false));
  }

  /**
   * Step `index` overlapped with the step before it (depth 2): every running method's step `index`
   * is recorded and submitted first, then the step left in flight by the previous call is finished
   * (its metrics handled in step order and method order, as step() does), and step `index` is left
   * in flight. A method whose previous step comes back non-finite stops there; the step `index`
   * recorded for it is discarded (its update was skipped on the GPU, see Trainer's header; it is
   * neither reported nor counted). Step `index` is finished before returning (drained) when
   * validation follows it, so that validation sees the weights after it, and when `drainAfter`:
   * the caller reads the weights after it (a checkpoint, a diagnostic, a pause) or it is the last.
   * Call drain() before anything else reads the weights between steps.
   */
  async stepOverlapped(index: number, batch: Batch, on: StepHandlers<T>, drainAfter = false): Promise<void> {
    const recorded = this.record(index, batch, on, true);
    const previous = this.inFlight;
    this.inFlight = recorded;
    if (previous) await this.finish(previous, recorded);
    if (drainAfter || this.evaluatesAfter(index)) await this.drain();
  }

  /** Finishes the step stepOverlapped left in flight, if any: its handlers, then validation when due. */
  async drain(): Promise<void> {
    const step = this.inFlight;
    this.inFlight = undefined;
    if (step) await this.finish(step);
  }

  /** Steps whose metrics every method has had handled (the index of the last finished step, plus 1; 0 before any). */
  get completed(): number {
    return this.finished;
  }

  /**
   * Records step `index` of every method not stopped. `ms` runs from the later of its recording
   * and the metrics of the step submitted before it (any method's) arriving, to its own metrics
   * arriving: a method is charged for its own work, not for the methods queued before it nor, with
   * overlap, for the step before it; steps whose metrics arrive in one event-loop turn share their
   * interval (StepClock).
   */
  private record(index: number, batch: Batch, on: StepHandlers<T>, overlapped: boolean): RecordedStep<T> {
    const rows = this.methods
      .filter((method) => !method.stopped)
      .map((method) => {
        const start = performance.now();
        const metrics = method.trainer.step(batch, { overlapped }).then(async (m) => ({ ...m, ms: await this.clock.arrive(start) }));
        // When one method's step fails (a lost device fails them all), nothing awaits the others' any more.
        metrics.catch(() => undefined);
        return { method, metrics };
      });
    return { index, batch, on, rows };
  }

  /**
   * Handles a recorded step's metrics in the methods' order, then validates when due. A method
   * whose metrics come back non-finite is diagnosed (health.ts) and stopped before its handler
   * runs; its row in `next` (the step recorded after it) is discarded first.
   */
  private async finish(step: RecordedStep<T>, next?: RecordedStep<T>): Promise<void> {
    const done = step.index + 1;
    for (const { method, metrics } of step.rows) {
      const row: RunStepMetrics = await metrics;
      if (row.nonFinite) {
        const discarded = next?.rows.findIndex((r) => r.method === method) ?? -1;
        if (discarded >= 0) {
          next!.rows.splice(discarded, 1);
          await method.trainer.discardLast();
        }
        method.halt = await diagnoseNonFinite(this.rt, method.trainer, step.batch, done, row.nonFinite);
        method.stopped = true;
      }
      await step.on.onStep?.(method, method.health.observe(done, row.loss) ? { ...row, diverging: true } : row);
    }
    this.finished = done;
    const batches = this.setup.validationBatches;
    if (batches.length === 0 || !this.evaluatesAfter(step.index)) return;
    for (const method of this.methods) {
      if (!method.stopped) await step.on.onEval?.(method, await method.trainer.evaluate(batches));
    }
  }

  /** Destroys the trainers and releases the adapters, or with `keepAdapters` leaves those to the caller. A step in flight is dropped. */
  release(keepAdapters = false): void {
    this.inFlight = undefined;
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
    // The inits' scratch (f32 copies, SVD workspaces) and the released base go back to the system.
    await rt.trimPool();
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
    const overlap = options.overlap ?? true;
    for (; step < options.steps; step++) {
      if (options.shouldStop?.()) break;
      const index = step;
      const saveAfter = saving !== undefined && saving.every > 0 && (index + 1) % saving.every === 0;
      const handlers: StepHandlers<Report> = {
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
      };
      if (overlap) await run.stepOverlapped(index, options.trainBatch(index), handlers, saveAfter);
      else await run.step(index, options.trainBatch(index), handlers);
      if (saveAfter) await save(index + 1);
    }
    await run.drain();
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
