// Chart rows for the diagnostics panels (SORSA orthonormality, SPP sparsity, memory), from the
// per-step diagnostic points the run streams. Pure functions.

import type { DiagnosticPoint, StepPoint } from '../worker/protocol';
import type { ChartRow } from './chartData';

export const MIB = 1024 * 1024;

/** One row per step with one column per method: `value` of its diagnostic points (undefined: left out). */
export function diagRows(points: Readonly<Record<string, readonly DiagnosticPoint[]>>, methods: readonly string[], value: (p: DiagnosticPoint) => number | undefined): ChartRow[] {
  const byStep = new Map<number, ChartRow>();
  for (const id of methods) {
    for (const p of points[id] ?? []) {
      const v = value(p);
      if (v === undefined || !Number.isFinite(v)) continue;
      const row = byStep.get(p.step) ?? { step: p.step };
      row[id] = v;
      byStep.set(p.step, row);
    }
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}

/** MiB per method per step it trained (adapter, owned bases, AdamW), and the pool's live MiB as `pool`. */
export function memoryRows(
  series: Readonly<Record<string, readonly StepPoint[]>>,
  points: Readonly<Record<string, readonly DiagnosticPoint[]>>,
  bytes: Readonly<Record<string, number>>,
  methods: readonly string[],
): ChartRow[] {
  const byStep = new Map<number, ChartRow>();
  const row = (step: number) => byStep.get(step) ?? byStep.set(step, { step }).get(step)!;
  for (const id of methods) {
    const b = bytes[id];
    if (b !== undefined) for (const p of series[id] ?? []) row(p.step)[id] = b / MIB;
    for (const p of points[id] ?? []) if (p.poolBytes !== undefined && p.step > 0) row(p.step).pool = Math.max(Number(row(p.step).pool ?? 0), p.poolBytes / MIB);
  }
  return [...byStep.values()].sort((a, b) => a.step - b.step);
}
