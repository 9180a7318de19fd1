// One point per method for the plots of two result metrics (the "compare two metrics" scatter and
// the Pareto plot): each metric from the run's curves (resultMetrics.ts), accuracy from the live
// progress of the questions or, for a reopened run (no progress: the questions were answered when
// it ran), from the accuracy its result carries. Pure.

import type { AccuracyProgress } from '../state/diagnosticsStore';
import type { MethodReady } from '../state/runStore';
import type { ComparisonResult, StepPoint } from '../worker/protocol';
import { methodMetrics, type MetricKey } from './resultMetrics';

export interface MetricRun {
  readonly methods: readonly string[];
  readonly series: Readonly<Record<string, readonly StepPoint[]>>;
  readonly evals: Readonly<Record<string, readonly { step: number; loss: number }[]>>;
  readonly ready: Readonly<Record<string, MethodReady>>;
  readonly result: Pick<ComparisonResult, 'methods'> | null;
}

export interface MetricPoint {
  readonly id: string;
  readonly x: number;
  readonly y: number;
}

/** Each method's (x, y); NaN where the method has no such number. */
export function metricPoints(run: MetricRun, progress: Readonly<Record<string, AccuracyProgress>>, x: MetricKey, y: MetricKey): MetricPoint[] {
  return run.methods.map((id) => {
    const m = methodMetrics(run.series[id] ?? [], run.evals[id] ?? [], run.ready[id], progress[id]);
    const saved = run.result?.methods.find((r) => r.id === id)?.accuracy;
    if (!Number.isFinite(m.accuracy) && typeof saved === 'number') m.accuracy = 100 * saved;
    return { id, x: m[x], y: m[y] };
  });
}
