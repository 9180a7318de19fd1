// How far the comparison is and how long the rest should take, from the step times the worker
// measured. One comparison step trains every method once, one after the other, so its time is the
// sum of the methods' times at that step; the estimate is the mean of the last few whole steps
// times the steps left. Validation passes and accuracy questions are not in it (the run bar says
// so). Pure functions.

import type { StepPoint } from '../worker/protocol';

/** Steps done: the most any method of the run has. */
export function stepsDone(series: Readonly<Record<string, readonly StepPoint[]>>): number {
  return Math.max(0, ...Object.values(series).map((p) => p.length));
}

/** Mean wall time of one comparison step over the last `window` steps, or null before any step. */
export function stepTimeMs(series: Readonly<Record<string, readonly StepPoint[]>>, window = 5): number | null {
  const perStep = new Map<number, number>();
  for (const points of Object.values(series)) for (const p of points) if (Number.isFinite(p.ms)) perStep.set(p.step, (perStep.get(p.step) ?? 0) + p.ms);
  const steps = [...perStep.keys()].sort((a, b) => a - b);
  // The newest step may still be partial (some methods have not trained it yet).
  const whole = steps.length > 1 ? steps.slice(0, -1) : steps;
  const recent = whole.slice(-window);
  if (recent.length === 0) return null;
  return recent.reduce((sum, s) => sum + perStep.get(s)!, 0) / recent.length;
}

/** Milliseconds the remaining steps should take, or null when unknown or done. */
export function remainingMs(series: Readonly<Record<string, readonly StepPoint[]>>, totalSteps: number, window = 5): number | null {
  const done = stepsDone(series);
  const per = stepTimeMs(series, window);
  if (per === null || done >= totalSteps) return null;
  return (totalSteps - done) * per;
}

/** A duration for people: "40 s", "3 min 05 s", "1 h 12 min". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
