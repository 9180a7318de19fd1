// Chart rows from the streamed curves: one row per step with one column per method, optionally
// smoothed (exponential moving average with TensorBoard's debiasing, so the first points are
// not pulled towards zero). Pure functions; the charts only render what these return.

import type { StepPoint } from '../worker/protocol';

export type ChartRow = { step: number } & Record<string, number | undefined>;

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

/** Rows by step for `value` of each method's points; non-finite values (and ≤ 0 on a log axis) left out. */
export function stepRows(
  series: Readonly<Record<string, readonly StepPoint[]>>,
  methods: readonly string[],
  value: (p: StepPoint) => number,
  smoothing: number,
  log: boolean,
): ChartRow[] {
  const byStep = new Map<number, ChartRow>();
  for (const id of methods) {
    const points = series[id] ?? [];
    const values = smooth(points.map(value), smoothing);
    points.forEach((p, i) => {
      const v = values[i]!;
      const row = byStep.get(p.step) ?? { step: p.step };
      if (Number.isFinite(v) && (!log || v > 0)) row[id] = v;
      byStep.set(p.step, row);
    });
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

export function evalRows(evals: Readonly<Record<string, readonly { step: number; loss: number }[]>>, methods: readonly string[], log: boolean): ChartRow[] {
  const byStep = new Map<number, ChartRow>();
  for (const id of methods) {
    for (const e of evals[id] ?? []) {
      const row = byStep.get(e.step) ?? { step: e.step };
      if (Number.isFinite(e.loss) && (!log || e.loss > 0)) row[id] = e.loss;
      byStep.set(e.step, row);
    }
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

export const tokensPerSecond = (p: StepPoint): number => (p.ms > 0 ? (p.tokens * 1000) / p.ms : Number.NaN);
