// Profile of training steps: what one optimizer step costs the GPU runtime and where its GPU time
// goes. Used by `npm run bench -- --profile` (bench/run.ts) and the studio's Profile panel (the
// worker's profileTraining call), on the same model and synthetic batch.
//
// Per method (default LoRA, then full fine-tuning; every projection targeted, method defaults):
//   1. `warmup` plain steps (pipelines compiled, pool filled; their counters are reported too);
//   2. `steps` plain steps: counters, CPU recording time and wall time without any profiling;
//   3. `steps` timed steps under a profile session: the same counters, plus per-dispatch GPU
//      times from timestamp queries (one compute pass per dispatch) where the adapter offers
//      `timestamp-query`. Without it the GPU time is wall-clock: from the step's submit until its
//      loss is read back (an upper bound that includes readback latency), and kernels are ranked
//      by FLOPs with no times.
// Each step is awaited before the next is recorded, so a step's figures are its own.
// Counters are the GPU context's own work (profile query sets and their buffers are not counted).
// Kernels that state a cost (kernels/*.ts `cost`) get FLOP/s and bytes/s; the others show "—".
//
// Not done: CPU profiles of the recording itself (use the browser's profiler), memory traffic as
// measured by hardware counters (the bytes here are compulsory traffic, a lower bound).

import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { selectTargets } from '../adapters/targets';
import type { GpuContext } from '../gpu/context';
import { counterDelta, type GpuCounters, type ProfiledDispatch } from '../gpu/profiler';
import type { CausalLM } from '../models/causalLM';
import { startMethod } from '../train/methodRun';
import type { Batch } from '../train/trainer';
import type { ProfileKernel, ProfileMethod, ProfileParams, ProfileProgress, ProfileReport, ProfileStep } from './profileTypes';

export const PROFILE_DEFAULTS = { methods: [lora.id, full.id], steps: 3, warmup: 2, batchSize: 4, seqLen: 64, topKernels: 10 } as const;

/** A fixed synthetic batch of in-vocabulary ids (step cost does not depend on the text). */
export function profileBatch(V: number, B: number, T: number): Batch {
  const ids = Array.from({ length: B * T }, (_, i) => (i * 7919 + 13) % V);
  return { ids, targets: ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!)), batchSize: B, seqLen: T };
}

export function adapterName(ctx: GpuContext): string {
  const info = ctx.info;
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / ');
}

export async function runTrainingProfile(
  ctx: GpuContext,
  model: CausalLM,
  modelName: string,
  params: ProfileParams = {},
  onProgress?: (progress: ProfileProgress) => void,
): Promise<ProfileReport> {
  const methods = params.methods && params.methods.length > 0 ? params.methods : PROFILE_DEFAULTS.methods;
  const steps = Math.max(1, Math.round(params.steps ?? PROFILE_DEFAULTS.steps));
  const warmup = Math.max(0, Math.round(params.warmup ?? PROFILE_DEFAULTS.warmup));
  const B = Math.max(1, Math.round(params.batchSize ?? PROFILE_DEFAULTS.batchSize));
  const T = Math.max(2, Math.round(params.seqLen ?? PROFILE_DEFAULTS.seqLen));
  const top = Math.max(1, Math.round(params.topKernels ?? PROFILE_DEFAULTS.topKernels));
  const wantTimestamps = params.timestamps ?? true;
  const hasTimestamps = ctx.info.features.timestampQuery;
  const gpuClock = wantTimestamps && hasTimestamps ? 'timestamp-query' : 'wall-clock';
  const clockNote =
    gpuClock === 'timestamp-query'
      ? 'GPU times from timestamp queries, one compute pass per dispatch while profiling'
      : `wall-clock fallback (${hasTimestamps ? 'timestamps switched off' : 'this adapter has no timestamp-query'}): GPU ms is the time from the step's submit until its loss was read back; no per-kernel times`;
  const batch = profileBatch(model.config.vocabSize, B, T);
  const targets = selectTargets(model, ['all']);

  const results: ProfileMethod[] = [];
  for (const id of methods) {
    onProgress?.({ method: id, text: `${id}: initialising` });
    await ctx.sync();
    const started = await startMethod(
      ctx,
      { model, targets, seed: 0, calibration: () => [batch] },
      { id, learningRate: 1e-4, clipNorm: 1 },
      { kind: 'constant', warmupSteps: 0, totalSteps: warmup + 2 * steps },
    );
    const rows: ProfileStep[] = [];
    const timed: ProfiledDispatch[][] = [];
    try {
      let index = 0;
      const run = async (phase: ProfileStep['phase']): Promise<void> => {
        index++;
        onProgress?.({ method: id, text: `${id}: ${phase} step ${index} of ${warmup + 2 * steps}` });
        const session = phase === 'timed' ? ctx.startProfiling({ timestamps: wantTimestamps }) : undefined;
        try {
          const before = ctx.counters();
          const t0 = performance.now();
          const pending = started.trainer.step(batch);
          const t1 = performance.now();
          const metrics = await pending;
          const t2 = performance.now();
          const after = ctx.counters();
          const dispatches = session ? await session.collect() : [];
          if (session) timed.push(dispatches);
          const row = stepRow(index, phase, counterDelta(before, after), t1 - t0, t2 - t0, dispatches, gpuClock, metrics.loss);
          rows.push(row);
          onProgress?.({ method: id, text: `${id}: ${phase} step ${index} done`, step: row });
        } finally {
          session?.close();
        }
      };
      for (let i = 0; i < warmup; i++) await run('warmup');
      for (let i = 0; i < steps; i++) await run('plain');
      for (let i = 0; i < steps; i++) await run('timed');
    } finally {
      started.release();
    }
    results.push({
      method: started.id,
      trainableParams: started.trainableParams,
      initMs: started.initMs,
      steps: rows,
      kernels: rankKernels(timed),
      summary: summarise(rows),
    });
  }
  return {
    date: new Date().toISOString(),
    adapter: adapterName(ctx),
    isSoftware: ctx.info.isSoftware,
    model: modelName,
    batchSize: B,
    seqLen: T,
    warmup,
    steps,
    topKernels: top,
    gpuClock,
    clockNote,
    methods: results,
  };
}

function stepRow(
  step: number,
  phase: ProfileStep['phase'],
  counters: GpuCounters,
  cpuRecordMs: number,
  wallMs: number,
  dispatches: readonly ProfiledDispatch[],
  clock: ProfileReport['gpuClock'],
  loss: number,
): ProfileStep {
  let flops = 0;
  let bytes = 0;
  let uncosted = 0;
  let gpuSum = 0;
  let spanEnd = 0;
  for (const d of dispatches) {
    if (d.cost) {
      flops += d.cost.flops;
      bytes += d.cost.bytes;
    } else {
      uncosted++;
    }
    if (d.ms !== null && d.startMs !== null) {
      gpuSum += d.ms;
      spanEnd = Math.max(spanEnd, d.startMs + d.ms);
    }
  }
  const timed = phase === 'timed';
  const stamped = timed && clock === 'timestamp-query';
  return {
    step,
    phase,
    counters,
    cpuRecordMs,
    wallMs,
    gpuMs: stamped ? gpuSum : timed ? wallMs - cpuRecordMs : null,
    gpuSpanMs: stamped ? spanEnd : null,
    flops: timed ? flops : null,
    bytes: timed ? bytes : null,
    uncostedDispatches: timed ? uncosted : null,
    loss,
  };
}

/** Aggregates the timed steps' dispatches by kernel, per step, ranked by GPU time (or FLOPs). */
export function rankKernels(steps: readonly (readonly ProfiledDispatch[])[]): ProfileKernel[] {
  interface Acc {
    calls: number;
    ms: number;
    timed: boolean;
    flops: number;
    bytes: number;
    costed: boolean;
    slowest: string;
    slowestMs: number;
  }
  const byKernel = new Map<string, Acc>();
  let total = 0;
  for (const dispatches of steps) {
    for (const d of dispatches) {
      let acc = byKernel.get(d.kernel);
      if (!acc) byKernel.set(d.kernel, (acc = { calls: 0, ms: 0, timed: false, flops: 0, bytes: 0, costed: false, slowest: d.label, slowestMs: -1 }));
      acc.calls++;
      if (d.ms !== null) {
        acc.timed = true;
        acc.ms += d.ms;
        total += d.ms;
        if (d.ms > acc.slowestMs) {
          acc.slowestMs = d.ms;
          acc.slowest = d.label;
        }
      }
      if (d.cost) {
        acc.costed = true;
        acc.flops += d.cost.flops;
        acc.bytes += d.cost.bytes;
      }
    }
  }
  const n = Math.max(1, steps.length);
  const rows: ProfileKernel[] = [...byKernel].map(([kernel, a]) => {
    const seconds = a.timed ? a.ms / 1000 : 0;
    return {
      kernel,
      calls: a.calls / n,
      ms: a.timed ? a.ms / n : null,
      share: a.timed && total > 0 ? a.ms / total : null,
      flops: a.costed ? a.flops / n : null,
      bytes: a.costed ? a.bytes / n : null,
      flopsPerSecond: a.costed && seconds > 0 ? a.flops / seconds : null,
      bytesPerSecond: a.costed && seconds > 0 ? a.bytes / seconds : null,
      slowest: a.slowest,
      slowestMs: a.timed ? a.slowestMs : null,
    };
  });
  rows.sort((x, y) => (y.ms ?? -1) - (x.ms ?? -1) || (y.flops ?? -1) - (x.flops ?? -1) || y.calls - x.calls);
  return rows;
}

function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

function summarise(rows: readonly ProfileStep[]): ProfileMethod['summary'] {
  const plain = rows.filter((r) => r.phase === 'plain');
  const timed = rows.filter((r) => r.phase === 'timed');
  const steady = [...plain, ...timed];
  const gpu = timed.map((r) => r.gpuMs).filter((v): v is number => v !== null);
  return {
    dispatches: mean(steady.map((r) => r.counters.dispatches)),
    bindGroups: mean(steady.map((r) => r.counters.bindGroups)),
    buffersCreated: mean(steady.map((r) => r.counters.buffersCreated)),
    bytesWritten: mean(steady.map((r) => r.counters.bytesWritten)),
    pipelinesCompiled: mean(steady.map((r) => r.counters.pipelinesCompiled)),
    submits: mean(steady.map((r) => r.counters.submits)),
    cpuRecordMs: mean(plain.map((r) => r.cpuRecordMs)),
    wallMs: mean(plain.map((r) => r.wallMs)),
    gpuMs: gpu.length > 0 ? mean(gpu) : null,
    timedCpuRecordMs: mean(timed.map((r) => r.cpuRecordMs)),
  };
}

// ---- text tables (the bench's output) ----------------------------------------------------------

function table(header: readonly string[], body: readonly (readonly string[])[], leftColumns = 1): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [header, ...body].map((cells) => cells.map((c, i) => (i < leftColumns ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n');
}

/** 1234567 → "1.23 M"; null → "—". */
export function si(value: number | null, unit = ''): string {
  if (value === null || !Number.isFinite(value)) return '—';
  if (value === 0) return `0 ${unit}`.trim();
  const abs = Math.abs(value);
  const [scale, prefix] = abs >= 1e12 ? [1e12, 'T'] : abs >= 1e9 ? [1e9, 'G'] : abs >= 1e6 ? [1e6, 'M'] : abs >= 1e3 ? [1e3, 'k'] : [1, ''];
  const digits = value / scale >= 100 ? 0 : value / scale >= 10 ? 1 : 2;
  return `${(value / scale).toFixed(digits)} ${prefix}${unit}`.trim();
}

export function ms(value: number | null, digits = 1): string {
  return value === null || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

export function formatProfileSteps(method: ProfileMethod): string {
  const header = [
    'step',
    'phase',
    'dispatches',
    'bind groups',
    'buffers',
    'bytes written',
    'pipelines',
    'submits',
    'CPU rec ms',
    'GPU ms',
    'GPU span ms',
    'wall ms',
    'GFLOP',
  ];
  const body = method.steps.map((s) => [
    String(s.step),
    s.phase,
    String(s.counters.dispatches),
    String(s.counters.bindGroups),
    String(s.counters.buffersCreated),
    si(s.counters.bytesWritten, 'B'),
    String(s.counters.pipelinesCompiled),
    String(s.counters.submits),
    ms(s.cpuRecordMs),
    ms(s.gpuMs),
    ms(s.gpuSpanMs),
    ms(s.wallMs),
    s.flops === null ? '—' : (s.flops / 1e9).toFixed(3),
  ]);
  return table(header, body, 2);
}

export function formatProfileKernels(method: ProfileMethod, top: number): string {
  const header = ['kernel', 'calls/step', 'GPU ms/step', 'share', 'FLOP/s', 'bytes/s', 'slowest dispatch'];
  const body = method.kernels
    .slice(0, top)
    .map((k) => [
      k.kernel,
      k.calls.toFixed(k.calls % 1 === 0 ? 0 : 1),
      ms(k.ms, 2),
      k.share === null ? '—' : `${(100 * k.share).toFixed(1)} %`,
      si(k.flopsPerSecond, 'FLOP/s'),
      si(k.bytesPerSecond, 'B/s'),
      `${k.slowest.length > 70 ? `${k.slowest.slice(0, 69)}…` : k.slowest}${k.slowestMs === null ? '' : ` (${k.slowestMs.toFixed(2)} ms)`}`,
    ]);
  return table(header, body, 1).replace(/ +$/gm, '');
}

export function formatProfileReport(report: ProfileReport): string {
  const out: string[] = [];
  out.push(
    `${report.model}, B=${report.batchSize}, T=${report.seqLen}; ${report.warmup} warm-up, ${report.steps} plain and ${report.steps} timed steps per method`,
  );
  out.push(`GPU clock: ${report.clockNote}`);
  for (const m of report.methods) {
    const s = m.summary;
    out.push('');
    out.push(`== ${m.method} (${m.trainableParams.toLocaleString('en-US')} trainable, init ${(m.initMs / 1000).toFixed(2)} s)`);
    out.push(
      `steady state per step: ${s.dispatches.toFixed(0)} dispatches, ${s.bindGroups.toFixed(1)} bind groups created, ${s.buffersCreated.toFixed(1)} buffers created, ` +
        `${s.pipelinesCompiled.toFixed(1)} pipelines compiled, ${si(s.bytesWritten, 'B')} written, ${s.submits.toFixed(1)} submits; ` +
        `CPU recording ${ms(s.cpuRecordMs)} ms (${ms(s.timedCpuRecordMs)} ms while profiling), GPU ${ms(s.gpuMs)} ms, wall ${ms(s.wallMs)} ms`,
    );
    out.push(formatProfileSteps(m));
    out.push('');
    const shown = Math.min(report.topKernels, m.kernels.length);
    const rank = report.gpuClock === 'timestamp-query' ? 'GPU time' : 'FLOPs (no per-kernel times)';
    out.push(`top ${shown} of ${m.kernels.length} kernels by ${rank}, per timed step; FLOP/s and bytes/s from stated costs ("—": none stated):`);
    out.push(formatProfileKernels(m, report.topKernels));
  }
  return out.join('\n');
}
