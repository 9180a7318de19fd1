// Aggregates over the seeds of a run that repeated its comparison: per method, the mean, the
// sample standard deviation (n − 1 in the denominator) and n of each summary number, over the
// seeds that ran all their steps; and per method and step, the mean curve with its min–max band.
// One seed has no spread (sd NaN). Non-finite values (a metric a seed did not measure, a halted
// method's missing validation) take no part. Pure: the results table, the Pareto plot, the CSV,
// the charts and the HTML report all read these.

import { summaryRows, type MethodSummaryRow, type RunPoint, type RunRecord, type RunSeed } from './runRecord';

/** Mean, sample standard deviation and count of the finite values (sd NaN below two; mean NaN for none). */
export interface Spread {
  readonly mean: number;
  readonly sd: number;
  readonly n: number;
}

export function spreadOf(values: readonly number[]): Spread {
  const finite = values.filter((v) => Number.isFinite(v));
  const n = finite.length;
  if (n === 0) return { mean: Number.NaN, sd: Number.NaN, n: 0 };
  const mean = finite.reduce((a, v) => a + v, 0) / n;
  if (n === 1) return { mean, sd: Number.NaN, n };
  const ss = finite.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, sd: Math.sqrt(ss / (n - 1)), n };
}

/** The numeric columns of a summary row. */
export type SummaryKey = Exclude<keyof MethodSummaryRow, 'id' | 'label' | 'halted' | 'diverging'>;

export const SUMMARY_KEYS: readonly SummaryKey[] = [
  'steps',
  'finalLoss',
  'finalVal',
  'bestVal',
  'accuracy',
  'trainable',
  'bytes',
  'initMs',
  'trainMs',
  'tokensPerS',
  'processedPerS',
];

/** One method over the seeds: each summary number's spread, and each seed's row (in seed order). */
export interface SeedAggregate {
  readonly id: string;
  readonly label: string;
  readonly stats: Readonly<Record<SummaryKey, Spread>>;
  /** Forgetting (loss after minus the base's) over the seeds that measured it. */
  readonly forgetting: Spread;
  readonly perSeed: readonly { readonly seed: number; readonly row: MethodSummaryRow | undefined; readonly forgetting: number }[];
  /** Halt messages of the seeds where it halted, with the seed. */
  readonly halted: readonly string[];
}

/** The seeds that ran all their steps (a stopped seed's numbers are partial and not averaged). */
export function completeSeeds(seeds: readonly RunSeed[] | undefined): RunSeed[] {
  return (seeds ?? []).filter((s) => !s.stopped);
}

/** Forgetting of `id` in one seed: its held-out loss after training minus the base's (NaN: not measured). */
export function forgettingOf(seed: Pick<RunSeed, 'forgetting'>, id: string): number {
  const f = seed.forgetting;
  return f && f.loss[id] !== undefined ? f.loss[id] - f.baseLoss : Number.NaN;
}

/** Per method of `methods` (in order), its numbers over `seeds` (`params` gives processed tokens/s its batch × T). */
export function aggregateSeeds(methods: RunRecord['methods'], seeds: readonly RunSeed[], params?: RunRecord['params']): SeedAggregate[] {
  const rowsBySeed = seeds.map((s) => new Map(summaryRows({ ...s, methods, ...(params ? { params } : {}) }).map((r) => [r.id, r])));
  return methods.map(({ id, label }) => {
    const perSeed = seeds.map((s, i) => ({ seed: s.seed, row: rowsBySeed[i]!.get(id), forgetting: forgettingOf(s, id) }));
    const stats = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, spreadOf(perSeed.map((p) => (p.row ? p.row[k] : Number.NaN)))])) as Record<SummaryKey, Spread>;
    const halted = perSeed.flatMap((p) => (p.row?.halted ? [`seed ${p.seed}: ${p.row.halted}`] : []));
    return { id, label, stats, forgetting: spreadOf(perSeed.map((p) => p.forgetting)), perSeed, halted };
  });
}

/** "1.234 ± 0.056" with `format` for both; just the mean when there is no spread. */
export function formatSpread(s: Spread, format: (v: number) => string): string {
  if (!Number.isFinite(s.mean)) return format(Number.NaN);
  return Number.isFinite(s.sd) ? `${format(s.mean)} ± ${format(s.sd)}` : format(s.mean);
}

/** One step of a mean curve: the mean over the seeds that reached it, and their min and max. */
export interface BandPoint {
  readonly step: number;
  readonly mean: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
  /** Mean cumulative training tokens of those seeds at this step. */
  readonly tokens: number;
}

/**
 * The mean curve of one method over its per-seed curves, value by value: each seed's curve is first
 * passed through `transform` (e.g. smoothing, which needs the whole curve), then, per step, the
 * finite values are averaged and their min and max kept. Steps sorted.
 */
export function meanBand(
  curves: readonly (readonly RunPoint[])[],
  value: (p: RunPoint) => number,
  transform: (values: readonly number[]) => readonly number[] = (v) => v,
): BandPoint[] {
  const bySteps = new Map<number, { values: number[]; tokens: number[] }>();
  for (const points of curves) {
    const values = transform(points.map(value));
    let cumulative = 0;
    points.forEach((p, i) => {
      cumulative += p.tokens;
      const v = values[i]!;
      if (!Number.isFinite(v)) return;
      const at = bySteps.get(p.step) ?? { values: [], tokens: [] };
      at.values.push(v);
      at.tokens.push(cumulative);
      bySteps.set(p.step, at);
    });
  }
  return [...bySteps]
    .sort((a, b) => a[0] - b[0])
    .map(([step, { values, tokens }]) => ({
      step,
      mean: values.reduce((a, v) => a + v, 0) / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      n: values.length,
      tokens: tokens.reduce((a, v) => a + v, 0) / tokens.length,
    }));
}

/** Validation losses as points (the rest NaN) so meanBand can average them step by step. */
export function evalPoints(evals: readonly { readonly step: number; readonly loss: number }[]): RunPoint[] {
  return evals.map((e) => ({ step: e.step, loss: e.loss, gradNorm: Number.NaN, lr: Number.NaN, tokens: 0, ms: Number.NaN }));
}
