// Chart rows from the streamed curves: one row per x value (step, or training tokens seen) with
// one column per method, optionally smoothed (exponential moving average with TensorBoard's
// debiasing, so the first points are not pulled towards zero). Pure functions; the charts only
// render what these return. A run with several seeds adds each method's mean curve over the seeds
// with its min–max band (seedStepRows, seedEvalRows).

import type { StepPoint } from '../worker/protocol';
import { evalPoints, meanBand, type BandPoint } from '../io/seedStats';

/** What the x axis counts: optimizer steps, or training tokens (non-padding) the method has seen. */
export type XAxisKind = 'step' | 'tokens';

export type ChartRow = { x: number } & Record<string, number | undefined>;

export interface ChartColumn {
  readonly id: string;
  readonly points: readonly { readonly x: number; readonly value: number | undefined }[];
}

/** Merges columns into rows sorted by x; undefined, non-finite (and, on a log axis, ≤ 0) values left out. */
export function collectRows(columns: readonly ChartColumn[], log = false): ChartRow[] {
  const byX = new Map<number, ChartRow>();
  for (const { id, points } of columns) {
    for (const { x, value } of points) {
      const row = byX.get(x) ?? { x };
      if (value !== undefined && Number.isFinite(value) && (!log || value > 0)) row[id] = value;
      byX.set(x, row);
    }
  }
  return [...byX.values()].sort((a, b) => a.x - b.x);
}

/** EMA with weight w in [0, 1): s_t = w·s_{t−1} + (1 − w)·x_t, divided by 1 − w^t. */
export function smooth(values: readonly number[], weight: number): number[] {
  if (weight <= 0) return [...values];
  const out: number[] = [];
  let acc = 0;
  let n = 0;
  for (const v of values) {
    if (!Number.isFinite(v)) {
      out.push(v);
      continue;
    }
    acc = weight * acc + (1 - weight) * v;
    n++;
    out.push(acc / (1 - weight ** n));
  }
  return out;
}

/** Training tokens a method has seen after each of its steps (a method added mid-run starts at 0). */
export function cumulativeTokens(points: readonly StepPoint[]): Map<number, number> {
  const out = new Map<number, number>();
  let total = 0;
  for (const p of points) {
    total += p.tokens;
    out.set(p.step, total);
  }
  return out;
}

/** Methods of one run share its batches; an overlaid saved run's keys end in "~…" (overlayData.ts). */
const runOf = (id: string): string => (id.includes('~') ? id.slice(id.lastIndexOf('~')) : '');

/**
 * Training tokens of the run's shared batches up to each step, per run (all methods train on the
 * same batches in the same order, so any method's point at a step says that step's tokens). A
 * method added mid-run is placed where the run was when it joined, not at 0.
 */
export function runTokens(series: Readonly<Record<string, readonly StepPoint[]>>, methods: readonly string[]): Map<string, Map<number, number>> {
  const perStep = new Map<string, Map<number, number>>();
  for (const id of methods) {
    const steps = perStep.get(runOf(id)) ?? new Map<number, number>();
    for (const p of series[id] ?? []) if (!steps.has(p.step)) steps.set(p.step, p.tokens);
    perStep.set(runOf(id), steps);
  }
  const out = new Map<string, Map<number, number>>();
  for (const [run, steps] of perStep) {
    const cumulative = new Map<number, number>();
    let total = 0;
    for (const [step, tokens] of [...steps].sort((a, b) => a[0] - b[0])) {
      total += tokens;
      cumulative.set(step, total);
    }
    out.set(run, cumulative);
  }
  return out;
}

function xOf(axis: XAxisKind, step: number, tokens: ReadonlyMap<number, number> | undefined): number | undefined {
  if (axis === 'step') return step;
  if (step === 0) return 0;
  return tokens?.get(step);
}

/** The column of a series' unsmoothed values, drawn faintly under its smoothed line. */
export const rawKey = (id: string): string => `${id}:raw`;

/**
 * Rows of `value` of each method's step points against step or the run's training tokens. With
 * smoothing, each method also gets its unsmoothed values in column rawKey(id).
 */
export function stepRows(
  series: Readonly<Record<string, readonly StepPoint[]>>,
  methods: readonly string[],
  value: (p: StepPoint) => number,
  smoothing: number,
  log: boolean,
  axis: XAxisKind = 'step',
): ChartRow[] {
  const tokens = axis === 'tokens' ? runTokens(series, methods) : new Map<string, Map<number, number>>();
  return collectRows(
    methods.flatMap((id) => {
      const points = series[id] ?? [];
      const raw = points.map(value);
      const values = smooth(raw, smoothing);
      const column = (key: string, vs: readonly number[]): ChartColumn => ({
        id: key,
        points: points.flatMap((p, i) => {
          const x = xOf(axis, p.step, tokens.get(runOf(id)));
          return x === undefined ? [] : [{ x, value: vs[i] }];
        }),
      });
      return smoothing > 0 ? [column(id, values), column(rawKey(id), raw)] : [column(id, values)];
    }),
    log,
  );
}

/** Validation losses against step, or against the run's training tokens at that step. */
export function evalRows(
  evals: Readonly<Record<string, readonly { step: number; loss: number }[]>>,
  methods: readonly string[],
  log: boolean,
  axis: XAxisKind = 'step',
  series: Readonly<Record<string, readonly StepPoint[]>> = {},
): ChartRow[] {
  const tokens = axis === 'tokens' ? runTokens(series, methods) : new Map<string, Map<number, number>>();
  return collectRows(
    methods.map((id) => {
      const points = (evals[id] ?? []).flatMap((e) => {
        const x = xOf(axis, e.step, tokens.get(runOf(id)));
        return x === undefined ? [] : [{ x, value: e.loss }];
      });
      return { id, points };
    }),
    log,
  );
}

/** The base model's validation loss at step 0 as its own column `key` (merged into `rows`, which stay sorted). */
export function withBasePoint(rows: readonly ChartRow[], key: string, loss: number | null | undefined, log: boolean): ChartRow[] {
  if (loss === null || loss === undefined || !Number.isFinite(loss) || (log && loss <= 0)) return [...rows];
  const at = rows.findIndex((r) => r.x === 0);
  if (at >= 0) return rows.map((r, i) => (i === at ? { ...r, [key]: loss } : r));
  return [{ x: 0, [key]: loss } as ChartRow, ...rows];
}

/** Natural log of the vocabulary size: the loss (nats/token) of a uniform guess over it. */
export const uniformLoss = (vocab: number): number | null => (vocab > 1 ? Math.log(vocab) : null);

/** Tokens a step processes (batch × sequence length, padding and prompt tokens included). */
export const processedPerSecond =
  (batch: number, seqLen: number) =>
  (p: StepPoint): number =>
    p.ms > 0 ? (batch * seqLen * 1000) / p.ms : Number.NaN;

export const tokensPerSecond = (p: StepPoint): number => (p.ms > 0 ? (p.tokens * 1000) / p.ms : Number.NaN);

// ---- runs with several seeds: each method's mean curve with a min–max band ----

/** The column of a method's mean over seeds, and its band's lower and upper edges. */
export const meanKey = (id: string): string => `${id}~mean`;
export const bandLowKey = (id: string): string => `${id}:lo`;
export const bandHighKey = (id: string): string => `${id}:hi`;

/** Rows of two row lists merged by x (sorted); a column in both takes `b`'s value. */
export function mergeRows(a: readonly ChartRow[], b: readonly ChartRow[]): ChartRow[] {
  const byX = new Map<number, ChartRow>();
  for (const r of [...a, ...b]) byX.set(r.x, { ...(byX.get(r.x) ?? {}), ...r });
  return [...byX.values()].sort((p, q) => p.x - q.x);
}

function bandColumns(id: string, band: readonly BandPoint[], xOfPoint: (p: BandPoint) => number | undefined): ChartColumn[] {
  const at = (pick: (p: BandPoint) => number) => band.flatMap((p) => (xOfPoint(p) === undefined ? [] : [{ x: xOfPoint(p)!, value: pick(p) }]));
  const key = meanKey(id);
  return [
    { id: key, points: at((p) => p.mean) },
    { id: bandLowKey(key), points: at((p) => p.min) },
    { id: bandHighKey(key), points: at((p) => p.max) },
  ];
}

/**
 * Per method, its mean over the seeds' curves of `value` (each seed's curve smoothed first) in
 * column meanKey(id), with the min and max over the seeds as the band's edges; against step or the
 * mean training tokens the seeds had seen by that step.
 */
export function seedStepRows(
  seeds: readonly Readonly<Record<string, readonly StepPoint[]>>[],
  methods: readonly string[],
  value: (p: StepPoint) => number,
  smoothing: number,
  log: boolean,
  axis: XAxisKind = 'step',
): ChartRow[] {
  return collectRows(
    methods.flatMap((id) => {
      const band = meanBand(
        seeds.map((s) => s[id] ?? []),
        value,
        (vs) => smooth(vs, smoothing),
      );
      return bandColumns(id, band, (p) => (axis === 'step' ? p.step : p.tokens));
    }),
    log,
  );
}

/** Validation losses' mean and min–max band per method over the seeds (x: step, or the mean tokens seen by that step). */
export function seedEvalRows(
  seeds: readonly {
    readonly series: Readonly<Record<string, readonly StepPoint[]>>;
    readonly evals: Readonly<Record<string, readonly { step: number; loss: number }[]>>;
  }[],
  methods: readonly string[],
  log: boolean,
  axis: XAxisKind = 'step',
): ChartRow[] {
  return collectRows(
    methods.flatMap((id) => {
      const tokens = new Map(
        meanBand(
          seeds.map((s) => s.series[id] ?? []),
          (p) => p.loss,
        ).map((p) => [p.step, p.tokens]),
      );
      const band = meanBand(
        seeds.map((s) => evalPoints(s.evals[id] ?? [])),
        (p) => p.loss,
      );
      return bandColumns(id, band, (p) => (axis === 'step' ? p.step : tokens.get(p.step)));
    }),
    log,
  );
}
