// A studio comparison in the worker: every chosen method initialised against the one shared
// frozen model, then trained interleaved on identical batches in identical order (one seeded
// batcher), each with its own AdamW. It drives train/compare.ts's InterleavedRun with what a live
// page needs:
// events per init phase, step and evaluation; pause/resume/stop flags looked at between steps
// (the loop awaits the GPU read-back of every step, so stop/pause messages are handled while it
// runs); and the trained adapters kept afterwards so the page can generate from each of them.
//
// Not here: the optimizer and step (train/trainer.ts), method inits (adapters/), data parsing
// (io/datasets.ts via studioData.ts).

import { definitionOf } from './studioAdapters';
import { selectTargets } from '../adapters/targets';
import type { AdaptedModel, CalibrationBatch } from '../adapters/types';
import { generate } from '../models/generate';
import { InterleavedRun, type RunningMethod } from '../train/compare';
import { errorMessage, StudioError } from '../errors';
import type { GpuContext } from '../gpu/context';
import { comparisonMemoryProblem, onModelRelease, requireModel, requireTokenizer } from './studioModel';
import { examplesForRun } from './studioData';
import type { TokenizedExample } from '../io/datasets';
import { countCorrect } from './accuracy';
import { accuracyQuestions, padIdOf, runData } from '../train/runData';
import { haltMessage } from './diagnostics';
import { baseValidationLoss } from './baseEval';
import { PendingMeasurements } from './quantMeasure';
import { drainTasks, forgetDiagnostics, hasTasks, measure, noteSteps, onTaskArrival, registerMethod, resetDiagnostics, setLoopActive } from './runDiagnostics';
import type { ComparisonEvent, ComparisonParams, ComparisonResult, GenerateParams, GenerateResult, MethodSummary, StepPoint } from './protocol';

interface Trained {
  readonly id: string;
  readonly adapted: AdaptedModel;
}

/** Adapters of the last comparison (for generation); released by the next run or a new model. */
let trained: Trained[] = [];
let releaseRt: GpuContext | undefined;

const control = {
  running: false,
  stop: false,
  paused: false,
  resume: undefined as (() => void) | undefined,
  /** Methods added mid-way, initialised by the loop before its next step. */
  pending: [] as { id: string; settings: ComparisonParams['methods'][number]['settings'] }[],
  /** Methods in the run (started with or added). */
  ids: new Set<string>(),
  /** What the paused loop does when woken without resuming (adds pending methods, measures). */
  whilePaused: undefined as (() => Promise<void>) | undefined,
  /** Quantization errors still to measure (the paused loop keeps measuring them). */
  measuring: undefined as PendingMeasurements | undefined,
};

function releaseTrained(): void {
  if (releaseRt) for (const t of trained) t.adapted.release(releaseRt);
  trained = [];
  forgetDiagnostics();
}

/** Queues a method to join the running comparison at its next step (initialised first). */
export function addMethodToRun(id: string, settings: ComparisonParams['methods'][number]['settings']): boolean {
  if (!control.running || control.stop) throw new StudioError('no comparison is running; start one, then add methods to it');
  definitionOf(id);
  if (control.ids.has(id)) throw new StudioError(`${id} is already in this comparison`);
  control.ids.add(id);
  control.pending.push({ id, settings });
  control.resume?.();
  return true;
}

onModelRelease(releaseTrained);

/** The adapted model of a method trained in the last comparison (for exports), if any. */
export function trainedAdapter(id: string): AdaptedModel | undefined {
  return trained.find((t) => t.id === id)?.adapted;
}

export function stopRun(): boolean {
  if (!control.running) return false;
  control.stop = true;
  control.resume?.();
  return true;
}

export function pauseRun(): boolean {
  if (!control.running) return false;
  control.paused = true;
  return true;
}

export function resumeRun(): boolean {
  if (!control.running) return false;
  control.paused = false;
  control.resume?.();
  return true;
}

async function pauseGate(emit: (e: ComparisonEvent) => void): Promise<void> {
  if (!control.paused || control.stop) return;
  emit({ type: 'state', state: 'paused' });
  while (control.paused && !control.stop) {
    // Spectra asked for and methods added while paused are served without resuming.
    await new Promise<void>((resolve) => {
      control.resume = resolve;
      onTaskArrival(resolve);
      if (hasTasks() || control.pending.length > 0 || (control.whilePaused && control.measuring?.pending)) resolve();
    });
    control.resume = undefined;
    onTaskArrival(undefined);
    await drainTasks();
    await control.whilePaused?.();
  }
  if (!control.stop) emit({ type: 'state', state: 'running' });
}

/** Validation batches that visit each held-out row once, in order. */

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
    if (!Number.isSafeInteger(value) || value < min) throw new StudioError(`${label} must be a whole number of at least ${min}, is ${value}`);
  }
  if (!(params.lr > 0 && Number.isFinite(params.lr))) throw new StudioError(`the learning rate must be a positive number, is ${params.lr}`);
  if (params.warmup > params.steps) throw new StudioError(`warmup (${params.warmup}) cannot exceed the steps (${params.steps})`);
  if (params.seqLen > maxPositions) throw new StudioError(`the sequence length ${params.seqLen} is more than the model's ${maxPositions} positions`);
  if (params.methods.length === 0) throw new StudioError('choose at least one method');
}

type Summary = { -readonly [K in keyof MethodSummary]: MethodSummary[K] };
type Running = RunningMethod<Summary>;

export async function runStudioComparison(rt: GpuContext, params: ComparisonParams, emit: (e: ComparisonEvent) => void): Promise<ComparisonResult> {
  if (control.running) throw new StudioError('a comparison is already running; stop it first');
  releaseRt = rt;
  releaseTrained();
  const loaded = requireModel();
  const tokenizer = requireTokenizer();
  const config = loaded.source.config;
  const maxPositions = config.family === 'llama' && config.slidingWindow !== null ? Math.min(config.maxPositions, config.slidingWindow) : config.maxPositions;
  checkParams(params, maxPositions);
  const memoryProblem = comparisonMemoryProblem(params, definitionOf);
  if (memoryProblem) throw new StudioError(memoryProblem);
  const { examples, heldOut } = examplesForRun(tokenizer, params.seqLen);
  const data = runData(examples, heldOut, padIdOf(tokenizer), {
    batch: params.batch,
    seqLen: params.seqLen,
    seed: params.seed,
    validationFraction: params.validationFraction,
    validationRows: params.validationRows,
  });
  const { batcher, validationBatches: valBatches } = data;
  emit({ type: 'data', train: data.train.length, validation: Math.min(data.validation.length, params.validationRows), stepsPerEpoch: batcher.stepsPerEpoch });
  const targets = selectTargets(loaded.model, params.targets);
  emit({
    type: 'targets',
    layers: targets.map((name) => ({
      name,
      role: loaded.model.linearRole(name),
      out: loaded.model.linear(name).outFeatures,
      in: loaded.model.linear(name).inFeatures,
    })),
  });
  resetDiagnostics(rt, loaded.model);
  const calibration = (count: number): CalibrationBatch[] => Array.from({ length: count }, (_, s) => batcher.batch(s));
  // SORSA's orthonormality is sampled about 50 times a run (and at the last step); SPP's
  // sparsity at each validation and the last step (it reads the merged weights back).
  const diagEvery = Math.max(1, Math.floor(params.steps / 50));

  Object.assign(control, { running: true, stop: false, paused: false, resume: undefined, pending: [], ids: new Set(params.methods.map((m) => m.id)) });
  setLoopActive(true);
  const measurements = new PendingMeasurements();
  const run = new InterleavedRun<Summary>(rt, {
    model: loaded.model,
    targets,
    seed: params.seed,
    calibration,
    onProgress: (progress) => emit({ type: 'init', progress }),
    checkpointing: params.checkpointing ?? false,
    steps: params.steps,
    schedule: { kind: params.schedule, warmupSteps: params.warmup },
    clipNorm: params.clipNorm,
    weightDecay: 0,
    validationBatches: valBatches,
    evalEvery: params.evalEvery,
  });
  let keep = false;

  /** Initialises one method; it trains from step `startStep` + 1 to the end, on the run's batches. */
  const initMethod = async (choice: ComparisonParams['methods'][number], startStep: number): Promise<void> => {
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
    );
    emit({ type: 'ready', method: r.id, trainableParams: r.trainableParams, bytes: r.bytes, initMs: r.initMs });
    emit({ type: 'diag', method: r.id, point: await registerMethod(rt, r.id, r.adapted) });
    measurements.add(r.adapted);
  };

  /** Methods added mid-way join before step `step` + 1; one that fails to initialise is halted alone. */
  const addPending = async (step: number): Promise<void> => {
    while (control.pending.length > 0 && !control.stop) {
      const choice = control.pending.shift()!;
      try {
        await initMethod(choice, step);
        emit({ type: 'added', method: choice.id, step });
      } catch (error) {
        emit({ type: 'halted', method: choice.id, step, reason: `could not be added: ${errorMessage(error)}` });
      }
    }
  };

  try {
    // The reference every method starts from: the frozen base on the validation batches, once.
    if (valBatches.length > 0) emit({ type: 'base', loss: await baseValidationLoss(rt, loaded.model, valBatches) });
    for (const choice of params.methods) {
      if (control.stop) break;
      await pauseGate(emit);
      await initMethod(choice, 0);
    }
    let stopped = control.stop;
    let lastStepMs = 0;
    for (let step = 0; step < params.steps && !stopped; step++) {
      control.whilePaused = async () => {
        await addPending(step);
        await measurements.run(rt, 0);
      };
      control.measuring = measurements;
      await pauseGate(emit);
      await drainTasks();
      await addPending(step);
      // Quantization errors: never before the first step, then about a step's time per gap.
      if (step > 0) await measurements.run(rt, lastStepMs);
      if (control.stop) {
        stopped = true;
        break;
      }
      const done = step + 1;
      const evalNow = run.evaluatesAfter(step);
      const stepStart = performance.now();
      await run.step(step, batcher.batch(step), {
        onStep: async (r, m) => {
          const point: StepPoint = { step: done, loss: m.loss, gradNorm: m.gradNorm, lr: m.lr, tokens: m.tokens, ms: m.ms };
          Object.assign(r.record, { trainMs: r.record.trainMs + m.ms, steps: r.record.steps + 1, tokens: r.record.tokens + m.tokens, finalLoss: m.loss });
          emit({ type: 'step', method: r.id, point });
          if (r.stopped) {
            r.record.halted = await haltMessage(rt, r.adapted, m.loss, done);
            emit({ type: 'halted', method: r.id, step: done, reason: r.record.halted });
            return;
          }
          const ortho = done % diagEvery === 0 || done === params.steps;
          emit({ type: 'diag', method: r.id, point: await measure(rt, r.id, done, ortho, evalNow) });
          noteSteps(r.id, r.record.steps);
        },
        onEval: (r, loss) => {
          r.record.finalValLoss = loss;
          r.record.bestValLoss = r.record.bestValLoss === null || loss < r.record.bestValLoss ? loss : r.record.bestValLoss;
          emit({ type: 'eval', method: r.id, step: done, loss });
        },
      });
      lastStepMs = performance.now() - stepStart;
      if (control.stop) stopped = true;
    }
    if (!stopped) await measurements.run(rt, Infinity);
    await drainTasks();
    if (!stopped) await measureAccuracy(rt, run.methods, data.validation, params.accuracyQuestions ?? 20, emit);
    keep = true;
    return { stopped, methods: run.methods.map((r) => ({ ...r.record })) };
  } finally {
    setLoopActive(false);
    await drainTasks().catch(() => undefined);
    run.release(keep);
    if (keep) trained = run.methods.map((r) => ({ id: r.id, adapted: r.adapted }));
    else forgetDiagnostics();
    measurements.clear();
    Object.assign(control, {
      running: false,
      stop: false,
      paused: false,
      resume: undefined,
      pending: [],
      ids: new Set(),
      whilePaused: undefined,
      measuring: undefined,
    });
  }
}

/** Greedy exact-match accuracy per method on the first validation questions with "####" answers. */
async function measureAccuracy(
  rt: GpuContext,
  running: readonly Running[],
  validation: readonly TokenizedExample[],
  limit: number,
  emit: (e: ComparisonEvent) => void,
): Promise<void> {
  const questions = accuracyQuestions(validation, limit);
  if (questions.length === 0) return;
  const tokenizer = requireTokenizer();
  for (const r of running) {
    if (r.record.halted) continue;
    emit({ type: 'accuracy', method: r.id, correct: 0, done: 0, total: questions.length });
    const progress = (correct: number, done: number) => emit({ type: 'accuracy', method: r.id, correct, done, total: questions.length });
    const correct = await countCorrect(rt, r.adapted.model, r.adapted.linears, tokenizer, questions, progress, () => control.stop);
    if (control.stop) return;
    r.record.accuracy = correct / questions.length;
  }
}

export async function generateText(rt: GpuContext, params: GenerateParams, progress: (p: { text: string }) => void): Promise<GenerateResult> {
  const loaded = requireModel();
  const tokenizer = requireTokenizer();
  let model = loaded.model;
  let linears: AdaptedModel['linears'] | undefined;
  if (params.methodId) {
    const t = trained.find((x) => x.id === params.methodId);
    if (!t) throw new StudioError(`${params.methodId} has not been trained with this model yet; run a comparison first`);
    model = t.adapted.model;
    linears = t.adapted.linears;
  }
  const ids = tokenizer.encode(params.prompt);
  if (ids.length === 0) throw new StudioError('the prompt is empty');
  const out: number[] = [];
  const start = performance.now();
  await generate(rt, model, ids, {
    maxNewTokens: params.maxNewTokens,
    linears,
    temperature: params.temperature ?? 0,
    seed: params.seed ?? 0,
    onToken: (id) => {
      out.push(id);
      progress({ text: tokenizer.decode(out, { skipSpecialTokens: true }) });
    },
  });
  return { methodId: params.methodId ?? null, text: tokenizer.decode(out, { skipSpecialTokens: true }), tokens: out.length, ms: performance.now() - start };
}
