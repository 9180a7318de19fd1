// `npm run bench`: matmul GFLOP/s of our kernels and of tfjs-backend-webgpu on the same adapter,
// in Node (Dawn via the `webgpu` package; SwiftShader on GPU-less machines).
//
//   npm run bench                         default shapes (square 256–2048, GPT-2 MLP fwd/bwd)
//   npm run bench -- --quick              small shapes only (under a minute on SwiftShader)
//   npm run bench -- --shapes 512x768x3072,512x768x3072:nt,1024
//                                         MxKxN (op(A) [M,K] · op(B) [K,N]), N = square, :nt/:tn/:tt
//   npm run bench -- --json out.json      also write every row (timings, checks) and the adapter
//   npm run bench -- --no-peer            ours only
//   npm run bench -- --variants vec4,registers,tiled,subgroup
//                                         time these variants of ours (default: the adapter's pick)
//   npm run bench -- --reps 5 --target-seconds 3 --warmup 1
//                                         timing plan (minimum reps, time target per side)
//   npm run bench -- --train [--methods lora,pissa] [--steps 5] [--batch 4] [--seq-len 64]
//                    [--model DIR] [--checkpointing]
//                                         training steps of every method on the built-in model (or DIR)
//                                         (bench/train.ts): init s, tokens/s, peak GPU memory vs the plan
//   npm run bench -- --profile [--methods lora,full] [--steps 3] [--warmup 2] [--batch 4] [--seq-len 64]
//                    [--top 10] [--no-timestamps] [--json out.json]
//                                         per-step profile of training steps (src/bench/profile.ts):
//                                         dispatches, bind groups, buffers, bytes written, pipelines,
//                                         CPU recording vs GPU time, top kernels with FLOP/s and bytes/s
//   npm run bench -- --tune [--batch 4] [--seq-len 64] [--model DIR] [--reps 3]
//                                         the matmul autotuner (src/kernels/matmulTuning.ts) on the products
//                                         of a training step: every variant's ms per shape class, the pick
//   npm run bench -- --train-peer [--steps 5] [--warmup 2] [--batch 4] [--seq-len 64] [--rank 8] [--model DIR]
//                                         the LoRA step against the same step written in tfjs
//                                         (bench/tfjsStep.ts): losses checked equal, ms/step ratio
//   npm run bench -- --models [smollm2-135m,gpt2-124m,...] [--methods lora,qlora,pissa] [--steps 2]
//                    [--batch 1] [--seq-len 128] [--rank 16] [--no-checkpointing] [--default-limits] [--release-after-init] [--no-defer] [--keep DIR] [--json out.json]
//                                         random-weight copies of real models (bench/models.ts): load s,
//                                         JS heap, GPU pool by category, largest buffer, ms/step vs the plan

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { GpuContext } from '../src/gpu/context';
import { acquireNodeDevice, nodeGpu } from '../src/gpu/node';
import { formatBytes } from '../src/errors';
import { F32_MATMUL_VARIANTS } from '../src/kernels/matmul';
import {
  DEFAULT_BENCH_SHAPES,
  DEFAULT_TIMING_PLAN,
  QUICK_BENCH_SHAPES,
  formatBenchTable,
  parseShape,
  runMatmulBench,
  shapeFlops,
  type MatmulBenchShape,
  type MatmulPeer,
  type MatmulTimingPlan,
} from '../src/bench/matmulBench';
import { createTfjsPeer, installNodeNavigator } from './tfjsPeer';
import { DEFAULT_TRAIN_METHODS, formatTrainTable, runTrainBench } from './train';
import { runProfileBench } from './profile';
import { formatTrainPeer, runTrainPeerBench } from './tfjsStep';
import { modelTrainingProblems, tuneMatmul, type TunedClass } from '../src/kernels/matmulTuning';
import { loadCausalLM, releaseModel } from '../src/models/load';
import { openModelFiles } from '../src/io/modelFiles';
import { nodeDirectorySources } from '../src/io/nodeSource';
import { DEFAULT_MODEL_METHODS, DEFAULT_MODELS, formatModelsTable, formatPlannedTable, planModels, runModelsBench } from './models';
import type { MethodId } from '../src/adapters/types';

class UsageError extends Error {}

interface Args {
  train?: { methods: readonly MethodId[]; steps: number; batch: number; seqLen: number };
  /** --train's model folder and activation checkpointing. */
  trainModel?: string;
  checkpointing?: boolean;
  profile?: { timestamps: boolean };
  /** --tune: the matmul autotuner's table for the model's training products. */
  tune?: boolean;
  /** --train-peer: our LoRA step against tfjs's (bench/tfjsStep.ts). */
  trainPeer?: boolean;
  /** --models: the real-model bench (bench/models.ts); the ids, or all. */
  models?: string[];
  rank?: number;
  noCheckpointing?: boolean;
  keep?: string;
  /** --models --plan: the memory plan at the issue's target settings only (no GPU). */
  planOnly?: boolean;
  /** --default-limits: ask the device for WebGPU's default limits only (128 MiB a binding, 256 MiB a buffer), as mobile-class adapters have. */
  defaultLimits?: boolean;
  /** --release-after-init: --models frees the 4-bit methods' shared base after the init, not layer by layer during it (the former way). */
  releaseAfterInit?: boolean;
  /** --no-defer: --models loads the whole 16-bit base even when every method is 4-bit (as before the deferred load). */
  noDefer?: boolean;
  /** What the command line gave explicitly (the profile takes its own defaults for the rest). */
  given: { methods?: string[]; steps?: number; batch?: number; seqLen?: number; warmup?: number; top?: number };
  shapes: readonly MatmulBenchShape[];
  json?: string;
  peer: boolean;
  variants?: string[];
  plan: Partial<MatmulTimingPlan>;
}

const USAGE = `usage: npm run bench -- [--quick] [--shapes 512x768x3072,1024,...] [--json out.json]
                        [--no-peer] [--variants vec4,registers,tiled] [--reps N] [--max-reps N]
                        [--target-seconds S] [--warmup N]
       npm run bench -- --train [--methods lora,pissa,...] [--steps N] [--batch B] [--seq-len T] [--model DIR] [--checkpointing] [--json out.json]
       npm run bench -- --models [id,id,...] [--methods lora,qlora,pissa] [--steps N] [--batch B] [--seq-len T] [--rank r]
                        [--no-checkpointing] [--default-limits] [--release-after-init] [--no-defer] [--keep DIR] [--json out.json] [--plan]
       npm run bench -- --tune [--batch B] [--seq-len T] [--model DIR] [--reps N]
       npm run bench -- --train-peer [--steps N] [--warmup N] [--batch B] [--seq-len T] [--rank r] [--model DIR] [--json out.json]
       npm run bench -- --profile [--methods lora,full] [--steps N] [--warmup N] [--batch B] [--seq-len T]
                        [--top N] [--no-timestamps] [--json out.json]`;

function parseArgs(argv: string[]): Args {
  const args: Args = { shapes: DEFAULT_BENCH_SHAPES, peer: true, plan: {}, given: {} };
  const value = (i: number, flag: string): string => {
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new UsageError(`${flag} needs a value\n${USAGE}`);
    return v;
  };
  const num = (text: string, flag: string): number => {
    const n = Number(text);
    if (!Number.isFinite(n) || n < 0) throw new UsageError(`${flag} needs a non-negative number, got "${text}"`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    switch (flag) {
      case '--train':
        args.train = { methods: DEFAULT_TRAIN_METHODS, steps: 5, batch: 4, seqLen: 64, ...args.train };
        break;
      case '--methods':
        args.train = { ...(args.train ?? { steps: 5, batch: 4, seqLen: 64 }), methods: value(i++, flag).split(',').filter(Boolean) as MethodId[] };
        args.given.methods = [...args.train.methods];
        break;
      case '--steps':
        args.train = {
          ...(args.train ?? { methods: DEFAULT_TRAIN_METHODS, batch: 4, seqLen: 64 }),
          steps: Math.max(0, Math.round(num(value(i++, flag), flag))),
        };
        args.given.steps = args.train.steps;
        break;
      case '--batch':
        args.train = {
          ...(args.train ?? { methods: DEFAULT_TRAIN_METHODS, steps: 5, seqLen: 64 }),
          batch: Math.max(1, Math.round(num(value(i++, flag), flag))),
        };
        args.given.batch = args.train.batch;
        break;
      case '--seq-len':
        args.train = {
          ...(args.train ?? { methods: DEFAULT_TRAIN_METHODS, steps: 5, batch: 4 }),
          seqLen: Math.max(2, Math.round(num(value(i++, flag), flag))),
        };
        args.given.seqLen = args.train.seqLen;
        break;
      case '--model':
        args.trainModel = value(i++, flag);
        break;
      case '--checkpointing':
        args.checkpointing = true;
        break;
      case '--tune':
        args.tune = true;
        break;
      case '--train-peer':
        args.trainPeer = true;
        break;
      case '--profile':
        args.profile = { timestamps: args.profile?.timestamps ?? true };
        break;
      case '--models': {
        const next = argv[i + 1];
        args.models = next !== undefined && !next.startsWith('--') ? (i++, next.split(',').filter(Boolean)) : [...DEFAULT_MODELS];
        break;
      }
      case '--rank':
        args.rank = Math.max(1, Math.round(num(value(i++, flag), flag)));
        break;
      case '--plan':
        args.planOnly = true;
        break;
      case '--no-checkpointing':
        args.noCheckpointing = true;
        break;
      case '--default-limits':
        args.defaultLimits = true;
        break;
      case '--release-after-init':
        args.releaseAfterInit = true;
        break;
      case '--no-defer':
        args.noDefer = true;
        break;
      case '--keep':
        args.keep = value(i++, flag);
        break;
      case '--no-timestamps':
        args.profile = { timestamps: false };
        break;
      case '--top':
        args.given.top = Math.max(1, Math.round(num(value(i++, flag), flag)));
        break;
      case '--quick':
        args.shapes = QUICK_BENCH_SHAPES;
        break;
      case '--shapes':
        args.shapes = value(i++, flag).split(',').filter(Boolean).map(parseShape);
        break;
      case '--json':
        args.json = value(i++, flag);
        break;
      case '--no-peer':
        args.peer = false;
        break;
      case '--variants':
        args.variants = value(i++, flag).split(',').filter(Boolean);
        for (const v of args.variants) {
          if (v !== 'default' && !(F32_MATMUL_VARIANTS as readonly string[]).includes(v)) {
            throw new UsageError(`unknown variant "${v}" (known: ${F32_MATMUL_VARIANTS.join(', ')}, default)`);
          }
        }
        break;
      case '--reps':
        // An explicit count holds even for slow products.
        args.plan = {
          ...args.plan,
          minReps: Math.max(1, Math.round(num(value(i++, flag), flag))),
          slowRunSeconds: Number.POSITIVE_INFINITY,
          verySlowRunSeconds: Number.POSITIVE_INFINITY,
        };
        break;
      case '--max-reps':
        args.plan = { ...args.plan, maxReps: Math.max(1, Math.round(num(value(i++, flag), flag))) };
        break;
      case '--target-seconds':
        args.plan = { ...args.plan, targetSeconds: num(value(i++, flag), flag) };
        break;
      case '--warmup':
        args.plan = { ...args.plan, warmup: Math.round(num(value(i++, flag), flag)) };
        args.given.warmup = args.plan.warmup;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new UsageError(`unknown option "${flag}"\n${USAGE}`);
    }
  }
  if (args.train?.steps === 0 && !args.models) {
    throw new UsageError(`--steps 0 (load and init only) works with --models; the other benches need at least 1 step\n${USAGE}`);
  }
  return args;
}

async function main(): Promise<void> {
  let args: Args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (error) {
    // A bad --shapes value throws a plain Error from parseShape: also a usage error.
    throw error instanceof UsageError ? error : new UsageError(`${(error as Error).message}\n${USAGE}`);
  }
  if (args.models && args.planOnly) {
    const methods = args.given.methods ?? DEFAULT_MODEL_METHODS;
    const mib = 2 ** 20;
    const limits = args.defaultLimits
      ? { maxBufferSize: 256 * mib, maxStorageBufferBindingSize: 128 * mib }
      : { maxBufferSize: 1024 * mib, maxStorageBufferBindingSize: 1024 * mib };
    const checkpointing = !args.noCheckpointing;
    console.log(
      `PLANNED (train/memoryPlan.ts, not measured): rank 16 on every projection, B=2, T=256, checkpointing ${checkpointing ? 'on' : 'off'}; ` +
        `limits ${formatBytes(limits.maxStorageBufferBindingSize)} a binding, ${formatBytes(limits.maxBufferSize)} a buffer\n`,
    );
    console.log(formatPlannedTable(planModels(args.models, methods, limits, !args.noDefer, checkpointing)));
    return;
  }
  const started = performance.now();
  const acquired = await acquireNodeDevice({ defaultLimitsOnly: args.defaultLimits ?? false });
  const ctx = new GpuContext(acquired);
  const info = ctx.info;
  const adapterText = [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ');
  console.log(`adapter: ${adapterText}${info.isSoftware ? ' (software)' : ''}`);
  console.log(
    `features: shader-f16 ${info.features.shaderF16}, subgroups ${info.features.subgroups}, timestamp-query ${info.features.timestampQuery}; ` +
      `maxStorageBufferBindingSize ${formatBytes(info.limits.maxStorageBufferBindingSize)}`,
  );
  console.log(`host: Node ${process.version}, ${process.platform}/${process.arch}; Dawn via the \`webgpu\` package`);

  if (args.models) {
    const { methods, steps, batch, seqLen } = args.given;
    const options = {
      models: args.models,
      methods: methods ?? DEFAULT_MODEL_METHODS,
      steps: steps ?? 2,
      batchSize: batch ?? 1,
      seqLen: seqLen ?? 128,
      rank: args.rank ?? 16,
      checkpointing: !args.noCheckpointing,
      releaseAfterInit: args.releaseAfterInit ?? false,
      noDefer: args.noDefer ?? false,
      ...(args.keep ? { keepDir: args.keep } : {}),
    };
    const loadBefore = loadavg()
      .map((x) => x.toFixed(2))
      .join(', ');
    console.log(
      `real-model bench: ${options.models.join(', ')}; ${options.methods.join(', ')}; B=${options.batchSize}, T=${options.seqLen}, ` +
        `rank ${options.rank} on every projection, ${options.steps} step(s), checkpointing ${options.checkpointing ? 'on' : 'off'}; load average ${loadBefore}\n`,
    );
    const done: unknown[] = [];
    const rows = await runModelsBench(ctx, options, (row) => {
      // Written after every row, so a run stopped part-way keeps what it measured.
      done.push(row);
      if (args.json)
        writeFileSync(
          args.json,
          `${JSON.stringify({ date: new Date().toISOString(), adapter: adapterText, software: info.isSoftware, options, loadBefore, partial: true, rows: done }, null, 2)}\n`,
        );
    });
    console.log(`\n${formatModelsTable(rows)}`);
    console.log(
      'GPU columns: pool bytes (base = the loaded model, method = its create(), optimizer = held after the steps, activations = step peak above that); planned = memory plan of this run; target plan = r=16, B=2, T=256, checkpointing on',
    );
    for (const r of rows)
      if (r.quantizedRatio !== null) console.log(`${r.model} ${r.method}: 4-bit own base / f32 bytes of the targeted weights = ${r.quantizedRatio.toFixed(3)}`);
    const loadAfter = loadavg()
      .map((x) => x.toFixed(2))
      .join(', ');
    console.log(`load average after: ${loadAfter}`);
    if (args.json) {
      writeFileSync(
        args.json,
        `${JSON.stringify({ date: new Date().toISOString(), adapter: adapterText, software: info.isSoftware, options, loadBefore, loadAfter, rows }, null, 2)}\n`,
      );
      console.log(`wrote ${args.json}`);
    }
    ctx.destroy();
    return;
  }

  if (args.tune) {
    const modelDir = args.trainModel ?? 'public/models/kjv-llama-1m';
    const tokens = (args.given.batch ?? 4) * (args.given.seqLen ?? 64);
    const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(modelDir)));
    const problems = modelTrainingProblems(model, tokens);
    releaseModel(ctx, model);
    console.log(
      `matmul autotuner: ${modelDir}, ${tokens} tokens a step; load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(', ')}`,
    );
    const tuned = await tuneMatmul(ctx, problems, { reps: args.plan.minReps ?? 3 });
    console.log(formatTuning(tuned));
    if (args.json) writeFileSync(args.json, `${JSON.stringify({ date: new Date().toISOString(), adapter: adapterText, tokens, tuned }, null, 2)}\n`);
    ctx.destroy();
    return;
  }

  if (args.trainPeer) {
    const { steps, batch, seqLen } = args.given;
    const options = {
      modelDir: args.trainModel ?? 'public/models/kjv-llama-1m',
      batchSize: batch ?? 4,
      seqLen: seqLen ?? 64,
      steps: steps ?? 5,
      warmup: args.given.warmup ?? 2,
      rank: args.rank ?? 8,
      learningRate: 1e-3,
    };
    const loadBefore = loadavg()
      .map((x) => x.toFixed(2))
      .join(', ');
    console.log(
      `LoRA step vs tfjs: ${options.modelDir}, rank ${options.rank} on every projection, ${options.steps} timed steps after ${options.warmup} warm-up; load average ${loadBefore}`,
    );
    const gpu = await nodeGpu();
    installNodeNavigator(gpu);
    const result = await runTrainPeerBench(ctx, gpu, options);
    const loadAfter = loadavg()
      .map((x) => x.toFixed(2))
      .join(', ');
    console.log(`${formatTrainPeer(result, { B: options.batchSize, T: options.seqLen })}\nload average after: ${loadAfter}`);
    if (result.maxLossRelDiff > 1e-3) {
      console.log('FAILED: the two sides disagree on the loss, so the ratio would compare different computations');
      process.exitCode = 1;
    }
    if (args.json) {
      writeFileSync(
        args.json,
        `${JSON.stringify({ date: new Date().toISOString(), adapter: adapterText, options, loadBefore, loadAfter, ...result }, null, 2)}\n`,
      );
      console.log(`wrote ${args.json}`);
    }
    ctx.destroy();
    return;
  }

  if (args.profile) {
    const { methods, steps, warmup, batch, seqLen, top } = args.given;
    await runProfileBench(ctx, { methods, steps, warmup, batchSize: batch, seqLen, timestamps: args.profile.timestamps, topKernels: top }, args.json);
    ctx.destroy();
    return;
  }

  if (args.train) {
    const { methods, steps, batch, seqLen } = args.train;
    const modelDir = args.trainModel ?? 'public/models/kjv-llama-1m';
    const checkpointing = args.checkpointing ?? false;
    console.log(
      `training bench: ${modelDir}, B=${batch}, T=${seqLen}${checkpointing ? ', checkpointing' : ''}, ${steps} timed steps after 1 warm-up step per method\n`,
    );
    const releaseAfterInit = args.releaseAfterInit ?? false;
    const rows = await runTrainBench(ctx, { methods, steps, batchSize: batch, seqLen, modelDir, checkpointing, releaseAfterInit }, (row) => {
      console.log(`  ${row.method}: ${row.tokensPerSecond.toFixed(1)} tokens/s`);
    });
    console.log(`\n${formatTrainTable(rows)}`);
    if (args.json) {
      writeFileSync(args.json, `${JSON.stringify({ date: new Date().toISOString(), adapter: adapterText, batch, seqLen, steps, rows }, null, 2)}\n`);
      console.log(`wrote ${args.json}`);
    }
    ctx.destroy();
    return;
  }

  let peer: MatmulPeer | undefined;
  if (args.peer) {
    try {
      installNodeNavigator(await nodeGpu());
      peer = await createTfjsPeer();
      console.log(`peer: ${peer.name} in Node on adapter ${peer.adapter}`);
      if (peer.adapter !== adapterText) console.log('  (warning: the peer got a different adapter from ours)');
    } catch (error) {
      console.log(`peer: unavailable (${(error as Error).message}); timing ours only`);
    }
  }
  const plan = { ...DEFAULT_TIMING_PLAN, ...args.plan };
  const totalGflop = args.shapes.reduce((s, x) => s + shapeFlops(x), 0) / 1e9;
  console.log(
    `${args.shapes.length} shapes (${totalGflop.toFixed(1)} GFLOP per pass); per side: ${plan.warmup} warmup, ` +
      `≥${plan.minReps} reps (2 when a run takes >${plan.slowRunSeconds} s, 1 when >${plan.verySlowRunSeconds} s) until ${plan.targetSeconds} s or ${plan.maxReps} reps; median\n`,
  );

  const tty = process.stderr.isTTY;
  const rows = await runMatmulBench(ctx, {
    shapes: args.shapes,
    includePeer: peer !== undefined,
    ...(peer ? { peer } : {}),
    ...(args.variants ? { variants: args.variants } : {}),
    plan: args.plan,
    onStatus: (text) => {
      if (tty) process.stderr.write(`\r\x1b[K… ${text}`);
    },
    onRow: (row) => {
      if (tty) process.stderr.write('\r\x1b[K');
      const ratio = row.ratio === null ? '' : `, ${row.ratio.toFixed(2)}× tfjs (${row.peerGflops!.toFixed(2)})`;
      console.log(`  ${row.shape.label} [${row.variant}]: ${row.oursGflops.toFixed(2)} GFLOP/s${ratio}${row.peerError ? `; ${row.peerError}` : ''}`);
    },
  });
  if (tty) process.stderr.write('\r\x1b[K');
  peer?.dispose();

  console.log(`\nmatmul, f32, GFLOP/s = 2·M·N·K / median wall time of (record, submit, onSubmittedWorkDone)`);
  console.log(formatBenchTable(rows));
  const ratios = rows.map((r) => r.ratio).filter((r): r is number => r !== null);
  if (ratios.length > 0) {
    const worst = Math.min(...ratios);
    console.log(`\nworst ratio ours/tfjs: ${worst.toFixed(2)}× (target ≥ 1.5×: ${worst >= 1.5 ? 'met' : 'NOT met'})`);
  }
  const badCheck = rows.filter((r) => (r.sampleError ?? 0) > 1e-3 || (r.peerDifference ?? 0) > 1e-3);
  if (badCheck.length > 0) console.log(`WARNING: ${badCheck.length} row(s) disagree with the reference or with tfjs beyond 1e-3`);
  const stats = ctx.stats();
  const seconds = (performance.now() - started) / 1000;
  console.log(`peak GPU memory (our pool): ${formatBytes(stats.peakLiveBytes)}; total time ${seconds.toFixed(0)} s`);

  if (args.json) {
    const report = {
      date: new Date().toISOString(),
      host: { node: process.version, platform: process.platform, arch: process.arch },
      adapter: info,
      peer: peer ? { name: peer.name, adapter: peer.adapter, runtime: 'node' } : null,
      plan,
      seconds,
      peakGpuBytes: stats.peakLiveBytes,
      rows,
    };
    writeFileSync(args.json, `${JSON.stringify(report, null, 2)}\n`);
    console.log(`wrote ${args.json}`);
  }
  ctx.destroy();
}

main().then(
  // Dawn's Node bindings can keep the event loop alive after the device is gone.
  () => process.exit(0),
  (error: unknown) => {
    if (error instanceof UsageError) console.error(error.message);
    else console.error(error instanceof Error ? (error.stack ?? error.message) : error);
    process.exit(error instanceof UsageError ? 2 : 1);
  },
);

function formatTuning(tuned: readonly TunedClass[]): string {
  const variants = ['registers', 'vec4', 'tiled', 'subgroup'] as const;
  const header = ['shape class (trans A/B, f32, M×N×K rounded up)', ...variants.map((v) => `${v} ms`), 'pick'];
  const rows = tuned.map((t) => [t.shapeClass, ...variants.map((v) => (t.msByVariant[v] === undefined ? '—' : t.msByVariant[v]!.toFixed(2))), t.variant]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows].map((cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}
