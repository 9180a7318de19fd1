// The real-model bench (bench/models.ts) end to end on two tiny random-weight models, one after the
// other, as `npm run bench -- --models A,B` runs the real ones, on a context that batches dispatches
// into one submission as the bench's does (not the tests' checkEachDispatch): with no step, the
// optimizer state's zero fill is still unsubmitted when the first model is released.

import { afterAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { qlora } from '../adapters/methods/quantized';
import { GpuContext } from '../gpu/context';
import { acquireNodeDevice } from '../gpu/node';
import { tinyConfigJson } from '../io/testModels';
import { formatModelsTable, planModels, runModelsBench } from '../../bench/models';
import type { RealModelSpec } from '../../bench/realModels';

const TINY: readonly RealModelSpec[] = [
  { id: 'tiny-llama', repo: 'test', dtype: 'BF16', config: { ...tinyConfigJson('llama'), hidden_size: 64, intermediate_size: 128, vocab_size: 96 } },
  { id: 'tiny-gpt2', repo: 'test', dtype: 'F32', config: { ...tinyConfigJson('gpt2'), n_embd: 64, vocab_size: 96 } },
];

let shared: Promise<GpuContext> | undefined;
const batchedContext = () => (shared ??= acquireNodeDevice({ defaultLimitsOnly: true }).then((acquired) => new GpuContext(acquired)));
afterAll(async () => (await shared)?.destroy());

describe('real-model bench on tiny models', () => {
  for (const steps of [0, 1]) {
    it(`${steps} step(s): every method of a second model after the first`, async () => {
      const ctx = await batchedContext();
      const options = { models: TINY, methods: [lora.id, qlora.id], steps, batchSize: 1, seqLen: 8, rank: 4, checkpointing: true };
      const rows = await runModelsBench(ctx, options);
      expect(rows.map((r) => [r.model, r.method, r.error])).toEqual([
        ['tiny-llama', lora.id, undefined],
        ['tiny-llama', qlora.id, undefined],
        ['tiny-gpt2', lora.id, undefined],
        ['tiny-gpt2', qlora.id, undefined],
      ]);
      for (const r of rows) expect(r.msPerStep).toHaveLength(steps);
      const table = formatModelsTable(rows).split('\n');
      expect(table).toHaveLength(1 + rows.length);
      // No step: no time and no plan error (the plan is of a run with steps).
      if (steps === 0) for (const line of table.slice(1)) expect(line).toMatch(/^tiny-\w+ +\w+ +[\d.]+ +[\d.]+ +— .* — +[\d.]+ \w?i?B +[\d.]+ GB$/);
    });
  }

  it('plans a 4-bit method that runs before the last with the shared base still held (it is released only after the last)', async () => {
    const ctx = await batchedContext();
    const rows = await runModelsBench(ctx, {
      models: [TINY[0]!],
      methods: [qlora.id, lora.id],
      steps: 1,
      batchSize: 1,
      seqLen: 8,
      rank: 4,
      checkpointing: true,
    });
    const [first] = rows;
    expect(first!.method).toBe(qlora.id);
    expect(first!.gpu.released).toBe(0);
    expect(Math.abs(first!.planned.total - first!.gpu.peak) / first!.gpu.peak).toBeLessThan(0.15);
  });

  it('plans the target settings with and without activation checkpointing (no GPU)', () => {
    const limits = { maxBufferSize: 2 ** 30, maxStorageBufferBindingSize: 2 ** 30 };
    const [on] = planModels(['smollm2-135m'], [lora.id], limits);
    const [off] = planModels(['smollm2-135m'], [lora.id], limits, true, false);
    // Without checkpointing every block keeps its activations: the plan grows by them alone.
    expect(off!.activations).toBeGreaterThan(4 * on!.activations);
    expect(off!.total - on!.total).toBe(off!.activations - on!.activations);
    expect([off!.sharedBase, off!.trainable]).toEqual([on!.sharedBase, on!.trainable]);
  });
});
