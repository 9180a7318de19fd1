// `npm run bench -- --models [ids] [--methods ...] [--steps N] [--batch B] [--seq-len T] [--rank r]
// [--no-checkpointing] [--keep DIR]`: random-weight copies of real models (bench/realModels.ts),
// each written to a temporary folder, loaded, and trained for a step or two per method.
// Per model and method: load seconds, peak JS heap (sampled every 20 ms and at each phase), the
// GPU pool's bytes by category, the largest pool buffer, ms/step, and the memory plan's figure for
// the same run beside the measured peak, plus the plan for the issue-11 target configuration
// (rank 16 on every projection, B = 2, T = 256, checkpointing on).
// Categories, from the pool's live bytes at phase boundaries (gpu/pool.ts):
//   base        live after loading (the shared frozen model)
//   method      growth over method.create (adapters, own bases: NF4 copies, residuals)
//   optimizer   growth still held after the steps (AdamW's m and v, the trainer's own buffers)
//   activations the steps' peak above what is held after them (tape, gradients, transients)
// After the model's last method is initialised, the shared projection weights no method reads are
// released (train/baseRelease.ts: a 4-bit method's run), as the CLI does: `released` says how many
// bytes; `peak` is the whole method's (its init included), `init peak` its create() alone, `step peak` the steps' alone.
// When every method is 4-bit (and neither --no-defer nor --release-after-init is given), the model
// is loaded with deferred projections (models/load.ts): `base` is then the model without them, and
// each init reads one projection at a time from the checkpoint (`released` counts those reads).

import { rmSync, mkdtempSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import { lora } from '../src/adapters/methods/lora';
import { pissa } from '../src/adapters/methods/pissa';
import { loftq, qlora, qpissa } from '../src/adapters/methods/quantized';
import { methodById } from '../src/adapters/registry';
import { selectTargets } from '../src/adapters/targets';
import { resolveSettings, type AdaptedModel, type MethodDefinition } from '../src/adapters/types';
import { formatBytes } from '../src/errors';
import type { GpuContext } from '../src/gpu/context';
import { expectedTensors, parseModelConfig } from '../src/io/hfConfig';
import { openModelFiles } from '../src/io/modelFiles';
import { nodeDirectorySources } from '../src/io/nodeSource';
import type { CausalLM } from '../src/models/causalLM';
import { heldBytesPerParam, loadCausalLM, releaseModel } from '../src/models/load';
import { BaseReleaser, defersProjections } from '../src/train/baseRelease';
import { planMethod, planRun, type MethodMemoryPlan } from '../src/train/memoryPlan';
import { Trainer, type Batch } from '../src/train/trainer';
import { realModelSpec, writeRealModel, REAL_MODELS, type RealModelSpec } from './realModels';

export const DEFAULT_MODEL_METHODS: readonly string[] = [lora.id, qlora.id, pissa.id];
export const DEFAULT_MODELS: readonly string[] = REAL_MODELS.map((m) => m.id);

function trainableParams(adapted: AdaptedModel): number {
  return adapted.trainable.reduce((n, t) => n + t.tensor.data.size, 0);
}

export interface ModelsBenchOptions {
  /** REAL_MODELS ids, or specs of other configs (tests: tiny ones). */
  readonly models: readonly (string | RealModelSpec)[];
  readonly methods: readonly string[];
  readonly steps: number;
  readonly batchSize: number;
  readonly seqLen: number;
  readonly rank: number;
  readonly checkpointing: boolean;
  /** Write the folders here and keep them (default: a temporary folder, removed at the end). */
  readonly keepDir?: string;
  /** Release the base only after the last init (as before issue 11's per-layer release), not layer by layer during it. */
  readonly releaseAfterInit?: boolean;
  /** Load the whole 16-bit base even when every method is 4-bit (as before the deferred load). */
  readonly noDefer?: boolean;
}

export interface ModelsBenchRow {
  readonly model: string;
  readonly method: string;
  readonly params: number;
  readonly checkpointBytes: number;
  readonly writeSeconds: number;
  readonly loadSeconds: number;
  readonly initSeconds: number;
  readonly msPerStep: number[];
  readonly peakHeapBytes: number;
  readonly gpu: {
    base: number;
    method: number;
    optimizer: number;
    activations: number;
    peak: number;
    released: number;
    stepPeak: number;
    initPeak: number;
    /** Every buffer the pool holds after the steps, in use or free for reuse: what the GPU has allocated (≥ the live peak's buffers of each size class). */
    owned: number;
  };
  readonly largestBuffer: { bytes: number; what: string };
  /** The plan of this very run (B, T, rank and checkpointing as run). */
  readonly planned: { total: number; sharedBase: number; ownBase: number; trainable: number; activations: number; largest: { bytes: number; what: string } };
  /** The plan at the target settings (r = 16 on every projection, B = 2, T = 256, checkpointing on). */
  readonly plannedTarget: number;
  /** Quantized methods: the method's own base over the f32 bytes of the weights it replaces. */
  readonly quantizedRatio: number | null;
  readonly load: string;
  readonly error?: string;
}

function benchBatch(V: number, B: number, T: number): Batch {
  const ids = Array.from({ length: B * T }, (_, i) => (i * 7919 + 13) % V);
  return { ids, targets: ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!)), batchSize: B, seqLen: T };
}

function loadText(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
}

/** Peak heapUsed, sampled on a timer and whenever `sample()` is called. */
function heapTracker() {
  let peak = 0;
  const sample = () => {
    const used = getHeapStatistics().used_heap_size;
    if (used > peak) peak = used;
  };
  const timer = setInterval(sample, 20);
  timer.unref();
  return {
    sample,
    reset: () => {
      peak = 0;
      sample();
    },
    get peak() {
      sample();
      return peak;
    },
    stop: () => clearInterval(timer),
  };
}

/** Watches the pool's acquisitions for the largest buffer (the pool itself keeps no such figure). */
function largestTracker(ctx: GpuContext) {
  const pool = ctx.pool;
  const original = pool.acquire.bind(pool);
  let largest = { bytes: 0, what: 'nothing' };
  pool.acquire = (bytes, usage, what, avoid) => {
    const entry = original(bytes, usage, what, avoid);
    if (entry.sizeClass > largest.bytes) largest = { bytes: entry.sizeClass, what };
    return entry;
  };
  return {
    reset: () => (largest = { bytes: 0, what: 'nothing' }),
    get largest() {
      return largest;
    },
    stop: () => {
      pool.acquire = original;
    },
  };
}

function plan(ctx: GpuContext, model: CausalLM, method: MethodDefinition, rank: number, B: number, T: number): MethodMemoryPlan {
  const targets = selectTargets(model, ['all']);
  const settings = resolveSettings(method, method.settings.some((s) => s.key === 'rank') ? { rank } : {});
  const layers = targets.map((name) => ({ name, out: model.linear(name).outFeatures, in: model.linear(name).inFeatures }));
  return planMethod(
    { config: model.config, layers, batch: B, seqLen: T, limits: ctx.device.limits, weightBytesPerParam: heldBytesPerParam(model) },
    method,
    settings,
  );
}

export async function runModelsBench(ctx: GpuContext, options: ModelsBenchOptions, onRow?: (row: ModelsBenchRow) => void): Promise<ModelsBenchRow[]> {
  const methods = options.methods.map((id) => methodById(id));
  const specs = options.models.map((m) => (typeof m === 'string' ? realModelSpec(m) : m));
  const parent = options.keepDir ?? mkdtempSync(join(tmpdir(), 'adapter-studio-models-'));
  const heap = heapTracker();
  const largest = largestTracker(ctx);
  const rows: ModelsBenchRow[] = [];
  const defer = !options.noDefer && !options.releaseAfterInit && defersProjections(methods);
  try {
    for (const spec of specs) {
      let t = performance.now();
      console.log(`${spec.id} (${spec.repo}, ${spec.dtype}): writing random weights to ${parent}/${spec.id} …`);
      const written = writeRealModel(spec, parent);
      const writeSeconds = (performance.now() - t) / 1000;
      console.log(
        `  ${(written.params / 1e6).toFixed(1)} M parameters, ${formatBytes(written.bytes)} in ${written.shards} shard(s), ${writeSeconds.toFixed(1)} s; loading …`,
      );
      await ctx.sync();
      ctx.pool.resetPeak();
      heap.reset();
      largest.reset();
      t = performance.now();
      const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(written.dir)), { deferProjections: defer });
      await ctx.sync();
      const loadSeconds = (performance.now() - t) / 1000;
      const loadHeap = heap.peak;
      const base = ctx.stats().liveBytes;
      console.log(
        `  loaded in ${loadSeconds.toFixed(1)} s: base ${formatBytes(base)} on the GPU${defer ? ' (projections deferred)' : ''}, JS heap peak ${formatBytes(loadHeap)}`,
      );
      const batch = benchBatch(model.config.vocabSize, options.batchSize, options.seqLen);
      try {
        for (const [index, method] of methods.entries()) {
          const planRow = plan(ctx, model, method, options.rank, options.batchSize, options.seqLen);
          // Only the last method releases the shared base (the others leave it for the next): plan each as it runs.
          const releasesBase = index === methods.length - 1;
          const runPlan = planRun([planRow], options.checkpointing, { deferProjections: defer, releaseBase: releasesBase });
          const targetPlan = planRun([plan(ctx, model, method, 16, 2, 256)], true, { deferProjections: defer });
          const f32Targeted = selectTargets(model, ['all']).reduce((n, name) => n + 4 * model.linear(name).outFeatures * model.linear(name).inFeatures, 0);
          const common = {
            model: spec.id,
            method: method.id,
            params: written.params,
            checkpointBytes: written.bytes,
            writeSeconds,
            loadSeconds,
            planned: {
              total: runPlan.totalBytes,
              sharedBase: planRow.sharedBaseBytes,
              ownBase: planRow.ownBaseBytes,
              trainable: planRow.trainableBytes,
              activations: options.checkpointing ? planRow.activationBytes.checkpointed : planRow.activationBytes.plain,
              largest: runPlan.largestBuffer,
            },
            plannedTarget: targetPlan.totalBytes,
          };
          await ctx.sync();
          ctx.pool.resetPeak();
          heap.reset();
          largest.reset();
          const msPerStep: number[] = [];
          let afterCreate = ctx.stats().liveBytes;
          let initSeconds = 0;
          let released = 0;
          let initPeak = 0;
          try {
            const settings = resolveSettings(method, method.settings.some((s) => s.key === 'rank') ? { rank: options.rank } : {});
            t = performance.now();
            const last = releasesBase;
            const releaser = new BaseReleaser(ctx, model, { measureQuantErrors: false });
            const onLayerReady = last && !options.releaseAfterInit ? releaser.hookFor([]) : undefined;
            const adapted = await method.create(
              { rt: ctx, model, targets: selectTargets(model, ['all']), seed: 0, learningRate: 1e-4, calibration: () => [batch], onLayerReady },
              settings,
            );
            await ctx.sync();
            initSeconds = (performance.now() - t) / 1000;
            initPeak = ctx.stats().peakLiveBytes;
            if (last) released = (await releaser.finish([adapted])).bytes;
            // As the hosts do after the inits (train/compare.ts, worker/studioRun.ts): scratch and released base go back.
            await ctx.trimPool();
            // Deferred, the released weights were never part of `base`.
            const releasedFromBase = defer ? 0 : released;
            afterCreate = ctx.stats().liveBytes + releasedFromBase;
            const trainer = new Trainer(ctx, adapted, {
              schedule: { kind: 'constant', peak: 1e-4, warmupSteps: 0, totalSteps: options.steps },
              clipNorm: 1,
              checkpointing: options.checkpointing,
            });
            let row: ModelsBenchRow;
            const steps = ctx.trackPeak();
            try {
              for (let i = 0; i < options.steps; i++) {
                const s0 = performance.now();
                await trainer.step(batch);
                await ctx.sync();
                msPerStep.push(performance.now() - s0);
                heap.sample();
                console.log(`  ${method.id} step ${i + 1}: ${(msPerStep[i]! / 1000).toFixed(1)} s`);
              }
              const held = ctx.stats().liveBytes;
              const peak = ctx.stats().peakLiveBytes;
              const stepPeak = steps.stop();
              const owned = ctx.stats().ownedBytes;
              console.log(
                `  ${method.id}: pool peak ${formatBytes(peak)} live; ${formatBytes(owned)} owned after the steps (free buffers kept for reuse included)`,
              );
              const ownBaseTargets = [qlora.id, qpissa.id, loftq.id].includes(method.id) ? f32Targeted : 0;
              row = {
                ...common,
                initSeconds,
                msPerStep,
                peakHeapBytes: Math.max(loadHeap, heap.peak),
                gpu: {
                  base,
                  method: afterCreate - base,
                  optimizer: held + (defer ? 0 : released) - afterCreate,
                  activations: stepPeak - held,
                  peak,
                  released,
                  stepPeak,
                  initPeak,
                  owned,
                },
                largestBuffer: largest.largest,
                // The NF4 bases alone: create()'s growth less the adapter factors it also made.
                quantizedRatio: ownBaseTargets > 0 ? (afterCreate - base - 4 * trainableParams(adapted)) / ownBaseTargets : null,
                load: loadText(),
              };
            } finally {
              steps.stop();
              trainer.destroy();
              adapted.release(ctx);
            }
            rows.push(row);
            onRow?.(row);
          } catch (error) {
            const row: ModelsBenchRow = {
              ...common,
              initSeconds,
              msPerStep,
              peakHeapBytes: heap.peak,
              gpu: {
                base,
                method: afterCreate - base,
                optimizer: 0,
                activations: 0,
                peak: ctx.stats().peakLiveBytes,
                released,
                stepPeak: 0,
                initPeak,
                owned: ctx.stats().ownedBytes,
              },
              largestBuffer: largest.largest,
              quantizedRatio: null,
              load: loadText(),
              error: (error as Error).message,
            };
            console.log(`  ${method.id} failed: ${row.error}`);
            rows.push(row);
            onRow?.(row);
          }
        }
      } finally {
        releaseModel(ctx, model);
        // Work still recorded must reach the GPU before trim destroys the buffers it binds: with no step, the optimizer
        // state's zero fill has not been submitted yet.
        ctx.flush();
        ctx.pool.trim();
        if (!options.keepDir) rmSync(written.dir, { recursive: true, force: true });
      }
    }
  } finally {
    heap.stop();
    largest.stop();
    if (!options.keepDir) rmSync(parent, { recursive: true, force: true });
  }
  return rows;
}

const GB = (bytes: number) => `${(bytes / 1e9).toFixed(3)} GB`;

export function formatModelsTable(rows: readonly ModelsBenchRow[]): string {
  const header = [
    'model',
    'method',
    'load s',
    'init s',
    'ms/step',
    'JS heap',
    'base',
    'method',
    'optimizer',
    'activations',
    'init peak',
    'peak',
    'released',
    'step peak',
    'planned',
    'plan err',
    'largest buffer',
    'target plan',
  ];
  const body = rows.map((r) => [
    r.model,
    r.method,
    r.loadSeconds.toFixed(1),
    r.initSeconds.toFixed(1),
    r.error ? `failed` : r.msPerStep.length === 0 ? '—' : r.msPerStep.map((m) => m.toFixed(0)).join('/'),
    formatBytes(r.peakHeapBytes),
    GB(r.gpu.base),
    GB(r.gpu.method),
    GB(r.gpu.optimizer),
    GB(r.gpu.activations),
    GB(r.gpu.initPeak),
    GB(r.gpu.peak),
    GB(r.gpu.released),
    GB(r.gpu.stepPeak),
    GB(r.planned.total),
    // The plan is of a run with its steps: no error to give without one.
    r.error || r.msPerStep.length === 0 ? '—' : `${((100 * (r.planned.total - r.gpu.peak)) / r.gpu.peak).toFixed(1)} %`,
    formatBytes(r.largestBuffer.bytes),
    GB(r.plannedTarget),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [header, ...body].map((cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** The issue-11 target settings: rank 16 on every projection, B = 2, T = 256, checkpointing on. */
export const TARGET_SHAPE = { rank: 16, batch: 2, seqLen: 256, checkpointing: true } as const;

export interface PlannedRow {
  readonly model: string;
  readonly method: string;
  readonly total: number;
  /** While the method initialises (the whole shared base held, or for a 4-bit method one projection at a time: deferred), and during the steps (after any release of the base). */
  readonly init: number;
  readonly steps: number;
  /** Shared projection weights released after the init (train/baseRelease.ts). */
  readonly released: number;
  readonly sharedBase: number;
  readonly ownBase: number;
  readonly trainable: number;
  readonly activations: number;
  readonly largest: { bytes: number; what: string };
  /** Own (4-bit) base over the f32 bytes of the projections it replaces; null for unquantized methods. */
  readonly quantizedRatio: number | null;
}

/**
 * The memory plan (train/memoryPlan.ts) of each model and method at the target settings, from the
 * config alone: no GPU, no weights. Targets: every block projection (as selectTargets 'all'), from
 * the checkpoint's tensor list; the base held as the loader holds it (16-bit matrices stay 16-bit).
 */
export function planModels(
  models: readonly string[],
  methods: readonly string[],
  limits: { maxBufferSize: number; maxStorageBufferBindingSize: number },
  /** Plan a 4-bit method's model loaded with deferred projections, as the bench and the CLI load it (false: --no-defer). */
  defer = true,
  /** Activation checkpointing (the target settings have it on; false: --no-checkpointing). */
  checkpointing: boolean = TARGET_SHAPE.checkpointing,
): PlannedRow[] {
  const rows: PlannedRow[] = [];
  for (const id of models) {
    const spec = realModelSpec(id);
    const config = parseModelConfig(spec.config);
    const layers = expectedTensors(config)
      .filter((t) => t.layer !== null && t.shape.length === 2 && /(_proj|c_attn|c_proj|c_fc)\.weight$/.test(t.name))
      .map((t) => {
        const gpt2 = config.family === 'gpt2'; // Conv1D stores [in, out]
        return { name: t.name.replace(/\.weight$/, ''), out: gpt2 ? t.shape[1]! : t.shape[0]!, in: gpt2 ? t.shape[0]! : t.shape[1]! };
      });
    const f32Targeted = layers.reduce((n, l) => n + 4 * l.out * l.in, 0);
    const weightBytesPerParam = (t: { readonly shape?: readonly number[] }) => (spec.dtype === 'BF16' && t.shape?.length === 2 ? 2 : 4);
    for (const methodId of methods) {
      const method = methodById(methodId);
      const settings = resolveSettings(method, method.settings.some((s) => s.key === 'rank') ? { rank: TARGET_SHAPE.rank } : {});
      const p = planMethod({ config, layers, batch: TARGET_SHAPE.batch, seqLen: TARGET_SHAPE.seqLen, limits, weightBytesPerParam }, method, settings);
      const run = planRun([p], checkpointing, { deferProjections: defer && defersProjections([method]) });
      rows.push({
        model: id,
        method: method.id,
        total: run.totalBytes,
        init: run.initBytes,
        steps: Math.max(...run.whileStepping),
        released: run.releasedBaseBytes,
        sharedBase: p.sharedBaseBytes,
        ownBase: p.ownBaseBytes,
        trainable: p.trainableBytes,
        activations: checkpointing ? p.activationBytes.checkpointed : p.activationBytes.plain,
        largest: run.largestBuffer,
        quantizedRatio: [qlora.id, qpissa.id, loftq.id].includes(method.id) ? p.ownBaseBytes / f32Targeted : null,
      });
    }
  }
  return rows;
}

export function formatPlannedTable(rows: readonly PlannedRow[]): string {
  const header = [
    'model',
    'method',
    'planned peak',
    'init',
    'steps',
    'shared base',
    'released',
    'own base',
    'trainable+AdamW',
    'activations',
    'largest buffer',
    '4-bit/f32',
  ];
  const body = rows.map((r) => [
    r.model,
    r.method,
    GB(r.total),
    GB(r.init),
    GB(r.steps),
    GB(r.sharedBase),
    GB(r.released),
    GB(r.ownBase),
    GB(r.trainable),
    GB(r.activations),
    formatBytes(r.largest.bytes),
    r.quantizedRatio === null ? '—' : r.quantizedRatio.toFixed(3),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [header, ...body].map((cells) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}
