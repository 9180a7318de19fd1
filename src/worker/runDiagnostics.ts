// Bookkeeping for the diagnostics of the running (or last) comparison: each method's adapted
// model and steps; cached "before" spectra; and a queue of
// GPU tasks that the page asks for mid-run (a spectrum) which the training loop runs between two
// steps, so they never interleave with a step's recording. Without a running loop a task runs at
// once.
// Not here: the measurements themselves (diagnostics.ts) or the loop (studioRun.ts).

import type { AdaptedModel } from '../adapters/types';
import { StudioError } from '../errors';
import type { GpuContext } from '../gpu/context';
import type { CausalLM } from '../models/causalLM';
import { orthoOf, sparsityOf, spectrum } from './diagnostics';
import type { DiagnosticPoint, SpectrumResult } from './protocol';

interface Entry {
  readonly adapted: AdaptedModel;
  steps: number;
}

const entries = new Map<string, Entry>();
const beforeCache = new Map<string, number[]>();
let context: { rt: GpuContext; shared: CausalLM } | undefined;

const tasks: (() => Promise<void>)[] = [];
let loopActive = false;
let wake: (() => void) | undefined;

/** A new comparison: forgets the previous one's methods. */
export function resetDiagnostics(rt: GpuContext, shared: CausalLM): void {
  entries.clear();
  beforeCache.clear();
  context = { rt, shared };
}

/** The methods were released (new run, new model): nothing is left to measure. */
export function forgetDiagnostics(): void {
  entries.clear();
  beforeCache.clear();
  context = undefined;
}

/** Snapshots a method that just became ready; returns its step-0 measurements. */
export async function registerMethod(rt: GpuContext, id: string, adapted: AdaptedModel): Promise<DiagnosticPoint> {
  entries.set(id, { adapted, steps: 0 });
  return measure(rt, id, 0, true, true);
}

/** SORSA's orthonormality and/or SPP's sparsity now, with the pool's live bytes. */
export async function measure(rt: GpuContext, id: string, step: number, ortho: boolean, sparsity: boolean): Promise<DiagnosticPoint> {
  const e = entries.get(id);
  if (!e) return { step, poolBytes: rt.stats().liveBytes };
  e.steps = step;
  const o = ortho ? await orthoOf(rt, e.adapted) : undefined;
  const s = sparsity ? await sparsityOf(rt, e.adapted) : undefined;
  return { step, poolBytes: rt.stats().liveBytes, ...(o === undefined ? {} : { ortho: o }), ...(s === undefined ? {} : { sparsity: s }) };
}

/** Marks `id`'s steps without measuring (for the spectrum's "after step N" label). */
export function noteSteps(id: string, steps: number): void {
  const e = entries.get(id);
  if (e) e.steps = steps;
}

export function setLoopActive(active: boolean): void {
  loopActive = active;
  if (!active) wake = undefined;
}

/** The paused loop sleeps on this; a new task wakes it. */
export function onTaskArrival(resolve: (() => void) | undefined): void {
  wake = resolve;
}

export function hasTasks(): boolean {
  return tasks.length > 0;
}

/** Runs `fn` between two training steps (or now, when no comparison is running). */
export function betweenSteps<T>(fn: () => Promise<T>): Promise<T> {
  if (!loopActive) return fn();
  return new Promise<T>((resolve, reject) => {
    tasks.push(() => fn().then(resolve, reject));
    wake?.();
  });
}

export async function drainTasks(): Promise<void> {
  while (tasks.length > 0) await tasks.shift()!();
}

export function spectrumOf(method: string, layer: string): Promise<SpectrumResult> {
  return betweenSteps(async () => {
    const e = entries.get(method);
    if (!e || !context) throw new StudioError(`${method} is not in the running or last comparison; start one first`);
    const key = `${method}|${layer}`;
    const result = await spectrum(context.rt, method, e.adapted, layer, beforeCache.get(key), e.steps);
    beforeCache.set(key, [...result.before]);
    return result;
  });
}
