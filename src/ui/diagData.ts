// Chart rows for the diagnostics panels (SORSA orthonormality, SPP sparsity, memory), from the
// per-step diagnostic points the run streams. Pure functions.

import type { DiagnosticPoint, StepPoint } from '../worker/protocol';
import { collectRows, type ChartRow } from './chartData';

export const MIB = 1024 * 1024;

/** One row per step with one column per method: `value` of its diagnostic points (undefined: left out). */
export function diagRows(
  points: Readonly<Record<string, readonly DiagnosticPoint[]>>,
  methods: readonly string[],
  value: (p: DiagnosticPoint) => number | undefined,
): ChartRow[] {
  return collectRows(methods.map((id) => ({ id, points: (points[id] ?? []).map((p) => ({ x: p.step, value: value(p) })) })));
}

/** MiB per method per step it trained (adapter, owned bases, AdamW), and the pool's live MiB as `pool`. */
export function memoryRows(
  series: Readonly<Record<string, readonly StepPoint[]>>,
  points: Readonly<Record<string, readonly DiagnosticPoint[]>>,
  bytes: Readonly<Record<string, number>>,
  methods: readonly string[],
): ChartRow[] {
  const pool = new Map<number, number>();
  for (const id of methods) {
    for (const p of points[id] ?? []) if (p.poolBytes !== undefined && p.step > 0) pool.set(p.step, Math.max(pool.get(p.step) ?? 0, p.poolBytes / MIB));
  }
  return collectRows([
    ...methods.map((id) => {
      const b = bytes[id];
      return { id, points: b === undefined ? [] : (series[id] ?? []).map((p) => ({ x: p.step, value: b / MIB })) };
    }),
    { id: 'pool', points: [...pool].map(([x, value]) => ({ x, value })) },
  ]);
}
