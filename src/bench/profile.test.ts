import { describe, expect, it } from 'vitest';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { releaseModel } from '../models/load';
import { testContext } from '../test/gpu';
import { modelFiles } from '../train/testing';
import { formatProfileReport, rankKernels, runTrainingProfile } from './profile';

describe('training-step profile', () => {
  it('steady state: a LoRA step (and a full fine-tuning step) creates no buffer or bind group and compiles no pipeline after 2 warm-up steps', async () => {
    const ctx = await testContext();
    const model = await modelFiles(ctx, 'tiny-llama');
    try {
      const report = await runTrainingProfile(ctx, model, 'tiny-llama', { methods: [lora.id, full.id], warmup: 2, steps: 2, batchSize: 2, seqLen: 12 });
      expect(report.methods.map((m) => m.method)).toEqual([lora.id, full.id]);
      for (const m of report.methods) {
        expect(m.steps.map((s) => s.phase)).toEqual(['warmup', 'warmup', 'plain', 'plain', 'timed', 'timed']);
        const first = m.steps[0]!.counters;
        const steady = m.steps.slice(2);
        for (const s of steady) {
          const what = `${m.method} step ${s.step} (${s.phase})`;
          expect(s.counters.buffersCreated, `${what}: buffers created`).toBe(0);
          expect(s.counters.pipelinesCompiled, `${what}: pipelines compiled`).toBe(0);
          expect(s.counters.shaderModules, `${what}: shader modules`).toBe(0);
          // Bind groups are cached (gpu/context.ts) and a steady step binds the same pooled buffers
          // as the step before (gpu/pool.ts hands out the oldest free buffer): none is created,
          // profiled or not.
          expect(s.counters.bindGroups, `${what}: bind groups created`).toBe(0);
          expect(s.counters.dispatches, what).toBe(first.dispatches);
          expect(s.counters.bytesWritten, what).toBe(steady[0]!.counters.bytesWritten);
          expect(Number.isFinite(s.loss)).toBe(true);
        }
        expect(m.summary.buffersCreated).toBe(0);
        expect(m.summary.pipelinesCompiled).toBe(0);
        // The first warm-up step is where pipelines and pool buffers are made.
        expect(first.pipelinesCompiled).toBeGreaterThan(0);
        expect(first.poolBuffersCreated).toBeGreaterThan(0);
      }
    } finally {
      releaseModel(ctx, model);
    }
  });

  it('timed steps carry per-kernel GPU times, costs and a ranked kernel table; the fallback says it is wall-clock', async () => {
    const ctx = await testContext();
    const model = await modelFiles(ctx, 'tiny-llama');
    try {
      const stamped = await runTrainingProfile(ctx, model, 'tiny-llama', { methods: [lora.id], warmup: 1, steps: 1, batchSize: 2, seqLen: 8 });
      const profiled = stamped.methods[0]!;
      const timed = profiled.steps.find((s) => s.phase === 'timed')!;
      const plain = profiled.steps.find((s) => s.phase === 'plain')!;
      expect(plain.gpuMs).toBeNull();
      expect(plain.flops).toBeNull();
      expect(timed.flops!).toBeGreaterThan(0);
      expect(timed.uncostedDispatches!).toBeLessThan(timed.counters.dispatches);
      if (ctx.info.features.timestampQuery) {
        expect(stamped.gpuClock).toBe('timestamp-query');
        expect(timed.gpuMs!).toBeGreaterThan(0);
        expect(timed.gpuSpanMs!).toBeGreaterThanOrEqual(timed.gpuMs! * 0.999);
        const matmul = profiled.kernels.find((k) => k.kernel.startsWith('matmul'))!;
        expect(matmul.ms!).toBeGreaterThan(0);
        expect(matmul.flopsPerSecond!).toBeGreaterThan(0);
        expect(matmul.bytesPerSecond!).toBeGreaterThan(0);
        const ranked = profiled.kernels.map((k) => k.ms ?? -1);
        expect(ranked).toEqual([...ranked].sort((a, b) => b - a));
        expect(profiled.kernels.reduce((a, k) => a + (k.share ?? 0), 0)).toBeCloseTo(1, 6);
      }
      expect(profiled.kernels.reduce((a, k) => a + k.calls, 0)).toBe(timed.counters.dispatches);
      expect(formatProfileReport(stamped)).toContain('== lora');

      const fallback = await runTrainingProfile(ctx, model, 'tiny-llama', {
        methods: [lora.id],
        warmup: 1,
        steps: 1,
        batchSize: 2,
        seqLen: 8,
        timestamps: false,
      });
      expect(fallback.gpuClock).toBe('wall-clock');
      expect(fallback.clockNote).toMatch(/wall-clock fallback/);
      const fallbackTimed = fallback.methods[0]!.steps.find((s) => s.phase === 'timed')!;
      expect(fallbackTimed.gpuMs!).toBeGreaterThanOrEqual(0);
      expect(fallbackTimed.gpuSpanMs).toBeNull();
      expect(fallback.methods[0]!.kernels.every((k) => k.ms === null && k.flopsPerSecond === null)).toBe(true);
    } finally {
      releaseModel(ctx, model);
    }
  });

  it('ranks kernels by GPU time and leaves "—" (null) where no cost is stated', () => {
    const d = (kernel: string, ms: number | null, cost: { flops: number; bytes: number } | null) => ({
      kernel,
      label: `${kernel} x`,
      cost,
      ms,
      startMs: ms === null ? null : 0,
    });
    const rows = rankKernels([
      [d('a', 1, { flops: 1e6, bytes: 4e6 }), d('b', 3, null), d('a', 1, { flops: 1e6, bytes: 4e6 })],
      [d('a', 2, { flops: 1e6, bytes: 4e6 }), d('b', 4, null), d('a', 2, { flops: 1e6, bytes: 4e6 })],
    ]);
    expect(rows.map((r) => r.kernel)).toEqual(['b', 'a']);
    const [b, a] = rows as [(typeof rows)[0], (typeof rows)[0]];
    expect(b.calls).toBe(1);
    expect(b.ms).toBe(3.5);
    expect(b.flopsPerSecond).toBeNull();
    expect(a.calls).toBe(2);
    expect(a.ms).toBe(3);
    expect(a.flops).toBe(2e6);
    expect(a.flopsPerSecond).toBeCloseTo(4e6 / 0.006, 3);
    expect(a.share).toBeCloseTo(6 / 13, 6);
    expect(a.slowestMs).toBe(2);
  });
});
