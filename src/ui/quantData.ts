// Rows for the quantization-error chart and the reduction-ratio table, from the errors the inits
// stream (one per layer and iteration). Pure functions.
//   series   one per method and iteration: the baseline's NF4(W) (QLoRA, iteration 0), and each
//            error-reducing init's rounds (LoftQ T = 0…, QPiSSA T = 1…).
//   ratio    (1 − ‖E_m‖_* / ‖E_base‖_*)·100 % per layer, averaged over the layers of each role
//            (q, k, v, o, gate, up, down) that have both numbers (the PiSSA paper's table).
//            The baseline is the error of the method whose info says quantError 'baseline'
//            (NF4(W) with no correction); without it, any series at iteration 0, which is always
//            plain NF4(W), the same error (same double-quant setting assumed).

import type { QuantPoint, TargetLayer } from '../state/diagnosticsStore';
import type { MethodInfo } from '../worker/protocol';

export type QuantNorm = 'nuclear' | 'frobenius';

export interface QuantSeries {
  readonly key: string;
  readonly method: string;
  readonly iteration: number;
}

export type QuantRow = { index: number; layer: string } & Record<string, number | string | undefined>;

export const seriesKey = (method: string, iteration: number): string => `${method}:${iteration}`;

export function quantSeries(points: readonly QuantPoint[]): QuantSeries[] {
  const seen = new Map<string, QuantSeries>();
  for (const p of points) {
    const key = seriesKey(p.method, p.iteration);
    if (!seen.has(key)) seen.set(key, { key, method: p.method, iteration: p.iteration });
  }
  return [...seen.values()].sort((a, b) => a.method.localeCompare(b.method) || a.iteration - b.iteration);
}

/** One row per target layer (in model order) that has at least one error, one column per series. */
export function quantRows(points: readonly QuantPoint[], layers: readonly TargetLayer[], norm: QuantNorm): QuantRow[] {
  const order = new Map(layers.map((l, i) => [l.name, i]));
  const rows = new Map<string, QuantRow>();
  for (const p of points) {
    const index = order.get(p.layer) ?? order.size + rows.size;
    const row = rows.get(p.layer) ?? { index, layer: p.layer };
    row[seriesKey(p.method, p.iteration)] = p[norm];
    rows.set(p.layer, row);
  }
  return [...rows.values()].sort((a, b) => a.index - b.index);
}

export interface Baseline {
  readonly method: string;
  readonly iteration: number;
}

export type QuantInfo = Pick<MethodInfo, 'id' | 'quantError'>;

export function baselineOf(points: readonly QuantPoint[], infos: readonly QuantInfo[]): Baseline | null {
  const declared = new Set(infos.filter((m) => m.quantError === 'baseline').map((m) => m.id));
  const zero = points.filter((p) => p.iteration === 0);
  const p = zero.find((x) => declared.has(x.method)) ?? zero[0];
  return p ? { method: p.method, iteration: 0 } : null;
}

export interface RatioRow {
  readonly series: QuantSeries;
  /** Mean reduction in % by role, and over every layer ('all'); undefined where no layer has both. */
  readonly byRole: Readonly<Record<string, number | undefined>>;
}

export function reductionRatios(points: readonly QuantPoint[], layers: readonly TargetLayer[], baseline: Baseline): { roles: string[]; rows: RatioRow[] } {
  const roleOf = new Map(layers.map((l) => [l.name, l.role]));
  const base = new Map<string, number>();
  for (const p of points) if (p.method === baseline.method && p.iteration === baseline.iteration) base.set(p.layer, p.nuclear);
  const roles = [...new Set(layers.map((l) => l.role))];
  const rows: RatioRow[] = [];
  for (const series of quantSeries(points)) {
    // Iteration 0 is NF4(W) alone, the baseline's own error: no reduction to show.
    if (series.iteration === 0 || (series.method === baseline.method && series.iteration === baseline.iteration)) continue;
    const sums = new Map<string, { total: number; n: number }>();
    for (const p of points) {
      if (p.method !== series.method || p.iteration !== series.iteration) continue;
      const b = base.get(p.layer);
      if (b === undefined || !(b > 0)) continue;
      const ratio = (1 - p.nuclear / b) * 100;
      for (const key of [roleOf.get(p.layer) ?? '?', 'all']) {
        const acc = sums.get(key) ?? { total: 0, n: 0 };
        sums.set(key, { total: acc.total + ratio, n: acc.n + 1 });
      }
    }
    const byRole: Record<string, number | undefined> = {};
    for (const [key, acc] of sums) byRole[key] = acc.total / acc.n;
    rows.push({ series, byRole });
  }
  return { roles, rows };
}
