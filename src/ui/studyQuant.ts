// The study's quantization errors (config.quant of docs/results.json) as the studio's live quant
// panel sees them: one point per method, layer and iteration, then the PiSSA paper's reduction
// ratio per layer type against plain NF4(W) (quantData.ts). The Study view shows each method's
// first and last iteration.

import type { QuantPoint, TargetLayer } from '../state/diagnosticsStore';
import type { QuantStudy } from '../study/results';
import { baselineOf, reductionRatios, type QuantInfo, type RatioRow } from './quantData';

export interface StudyQuantTable {
  readonly roles: readonly string[];
  /** Each method's first and last error-reducing iteration. */
  readonly rows: readonly RatioRow[];
  /** The mean nuclear-norm error of plain NF4(W) over the layers (the baseline), or NaN. */
  readonly baselineNuclear: number;
  readonly baselineMethod: string | null;
}

export function studyQuantPoints(quant: QuantStudy): { points: QuantPoint[]; layers: TargetLayer[] } {
  const layers = new Map<string, TargetLayer>();
  const points: QuantPoint[] = [];
  for (const m of quant.methods) {
    for (const l of m.layers) {
      if (!layers.has(l.layer)) layers.set(l.layer, { name: l.layer, role: l.role, out: 0, in: 0 });
      for (const e of l.errors) points.push({ method: m.id, layer: l.layer, ...e });
    }
  }
  return { points, layers: [...layers.values()] };
}

export function studyQuantTable(quant: QuantStudy, infos: readonly QuantInfo[]): StudyQuantTable | null {
  const { points, layers } = studyQuantPoints(quant);
  const baseline = baselineOf(points, infos);
  if (!baseline) return null;
  const { roles, rows } = reductionRatios(points, layers, baseline);
  const kept = rows.filter((r) => {
    const its = rows.filter((o) => o.series.method === r.series.method).map((o) => o.series.iteration);
    return r.series.iteration === Math.min(...its) || r.series.iteration === Math.max(...its);
  });
  const base = points.filter((p) => p.method === baseline.method && p.iteration === baseline.iteration);
  return {
    roles,
    rows: kept,
    baselineNuclear: base.length > 0 ? base.reduce((s, p) => s + p.nuclear, 0) / base.length : Number.NaN,
    baselineMethod: baseline.method,
  };
}
