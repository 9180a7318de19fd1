// Exports of trained methods: the PEFT adapter, applied to the ORIGINAL weights the way PEFT
// applies it (W + alpha/r · B A), reproduces the trained model's logits; the merged model equals
// the unmerged one; SPP's merge keeps the pruned zero pattern exactly.

import { describe, expect, it } from 'vitest';
import { peftAdapter, mergedTensors } from '../adapters/export';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { lorasb } from '../adapters/methods/lorasb';
import { pissa } from '../adapters/methods/pissa';
import { qlora, qpissa } from '../adapters/methods/quantized';
import { sorsa } from '../adapters/methods/sorsa';
import { spp } from '../adapters/methods/spp';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type AdaptedModel, type MethodDefinition, type MethodSettings } from '../adapters/types';
import { bytesSource } from '../io/byteSource';
import { modelFiles } from './testing';
import { peftAdapterFiles, peftKey } from '../io/peft';
import { readAllTensorsAsF32 } from '../io/safetensors';
import type { CausalLM } from '../models/causalLM';
import { modelFromHostTensors, releaseModel, type HostTensor } from '../models/load';
import { SppLayer } from '../adapters/forms/sppLayer';
import { Graph } from '../tensor/graph';
import { readTensor, tokenIds, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { Trainer, type Batch } from './trainer';

const B = 2;
const T = 6;

function batchFor(model: CausalLM): Batch {
  const V = model.config.vocabSize;
  const ids = Array.from({ length: B * T }, (_, i) => (i * 37 + 11) % V);
  return { ids, targets: ids.map((_, i) => (i % T === T - 1 ? -100 : ids[i + 1]!)), batchSize: B, seqLen: T };
}

async function logits(rt: Runtime, model: CausalLM, batch: Batch, linears?: AdaptedModel['linears']): Promise<Float32Array> {
  const g = new Graph(rt, false);
  try {
    return await readTensor(rt, model.forward(g, tokenIds(g, batch.ids, [B, T]), { linears }));
  } finally {
    g.destroy();
  }
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function trained(rt: Runtime, model: CausalLM, method: MethodDefinition, settings: MethodSettings, roles: readonly string[]): Promise<AdaptedModel> {
  const batch = batchFor(model);
  const adapted = await method.create({ rt, model, targets: selectTargets(model, roles), seed: 3, learningRate: 2e-2, calibration: () => [batch] }, resolveSettings(method, settings));
  const trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: 2e-2, warmupSteps: 0, totalSteps: 3 } });
  for (let i = 0; i < 3; i++) await trainer.step(batch);
  trainer.destroy();
  return adapted;
}

async function hostWeights(rt: Runtime, model: CausalLM): Promise<Map<string, HostTensor>> {
  const out = new Map<string, HostTensor>();
  for (const p of model.parameters()) out.set(p.name, { shape: p.tensor.shape, data: await readTensor(rt, p.tensor) });
  return out;
}

const PEFT_CASES: readonly { method: MethodDefinition; settings: MethodSettings }[] = [
  { method: lora, settings: { rank: 4, alpha: 8 } },
  { method: pissa, settings: { rank: 4, alpha: 4, niter: 2 } },
  { method: sorsa, settings: { rank: 4, niter: 2 } },
  { method: lorasb, settings: { rank: 4, estimationBatches: 1 } },
];

describe('PEFT export', () => {
  for (const c of PEFT_CASES) {
    it(`${c.method.id}: the adapter applied to the original weights reproduces the trained logits`, async () => {
      const rt = await testContext();
      const model = await modelFiles(rt, 'tiny-llama');
      const adapted = await trained(rt, model, c.method, c.settings, ['all']);
      try {
        const batch = batchFor(model);
        const expected = await logits(rt, model, batch, adapted.linears);
        const files = peftAdapterFiles(await peftAdapter(rt, c.method, adapted, 'tiny-llama'));
        const config = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'adapter_config.json')!.data)) as { r: number; lora_alpha: number; target_modules: string[]; peft_type: string };
        expect(config.peft_type).toBe('LORA');
        const { tensors } = await readAllTensorsAsF32(bytesSource('adapter_model.safetensors', files.find((f) => f.name === 'adapter_model.safetensors')!.data));
        const weights = await hostWeights(rt, model);
        const s = config.lora_alpha / config.r;
        for (const module of adapted.linears.keys()) {
          const A = tensors.get(peftKey('llama', module, 'lora_A'))!;
          const Bf = tensors.get(peftKey('llama', module, 'lora_B'))!;
          expect(A.shape[0]).toBe(config.r);
          const W = weights.get(`${module}.weight`)!;
          const [out, inF] = W.shape as [number, number];
          const merged = W.data.slice();
          for (let i = 0; i < out; i++) for (let k = 0; k < config.r; k++) {
            const b = s * Bf.data[i * config.r + k]!;
            for (let j = 0; j < inF; j++) merged[i * inF + j]! += b * A.data[k * inF + j]!;
          }
          weights.set(`${module}.weight`, { shape: W.shape, data: merged });
        }
        const reloaded = modelFromHostTensors(rt, model.config, weights);
        expect(maxAbsDiff(await logits(rt, reloaded, batch), expected)).toBeLessThan(1e-4);
        releaseModel(rt, reloaded);
      } finally {
        adapted.release(rt);
        releaseModel(rt, model);
      }
    });
  }
});

describe('merged export', () => {
  const mergedCases: { method: MethodDefinition; settings: MethodSettings }[] = [
    ...PEFT_CASES,
    { method: qlora, settings: { rank: 4, alpha: 8 } },
    { method: qpissa, settings: { rank: 4, alpha: 4, niter: 2, iterations: 2 } },
    { method: full, settings: {} },
    { method: spp, settings: { ratio: 0.5 } },
  ];
  for (const c of mergedCases) {
    it(`${c.method.id}: the merged model gives the trained logits`, async () => {
      const rt = await testContext();
      const model = await modelFiles(rt, 'tiny-llama');
      const roles = c.method === spp ? ['q', 'o', 'gate', 'up', 'down'] : ['all'];
      const adapted = await trained(rt, model, c.method, c.settings, roles);
      try {
        const batch = batchFor(model);
        const expected = await logits(rt, adapted.model, batch, adapted.linears);
        const merged = await mergedTensors(rt, adapted);
        const reloaded = modelFromHostTensors(rt, model.config, new Map(merged.map((t) => [t.name, t])));
        expect(maxAbsDiff(await logits(rt, reloaded, batch), expected)).toBeLessThan(1e-4);
        releaseModel(rt, reloaded);
        if (c.method === spp) {
          for (const layer of adapted.linears.values()) {
            const pruned = await readTensor(rt, (layer as SppLayer).pruned);
            const m = merged.find((t) => t.name === `${layer.name}.weight`)!.data;
            let zeros = 0;
            for (let i = 0; i < pruned.length; i++) {
              expect(m[i] === 0, `${layer.name}[${i}]`).toBe(pruned[i] === 0);
              if (pruned[i] === 0) zeros++;
            }
            expect(zeros / pruned.length).toBeGreaterThanOrEqual(0.49);
          }
        }
      } finally {
        adapted.release(rt);
        releaseModel(rt, model);
      }
    });
  }
});
