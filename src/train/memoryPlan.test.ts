// The memory plan against the pool's measured peak: for tiny fixtures, several methods and two
// B·T, with and without activation checkpointing, the planned bytes while a method steps are
// within 15 % of Trainer.peakGpuBytes (the pool's live bytes at the step's peak, size classes
// included). And the refusal names the figure and what would fit.

import { describe, expect, it } from 'vitest';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { qlora } from '../adapters/methods/quantized';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type MethodDefinition } from '../adapters/types';
import { parseModelConfig } from '../io/hfConfig';
import { heldBytesPerParam, releaseModel } from '../models/load';
import { testContext } from '../test/gpu';
import { fitProblem, perBufferLimit, planMethod, planRun, type PlanSetup } from './memoryPlan';
import { modelFiles } from './testing';
import { Trainer, type Batch } from './trainer';

function batchOf(V: number, B: number, T: number): Batch {
  const ids = Array.from({ length: B * T }, (_, i) => (i * 7919 + 13) % V);
  return { ids, targets: ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!)), batchSize: B, seqLen: T };
}

const CASES: readonly { fixture: string; methods: readonly MethodDefinition[]; shapes: readonly [number, number][] }[] = [
  {
    fixture: 'tiny-llama',
    methods: [lora, qlora, pissa, full],
    shapes: [
      [2, 16],
      [4, 48],
    ],
  },
  { fixture: 'tiny-gpt2', methods: [lora, full], shapes: [[4, 48]] },
  { fixture: 'tiny-gemma3', methods: [lora, full], shapes: [[2, 32]] },
];

describe('memory plan against the measured pool peak', () => {
  for (const { fixture, methods, shapes } of CASES) {
    it(`${fixture}: ${methods.map((m) => m.id).join(', ')} at B·T ${shapes.map(([b, t]) => `${b}×${t}`).join(', ')}, with and without checkpointing, within 15 %`, async () => {
      const rt = await testContext();
      const model = await modelFiles(rt, fixture);
      const targets = selectTargets(model, ['all']);
      const layers = targets.map((name) => ({ name, out: model.linear(name).outFeatures, in: model.linear(name).inFeatures }));
      const rows: string[] = [];
      try {
        for (const method of methods) {
          const { id } = method;
          const settings = resolveSettings(method);
          const [B0, T0] = shapes[0]!;
          const adapted = await method.create(
            { rt, model, targets, seed: 1, learningRate: 1e-3, calibration: () => [batchOf(model.config.vocabSize, B0, T0)] },
            settings,
          );
          try {
            for (const [B, T] of shapes) {
              for (const checkpointing of [false, true]) {
                const setup: PlanSetup = {
                  config: model.config,
                  layers,
                  batch: B,
                  seqLen: T,
                  limits: rt.device.limits,
                  weightBytesPerParam: heldBytesPerParam(model),
                };
                // Every method here runs on the one model in turn, so nothing is released (baseRelease.test.ts plans a release).
                const planned = planRun([planMethod(setup, method, settings)], checkpointing, { releaseBase: false }).whileStepping[0]!;
                const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 1e-3, warmupSteps: 0, totalSteps: 1 }, checkpointing });
                try {
                  await trainer.step(batchOf(model.config.vocabSize, B, T));
                } finally {
                  trainer.destroy();
                }
                const measured = trainer.peakGpuBytes;
                const error = planned / measured - 1;
                rows.push(
                  `${fixture} ${id} B=${B} T=${T} ${checkpointing ? 'ckpt' : 'plain'}: planned ${planned} measured ${measured} (${(100 * error).toFixed(1)} %)`,
                );
                expect(Math.abs(error), rows[rows.length - 1]).toBeLessThan(0.15);
              }
            }
          } finally {
            adapted.release(rt);
          }
        }
      } finally {
        releaseModel(rt, model);
      }
    });
  }
});

describe('refusal before allocation', () => {
  const config = parseModelConfig({
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 576,
    intermediate_size: 1536,
    num_hidden_layers: 30,
    num_attention_heads: 9,
    num_key_value_heads: 3,
    max_position_embeddings: 2048,
    vocab_size: 49152,
    rms_norm_eps: 1e-5,
    tie_word_embeddings: true,
  });
  const roles = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
  const shapes: Record<string, [number, number]> = {
    q_proj: [576, 576],
    k_proj: [192, 576],
    v_proj: [192, 576],
    o_proj: [576, 576],
    gate_proj: [1536, 576],
    up_proj: [1536, 576],
    down_proj: [576, 1536],
  };
  const layers = Array.from({ length: 30 }, (_, i) =>
    roles.map((r) => ({
      name: `model.layers.${i}.${r.startsWith('gate') || r.startsWith('up') || r.startsWith('down') ? 'mlp' : 'self_attn'}.${r}`,
      out: shapes[r]![0],
      in: shapes[r]![1],
    })),
  ).flat();
  const limits = { maxBufferSize: 1024 ** 3, maxStorageBufferBindingSize: 1024 ** 3 };
  const setup: PlanSetup = { config, layers, batch: 8, seqLen: 512, limits };
  const choice = (method: MethodDefinition) => ({ method, settings: resolveSettings(method) });

  it('lets a run within the budget through and refuses one over it, naming the figure and what would fit', () => {
    const plan = planMethod(setup, lora, resolveSettings(lora));
    const plain = planRun([plan], false).totalBytes;
    const checkpointed = planRun([plan], true).totalBytes;
    expect(checkpointed).toBeLessThan(plain / 2);
    expect(fitProblem(setup, [choice(lora)], false, { perBuffer: perBufferLimit(limits), totalBytes: plain * 1.01 })).toBeUndefined();
    // Room for lora with qlora beside it (whose NF4 base is then the difference), not for full.
    const withQlora = planRun([plan, planMethod(setup, qlora, resolveSettings(qlora))], false).totalBytes;
    const budget = { perBuffer: perBufferLimit(limits), totalBytes: Math.max(plain, withQlora) * 1.01 };
    const problem = fitProblem(setup, [choice(lora), choice(full)], false, budget)!;
    expect(problem).toMatch(
      /^Will not fit: the run needs about [\d.]+ GiB of GPU memory \(B=8, T=512, without activation checkpointing\), over the [\d.]+ GiB budget\. These would fit: /,
    );
    expect(problem).toContain('activation checkpointing (≈');
    expect(problem).toMatch(/batch \d (with checkpointing )?\(≈/);
    expect(problem).toContain(`only ${lora.id} (≈`);
    expect(problem).toContain(`${qlora.id} (4-bit base) instead of ${full.id} (≈`);
  });

  it('names the buffer over the per-buffer limit', () => {
    const problem = fitProblem({ ...setup, batch: 16, seqLen: 2048 }, [choice(lora)], false, { perBuffer: 128 * 1024 ** 2 })!;
    expect(problem).toMatch(
      /^Will not fit: the MLP activations \(16×2048 tokens × 1536\) needs one 192\.0 MiB buffer, over this GPU's 128\.0 MiB limit per buffer\. These would fit: batch 10 \(≈[\d.]+ GiB\)\.$/,
    );
  });
});
