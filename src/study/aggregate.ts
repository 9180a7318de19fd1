// The study's results (docs/results.json) reduced over seeds: per task and method the mean, sample
// standard deviation and n of every number the report shows; the validation and training curves
// as seed bands (mean ± sd per step); the Pareto front; and each paper claim of the study's
// methodInfo checked by paired comparison across seeds. Pure: no engine, no registry (the results
// file carries the labels and claims), so the CLI report and the studio's Study view share it.
// A results file written before a field existed reads as "not measured" (an absent optional Stat).

import { spreadOf } from '../io/seedStats';
import type { DatasetId, MethodResult, StudyJson, StudyRun } from './results';

/** Over seeds: the finite values, their mean, sample sd (n − 1; NaN below two) and n; `dropped` counts the non-finite values left out. */
export interface Stat {
  readonly mean: number;
  readonly sd: number;
  readonly n: number;
  readonly values: readonly number[];
  readonly dropped: number;
}

export function statOf(values: readonly number[]): Stat {
  const finite = values.filter((v) => Number.isFinite(v));
  return { ...spreadOf(finite), values: finite, dropped: values.length - finite.length };
}

export interface MethodSummary {
  readonly dataset: DatasetId;
  readonly method: string;
  readonly label: string;
  readonly family?: string;
  /** Runs (seeds) holding this method, and those where it stopped early (diverged). */
  readonly seeds: number;
  readonly stopped: number;
  /** Final validation loss; the lowest of its validation points after step 0. */
  readonly finalLoss: Stat;
  readonly bestLoss: Stat;
  /** correct / total, 0–1. */
  readonly accuracy: Stat;
  /** Generations that produced an answer at all, / total, 0–1. */
  readonly answered: Stat;
  readonly f1?: Stat;
  /** Held-out pretraining loss after minus before, nats/token. */
  readonly forgetting?: Stat;
  readonly driftLeft?: Stat;
  readonly driftRight?: Stat;
  readonly sigmaChange?: Stat;
  /** Non-padding training tokens per second of its training steps. */
  readonly tokensPerSecond: Stat;
  /** Wall-clock seconds of its init and of its training steps. */
  readonly initSeconds: Stat;
  readonly trainSeconds: Stat;
  readonly trainableParams: number;
  readonly bytes: number;
  readonly plannedPeakBytes?: number;
  readonly learningRate: number | null;
}

export const BASE_ID = 'base';

/** The method's label in the study's methodInfo, else its id. */
export function methodLabel(study: StudyJson, id: string): string {
  return study.config.methodInfo?.[id]?.label ?? (id === BASE_ID ? 'Base model' : id);
}

/** The tasks with runs, in the order the study lists them (then any others the runs hold). */
export function studyDatasets(study: Pick<StudyJson, 'runs' | 'datasets'>): DatasetId[] {
  const withRuns = new Set(study.runs.map((r) => r.dataset));
  const listed = study.datasets.map((d) => d.id).filter((id) => withRuns.has(id));
  return [...listed, ...[...withRuns].filter((id) => !listed.includes(id))];
}

export function runsOf(study: StudyJson, dataset: DatasetId): StudyRun[] {
  return study.runs.filter((r) => r.dataset === dataset);
}

/** The method ids of these runs in the order they ran (base first where present). */
export function methodIds(runs: readonly StudyRun[]): string[] {
  const ids: string[] = [];
  for (const r of runs) for (const m of r.methods) if (!ids.includes(m.id)) ids.push(m.id);
  return ids;
}

/** The lowest validation loss after step 0 (the base model, which has only step 0, keeps that one). */
export function bestValidationLoss(m: MethodResult): number {
  const trained = m.validation.filter((v) => v.step > 0 && Number.isFinite(v.loss));
  const points = trained.length > 0 ? trained : m.validation.filter((v) => Number.isFinite(v.loss));
  return points.length === 0 ? Number.NaN : Math.min(...points.map((v) => v.loss));
}

/** A Stat over the results that carry the field, undefined when none does (an older results file). */
function optionalStat(ms: readonly MethodResult[], get: (m: MethodResult) => number | undefined): Stat | undefined {
  const got = ms.map(get).filter((v): v is number => v !== undefined);
  return got.length === 0 ? undefined : statOf(got);
}

function summarizeMethod(study: StudyJson, dataset: DatasetId, id: string, ms: readonly MethodResult[]): MethodSummary {
  const one = ms[0]!;
  const family = study.config.methodInfo?.[id]?.family;
  const plannedPeakBytes = ms.find((m) => m.plannedPeakBytes !== undefined)?.plannedPeakBytes;
  const f1 = optionalStat(ms, (m) => m.accuracy.meanF1);
  const forgetting = optionalStat(ms, (m) => m.forgetting?.delta);
  const driftLeft = optionalStat(ms, (m) => m.spectralDrift?.meanLeft);
  const driftRight = optionalStat(ms, (m) => m.spectralDrift?.meanRight);
  const sigmaChange = optionalStat(ms, (m) => m.spectralDrift?.meanSigmaChange);
  return {
    dataset,
    method: id,
    label: methodLabel(study, id),
    ...(family !== undefined ? { family } : {}),
    seeds: ms.length,
    stopped: ms.filter((m) => m.stoppedAt !== undefined).length,
    finalLoss: statOf(ms.map((m) => m.finalValidationLoss)),
    bestLoss: statOf(ms.map(bestValidationLoss)),
    accuracy: statOf(ms.map((m) => (m.accuracy.total > 0 ? m.accuracy.correct / m.accuracy.total : Number.NaN))),
    answered: statOf(ms.map((m) => (m.accuracy.total > 0 ? m.accuracy.answered / m.accuracy.total : Number.NaN))),
    ...(f1 ? { f1 } : {}),
    ...(forgetting ? { forgetting } : {}),
    ...(driftLeft ? { driftLeft } : {}),
    ...(driftRight ? { driftRight } : {}),
    ...(sigmaChange ? { sigmaChange } : {}),
    tokensPerSecond: statOf(ms.map((m) => (m.trainMs > 0 ? m.tokens / (m.trainMs / 1000) : Number.NaN))),
    initSeconds: statOf(ms.map((m) => m.initMs / 1000)),
    trainSeconds: statOf(ms.map((m) => m.trainMs / 1000)),
    trainableParams: one.trainableParams,
    bytes: one.bytes,
    ...(plannedPeakBytes !== undefined ? { plannedPeakBytes } : {}),
    learningRate: one.learningRate,
  };
}

/** Every task × method of the study (the base model's row included, id 'base'), tasks in study order, methods in run order. */
export function summarize(study: StudyJson): MethodSummary[] {
  return studyDatasets(study).flatMap((dataset) => {
    const runs = runsOf(study, dataset);
    return methodIds(runs).map((id) =>
      summarizeMethod(
        study,
        dataset,
        id,
        runs.flatMap((r) => r.methods.filter((m) => m.id === id)),
      ),
    );
  });
}

/** Whether a run of the task was joined from method groups trained in separate processes (its peak is then the largest group's). */
export function runsJoinedFromGroups(study: StudyJson, dataset: DatasetId): boolean {
  return runsOf(study, dataset).some((r) => (r.methodGroups ?? 1) > 1);
}

/** What a run's measured peak covers, in words. */
export function peakScope(study: StudyJson, dataset: DatasetId): string {
  return runsJoinedFromGroups(study, dataset)
    ? 'per run, the largest of its method groups (trained in separate processes, joined by --merge)'
    : 'every method of the run together';
}

/** The measured GPU peak of each run of a task (every method together), over seeds; undefined when no run measured it. */
export function runPeakBytes(study: StudyJson, dataset: DatasetId): Stat | undefined {
  const got = runsOf(study, dataset)
    .map((r) => r.peakGpuBytes)
    .filter((v): v is number => v !== undefined);
  return got.length === 0 ? undefined : statOf(got);
}

export interface BandPoint {
  readonly step: number;
  readonly mean: number;
  readonly sd: number;
  readonly n: number;
}

/** The default smoothing of the training curve: about 25 points' worth of steps per window. */
export function defaultTrainWindow(steps: number): number {
  return Math.max(1, Math.round(steps / 25));
}

/** Training loss at 1-based step k: the mean of the `window` losses ending there (fewer at the start). */
function trailingMean(losses: readonly number[], k: number, window: number): number {
  const slice = losses.slice(Math.max(0, k - window), k).filter((v) => Number.isFinite(v));
  return slice.length === 0 ? Number.NaN : slice.reduce((a, b) => a + b, 0) / slice.length;
}

function curveOf(m: MethodResult, series: 'train' | 'validation', window: number): Map<number, number> {
  if (series === 'validation') return new Map(m.validation.map((v) => [v.step, v.loss]));
  return new Map(m.losses.map((_, i) => [i + 1, trailingMean(m.losses, i + 1, window)]));
}

/**
 * Per method of a task, its curve's mean ± sd over seeds at every step any seed reached: validation
 * loss at its evaluation steps, or training loss smoothed over `window` steps (default
 * defaultTrainWindow). A seed that stopped early leaves the later steps' n. The base model has no
 * training curve and one validation point; it is left out of both.
 */
export function seedBands(
  study: StudyJson,
  dataset: DatasetId,
  series: 'train' | 'validation',
  window?: number,
): { method: string; label: string; points: BandPoint[] }[] {
  const runs = runsOf(study, dataset);
  const w = window ?? defaultTrainWindow(study.config.steps);
  return methodIds(runs)
    .filter((id) => id !== BASE_ID)
    .map((id) => {
      const curves = runs.flatMap((r) => r.methods.filter((m) => m.id === id)).map((m) => curveOf(m, series, w));
      const steps = [...new Set(curves.flatMap((c) => [...c.keys()]))].sort((a, b) => a - b);
      const points = steps
        .map((step) => {
          const s = statOf(curves.map((c) => c.get(step) ?? Number.NaN));
          return { step, mean: s.mean, sd: s.sd, n: s.n };
        })
        .filter((p) => p.n > 0);
      return { method: id, label: methodLabel(study, id), points };
    });
}

/** The points no other point beats on both coordinates (smaller is better on both), by increasing x; non-finite points take no part. */
export function paretoFront<T>(points: readonly T[], x: (p: T) => number, y: (p: T) => number): T[] {
  const finite = points.filter((p) => Number.isFinite(x(p)) && Number.isFinite(y(p)));
  const dominates = (a: T, b: T) => x(a) <= x(b) && y(a) <= y(b) && (x(a) < x(b) || y(a) < y(b));
  return finite.filter((p) => !finite.some((q) => q !== p && dominates(q, p))).sort((a, b) => x(a) - x(b) || y(a) - y(b));
}

/**
 * What a claim is about, read from its wording:
 * - 'lower': the method ends at a lower final validation loss than the other (the default);
 * - 'parity': it matches or approaches the other's loss ("matches", "approaching", "stays close");
 * - 'parameters': it reaches the other's loss with fewer trainable parameters (parity of loss, and the parameter ratio);
 * - 'quantization': it leaves a smaller quantization error at init (checked per layer on the study's quant measurement, not on loss).
 */
export type ClaimKind = 'lower' | 'parity' | 'parameters' | 'quantization';

export function claimKind(claim: string): ClaimKind {
  if (/fewer (trainable )?param/i.test(claim)) return 'parameters';
  if (/quantization error/i.test(claim) && !/loss/i.test(claim)) return 'quantization';
  if (/\b(match|matches|approach|approaches|approaching|stays close|closely|as well as|or lower|or beats)\b/i.test(claim)) return 'parity';
  return 'lower';
}

/** A loss within this fraction above the other's counts as "equal" for parity claims. */
export const PARITY_TOLERANCE = 0.05;

export interface ClaimResult {
  readonly method: string;
  readonly against: string;
  readonly claim: string;
  readonly kind: ClaimKind;
  readonly dataset: DatasetId;
  /** Seeds where both ran and finished (no early stop, finite final loss). */
  readonly pairs: number;
  /** Seeds where `method`'s final validation loss < `against`'s. */
  readonly wins: number;
  /** Seeds where `method`'s final loss ≤ (1 + PARITY_TOLERANCE) × `against`'s. */
  readonly atParity: number;
  /** method − against, final validation loss, per seed. */
  readonly diff: Stat;
  /** against's trainable parameters / method's (the 'parameters' claims' other half). */
  readonly paramRatio: number;
  /**
   * Forgetting (held-out loss after − before), paired over the seeds where both measured it: in how
   * many `method` forgot less, and method − against. Absent when no pair measured it. A claim that
   * speaks of forgetting less needs this too in every favourable seed, once every pair has it.
   */
  readonly forgetting?: { readonly pairs: number; readonly wins: number; readonly diff: Stat };
  readonly verdict: ClaimVerdict;
}

export type ClaimVerdict = 'supports' | 'contradicts' | 'mixed' | 'no data';

/**
 * The verdict rule, on k favourable seeds out of n pairs: supports when k = n ≥ 2, contradicts when
 * k = 0 with n ≥ 2, mixed otherwise (one pair included: one seed can neither confirm nor refute),
 * no data when n = 0. Favourable: a win for 'lower' claims; a loss within PARITY_TOLERANCE for
 * 'parity' and 'parameters' claims (which also need the method to have fewer parameters); a claim
 * of forgetting less also needs a lower forgetting in that seed, once every pair measured it.
 */
export function verdictOf(favourable: number, pairs: number): ClaimVerdict {
  if (pairs === 0) return 'no data';
  if (pairs >= 2 && favourable === pairs) return 'supports';
  if (pairs >= 2 && favourable === 0) return 'contradicts';
  return 'mixed';
}

const finished = (m: MethodResult | undefined): m is MethodResult => m !== undefined && m.stoppedAt === undefined && Number.isFinite(m.finalValidationLoss);

interface Pair {
  readonly a: MethodResult;
  readonly b: MethodResult;
}

function claimOnTask(study: StudyJson, dataset: DatasetId, c: { method: string; against: string; claim: string; kind: ClaimKind }): ClaimResult {
  const pairs = runsOf(study, dataset)
    .map((r) => ({ a: r.methods.find((m) => m.id === c.method), b: r.methods.find((m) => m.id === c.against) }))
    .filter((p): p is Pair => finished(p.a) && finished(p.b));
  const win = (p: Pair) => p.a.finalValidationLoss < p.b.finalValidationLoss;
  const parity = (p: Pair) => p.a.finalValidationLoss <= (1 + PARITY_TOLERANCE) * p.b.finalValidationLoss;
  const paramRatio = pairs.length > 0 && pairs[0]!.a.trainableParams > 0 ? pairs[0]!.b.trainableParams / pairs[0]!.a.trainableParams : Number.NaN;
  const forgot = pairs.filter((p) => p.a.forgetting !== undefined && p.b.forgetting !== undefined);
  const forgotLess = (p: Pair) => p.a.forgetting !== undefined && p.b.forgetting !== undefined && p.a.forgetting.delta < p.b.forgetting.delta;
  const judgeForgetting = /forget/i.test(c.claim) && forgot.length === pairs.length && pairs.length > 0;
  const lossFavourable = (p: Pair) => (c.kind === 'lower' ? win(p) : parity(p) && (c.kind !== 'parameters' || paramRatio > 1));
  const favourable = pairs.filter((p) => lossFavourable(p) && (!judgeForgetting || forgotLess(p))).length;
  return {
    ...c,
    dataset,
    pairs: pairs.length,
    wins: pairs.filter(win).length,
    atParity: pairs.filter(parity).length,
    diff: statOf(pairs.map((p) => p.a.finalValidationLoss - p.b.finalValidationLoss)),
    paramRatio,
    ...(forgot.length > 0
      ? {
          forgetting: {
            pairs: forgot.length,
            wins: forgot.filter(forgotLess).length,
            diff: statOf(forgot.map((p) => p.a.forgetting!.delta - p.b.forgetting!.delta)),
          },
        }
      : {}),
    verdict: verdictOf(favourable, pairs.length),
  };
}

/** Every loss claim of the study's methodInfo, per task with runs (quantization claims: quantClaimResults). None without methodInfo. */
export function claimResults(study: StudyJson): ClaimResult[] {
  const info = study.config.methodInfo;
  if (!info) return [];
  const out: ClaimResult[] = [];
  for (const [method, i] of Object.entries(info))
    for (const { against, claim } of i.claims) {
      const kind = claimKind(claim);
      if (kind === 'quantization') continue;
      for (const dataset of studyDatasets(study)) out.push(claimOnTask(study, dataset, { method, against, claim, kind }));
    }
  return out;
}

export interface QuantClaimResult {
  readonly method: string;
  readonly against: string;
  readonly claim: string;
  /** The iteration compared: the last one both measured (the claims say "at the same T"). */
  readonly iteration: number;
  /** Layers both measured, and those where `method`'s nuclear-norm error is smaller. */
  readonly layers: number;
  readonly wins: number;
  /** (1 − ‖E_method‖_* / ‖E_against‖_*) per layer, 0–1. */
  readonly reduction: Stat;
  readonly verdict: ClaimVerdict;
}

/** The quantization-error claims, per layer on the study's quant measurement (layers stand in for seeds in the verdict rule). */
export function quantClaimResults(study: StudyJson): QuantClaimResult[] {
  const info = study.config.methodInfo;
  const quant = study.quant;
  if (!info) return [];
  const out: QuantClaimResult[] = [];
  for (const [method, i] of Object.entries(info))
    for (const { against, claim } of i.claims) {
      if (claimKind(claim) !== 'quantization') continue;
      const a = quant?.methods.find((m) => m.id === method);
      const b = quant?.methods.find((m) => m.id === against);
      const iteration = a && b ? Math.min(a.iterations, b.iterations) : 0;
      const errorAt = (layers: typeof a, layer: string) =>
        layers?.layers.find((l) => l.layer === layer)?.errors.find((e) => e.iteration === iteration)?.nuclear ?? Number.NaN;
      const ratios = (a?.layers ?? [])
        .map((l) => ({ ea: errorAt(a, l.layer), eb: errorAt(b, l.layer) }))
        .filter((p) => Number.isFinite(p.ea) && Number.isFinite(p.eb) && p.eb > 0);
      const wins = ratios.filter((p) => p.ea < p.eb).length;
      out.push({
        method,
        against,
        claim,
        iteration,
        layers: ratios.length,
        wins,
        reduction: statOf(ratios.map((p) => 1 - p.ea / p.eb)),
        verdict: verdictOf(wins, ratios.length),
      });
    }
  return out;
}
