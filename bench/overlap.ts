// Step overlap, with and without: ms per training step of an interleaved run (train/compare.ts)
// of LoRA on the built-in model (public/models/kjv-llama-1m), B=4, T=64, stepped one at a time
// (InterleavedRun.step) and overlapped (stepOverlapped: step n+1 recorded before step n's metrics
// are awaited). Rounds alternate the two ways so that a change in the machine's load hits both;
// each round is a fresh method (same seed, same batches) after warm-up steps of its own. Also
// prints the CPU time Trainer.step spends recording a step (before its promise is returned),
// which is what overlap can hide, and the load average before and after.
//
//   npx tsx --import ./scripts/register-raw-imports.mjs bench/overlap.ts [--steps 8] [--rounds 3] [--warmup 2] [--methods lora] [--json out.json]

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { methodById } from '../src/adapters/registry';
import { selectTargets } from '../src/adapters/targets';
import { resolveSettings, type MethodId } from '../src/adapters/types';
import { GpuContext } from '../src/gpu/context';
import { acquireNodeDevice } from '../src/gpu/node';
import { openModelFiles } from '../src/io/modelFiles';
import { nodeDirectorySources } from '../src/io/nodeSource';
import type { CausalLM } from '../src/models/causalLM';
import { loadCausalLM, releaseModel } from '../src/models/load';
import { InterleavedRun } from '../src/train/compare';
import type { Batch } from '../src/train/trainer';

const MODEL_DIR = 'public/models/kjv-llama-1m';

export interface OverlapBenchOptions {
  readonly methods: readonly MethodId[];
  readonly steps: number;
  readonly warmup: number;
  readonly rounds: number;
  readonly batchSize: number;
  readonly seqLen: number;
}

export interface OverlapRound {
  readonly overlap: boolean;
  readonly msPerStep: number;
  /** Mean CPU ms inside Trainer.step per method step (recording, up to the returned promise). */
  readonly recordMs: number;
}

/** Batch `step` of in-vocabulary ids (throughput does not depend on the text; each step's differs). */
function benchBatch(V: number, B: number, T: number, step: number): Batch {
  const ids = Array.from({ length: B * T }, (_, i) => (i * 7919 + step * 104729 + 13) % V);
  return { ids, targets: ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!)), batchSize: B, seqLen: T };
}

async function timeRound(ctx: GpuContext, model: CausalLM, options: OverlapBenchOptions, overlap: boolean): Promise<OverlapRound> {
  const total = options.warmup + options.steps;
  const run = new InterleavedRun<null>(ctx, {
    model,
    targets: selectTargets(model, ['all']),
    seed: 0,
    steps: total,
    schedule: { kind: 'constant', warmupSteps: 0 },
    clipNorm: 1,
    weightDecay: 0,
    validationBatches: [],
    evalEvery: total,
  });
  try {
    for (const id of options.methods) {
      const method = methodById(id);
      await run.add({ id, definition: method, settings: resolveSettings(method, {}), learningRate: 1e-4 }, () => null);
    }
    let recordMs = 0;
    let recorded = 0;
    for (const method of run.methods) {
      const step = method.trainer.step.bind(method.trainer);
      method.trainer.step = (batch, stepOptions) => {
        const begun = performance.now();
        const metrics = step(batch, stepOptions);
        recordMs += performance.now() - begun;
        recorded++;
        return metrics;
      };
    }
    const V = model.config.vocabSize;
    const stepAt = (i: number) => {
      const batch = benchBatch(V, options.batchSize, options.seqLen, i);
      return overlap ? run.stepOverlapped(i, batch, {}) : run.step(i, batch, {});
    };
    for (let i = 0; i < options.warmup; i++) await stepAt(i);
    await run.drain();
    await ctx.sync();
    recordMs = 0;
    recorded = 0;
    const t0 = performance.now();
    for (let i = options.warmup; i < total; i++) await stepAt(i);
    await run.drain();
    const msPerStep = (performance.now() - t0) / options.steps;
    return { overlap, msPerStep, recordMs: recordMs / Math.max(1, recorded) };
  } finally {
    run.release();
  }
}

export async function runOverlapBench(ctx: GpuContext, options: OverlapBenchOptions, onRound?: (round: OverlapRound) => void): Promise<OverlapRound[]> {
  const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(MODEL_DIR)));
  const rounds: OverlapRound[] = [];
  try {
    for (let r = 0; r < options.rounds; r++) {
      for (const overlap of r % 2 === 0 ? [false, true] : [true, false]) {
        const round = await timeRound(ctx, model, options, overlap);
        rounds.push(round);
        onRound?.(round);
      }
    }
  } finally {
    releaseModel(ctx, model);
  }
  return rounds;
}

/** Median of the rounds of one way. */
export function medianMs(rounds: readonly OverlapRound[], overlap: boolean, of: (r: OverlapRound) => number = (r) => r.msPerStep): number {
  const values = rounds
    .filter((r) => r.overlap === overlap)
    .map(of)
    .sort((a, b) => a - b);
  const mid = values.length >> 1;
  return values.length % 2 === 1 ? values[mid]! : (values[mid - 1]! + values[mid]!) / 2;
}

/** Overlapped ms over one-at-a-time ms in each round's pair (both ways back to back, so under about the same load). */
export function pairedRatios(rounds: readonly OverlapRound[]): number[] {
  const ratios: number[] = [];
  for (let i = 0; i + 1 < rounds.length; i += 2) {
    const [a, b] = [rounds[i]!, rounds[i + 1]!];
    const [plain, overlapped] = a.overlap ? [b, a] : [a, b];
    ratios.push(overlapped.msPerStep / plain.msPerStep);
  }
  return ratios;
}

function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
}

async function main(argv: readonly string[]): Promise<void> {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const options: OverlapBenchOptions = {
    methods: (flag('--methods') ?? 'lora').split(',').filter(Boolean) as MethodId[],
    steps: Number(flag('--steps') ?? 8),
    warmup: Number(flag('--warmup') ?? 2),
    rounds: Number(flag('--rounds') ?? 3),
    batchSize: Number(flag('--batch') ?? 4),
    seqLen: Number(flag('--seq-len') ?? 64),
  };
  const loadBefore = load();
  console.log(`load average (1, 5, 15 min) before: ${loadBefore}`);
  const ctx = new GpuContext(await acquireNodeDevice());
  const info = ctx.info;
  console.log(`adapter: ${[info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ')}${info.isSoftware ? ' (software)' : ''}`);
  console.log(
    `overlap bench: ${options.methods.join(', ')}; B=${options.batchSize}, T=${options.seqLen}; ${options.steps} timed steps after ${options.warmup}, ${options.rounds} rounds`,
  );
  try {
    const rounds = await runOverlapBench(ctx, options, (r) =>
      console.log(`  ${r.overlap ? 'overlapped     ' : 'one at a time  '} ${r.msPerStep.toFixed(1)} ms/step (recording ${r.recordMs.toFixed(1)} ms)`),
    );
    const plain = medianMs(rounds, false);
    const overlapped = medianMs(rounds, true);
    const recordMs = medianMs(rounds, false, (r) => r.recordMs);
    const ratios = pairedRatios(rounds).sort((a, b) => a - b);
    const medianRatio = ratios.length % 2 === 1 ? ratios[ratios.length >> 1]! : (ratios[ratios.length / 2 - 1]! + ratios[ratios.length / 2]!) / 2;
    const loadAfter = load();
    console.log(`paired: overlapped / one at a time per round ${ratios.map((r) => r.toFixed(2)).join(', ')}; median ${medianRatio.toFixed(3)}`);
    console.log(
      `median: one at a time ${plain.toFixed(1)} ms/step, overlapped ${overlapped.toFixed(1)} ms/step ` +
        `(${((100 * (plain - overlapped)) / plain).toFixed(1)} % less); recording ${recordMs.toFixed(1)} ms = ${((100 * recordMs) / plain).toFixed(1)} % of a step`,
    );
    console.log(`load average (1, 5, 15 min) after: ${loadAfter}`);
    const json = flag('--json');
    if (json) writeFileSync(json, `${JSON.stringify({ options, rounds, plain, overlapped, recordMs, ratios, medianRatio, loadBefore, loadAfter }, null, 2)}\n`);
  } finally {
    ctx.destroy();
  }
}

if (process.argv[1]?.endsWith('overlap.ts')) await main(process.argv.slice(2));
