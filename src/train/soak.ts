// The soak: a long interleaved comparison (InterleavedRun, as the studio drives it) that checks
// ARCHITECTURE.md convention 7 over time: steady-state steps allocate nothing. Every
// `sampleEvery` steps, after the GPU has finished and (where the host can) a forced GC, it samples
// the pool (live bytes, live buffers, owned bytes), the JS heap and the context's counters
// (pipelines compiled and buffers created, both totals; bind groups and dispatches per step over
// the window since the last sample). After the warm-up every metric must stay within `tolerance`
// of its value at the end of the warm-up: growth = (highest later sample − that value) / that value.
// Then the run and the model are released and the pool's live bytes and buffers must be back to
// what they were before the model was loaded (after a one-step priming cycle, see runSoak).
//
// Host-agnostic: the host loads the model and says how to read the heap (Node: soakNode.ts).
// Not here: printing and writing figures (scripts/soak.ts), assertions (the hosts).

import { resolveSettings, type MethodDefinition, type MethodSettings } from '../adapters/types';
import type { CausalLM } from '../models/causalLM';
import { releaseModel } from '../models/load';
import type { Runtime } from '../tensor/values';
import { InterleavedRun } from './compare';
import type { Batch } from './trainer';

export interface SoakOptions {
  /** Loads the model (onto `rt`); called twice (priming, then the soak), after each pool snapshot. */
  readonly load: () => Promise<CausalLM>;
  readonly methods: readonly MethodDefinition[];
  readonly steps: number;
  /** Steps between samples; also the validation interval, so every window holds one evaluation. */
  readonly sampleEvery: number;
  /** Fraction of the steps before the baseline sample (default 0.05). */
  readonly warmupFraction?: number;
  /** Allowed growth after warm-up, as a fraction (default 0.01). */
  readonly tolerance?: number;
  readonly seed?: number;
  /** Bytes of JS heap in use after a forced GC; absent where the host cannot measure it. */
  readonly heapBytes?: () => number;
  /** Bytes the process holds (RSS), reported but not judged: Dawn and the allocator keep slack. */
  readonly processBytes?: () => number;
  readonly onSample?: (sample: SoakSample) => void;
}

/** The metrics judged for flatness, in table order. */
export const SOAK_METRICS = [
  'liveBytes',
  'liveBuffers',
  'ownedBytes',
  'heapBytes',
  'pipelines',
  'buffersCreated',
  'bindGroupsPerStep',
  'dispatchesPerStep',
] as const;
export type SoakMetric = (typeof SOAK_METRICS)[number];

export type SoakSample = { readonly step: number; readonly processBytes: number } & { readonly [K in SoakMetric]: number };

export interface MetricGrowth {
  readonly metric: SoakMetric | 'processBytes';
  /** The sample at the end of the warm-up. */
  readonly baseline: number;
  readonly last: number;
  readonly max: number;
  /** (max − baseline) / baseline; 0 when both are 0, Infinity when only the baseline is. */
  readonly growth: number;
  /** Within tolerance; processBytes is always reported as ok (informational). */
  readonly ok: boolean;
}

export interface SoakResult {
  readonly steps: number;
  readonly methods: readonly string[];
  readonly samples: readonly SoakSample[];
  /** The step of the baseline sample. */
  readonly warmupSteps: number;
  readonly growth: readonly MetricGrowth[];
  readonly tolerance: number;
  /** What the first (priming) cycle left live for the context's life: its constant tensors. */
  readonly contextCaches: { readonly liveBytes: number; readonly liveBuffers: number };
  /** Pool live bytes and buffers before the model was loaded and after everything was released. */
  readonly before: { readonly liveBytes: number; readonly liveBuffers: number };
  readonly after: { readonly liveBytes: number; readonly liveBuffers: number };
  readonly leaked: boolean;
  readonly finalLosses: readonly number[];
  readonly ms: number;
}

/** Rank 4 where a method has a rank (small and quick), its defaults otherwise. */
function soakSettings(method: MethodDefinition): MethodSettings {
  return resolveSettings(method, method.settings.some((s) => s.key === 'rank') ? { rank: 4 } : {});
}

/** Batch `step`: B = 2 rows of T = 8 tokens, the same shapes every step, different ids. */
function soakBatch(V: number, step: number): Batch {
  const [B, T] = [2, 8];
  const ids = Array.from({ length: B * T }, (_, i) => (i * (7 + (step % 5)) + step * 3 + 1) % V);
  const targets = ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!));
  return { ids, targets, batchSize: B, seqLen: T };
}

export async function runSoak(rt: Runtime, options: SoakOptions): Promise<SoakResult> {
  const began = performance.now();
  const tolerance = options.tolerance ?? 0.01;
  const { steps, sampleEvery } = options;
  const warmupSteps = Math.ceil(Math.ceil(steps * (options.warmupFraction ?? 0.05)) / sampleEvery) * sampleEvery;
  // A first short cycle (load, init, one step, validation, release) lets whatever the context
  // keeps for its life come into being (the placeholder, kernels/nf4.ts's dynamic map): those
  // are not leaks, and "before" is taken after them. A leak per run or per step still shows.
  await rt.sync();
  const initial = liveOf(rt);
  await cycle(rt, options, 1, 1);
  const before = liveOf(rt);
  const { samples, finalLosses } = await cycle(rt, options, steps, sampleEvery);
  const after = liveOf(rt);
  const growth = growthOf(samples, warmupSteps, tolerance);
  return {
    steps,
    methods: options.methods.map((m) => m.id),
    samples,
    warmupSteps,
    growth,
    tolerance,
    contextCaches: { liveBytes: before.liveBytes - initial.liveBytes, liveBuffers: before.liveBuffers - initial.liveBuffers },
    before,
    after,
    leaked: after.liveBytes !== before.liveBytes || after.liveBuffers !== before.liveBuffers,
    finalLosses,
    ms: performance.now() - began,
  };
}

/** Loads the model, runs `steps` interleaved steps sampling every `sampleEvery`, releases everything. */
async function cycle(rt: Runtime, options: SoakOptions, steps: number, sampleEvery: number): Promise<{ samples: SoakSample[]; finalLosses: number[] }> {
  const samples: SoakSample[] = [];
  const finalLosses: number[] = [];
  const model = await options.load();
  try {
    const V = model.config.vocabSize;
    const run = new InterleavedRun<null>(rt, {
      model,
      targets: model.linearNames(),
      seed: options.seed ?? 1,
      steps,
      schedule: { kind: 'cosine', warmupSteps: Math.min(10, steps) },
      clipNorm: 1,
      weightDecay: 0.01,
      validationBatches: [soakBatch(V, 1_000_003)],
      evalEvery: sampleEvery,
    });
    try {
      for (const method of options.methods) {
        await run.add({ id: method.id, definition: method, settings: soakSettings(method), learningRate: 1e-3 }, () => null);
      }
      let previous = rt.counters();
      const sample = async (step: number): Promise<void> => {
        await rt.sync();
        const counters = rt.counters();
        const pool = rt.stats();
        const perStep = (now: number, then: number) => (step === 0 ? 0 : (now - then) / sampleEvery);
        const row: SoakSample = {
          step,
          liveBytes: pool.liveBytes,
          liveBuffers: pool.liveBuffers,
          ownedBytes: pool.ownedBytes,
          heapBytes: options.heapBytes?.() ?? 0,
          pipelines: counters.pipelinesCompiled,
          buffersCreated: counters.buffersCreated,
          bindGroupsPerStep: perStep(counters.bindGroups, previous.bindGroups),
          dispatchesPerStep: perStep(counters.dispatches, previous.dispatches),
          processBytes: options.processBytes?.() ?? 0,
        };
        previous = counters;
        samples.push(row);
        options.onSample?.(row);
      };
      const sampling = steps > 1;
      if (sampling) await sample(0);
      const last = new Map<unknown, number>();
      for (let step = 0; step < steps; step++) {
        await run.step(step, soakBatch(V, step), {
          onStep: (method, metrics) => {
            last.set(method, metrics.loss);
          },
        });
        if (sampling && ((step + 1) % sampleEvery === 0 || step === steps - 1)) await sample(step + 1);
      }
      finalLosses.push(...run.methods.map((m) => last.get(m) ?? Number.NaN));
    } finally {
      run.release();
    }
  } finally {
    releaseModel(rt, model);
  }
  await rt.sync();
  return { samples, finalLosses };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Each metric's growth over the samples from `warmupSteps` on. Counters and pool figures are exact:
 * growth = (highest later sample − the first) / the first. The JS heap after a GC wanders by a few
 * hundred KB with V8's own bookkeeping (and, inside a test process, other files' leftovers), so it
 * is judged as a trend: the median of the second half of the samples against the median of the
 * first half. A leak grows steadily and shows in that difference; a single high sample does not.
 */
export function growthOf(samples: readonly SoakSample[], warmupSteps: number, tolerance: number): MetricGrowth[] {
  const later = samples.filter((s) => s.step >= warmupSteps);
  const first = later[0];
  if (!first) return [];
  const metrics: (SoakMetric | 'processBytes')[] = [...SOAK_METRICS, 'processBytes'];
  return metrics.map((metric) => {
    const values = later.map((s) => s[metric]);
    const max = Math.max(...values);
    const half = Math.max(1, values.length >> 1);
    const trend = metric === 'heapBytes' && values.length > 1;
    const baseline = trend ? median(values.slice(0, half)) : first[metric];
    const top = trend ? median(values.slice(half)) : max;
    const growth = top <= baseline ? 0 : baseline === 0 ? Infinity : (top - baseline) / baseline;
    return { metric, baseline, last: values[values.length - 1]!, max, growth, ok: metric === 'processBytes' || growth <= tolerance };
  });
}

/** Whether the soak passed: every judged metric flat and nothing left live. */
export function soakPassed(result: SoakResult): boolean {
  return !result.leaked && result.growth.length > 0 && result.growth.every((g) => g.ok) && result.finalLosses.every(Number.isFinite);
}

function liveOf(rt: Runtime): { liveBytes: number; liveBuffers: number } {
  const { liveBytes, liveBuffers } = rt.stats();
  return { liveBytes, liveBuffers };
}
