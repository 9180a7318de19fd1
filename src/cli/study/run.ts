// One study run (a dataset and a seed): every method initialised against the one shared frozen
// model and trained on identical batches in identical order, interleaved step by step, with
// src/train/compare.ts's InterleavedRun (as runComparison), keeping the trained adapters until the
// validation loss on the whole validation set and the generated answers for the accuracy are in.
// After training, per method: forgetting (its loss on the model's held-out pretraining text against
// the base's, forgetting.ts), the spectral drift of every targeted projection (drift.ts, init
// decompositions taken right after each init, before the shared base may be released), and the
// memory plan's peak for the method alone (train/memoryPlan.ts); and the token F1 of every
// generated answer (tokenF1.ts) beside the exact match.
// Plus the per-layer quantization error at init of the methods whose init reduces it
// (MethodDefinition.quantError 'reduced': QPiSSA, LoftQ).

import { METHODS, methodById } from '../../adapters/registry';
import { resolveSettings, type AdaptedModel, type MethodId, type MethodSettings } from '../../adapters/types';
import type { GpuContext } from '../../gpu/context';
import type { CausalLM } from '../../models/causalLM';
import { heldBytesPerParam } from '../../models/load';
import type { Runtime } from '../../tensor/values';
import { releaseUnusedBase } from '../../train/baseRelease';
import { captureCheckpoint, restoreCheckpoint } from '../../train/checkpoint';
import { InterleavedRun } from '../../train/compare';
import { planMethod, planRun } from '../../train/memoryPlan';
import type { ScheduleKind } from '../../train/schedule';
import { Trainer, type Batch } from '../../train/trainer';
import type { StudyData } from './data';
import { validationBatches } from './data';
import { generateMany } from '../../models/generate';
import type { AccuracyResult, MethodResult, QuantStudy, QuantMethod, LayerQuant } from '../../study/results';
import { SpectralDriftProbe, type DriftBaseline } from './drift';
import { forgettingOf, heldoutProbe, type HeldoutText } from './forgetting';
import type { StudyCheckpoints } from './runCheckpoints';
import { tokenF1 } from './tokenF1';
import { InputError } from '../../errors';

export type { AccuracyResult, MethodResult, QuantStudy, QuantMethod, LayerQuant };

export interface MethodPlan {
  readonly id: MethodId;
  readonly settings: MethodSettings;
  readonly learningRate: number;
}

export interface RunOptions {
  readonly model: CausalLM;
  readonly targets: readonly string[];
  readonly data: StudyData;
  readonly methods: readonly MethodPlan[];
  readonly steps: number;
  readonly schedule: ScheduleKind;
  readonly warmupSteps: number;
  readonly clipNorm: number;
  readonly weightDecay: number;
  readonly seed: number;
  readonly batch: number;
  readonly seqLen: number;
  /** Validation loss on the first `evalRows` validation rows every `evalEvery` steps. */
  readonly evalEvery: number;
  readonly evalRows: number;
  /** Validation rows for the loss after training (0: all of them). */
  readonly finalValRows: number;
  /** Batches for the data-driven inits (LoRA-SB's gradient estimate, SPP's Wanda norms). */
  readonly calibrationBatches: number;
  readonly log: (line: string) => void;
  /**
   * Release the shared projection weights no method reads once every method is initialised
   * (train/baseRelease.ts): only for the study's last use of the model (no run, base evaluation
   * or quantization-error study after it).
   */
  readonly releaseBase?: boolean;
  /** The model's held-out pretraining text: forgetting per method (absent: not measured). */
  readonly heldout?: HeldoutText;
  /** Spectral drift of every targeted projection per method (default true; a learning-rate sweep may skip it). */
  readonly spectralDrift?: boolean;
  /** Saved after every validation but the last, and resumed from when they hold one (runCheckpoints.ts). */
  readonly checkpoints?: StudyCheckpoints<MethodResult>;
}

/** The drift's k: the study's rank (the first method that has one), else 8. */
function driftRank(methods: readonly MethodPlan[]): number {
  const rank = methods.map((m) => m.settings.rank).find((r): r is number => typeof r === 'number');
  return rank ?? 8;
}

/** The memory plan's peak of one method alone at the run's shapes (no activation checkpointing, as the study trains). */
function plannedPeak(rt: GpuContext, options: RunOptions, id: MethodId, settings: MethodSettings): number {
  const { model } = options;
  const setup = {
    config: model.config,
    layers: options.targets.map((name) => ({ name, out: model.linear(name).outFeatures, in: model.linear(name).inFeatures })),
    batch: options.batch,
    seqLen: options.seqLen,
    limits: rt.device.limits,
    weightBytesPerParam: heldBytesPerParam(model),
  };
  return planRun([planMethod(setup, methodById(id), settings)], false, { releaseBase: options.releaseBase === true }).totalBytes;
}

type Result = { -readonly [K in keyof MethodResult]: MethodResult[K] };

/** Mean loss per counted token over batches, with no update (Trainer.evaluate's rule), for the frozen model. */
async function evaluateFrozen(rt: Runtime, model: CausalLM, batches: readonly Batch[]): Promise<number> {
  const trainer = new Trainer(rt, { model, trainable: [] }, { schedule: { kind: 'constant', peak: 0, warmupSteps: 0, totalSteps: 1 } });
  try {
    return await trainer.evaluate(batches);
  } finally {
    trainer.destroy();
  }
}

export async function accuracyOf(
  rt: Runtime,
  model: CausalLM,
  linears: AdaptedModel['linears'] | undefined,
  data: StudyData,
  eosIds: readonly number[],
  decode: (ids: readonly number[]) => string,
): Promise<AccuracyResult> {
  const start = performance.now();
  const generated = await generateMany(
    rt,
    model,
    data.items.map((i) => i.promptIds),
    { maxNewTokens: data.maxNewTokens, eosIds, linears, temperature: 0, stop: (ids) => data.complete(decode(ids)) },
  );
  let correct = 0;
  let answered = 0;
  let f1Sum = 0;
  const samples: AccuracyResult['samples'][number][] = [];
  data.items.forEach((item, i) => {
    const text = decode(generated[i]!.filter((id) => !eosIds.includes(id)));
    const answer = data.extract(text);
    if (answer !== null && answer !== '') answered++;
    const ok = answer !== null && answer === item.reference;
    if (ok) correct++;
    const f1 = tokenF1(answer, item.reference);
    f1Sum += f1;
    samples.push({ prompt: item.prompt, generated: text, reference: item.reference, correct: ok, f1 });
  });
  const total = data.items.length;
  return { correct, total, answered, meanF1: total > 0 ? f1Sum / total : Number.NaN, samples, ms: performance.now() - start };
}

export interface TokenizerLike {
  readonly eosIds: readonly number[];
  decode(ids: readonly number[]): string;
}

/** The frozen pretrained model: validation loss (subset and all rows) and accuracy, as a 'base' row. */
export async function baseResult(rt: Runtime, options: RunOptions, tok: TokenizerLike): Promise<MethodResult> {
  const { model, data } = options;
  const forgetting = options.heldout && (await forgettingOf(await heldoutProbe(rt, model, options.heldout, options.batch)));
  const subset = validationBatches(data, options.evalRows, options.batch, options.seqLen);
  const subsetLoss = await evaluateFrozen(rt, model, subset);
  const finalValidationLoss = sameRows(options)
    ? subsetLoss
    : await evaluateFrozen(rt, model, validationBatches(data, options.finalValRows, options.batch, options.seqLen));
  const accuracy = await accuracyOf(rt, model, undefined, data, tok.eosIds, (ids) => tok.decode(ids));
  return {
    id: 'base',
    learningRate: null,
    settings: {},
    trainableParams: 0,
    bytes: 0,
    initMs: 0,
    trainMs: 0,
    losses: [],
    gradNorms: [],
    tokens: 0,
    countedTokens: 0,
    validation: [{ step: 0, loss: subsetLoss }],
    finalValidationLoss,
    accuracy,
    ...(forgetting ? { forgetting } : {}),
  };
}

export async function runStudy(rt: GpuContext, options: RunOptions, tok: TokenizerLike): Promise<MethodResult[]> {
  const { model, data, log } = options;
  // The base's loss on the held-out text before any init (full fine-tuning's copy, a base release).
  const heldout = options.heldout && (await heldoutProbe(rt, model, options.heldout, options.batch));
  const drift = options.spectralDrift === false ? undefined : new SpectralDriftProbe(rt, options.targets, driftRank(options.methods));
  const driftBaselines = new Map<object, DriftBaseline>(); // by running method
  const subset = validationBatches(data, options.evalRows, options.batch, options.seqLen);
  const all = validationBatches(data, options.finalValRows, options.batch, options.seqLen);
  // The study's --calibration-batches caps what each method's settings ask for.
  const calibration = (count: number) => Array.from({ length: Math.max(1, Math.min(count, options.calibrationBatches)) }, (_, i) => data.batcher.batch(i));
  // Each phase of a method's init logged once (an init may alternate phases layer by layer).
  const phasesLogged = new Set<string>();
  const run = new InterleavedRun<Result>(rt, {
    model,
    targets: options.targets,
    seed: options.seed,
    calibration,
    onProgress: (p) => {
      if (p.phase === 'init' || phasesLogged.has(p.phase)) return;
      phasesLogged.add(p.phase);
      log(`  init ${p.method}: ${p.phase}`);
    },
    steps: options.steps,
    schedule: { kind: options.schedule, warmupSteps: options.warmupSteps },
    clipNorm: options.clipNorm,
    weightDecay: options.weightDecay,
    validationBatches: subset,
    evalEvery: options.evalEvery,
  });
  try {
    for (const plan of options.methods) {
      phasesLogged.clear();
      const r = await run.add(plan, (m) => ({
        id: m.id,
        learningRate: plan.learningRate,
        settings: m.settings,
        trainableParams: m.trainableParams,
        bytes: m.bytes,
        initMs: m.initMs,
        trainMs: 0,
        losses: [],
        gradNorms: [],
        tokens: 0,
        countedTokens: 0,
        validation: [],
        finalValidationLoss: Number.NaN,
        accuracy: { correct: 0, total: 0, answered: 0, samples: [], ms: 0 },
      }));
      const loss0 = await r.trainer.evaluate(subset);
      r.record.validation.push({ step: 0, loss: loss0 });
      r.record.plannedPeakBytes = plannedPeak(rt, options, r.id, r.settings);
      log(`  init ${r.id}: ${r.trainableParams} trainable, ${(r.initMs / 1000).toFixed(1)} s; validation loss ${loss0.toFixed(4)}`);
      if (drift) {
        const baseline = await drift.baseline(r.adapted);
        driftBaselines.set(r, baseline);
        log(`  init ${r.id}: top-${drift.k} singular triplets of ${drift.layers.length} projections in ${(baseline.ms / 1000).toFixed(1)} s`);
      }
    }
    if (options.releaseBase) {
      const release = await releaseUnusedBase(
        rt,
        model,
        run.methods.map((m) => m.adapted),
        { measureQuantErrors: false },
      );
      if (release.released.length > 0) log(`  released the shared weights of ${release.released.length} projections: no method reads them`);
    }
    const checkpoints = options.checkpoints;
    const saved = checkpoints && (await checkpoints.load());
    let first = 0;
    if (saved) {
      first = await restoreCheckpoint(rt, run, saved.checkpoint, saved.where, checkpoints.identity);
      run.methods.forEach((m, i) => {
        const record = saved.records[i];
        if (record?.id !== m.id) throw new InputError(`cannot resume from ${saved.where}: its study records do not list the run's methods in order`);
        Object.assign(m.record, { ...record, plannedPeakBytes: m.record.plannedPeakBytes });
      });
      log(`  resumed from ${saved.where}: steps ${first + 1}–${options.steps} left`);
    }
    const wall = performance.now();
    let logged = first;
    for (let step = first; step < options.steps; step++) {
      const batch = data.batcher.batch(step);
      const done = step + 1;
      // Overlapped (compare.ts): step n+1 is recorded before step n's metrics are handled, which is
      // where a real GPU gains; the numbers are bit for bit those of one step at a time.
      await run.stepOverlapped(step, batch, {
        onStep: ({ id, record, stopped, halt }, metrics) => {
          record.trainMs += metrics.ms;
          record.losses.push(metrics.loss);
          record.gradNorms.push(metrics.gradNorm);
          record.tokens += batch.tokens;
          record.countedTokens += metrics.tokens;
          if (stopped) {
            const where = halt ? `; ${halt.detail}` : '';
            record.stoppedAt = { step: done, reason: `the loss became ${metrics.loss} at step ${done}${where}` };
            log(`  note: ${id} stopped at step ${done}: loss ${metrics.loss}${where}`);
          }
        },
        onEval: ({ record }, loss) => {
          record.validation.push({ step: done, loss });
        },
      });
      const handled = run.completed;
      if (handled > logged && (logged === first || Math.floor(handled / 5) > Math.floor(logged / 5) || handled === options.steps)) {
        const eta = ((performance.now() - wall) / (handled - first)) * (options.steps - handled);
        logged = handled;
        const losses = run.methods.map((r) => `${r.id} ${mean(r.record.losses.slice(-5)).toFixed(3)}`).join('  ');
        log(
          `  step ${handled}/${options.steps} (train loss, mean of last 5)  ${losses}  [${((performance.now() - wall) / 1000).toFixed(0)} s, ~${(eta / 1000).toFixed(0)} s left]`,
        );
      }
      if (run.evaluatesAfter(step)) {
        log(
          `  step ${done} validation (${options.evalRows} rows)  ${run.methods.map((r) => `${r.id} ${r.record.validation[r.record.validation.length - 1]!.loss.toFixed(3)}`).join('  ')}`,
        );
        // The run drained for the validation: the weights are those after step `done`.
        if (checkpoints && done < options.steps) {
          await checkpoints.save(
            await captureCheckpoint(rt, run, { identity: checkpoints.identity, step: done }),
            run.methods.map((m) => m.record),
          );
        }
      }
    }
    await run.drain();
    for (const r of run.methods) {
      if (!r.stopped) {
        const last = r.record.validation[r.record.validation.length - 1]!;
        r.record.finalValidationLoss = sameRows(options) && last.step === options.steps ? last.loss : await r.trainer.evaluate(all);
      }
      r.record.accuracy = await accuracyOf(rt, r.adapted.model, r.adapted.linears, data, tok.eosIds, (ids) => tok.decode(ids));
      log(
        `  ${r.id}: validation loss (${options.finalValRows || data.validation.length} rows) ${r.record.finalValidationLoss.toFixed(4)}; ` +
          `accuracy ${r.record.accuracy.correct}/${r.record.accuracy.total}, token F1 ${(r.record.accuracy.meanF1 ?? Number.NaN).toFixed(3)} (${(r.record.accuracy.ms / 1000).toFixed(0)} s to generate)`,
      );
      const measured: string[] = [];
      if (heldout) {
        const start = performance.now();
        const f = (r.record.forgetting = await forgettingOf(heldout, r.trainer));
        measured.push(
          `forgetting ${f.delta >= 0 ? '+' : ''}${f.delta.toFixed(4)} (${f.loss.toFixed(4)} on ${f.text}, ${((performance.now() - start) / 1000).toFixed(1)} s)`,
        );
      }
      const baseline = driftBaselines.get(r);
      if (drift && baseline) {
        const d = (r.record.spectralDrift = await drift.measure(r.adapted, baseline));
        measured.push(
          `spectral drift (top ${d.k}) left ${d.meanLeft.toFixed(4)}, right ${d.meanRight.toFixed(4)}, σ ${d.meanSigmaChange.toFixed(4)} (${(d.ms / 1000).toFixed(1)} s)`,
        );
      }
      if (measured.length > 0) log(`  ${r.id}: ${measured.join('; ')}`);
    }
    return run.methods.map((r) => r.record);
  } finally {
    run.release();
  }
}

/** The final validation loss uses the same rows as the periodic one (so its last value is reused). */
function sameRows(o: RunOptions): boolean {
  const n = o.data.validation.length;
  return Math.min(o.finalValRows || n, n) === Math.min(o.evalRows || n, n);
}

function mean(xs: readonly number[]): number {
  return xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
}

// --- quantization error at init -----------------------------------------------------------------

/**
 * Initialises every error-reducing quantized method (quantError 'reduced': QPiSSA, LoftQ) with
 * `iterations` alternating rounds on every target and returns their per-layer, per-iteration
 * errors (QPiSSA's iteration t is exactly QPiSSA with T = t: the rounds are deterministic in the
 * seed; an iteration 0, where a method records one (LoftQ), is plain NF4(W): the baseline's error,
 * so the baseline method itself need not run). Each method takes the settings its schema has.
 */
export async function quantStudy(
  rt: Runtime,
  model: CausalLM,
  targets: readonly string[],
  seed: number,
  settings: MethodSettings,
  iterations: number,
  log: (line: string) => void,
): Promise<QuantStudy> {
  const methods: QuantMethod[] = [];
  let resolvedSettings: Record<string, unknown> = { ...settings, iterations };
  for (const method of METHODS.filter((m) => m.quantError === 'reduced')) {
    const id = method.id;
    const start = performance.now();
    const given = Object.fromEntries(Object.entries({ ...settings, iterations }).filter(([key]) => method.settings.some((spec) => spec.key === key)));
    const resolved = resolveSettings(method, given);
    resolvedSettings = resolved;
    const adapted = await method.create({ rt, model, targets, seed, learningRate: 1e-4 }, resolved);
    try {
      const initMs = performance.now() - start;
      const measured = (await adapted.measureQuantErrors?.(rt))?.layers ?? [];
      log(
        `  quantization error: ${id} T=${iterations} initialised in ${(initMs / 1000).toFixed(1)} s, errors measured in ${((performance.now() - start - initMs) / 1000).toFixed(1)} s`,
      );
      methods.push({
        id,
        iterations,
        initMs,
        layers: measured.map((l) => ({ layer: l.layer, role: model.linearRole(l.layer), errors: l.errors.map((e) => ({ ...e })) })),
      });
    } finally {
      adapted.release(rt);
    }
  }
  return { settings: resolvedSettings, methods };
}
