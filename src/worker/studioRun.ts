// A studio comparison in the worker: every chosen method initialised against the one shared
// frozen model, then trained interleaved on identical batches in identical order (one seeded
// batcher), each with its own AdamW. It drives train/compare.ts's InterleavedRun with what a live
// page needs: events per init phase, step and evaluation, and a command queue (commandQueue.ts)
// that the loop applies at its safe points (before each method's init, between steps, while
// paused, after the last step): pause, resume, stop, methods added mid-way, spectra, exports and
// the pool's figures, in the order they arrived.
//
// Steps overlap (InterleavedRun.stepOverlapped): step n+1 is recorded before step n's events are
// emitted. The run drains (step n finishes before n+1 is recorded) where the weights after step n
// are read: at a safe point with a command waiting or a pause (spectra, exports, joins, the pause
// checkpoint), a stop, a method joining, validation (with samples and sparsity), the
// orthonormality diagnostic of a method that has one, a checkpoint and the last step.
//
// Deferred projections (a run of 4-bit methods only; the session loaded the model so, studioSession.ts):
// the base model's losses (validation, forgetting) read every W back from the files for the while;
// then the targeted ones go again (and the pool's free buffers back to the system) before the
// inits, each of which reads a layer's W and lets it go once quantized, errors measured first
// (BaseReleaser's hook, every seed and every method joining: nothing can measure them later).
//
// A GPU failure (device lost, out of memory, a GPU error) ends the run cleanly: the result keeps
// every method's record so far and says what happened (ComparisonResult.interrupted); the
// trained weights are released. Any other error is thrown as before.
//
// Not here: the optimizer and step (train/trainer.ts), method inits (adapters/), data parsing
// (studioData.ts), which device or model (studioSession.ts).

import { selectTargets } from '../adapters/targets';
import type { AdaptedModel, CalibrationBatch, MethodDefinition } from '../adapters/types';
import { InterleavedRun, type RunningMethod } from '../train/compare';
import { accuracyQuestions, padIdOf, runData } from '../train/runData';
import { errorKind, errorMessage, formatBytes, InputError, UnsupportedError } from '../errors';
import type { GpuContext } from '../gpu/context';
import type { Checkpoint, RunIdentity } from '../io/checkpointFile';
import type { TokenizedExample } from '../io/datasets';
import { BaseReleaser, checkBaseHeld, defersProjections, type BaseRelease } from '../train/baseRelease';
import { hasDeferredProjections, holdUntargeted } from '../models/load';
import { restoreCheckpoint } from '../train/checkpoint';
import { countCorrect } from './accuracy';
import { baseValidationLoss } from './baseEval';
import { ForgettingProbe } from './forgetting';
import { CommandQueue } from './commandQueue';
import { LOSS_REPORT_WAIT_MS, type DeviceLoss } from './deviceSlot';
import { PendingMeasurements } from './quantMeasure';
import { RunDiagnostics } from './runDiagnostics';
import { indexedDbTuningStore } from './tuningStore';
import { modelTrainingProblems, tuneMatmul } from '../kernels/matmulTuning';
import { continuePrompt, RunSampler, samplePrompt } from './samples';
import { sampleDecoding } from './sampleSettings';
import { captureStudioCheckpoint, readStudioCheckpoint, STORED_CHECKPOINT, studioRunIdentity } from './studioCheckpoint';
import type { StudioData } from './studioData';
import { comparisonMemoryProblem, requireTokenizer, type LoadedModel } from './studioModel';
import type {
  ComparisonEvent,
  ComparisonParams,
  ComparisonResult,
  SeedResult,
  GenerateParams,
  GenerateResult,
  MethodSettingValues,
  MethodSummary,
  RunInterruption,
  SpectrumResult,
  StepPoint,
} from './protocol';
import { MAX_SEEDS } from './protocol';

export interface RunInputs {
  readonly rt: GpuContext;
  readonly loaded: LoadedModel;
  readonly data: StudioData;
  readonly definitionOf: (id: string) => MethodDefinition;
  /** Why `rt` is gone, if it is; waits up to `waitMs` for a loss to be reported. */
  readonly lossOf: (waitMs: number) => Promise<DeviceLoss | undefined>;
  /** Rebuild the methods of `resumeFrom` and train no step (its weights for generation and export, e.g. after a reload). */
  readonly restoreOnly?: boolean;
}

/** The adapters of a finished run, kept for generation, export and spectra until the next run or model. */
export interface TrainedMethods {
  readonly rt: GpuContext;
  readonly methods: readonly { readonly id: string; readonly adapted: AdaptedModel }[];
  readonly diagnostics: RunDiagnostics;
}

export function releaseTrained(trained: TrainedMethods): void {
  for (const t of trained.methods) t.adapted.release(trained.rt);
}

export interface RunOutcome {
  readonly result: ComparisonResult;
  /** The trained adapters (absent when the run was interrupted: they were released). */
  readonly trained?: TrainedMethods;
}

type Summary = { -readonly [K in keyof MethodSummary]: MethodSummary[K] };
type Running = RunningMethod<Summary>;
type Choice = ComparisonParams['methods'][number];
type ReleaseHook = ReturnType<BaseReleaser['hookFor']>;
/** A method of the run and the step it joins at (0: from the start; later: added mid-way, and at that step again in the next seeds). */
type PlannedMethod = { readonly choice: Choice; readonly startStep: number };

/** Which seed of the run the loop trains: index 0-based of count, its checkpoint when it resumes, and whether it is the last. */
interface SeedTurn {
  readonly index: number;
  readonly count: number;
  readonly seed: number;
  readonly resume: Checkpoint | undefined;
  readonly last: boolean;
}

function checkParams(params: ComparisonParams, maxPositions: number): void {
  const wholes: [string, number, number][] = [
    ['steps', params.steps, 1],
    ['batch', params.batch, 1],
    ['sequence length', params.seqLen, 2],
    ['evaluate every', params.evalEvery, 1],
    ['validation rows', params.validationRows, 0],
    ['warmup', params.warmup, 0],
    ['seed', params.seed, 0],
  ];
  for (const [label, value, min] of wholes) {
    if (!Number.isSafeInteger(value) || value < min) throw new InputError(`${label} must be a whole number of at least ${min}, is ${value}`);
  }
  if (!(params.lr > 0 && Number.isFinite(params.lr))) throw new InputError(`the learning rate must be a positive number, is ${params.lr}`);
  if (params.warmup > params.steps) throw new InputError(`warmup (${params.warmup}) cannot exceed the steps (${params.steps})`);
  if (params.seqLen > maxPositions) throw new InputError(`the sequence length ${params.seqLen} is more than the model's ${maxPositions} positions`);
  if (params.methods.length === 0) throw new InputError('choose at least one method');
}

export class StudioRun {
  private readonly commands = new CommandQueue();
  /** The current seed's diagnostics (spectra, orthonormality, sparsity). */
  private diagnostics: RunDiagnostics;
  private readonly measurements = new PendingMeasurements();
  /** Methods in the run (started with or added): an id joins once. */
  private readonly ids: Set<string>;
  private paused = false;
  private stopping = false;
  /** The loop has ended: commands still waiting are answered without effect. */
  private finished = false;
  /** Steps every running method has completed (a method added now trains from the next one). */
  private done = 0;
  /** Quantization errors are measured while paused only once training has begun. */
  private stepping = false;
  /** Set when the device went away while the loop was waiting (paused). */
  private abort: DeviceLoss | undefined;
  /** A GPU failure inside a command: the command's caller gets it, and the run ends at once. */
  private commandFailure: unknown;
  private run: InterleavedRun<Summary> | undefined;
  private joinMethod: ((choice: Choice, startStep: number) => Promise<void>) | undefined;
  /** What checkpoints of this run record and a resume must match; absent for a model without a weights fingerprint. */
  private identity: RunIdentity | undefined;
  /** The step of the newest checkpoint emitted (null: none yet). */
  private checkpointed: number | null = null;
  /** The shared weights this run freed after its inits (baseRelease.ts); a method needing them cannot join. */
  private released: BaseRelease | undefined;
  /** The methods every seed trains, in order, with the step each joins at. */
  private plan: PlannedMethod[];
  /** The seed being trained (a run with several seeds says which in its messages). */
  private seedTurn: SeedTurn | undefined;

  constructor(
    readonly inputs: RunInputs,
    private readonly params: ComparisonParams,
    private readonly emit: (e: ComparisonEvent) => void,
  ) {
    this.diagnostics = new RunDiagnostics(inputs.rt);
    this.ids = new Set(params.methods.map((m) => m.id));
    this.plan = params.methods.map((choice) => ({ choice, startStep: 0 }));
    if (params.checkpointEvery !== undefined && !(Number.isSafeInteger(params.checkpointEvery) && params.checkpointEvery >= 0)) {
      throw new InputError(`checkpoint every must be a whole number of steps (0: only when paused or stopped), is ${params.checkpointEvery}`);
    }
  }

  // ---- commands: each answered once the loop has applied it ----

  // Pause, resume and stop answer whether they changed anything; false once the run has ended.

  pause(): Promise<boolean> {
    return this.control('pause', () => {
      if (this.finished || this.stopping) return false;
      this.paused = true;
      return true;
    });
  }

  resume(): Promise<boolean> {
    return this.control('resume', () => {
      this.paused = false;
      return !this.finished && !this.stopping;
    });
  }

  stop(): Promise<boolean> {
    return this.control('stop', () => {
      if (this.finished) return false;
      this.stopping = true;
      this.paused = false;
      return true;
    });
  }

  /** Queues a method to join at the next safe point; it trains from the next step on (events on the run's stream). */
  addMethod(id: string, settings: MethodSettingValues): Promise<boolean> {
    if (this.stopping || this.finished || this.commands.has('stop')) throw new InputError('no comparison is running; start one, then add methods to it');
    this.inputs.definitionOf(id);
    if (this.ids.has(id)) throw new InputError(`${id} is already in this comparison`);
    this.checkBaseHeld(id);
    this.ids.add(id);
    return this.command('add', async () => {
      if (this.stopping || this.finished || !this.joinMethod) throw new InputError(`the comparison ended before ${id} could join it`);
      try {
        this.checkBaseHeld(id);
      } catch (error) {
        this.ids.delete(id);
        throw error;
      }
      this.plan.push({ choice: { id, settings }, startStep: this.done });
      await this.joinMethod({ id, settings }, this.done);
      return true;
    });
  }

  /** Refuses a method whose targets' shared weights this run released (every method in it keeps a 4-bit base of its own). */
  private checkBaseHeld(id: string): void {
    const { model } = this.inputs.loaded;
    try {
      checkBaseHeld(model, selectTargets(model, this.params.targets));
    } catch {
      const freed = this.released && this.released.bytes > 0 ? ` (${formatBytes(this.released.bytes)})` : '';
      throw new UnsupportedError(
        `${id} cannot join this comparison: every method in it keeps a 4-bit base of its own, so the model's original weights were released after ` +
          `the inits to save GPU memory${freed}, and ${id} needs them. Start a new comparison with ${id} in it (the model is reloaded first).`,
      );
    }
  }

  spectrum(method: string, layer: string): Promise<SpectrumResult> {
    return this.command('spectrum', () => this.diagnostics.spectrum(method, layer));
  }

  /** Runs `fn` at the next safe point (an export of a method as trained so far, the pool's figures). */
  betweenSteps<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    return this.command(name, fn);
  }

  /** Steps every running method has completed so far. */
  get stepsDone(): number {
    return this.done;
  }

  /** The adapter of a method in this run, as trained so far (use it between steps). */
  adapterOf(id: string): AdaptedModel | undefined {
    return this.run?.methods.find((m) => m.id === id)?.adapted;
  }

  /** The device went away: the loop stops at its next safe point even if it is waiting there. */
  interrupt(error: DeviceLoss): void {
    this.abort = error;
    void this.commands.push('interrupt', () => undefined).catch(() => undefined);
  }

  // ---- the loop ----

  /** Trains to the end, a stop, or a GPU failure; every command still waiting is then answered. */
  async execute(): Promise<RunOutcome> {
    try {
      return await this.train();
    } finally {
      this.finished = true;
      this.commands.cancelAll(new InputError('the comparison ended before this request was applied; ask again'));
    }
  }

  private control(name: string, apply: () => boolean): Promise<boolean> {
    return this.commands.push(name, apply).catch(() => false);
  }

  private command<T>(name: string, apply: () => Promise<T> | T): Promise<T> {
    return this.commands.push(name, async () => {
      try {
        return await apply();
      } catch (error) {
        if (isGpuFailure(error)) this.commandFailure ??= error;
        throw error;
      }
    });
  }

  /** Trains seed after seed (one for a run without `seeds`); a stop or a GPU failure ends the run in the seed it reached. */
  private async train(): Promise<RunOutcome> {
    const { params, emit } = this;
    const count = params.seeds ?? 1;
    if (!Number.isSafeInteger(count) || count < 1 || count > MAX_SEEDS)
      throw new InputError(`seeds must be a whole number from 1 to ${MAX_SEEDS}, is ${count}`);
    let resume = params.resumeFrom ? await readStudioCheckpoint(params.resumeFrom) : undefined;
    // A checkpoint names its seed; the run resumes that seed, then trains the ones after it.
    const first = resume ? resume.manifest.run.seed - params.seed : 0;
    if (!Number.isSafeInteger(first) || first < 0 || first >= count) {
      throw new InputError(
        `${STORED_CHECKPOINT} was taken with seed ${resume?.manifest.run.seed}, which is not one of this run's seeds ${params.seed} to ${params.seed + count - 1}; start the run again`,
      );
    }
    const seeds: SeedResult[] = [];
    for (let index = first; ; index++) {
      const seed = params.seed + index;
      if (count > 1) emit({ type: 'seed', index, count, seed });
      const outcome = await this.trainSeed({ index, count, seed, resume, last: index === count - 1 });
      resume = undefined;
      const { result } = outcome;
      const done: SeedResult = {
        index,
        seed,
        stopped: result.stopped,
        methods: result.methods,
        ...(result.forgetting ? { forgetting: result.forgetting } : {}),
      };
      seeds.push(done);
      if (count > 1) emit({ type: 'seedDone', ...done });
      if (result.stopped || index === count - 1 || this.inputs.restoreOnly) return count > 1 ? { ...outcome, result: { ...result, seeds } } : outcome;
      // Only the last seed's adapters are kept (for generation and export).
      if (outcome.trained) releaseTrained(outcome.trained);
    }
  }

  private async trainSeed(turn: SeedTurn): Promise<RunOutcome> {
    const { rt, loaded, data, definitionOf } = this.inputs;
    const { params, emit, measurements } = this;
    const tokenizer = requireTokenizer(loaded);
    const config = loaded.source.config;
    const maxPositions = config.family === 'llama' && config.slidingWindow !== null ? Math.min(config.maxPositions, config.slidingWindow) : config.maxPositions;
    checkParams(params, maxPositions);
    const memoryProblem = comparisonMemoryProblem(loaded, params, definitionOf);
    if (memoryProblem) throw new InputError(memoryProblem);
    const { examples, heldOut } = data.examplesForRun(tokenizer, params.seqLen);
    const prepared = runData(examples, heldOut, padIdOf(tokenizer), {
      batch: params.batch,
      seqLen: params.seqLen,
      seed: turn.seed,
      validationFraction: params.validationFraction,
      validationRows: params.validationRows,
      packing: params.packing ?? false,
    });
    const { batcher, validationBatches } = prepared;
    // Samples at each validation step: the prompt is fixed (and checked) before anything trains.
    const sampling = sampleDecoding(params);
    const sampler = sampling && new RunSampler(rt, tokenizer, samplePrompt(tokenizer, prepared, sampling.prompt, maxPositions), sampling.decoding);
    if (sampler) emit({ type: 'samplePrompt', prompt: sampler.prompt.text, source: sampler.prompt.source });
    const { resume } = turn;
    this.done = 0;
    this.stepping = false;
    this.checkpointed = null;
    this.seedTurn = turn;
    if (turn.index > 0 || resume) this.diagnostics = new RunDiagnostics(rt);
    this.identity = resume || loaded.card.fingerprint ? studioRunIdentity(loaded, prepared.train, { ...params, seed: turn.seed }) : undefined;
    // A resumed run initialises the checkpoint's methods (those added mid-way included), in its order.
    const starts: readonly { readonly choice: Choice; readonly startStep: number }[] = resume
      ? resume.manifest.methods.map((m) => ({ choice: { id: m.id, settings: m.settings }, startStep: m.startStep }))
      : this.plan.filter((p) => p.startStep === 0);
    // Methods added mid-way in an earlier seed join this one at the same step.
    const joins = resume ? [] : this.plan.filter((p) => p.startStep > 0);
    if (resume) this.plan = [...starts];
    for (const { choice } of starts) this.ids.add(choice.id);
    emit({
      type: 'data',
      train: prepared.train.length,
      validation: Math.min(prepared.validation.length, params.validationRows),
      stepsPerEpoch: batcher.stepsPerEpoch,
    });
    const { model } = loaded;
    const targets = selectTargets(model, params.targets);
    // Deferred: a model loaded with deferred projections, and methods that all keep a 4-bit base of their own (a run of other methods holds every W).
    const deferred = hasDeferredProjections(model) && defersProjections(starts.map((p) => definitionOf(p.choice.id)));
    emit({
      type: 'targets',
      layers: targets.map((name) => ({ name, role: model.linearRole(name), out: model.linear(name).outFeatures, in: model.linear(name).inFeatures })),
    });
    const calibration = (count: number): CalibrationBatch[] => Array.from({ length: count }, (_, s) => batcher.batch(s));
    // SORSA's orthonormality is sampled about 50 times a run (and at the last step); SPP's
    // sparsity at each validation and the last step (it reads the merged weights back).
    const diagEvery = Math.max(1, Math.floor(params.steps / 50));
    const run = new InterleavedRun<Summary>(rt, {
      model,
      targets,
      seed: turn.seed,
      calibration,
      onProgress: (progress) => emit({ type: 'init', progress }),
      checkpointing: params.checkpointing ?? false,
      steps: params.steps,
      schedule: { kind: params.schedule, warmupSteps: params.warmup },
      clipNorm: params.clipNorm,
      weightDecay: 0,
      validationBatches,
      evalEvery: params.evalEvery,
    });
    this.run = run;
    // Every seed of a deferred run releases (its inits read W from the files again), otherwise only the last seed, when no
    // method joins later: earlier seeds and joining methods init from the shared weights again.
    const releaser = deferred || (turn.last && joins.length === 0) ? new BaseReleaser(rt, model) : undefined;

    /** Initialises one method; it trains from step `startStep` + 1 to the end, on the run's batches. */
    const initMethod = async (choice: Choice, startStep: number, onLayerReady?: ReleaseHook): Promise<void> => {
      const r = await run.add(
        { id: choice.id, definition: definitionOf(choice.id), settings: choice.settings, learningRate: params.lr },
        ({ id, trainableParams, bytes, initMs }) => ({
          id,
          trainableParams,
          bytes,
          initMs,
          trainMs: 0,
          steps: 0,
          tokens: 0,
          finalLoss: Number.NaN,
          finalValLoss: null,
          bestValLoss: null,
          startStep,
        }),
        startStep,
        onLayerReady,
      );
      emit({ type: 'ready', method: r.id, trainableParams: r.trainableParams, bytes: r.bytes, initMs: r.initMs });
      emit({ type: 'diag', method: r.id, point: await this.diagnostics.register(r.id, r.adapted) });
      measurements.add(r.adapted);
    };
    // A method added mid-way that fails to initialise is halted alone; a GPU failure also ends the run.
    this.joinMethod = async (choice, startStep) => {
      try {
        // Deferred, a 4-bit method joining measures its errors while each W is held, and lets it go.
        await initMethod(choice, startStep, deferred ? releaser?.hookFor(run.methods.map((r) => r.adapted)) : undefined);
        // Its init's scratch goes back to the system, as after the run's first inits (no step is in flight here).
        await rt.trimPool();
        emit({ type: 'added', method: choice.id, step: startStep });
      } catch (error) {
        emit({ type: 'halted', method: choice.id, step: startStep, reason: `could not be added: ${errorMessage(error)}` });
        if (isGpuFailure(error)) throw error;
      }
    };

    let keep = false;
    try {
      // Hardware adapters: the matmul variants timed once per adapter and shape class (the table
      // kept in IndexedDB) before anything is computed, so the whole run uses one choice per product.
      if (!rt.info.isSoftware) {
        await tuneMatmul(rt, modelTrainingProblems(model, params.batch * params.seqLen), { store: indexedDbTuningStore() });
      }
      // The reference every method starts from: the frozen base on the validation batches, once.
      const baseLoss = validationBatches.length > 0 && !this.inputs.restoreOnly;
      if (deferred && (baseLoss || params.forgetting)) await model.holdProjections(rt, model.linearNames());
      if (baseLoss) emit({ type: 'base', loss: await baseValidationLoss(rt, model, validationBatches) });
      const forgetting = params.forgetting && (await ForgettingProbe.measureBase(rt, model, tokenizer, params.forgetting, params.seqLen, params.batch));
      if (deferred) {
        model.releaseProjections(rt, targets);
        await holdUntargeted(rt, model, targets);
        await rt.sync();
        rt.pool.trim();
      }
      // The shared weights no method reads (every method quantized them into a 4-bit base of its own)
      // go layer by layer during the last init, errors measured first.
      for (const [i, { choice, startStep }] of starts.entries()) {
        await this.safePoint();
        if (this.stopping) break;
        const lastInit = i === starts.length - 1;
        await initMethod(choice, startStep, lastInit ? releaser?.hookFor(run.methods.map((r) => r.adapted)) : undefined);
      }
      if (releaser && !this.stopping) this.released = await releaser.finish(run.methods.map((r) => r.adapted));
      // The inits' scratch (f32 copies, SVD workspaces) and the released base go back to the system.
      await rt.trimPool();
      let first = 0;
      if (resume && !this.stopping) {
        first = await restoreCheckpoint(rt, run, resume, STORED_CHECKPOINT, this.identity!);
        for (const r of run.methods) {
          r.record.steps = r.trainer.steps;
          if (r.halt) r.record.halted = r.halt.message;
          if (r.health.flag) r.record.diverging = r.health.flag.step;
        }
        this.done = first;
        this.checkpointed = first;
      }
      this.stepping = true;
      let lastStepMs = 0;
      for (let step = first; step < (this.inputs.restoreOnly ? first : params.steps); step++) {
        await this.safePoint();
        // Quantization errors: never before the first step, then about a step's time per gap.
        if (step > 0) await measurements.run(rt, lastStepMs);
        if (this.stopping) break;
        for (const join of joins) {
          if (join.startStep !== step) continue;
          await this.drainRun();
          await this.joinMethod(join.choice, step);
        }
        const done = step + 1;
        const evalNow = run.evaluatesAfter(step);
        const every = params.checkpointEvery ?? 0;
        const checkpointNow = every > 0 && done % every === 0 && done < params.steps;
        const orthoNow = (done % diagEvery === 0 || done === params.steps) && run.methods.some((r) => !r.stopped && (r.adapted.orthoFactors?.length ?? 0) > 0);
        const stepStart = performance.now();
        await run.stepOverlapped(
          step,
          batcher.batch(step),
          {
            onStep: async (r, m) => {
              const point: StepPoint = { step: done, loss: m.loss, gradNorm: m.gradNorm, lr: m.lr, tokens: m.tokens, ms: m.ms };
              Object.assign(r.record, { trainMs: r.record.trainMs + m.ms, steps: r.record.steps + 1, tokens: r.record.tokens + m.tokens, finalLoss: m.loss });
              emit({ type: 'step', method: r.id, point });
              if (r.stopped) {
                r.record.halted = r.halt?.message ?? `stopped at step ${done}: its loss was ${m.loss}`;
                const nonFinite = r.halt && { step: r.halt.step, source: r.halt.source, layer: r.halt.layer, tensor: r.halt.tensor };
                emit({ type: 'halted', method: r.id, step: done, reason: r.record.halted, ...(nonFinite ? { nonFinite } : {}) });
                return;
              }
              if (m.diverging && r.record.diverging === undefined) {
                r.record.diverging = done;
                emit({ type: 'diverging', method: r.id, step: done });
              }
              const ortho = done % diagEvery === 0 || done === params.steps;
              emit({ type: 'diag', method: r.id, point: await this.diagnostics.measure(r.id, done, ortho, evalNow) });
              this.diagnostics.noteSteps(r.id, r.record.steps);
            },
            onEval: (r, loss) => {
              r.record.finalValLoss = loss;
              r.record.bestValLoss = r.record.bestValLoss === null || loss < r.record.bestValLoss ? loss : r.record.bestValLoss;
              emit({ type: 'eval', method: r.id, step: done, loss });
            },
          },
          checkpointNow || orthoNow,
        );
        this.done = Math.max(this.done, run.completed);
        if (sampler && evalNow) {
          const stopAsked = () => this.stopping || this.commands.has('stop');
          await sampler.take(done, run.methods, (method, sample) => emit({ type: 'sample', method, sample }), stopAsked);
        }
        lastStepMs = performance.now() - stepStart;
        if (checkpointNow) await this.saveCheckpoint();
      }
      // A stop leaves the step before it in flight.
      await this.drainRun();
      const stopped = this.done < params.steps;
      // The last seed's final checkpoint is its trained weights: generation and export after a reload rebuild them from it.
      if (stopped || turn.last) await this.saveCheckpoint();
      if (!stopped && !this.inputs.restoreOnly) await measurements.run(rt, Infinity);
      await this.safePoint();
      if (!stopped) await this.measureAccuracy(run.methods, prepared.validation, params.accuracyQuestions ?? 20);
      const forgot = !stopped && forgetting ? await forgetting.measure(run.methods, () => this.stopping || this.commands.has('stop')) : undefined;
      // Commands that arrive from here on are applied by the final drain, with the run finished; between seeds, by the next seed's loop.
      if (stopped || turn.last) {
        this.finished = true;
        await this.commands.drain();
      }
      keep = true;
      return {
        result: { stopped, methods: run.methods.map((r) => ({ ...r.record })), ...(forgot ? { forgetting: forgot } : {}) },
        trained: { rt, methods: run.methods.map((r) => ({ id: r.id, adapted: r.adapted })), diagnostics: this.diagnostics },
      };
    } catch (error) {
      const interrupted = await this.interruption(error);
      if (!interrupted) throw error;
      return { result: { stopped: true, interrupted, methods: run.methods.map((r) => ({ ...r.record })) } };
    } finally {
      run.release(keep);
      measurements.clear();
      this.run = undefined;
      this.joinMethod = undefined;
    }
  }

  /** Applies the waiting commands in order; while paused, keeps applying them as they come (and measuring). */
  private async safePoint(): Promise<void> {
    this.checkAbort();
    // What a command or a pause does reads the weights after the last step recorded.
    if (this.commands.size > 0 || this.paused) await this.drainRun();
    while (await this.commands.applyNext()) this.checkAbort();
    if (!this.paused || this.stopping) return;
    if (this.stepping) await this.saveCheckpoint();
    this.emit({ type: 'state', state: 'paused' });
    while (this.paused && !this.stopping) {
      if (this.commands.size > 0) await this.commands.applyNext();
      else if (this.stepping && this.measurements.pending) await this.measurements.run(this.inputs.rt, 0);
      else await this.commands.arrival();
      this.checkAbort();
    }
    if (!this.stopping) this.emit({ type: 'state', state: 'running' });
  }

  /** Finishes the step left in flight, if any (its events), and counts it done. */
  private async drainRun(): Promise<void> {
    const run = this.run;
    if (!run) return;
    await run.drain();
    this.done = Math.max(this.done, run.completed);
  }

  /** Emits a checkpoint of the steps done so far (once per step; none before the first, none without an identity). */
  private async saveCheckpoint(): Promise<void> {
    const run = this.run;
    if (!run || !this.identity || this.done === 0 || this.checkpointed === this.done) return;
    this.emit({ type: 'checkpoint', checkpoint: await captureStudioCheckpoint(this.inputs.rt, run, this.identity, this.done) });
    this.checkpointed = this.done;
  }

  private checkAbort(): void {
    if (this.abort) throw this.abort;
    if (this.commandFailure) throw this.commandFailure;
  }

  /** What ended the run, when it was the GPU; undefined for any other error. */
  private async interruption(error: unknown): Promise<RunInterruption | undefined> {
    if (!isGpuFailure(error)) return undefined;
    // The last step any method completed: the curves end there (or, for a method whose step failed, one before).
    const step = Math.max(0, ...(this.run?.methods ?? []).map((m) => m.startStep + m.record.steps));
    const turn = this.seedTurn;
    const ofSeed = turn && turn.count > 1 ? ` of seed ${turn.index + 1} of ${turn.count} (${turn.seed})` : '';
    const kept = `The curves and results up to step ${step}${ofSeed} are kept; the trained weights are released.`;
    const resumable = this.checkpointed === null ? '' : ` Or resume from the last checkpoint (step ${this.checkpointed}).`;
    const lost = this.abort ?? (await this.inputs.lossOf(LOSS_REPORT_WAIT_MS));
    if (lost) {
      return {
        cause: 'deviceLost',
        step,
        checkpointStep: this.checkpointed,
        message:
          `Training stopped after step ${step}: the GPU device was lost (${lost.detail}). The curves and results up to step ${step} are kept; ` +
          `the trained weights were on that device and are gone. Start again to train on a new device (the model is reloaded onto it first).${resumable}`,
      };
    }
    const detail = errorMessage(error);
    if (errorKind(error) === 'memory' || /out of memory/i.test(detail)) {
      return {
        cause: 'outOfMemory',
        step,
        checkpointStep: this.checkpointed,
        message:
          `Training stopped after step ${step}: the GPU ran out of memory (${detail}). ${kept} ` +
          `Try fewer methods, a smaller batch, sequence length or rank, or activation checkpointing, then start again.${resumable}`,
      };
    }
    return {
      cause: 'gpuError',
      step,
      checkpointStep: this.checkpointed,
      message: `Training stopped after step ${step}: the GPU reported an error (${detail}). ${kept} The next run gets a fresh GPU device (the model is reloaded first).${resumable}`,
    };
  }

  /** Greedy exact-match accuracy per method on the first validation questions with "####" answers. */
  private async measureAccuracy(running: readonly Running[], validation: readonly TokenizedExample[], limit: number): Promise<void> {
    const questions = accuracyQuestions(validation, limit);
    if (questions.length === 0) return;
    const { rt, loaded } = this.inputs;
    const tokenizer = requireTokenizer(loaded);
    // A stop that is waiting ends the measuring early; it is applied, in order, right after.
    const stopAsked = () => this.stopping || this.commands.has('stop');
    for (const r of running) {
      if (r.record.halted) continue;
      this.emit({ type: 'accuracy', method: r.id, correct: 0, done: 0, total: questions.length });
      const progress = (correct: number, done: number) => this.emit({ type: 'accuracy', method: r.id, correct, done, total: questions.length });
      const correct = await countCorrect(rt, r.adapted.model, r.adapted.linears, tokenizer, questions, progress, stopAsked);
      if (stopAsked()) return;
      r.record.accuracy = correct / questions.length;
    }
  }
}

/** Errors that end a run with what it has: the device, its memory, or a GPU error. */
export function isGpuFailure(error: unknown): boolean {
  const kind = errorKind(error);
  return kind === 'gpu' || kind === 'memory';
}

/** Continues a prompt with the base model or, given `adapted`, a trained method. */
export async function generateText(
  rt: GpuContext,
  loaded: LoadedModel,
  adapted: AdaptedModel | undefined,
  params: GenerateParams,
  progress: (p: { text: string }) => void,
): Promise<GenerateResult> {
  const tokenizer = requireTokenizer(loaded);
  const ids = tokenizer.encode(params.prompt);
  if (ids.length === 0) throw new InputError('the prompt is empty');
  const decoding = {
    maxNewTokens: params.maxNewTokens,
    temperature: params.temperature ?? 0,
    topK: params.topK ?? 0,
    topP: params.topP ?? 1,
    stopAtEos: params.stopAtEos ?? true,
    stopString: params.stopString ?? '',
    seed: params.seed ?? 0,
  };
  const out = await continuePrompt(rt, adapted?.model ?? loaded.model, adapted?.linears, tokenizer, ids, decoding, (text) => progress({ text }));
  return { methodId: params.methodId ?? null, text: out.text, tokens: out.tokens, ms: out.ms };
}
