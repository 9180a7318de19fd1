// `npm run bench -- --train`: training throughput of every method on the built-in model
// (public/models/kjv-llama-1m, or --model DIR) on the same batches: init seconds, steady-state
// step time, trained tokens/s, peak GPU memory of the buffer pool (everything live: shared base,
// the method's tensors, optimizer state, activations of one step) over init and steps, the pool's
// peak over the training steps alone (peakGpuBytes) and the memory plan's figure for them
// (train/memoryPlan.ts). The last method releases the shared projection weights when it reads
// only a base of its own (train/baseRelease.ts): layer by layer during its init, or after it with
// --release-after-init, as before. Methods run one after another (not interleaved), each from a fresh pool peak. No peer library trains these adapters, so
// there is no ratio here; the matmul table (`npm run bench`) carries the peer comparison.

import { methodById } from '../src/adapters/registry';
import { selectTargets } from '../src/adapters/targets';
import { resolveSettings, type MethodId } from '../src/adapters/types';
import { formatBytes } from '../src/errors';
import type { GpuContext } from '../src/gpu/context';
import { openModelFiles } from '../src/io/modelFiles';
import { nodeDirectorySources } from '../src/io/nodeSource';
import { heldBytesPerParam, loadCausalLM, releaseModel } from '../src/models/load';
import { BaseReleaser } from '../src/train/baseRelease';
import { planMethod, planRun } from '../src/train/memoryPlan';
import { Trainer, type Batch } from '../src/train/trainer';

export interface TrainBenchOptions {
  readonly methods: readonly MethodId[];
  readonly steps: number;
  readonly batchSize: number;
  readonly seqLen: number;
  readonly modelDir: string;
  readonly checkpointing?: boolean;
  /** The last method frees the shared base after its init, not layer by layer during it. */
  readonly releaseAfterInit?: boolean;
}

export interface TrainBenchRow {
  readonly method: MethodId;
  readonly initSeconds: number;
  readonly msPerStep: number;
  readonly tokensPerSecond: number;
  readonly peakBytes: number;
  /** The pool's peak over the training steps (Trainer.peakGpuBytes), and the plan's figure for it. */
  readonly peakGpuBytes: number;
  readonly plannedGpuBytes: number;
  readonly trainableParams: number;
  /** Pool bytes of the shared weights released after or during its init (the last method only). */
  readonly releasedBytes: number;
  /** The pool's peak over create() and the release (everything live). */
  readonly initPeakBytes: number;
}

export const DEFAULT_TRAIN_METHODS: readonly MethodId[] = ['lora', 'pissa', 'qlora', 'qpissa', 'loftq', 'sorsa', 'lorasb', 'spp', 'full'];

/** A fixed synthetic batch of in-vocabulary ids (throughput does not depend on the text). */
function benchBatch(V: number, B: number, T: number): Batch {
  const ids = Array.from({ length: B * T }, (_, i) => (i * 7919 + 13) % V);
  return { ids, targets: ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!)), batchSize: B, seqLen: T };
}

export async function runTrainBench(ctx: GpuContext, options: TrainBenchOptions, onRow?: (row: TrainBenchRow) => void): Promise<TrainBenchRow[]> {
  const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(options.modelDir)));
  const batch = benchBatch(model.config.vocabSize, options.batchSize, options.seqLen);
  const rows: TrainBenchRow[] = [];
  try {
    for (const [index, id] of options.methods.entries()) {
      const last = index === options.methods.length - 1;
      await ctx.sync();
      ctx.pool.resetPeak();
      const method = methodById(id);
      const targets = selectTargets(model, id === 'spp' ? ['q', 'o', 'gate', 'up', 'down'] : ['all']);
      const start = performance.now();
      const settings = resolveSettings(method, {});
      const layers = targets.map((name) => ({ name, out: model.linear(name).outFeatures, in: model.linear(name).inFeatures }));
      const setup = {
        config: model.config,
        layers,
        batch: options.batchSize,
        seqLen: options.seqLen,
        limits: ctx.device.limits,
        weightBytesPerParam: heldBytesPerParam(model),
      };
      const plannedGpuBytes = planRun([planMethod(setup, method, settings)], options.checkpointing ?? false, { releaseBase: last }).totalBytes;
      const releaser = new BaseReleaser(ctx, model, { measureQuantErrors: false });
      const onLayerReady = last && !options.releaseAfterInit ? releaser.hookFor([]) : undefined;
      const initPeak = ctx.trackPeak();
      const adapted = await method.create({ rt: ctx, model, targets, seed: 0, learningRate: 1e-4, calibration: () => [batch], onLayerReady }, settings);
      const releasedBytes = last ? (await releaser.finish([adapted])).bytes : 0;
      await ctx.sync();
      const initPeakBytes = initPeak.stop();
      const initSeconds = (performance.now() - start) / 1000;
      const trainer = new Trainer(ctx, adapted, {
        schedule: { kind: 'constant', peak: 1e-4, warmupSteps: 0, totalSteps: options.steps + 1 },
        clipNorm: 1,
        checkpointing: options.checkpointing,
      });
      try {
        await trainer.step(batch); // warm-up: pipelines compiled, buffers in the pool
        const t0 = performance.now();
        for (let i = 0; i < options.steps; i++) await trainer.step(batch);
        const msPerStep = (performance.now() - t0) / options.steps;
        const row: TrainBenchRow = {
          method: id,
          initSeconds,
          msPerStep,
          tokensPerSecond: (batch.batchSize * batch.seqLen * 1000) / msPerStep,
          peakBytes: ctx.stats().peakLiveBytes,
          peakGpuBytes: trainer.peakGpuBytes,
          plannedGpuBytes,
          trainableParams: adapted.trainable.reduce((n, t) => n + t.tensor.data.size, 0),
          releasedBytes,
          initPeakBytes,
        };
        rows.push(row);
        onRow?.(row);
      } finally {
        trainer.destroy();
        adapted.release(ctx);
      }
    }
  } finally {
    releaseModel(ctx, model);
  }
  return rows;
}

export function formatTrainTable(rows: readonly TrainBenchRow[]): string {
  const header = [
    'method',
    'trainable',
    'init s',
    'ms/step',
    'tokens/s',
    'peak GPU memory',
    'steps peak',
    'planned',
    'plan error',
    'init peak',
    'base released',
  ];
  const body = rows.map((r) => [
    r.method,
    String(r.trainableParams),
    r.initSeconds.toFixed(2),
    r.msPerStep.toFixed(0),
    r.tokensPerSecond.toFixed(1),
    formatBytes(r.peakBytes),
    formatBytes(r.peakGpuBytes),
    formatBytes(r.plannedGpuBytes),
    `${((100 * (r.plannedGpuBytes - r.peakGpuBytes)) / r.peakGpuBytes).toFixed(1)} %`,
    formatBytes(r.initPeakBytes),
    r.releasedBytes > 0 ? formatBytes(r.releasedBytes) : '—',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [header, ...body].map((cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}
