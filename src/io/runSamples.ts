// A run's samples as they arrive and as they are shown: per method a list in step order (a
// sample for a step it already has replaces it: a run with several seeds samples every seed at
// the same steps, and the newest seed's is kept), the steps any method has a sample at, the step
// a strip shows (the newest while it follows the run, else the chosen one), and what the report
// prints (each method's sample at the last step). Pure data.

import type { RunSample } from './runRecord';

export type SamplesByMethod = Readonly<Record<string, readonly RunSample[]>>;

/** `byMethod` with `sample` in `method`'s list, in step order. */
export function addSample(byMethod: SamplesByMethod, method: string, sample: RunSample): SamplesByMethod {
  const list = (byMethod[method] ?? []).filter((s) => s.step !== sample.step);
  const at = list.findIndex((s) => s.step > sample.step);
  const next = at < 0 ? [...list, sample] : [...list.slice(0, at), sample, ...list.slice(at)];
  return { ...byMethod, [method]: next };
}

/** Samples at steps up to `step` (a run resumed from a checkpoint at `step` samples the steps after it again). */
export function samplesUpTo(byMethod: SamplesByMethod, step: number): SamplesByMethod {
  return Object.fromEntries(Object.entries(byMethod).map(([m, list]) => [m, list.filter((s) => s.step <= step)]));
}

/** Every step at least one of `methods` has a sample at, ascending. */
export function sampleSteps(byMethod: SamplesByMethod, methods: readonly string[]): number[] {
  const steps = new Set<number>();
  for (const m of methods) for (const s of byMethod[m] ?? []) steps.add(s.step);
  return [...steps].sort((a, b) => a - b);
}

/**
 * The step to show: the newest when following (or nothing is chosen), else the chosen step, or
 * when it has no samples (e.g. a resumed run dropped it) the newest step before it, else the first.
 */
export function shownStep(steps: readonly number[], chosen: number | null, follow: boolean): number | null {
  if (steps.length === 0) return null;
  if (follow || chosen === null) return steps[steps.length - 1]!;
  if (steps.includes(chosen)) return chosen;
  const before = steps.filter((s) => s < chosen);
  return before.length > 0 ? before[before.length - 1]! : steps[0]!;
}

/** `method`'s sample at exactly `step` (a method added mid-way, or halted, has none at some steps). */
export function sampleAt(byMethod: SamplesByMethod, method: string, step: number): RunSample | undefined {
  return byMethod[method]?.find((s) => s.step === step);
}

/** Each method's newest sample, in `methods`' order (methods without one are left out). */
export function lastSamples(byMethod: SamplesByMethod, methods: readonly string[]): { readonly method: string; readonly sample: RunSample }[] {
  const out: { method: string; sample: RunSample }[] = [];
  for (const method of methods) {
    const sample = byMethod[method]?.at(-1);
    if (sample) out.push({ method, sample });
  }
  return out;
}
