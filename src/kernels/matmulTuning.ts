// The matmul autotuner: on first use per adapter and shape class, time every variant that can run
// a product (registers, vec4, tiled, subgroup; see matmul.ts) on this device and keep the fastest
// in GpuContext.matmulTuning, which matmulInto then follows for every product of that class. A
// store keeps the table per adapter (the studio: the browser's storage), so the timing happens
// once per adapter, not once per run.
//
// Timing: one untimed dispatch (pipeline compiled, buffers warm), then `reps` dispatches each
// followed by a wait for the GPU; the median wall-clock time per variant. All variants compute the
// same product to float32 rounding (each is tested against float64), so the choice changes speed
// only; products keep their variant for the whole life of a context (the table only grows), so a
// run's results do not change part-way.

import type { GpuContext } from '../gpu/context';
import type { GpuDescription } from '../gpu/device';
import { F32_MATMUL_VARIANTS, matmulInto, matmulShape, matmulShapeClass, variantAvailable, type MatmulVariant } from './matmul';

/** One product to tune for: op(A) [M, K] · op(B) [K, N], f32 operands. */
export interface MatmulProblem {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly transA: boolean;
  readonly transB: boolean;
}

/** Where tuned tables live between sessions, by adapter key. */
export interface MatmulTuningStore {
  load(adapter: string): Promise<Readonly<Record<string, MatmulVariant>> | undefined>;
  save(adapter: string, table: Readonly<Record<string, MatmulVariant>>): Promise<void>;
}

export interface TunedClass {
  readonly shapeClass: string;
  readonly variant: MatmulVariant;
  /** Median ms per dispatch of each variant timed; empty when the choice came from the store. */
  readonly msByVariant: Readonly<Partial<Record<MatmulVariant, number>>>;
}

export interface TuneOptions {
  readonly reps?: number;
  readonly store?: MatmulTuningStore;
}

/** What identifies an adapter's kernels' speed: vendor, architecture, device and driver description. */
export function adapterKey(info: GpuDescription): string {
  return [info.vendor, info.architecture, info.device, info.description].join(' / ');
}

/**
 * Fills ctx.matmulTuning for every problem's class not tuned yet: from the store where it has the
 * class for this adapter, else by timing. Returns one entry per class of `problems`.
 */
export async function tuneMatmul(ctx: GpuContext, problems: readonly MatmulProblem[], options: TuneOptions = {}): Promise<TunedClass[]> {
  const reps = Math.max(1, options.reps ?? 3);
  const key = adapterKey(ctx.info);
  const stored = (await options.store?.load(key)) ?? {};
  const results = new Map<string, TunedClass>();
  let measured = false;
  for (const p of problems) {
    const shapeClass = matmulShapeClass(p, p.transA, p.transB, false);
    if (results.has(shapeClass)) continue;
    const known = ctx.matmulTuning.get(shapeClass) ?? stored[shapeClass];
    if (known && F32_MATMUL_VARIANTS.includes(known) && variantAvailable(ctx, known, p, p.transA, false)) {
      ctx.matmulTuning.set(shapeClass, known);
      results.set(shapeClass, { shapeClass, variant: known, msByVariant: {} });
      continue;
    }
    const msByVariant = await timeVariants(ctx, p, reps);
    const variant = (Object.entries(msByVariant) as [MatmulVariant, number][]).reduce((best, next) => (next[1] < best[1] ? next : best))[0];
    ctx.matmulTuning.set(shapeClass, variant);
    results.set(shapeClass, { shapeClass, variant, msByVariant });
    measured = true;
  }
  if (measured && options.store) await options.store.save(key, { ...stored, ...Object.fromEntries(ctx.matmulTuning) });
  return [...results.values()];
}

async function timeVariants(ctx: GpuContext, p: MatmulProblem, reps: number): Promise<Partial<Record<MatmulVariant, number>>> {
  const a = ctx.uploadF32(patterned(p.M * p.K, 1), p.transA ? [p.K, p.M] : [p.M, p.K]);
  const b = ctx.uploadF32(patterned(p.K * p.N, 2), p.transB ? [p.N, p.K] : [p.K, p.N]);
  const out = ctx.empty(matmulShape(a.shape, b.shape, p.transA, p.transB).outShape, 'f32', 'matmul tuning output');
  const times: Partial<Record<MatmulVariant, number>> = {};
  try {
    for (const variant of F32_MATMUL_VARIANTS) {
      if (!variantAvailable(ctx, variant, p, p.transA, false)) continue;
      const run = () => matmulInto(ctx, a, b, out, { transA: p.transA, transB: p.transB, variant });
      run();
      await ctx.sync();
      const samples: number[] = [];
      for (let i = 0; i < reps; i++) {
        const t0 = performance.now();
        run();
        await ctx.sync();
        samples.push(performance.now() - t0);
      }
      samples.sort((x, y) => x - y);
      times[variant] = samples[Math.floor(samples.length / 2)]!;
    }
  } finally {
    ctx.release(a, b, out);
  }
  return times;
}

/** Deterministic values in [−1, 1) (the timing does not depend on them; NaN-free and not all zero). */
function patterned(n: number, salt: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (((i * 2654435761 + salt * 97) >>> 0) % 2000) / 1000 - 1;
  return out;
}

/** The products of one training step of a decoder whose projections are `linears` ([out, in]) at `tokens` = B·T rows. */
export function trainingProblems(linears: readonly { readonly out: number; readonly in: number }[], tokens: number): MatmulProblem[] {
  return linears.flatMap((l) => [
    { M: tokens, N: l.out, K: l.in, transA: false, transB: true }, // y = x Wᵀ
    { M: tokens, N: l.in, K: l.out, transA: false, transB: false }, // dx = dy W
    { M: l.out, N: l.in, K: tokens, transA: true, transB: false }, // dW = dyᵀ x
  ]);
}

/** What modelTrainingProblems reads of a model (CausalLM has it). */
export interface TunableModel {
  linearNames(): readonly string[];
  linear(name: string): { readonly outFeatures: number; readonly inFeatures: number };
  headWeight(): { readonly shape: readonly number[] };
}

/** The products of one training step of `model` at `tokens` = B·T rows: every projection and the LM head. */
export function modelTrainingProblems(model: TunableModel, tokens: number): MatmulProblem[] {
  const linears = model.linearNames().map((name) => ({ out: model.linear(name).outFeatures, in: model.linear(name).inFeatures }));
  const [vocab, hidden] = model.headWeight().shape as [number, number];
  return trainingProblems([...linears, { out: vocab, in: hidden }], tokens);
}

/** A store in memory (Node, tests): tables live as long as the store. */
export function memoryTuningStore(): MatmulTuningStore {
  const tables = new Map<string, Record<string, MatmulVariant>>();
  return {
    load: (adapter) => Promise.resolve(tables.get(adapter)),
    save: (adapter, table) => {
      tables.set(adapter, { ...table });
      return Promise.resolve();
    },
  };
}
