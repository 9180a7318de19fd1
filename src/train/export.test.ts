// Exports of trained methods: the PEFT adapter, applied to the ORIGINAL weights the way PEFT
// applies it (W + alpha/r · B A), reproduces the trained model's logits; the merged model equals
// the unmerged one; SPP's merge keeps the pruned zero pattern exactly.

import { describe, expect, it } from 'vitest';
import { peftAdapter, mergedTensors } from '../adapters/export';
import { dora } from '../adapters/methods/dora';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { loraplus } from '../adapters/methods/loraplus';
import { lorasb } from '../adapters/methods/lorasb';
import { pissa } from '../adapters/methods/pissa';
import { olora } from '../adapters/methods/olora';
import { milora } from '../adapters/methods/milora';
import { corda } from '../adapters/methods/corda';
import { loraga } from '../adapters/methods/loraga';
import { qlora, qpissa } from '../adapters/methods/quantized';
import { sorsa } from '../adapters/methods/sorsa';
import { spp } from '../adapters/methods/spp';
import { eva } from '../adapters/methods/eva';
import { vera } from '../adapters/methods/vera';
import { shira } from '../adapters/methods/shira';
import { veraVectorKey, VERA_A_KEY, VERA_B_KEY } from '../io/peftVera';
import { shiraKey } from '../io/peftShira';
import { hfModulePath } from '../io/peft';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type AdaptedModel, type MethodDefinition, type MethodSettings } from '../adapters/types';
import { bytesSource } from '../io/byteSource';
import { logitsOf, modelFiles, testBatch } from './testing';
import { peftAdapterFiles, peftKey, peftMagnitudeKey } from '../io/peft';
import { readPeftAdapter } from '../io/peftAdapterReader';
import { readAllTensorsAsF32 } from '../io/safetensors';
import type { CausalLM } from '../models/causalLM';
import { modelFromHostTensors, releaseModel, type HostTensor } from '../models/load';
import { SppLayer } from '../adapters/forms/sppLayer';
import { readTensor, type Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';
import { Trainer } from './trainer';

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

async function trained(rt: Runtime, model: CausalLM, method: MethodDefinition, settings: MethodSettings, roles: readonly string[]): Promise<AdaptedModel> {
  const batch = testBatch(model);
  const adapted = await method.create(
    { rt, model, targets: selectTargets(model, roles), seed: 3, learningRate: 2e-2, calibration: () => [batch] },
    resolveSettings(method, settings),
  );
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
  { method: loraplus, settings: { rank: 4, alpha: 8, ratio: 16 } },
  { method: pissa, settings: { rank: 4, alpha: 4, niter: 2 } },
  { method: sorsa, settings: { rank: 4, niter: 2 } },
  { method: lorasb, settings: { rank: 4, estimationBatches: 1 } },
  { method: olora, settings: { rank: 4, alpha: 8 } },
  { method: milora, settings: { rank: 4, alpha: 4 } },
  { method: corda, settings: { rank: 4, alpha: 4, mode: 'kpm', calibrationBatches: 1 } },
  { method: loraga, settings: { rank: 4, alpha: 8, estimationBatches: 1 } },
];

describe('PEFT export', () => {
  for (const c of PEFT_CASES) {
    it(`${c.method.id}: the adapter applied to the original weights reproduces the trained logits`, async () => {
      let config: Record<string, unknown> = {};
      let tensors: FolderTensors = new Map();
      await roundTrip(
        c.method,
        c.settings,
        (cfg, t, modules) => {
          [config, tensors] = [cfg, t];
          expect(cfg.peft_type).toBe('LORA');
          for (const m of modules) expect(t.get(peftKey('llama', m, 'lora_A'))!.shape[0]).toBe(cfg.r);
        },
        (module, W, out, inF) => loraMerged(config, tensors, module, W, out, inF),
      );
    });
  }
});

/**
 * W' = diag(m / ‖W + sBA‖_row)(W + sBA) in float64, as PEFT applies (and merges) a DoRA layer:
 * DoraLinearLayer.get_weight_norm over dim 1 of nn.Linear's [out, in], DoraLinearVariant.merge_safe.
 */
function doraMergedRef(W: Float32Array, A: Float32Array, Bf: Float32Array, m: Float32Array, s: number, out: number, inF: number, r: number): Float32Array {
  const merged = Float64Array.from(W);
  for (let i = 0; i < out; i++) for (let k = 0; k < r; k++) for (let j = 0; j < inF; j++) merged[i * inF + j]! += s * Bf[i * r + k]! * A[k * inF + j]!;
  const result = new Float32Array(W.length);
  for (let i = 0; i < out; i++) {
    let sum = 0;
    for (let j = 0; j < inF; j++) sum += merged[i * inF + j]! ** 2;
    const c = m[i]! / Math.sqrt(sum);
    for (let j = 0; j < inF; j++) result[i * inF + j] = c * merged[i * inF + j]!;
  }
  return result;
}

describe('PEFT export of DoRA', () => {
  it(`${dora.id}: use_dora with lora_magnitude_vector; applied to the original weights as PEFT applies DoRA, it reproduces the trained logits`, async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-llama');
    const adapted = await trained(rt, model, dora, { rank: 4, alpha: 8 }, ['all']);
    try {
      const batch = testBatch(model);
      const expected = await logitsOf(rt, { model, linears: adapted.linears }, batch);
      const files = peftAdapterFiles(await peftAdapter(rt, dora, adapted, 'tiny-llama'));
      const configFile = files.find((f) => f.name === 'adapter_config.json')!;
      const weightsFile = files.find((f) => f.name === 'adapter_model.safetensors')!;
      const config = JSON.parse(new TextDecoder().decode(configFile.data)) as { peft_type: string; use_dora: boolean };
      expect(config.peft_type).toBe('LORA');
      expect(config.use_dora).toBe(true);
      const { tensors } = await readAllTensorsAsF32(bytesSource('adapter_model.safetensors', weightsFile.data));
      const adapter = await readPeftAdapter(bytesSource('adapter_config.json', configFile.data), bytesSource('adapter_model.safetensors', weightsFile.data));
      expect(adapter.config.useDora).toBe(true);
      const weights = await hostWeights(rt, model);
      let moved = 0;
      for (const module of adapted.linears.keys()) {
        // PEFT's key: no ".weight" after lora_magnitude_vector.
        expect(tensors.has(peftMagnitudeKey('llama', module))).toBe(true);
        expect(peftMagnitudeKey('llama', module)).toBe(`base_model.model.${module}.lora_magnitude_vector`);
        const layer = adapter.layers.get(module)!;
        const W = weights.get(`${module}.weight`)!;
        const [out, inF] = W.shape as [number, number];
        // The magnitude left ‖W‖ (it trains), so the check is not the base model's.
        let norm = 0;
        for (let j = 0; j < inF; j++) norm += W.data[j]! ** 2;
        if (Math.abs(layer.magnitude![0]! - Math.sqrt(norm)) > 1e-6) moved++;
        weights.set(`${module}.weight`, { shape: W.shape, data: doraMergedRef(W.data, layer.A, layer.B, layer.magnitude!, layer.scale, out, inF, layer.rank) });
      }
      expect(moved).toBeGreaterThan(0);
      const reloaded = modelFromHostTensors(rt, model.config, weights);
      expect(maxAbsDiff(await logitsOf(rt, { model: reloaded }, batch), expected)).toBeLessThan(1e-4);
      releaseModel(rt, reloaded);
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });
});

describe('merged export', () => {
  const mergedCases: { method: MethodDefinition; settings: MethodSettings }[] = [
    ...PEFT_CASES,
    { method: dora, settings: { rank: 4, alpha: 8 } },
    { method: qlora, settings: { rank: 4, alpha: 8 } },
    { method: qpissa, settings: { rank: 4, alpha: 4, niter: 2, iterations: 2 } },
    { method: full, settings: {} },
    { method: spp, settings: { ratio: 0.5 } },
    { method: eva, settings: { rank: 4, alpha: 8, calibrationBatches: 1 } },
    { method: vera, settings: { rank: 16 } },
    { method: shira, settings: { rank: 4 } },
  ];
  for (const c of mergedCases) {
    it(`${c.method.id}: the merged model gives the trained logits`, async () => {
      const rt = await testContext();
      const model = await modelFiles(rt, 'tiny-llama');
      const roles = c.method === spp ? ['q', 'o', 'gate', 'up', 'down'] : ['all'];
      const adapted = await trained(rt, model, c.method, c.settings, roles);
      try {
        const batch = testBatch(model);
        const expected = await logitsOf(rt, adapted, batch);
        const merged = await mergedTensors(rt, adapted);
        const reloaded = modelFromHostTensors(rt, model.config, new Map(merged.map((t) => [t.name, t])));
        expect(maxAbsDiff(await logitsOf(rt, { model: reloaded }, batch), expected)).toBeLessThan(1e-4);
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

type FolderTensors = Map<string, { shape: readonly number[]; data: Float32Array }>;

/** W + alpha_l/r_l · B A for one module of a LoRA folder (per-layer ranks and alphas from rank_pattern / alpha_pattern; use_rslora false). */
function loraMerged(config: Record<string, unknown>, tensors: FolderTensors, module: string, W: Float32Array, out: number, inF: number): Float32Array {
  const hf = hfModulePath('llama', module);
  const r = (config.rank_pattern as Record<string, number> | undefined)?.[hf] ?? (config.r as number);
  const alpha = (config.alpha_pattern as Record<string, number> | undefined)?.[hf] ?? (config.lora_alpha as number);
  const s = alpha / r;
  const A = tensors.get(peftKey('llama', module, 'lora_A'))!.data;
  const Bf = tensors.get(peftKey('llama', module, 'lora_B'))!.data;
  const merged = W.slice();
  for (let i = 0; i < out; i++) for (let k = 0; k < r; k++) for (let j = 0; j < inF; j++) merged[i * inF + j]! += s * Bf[i * r + k]! * A[k * inF + j]!;
  return merged;
}

/** The adapter folder's config and tensors. */
async function folder(files: readonly { name: string; data: Uint8Array }[]) {
  const config = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'adapter_config.json')!.data)) as Record<string, unknown>;
  const { tensors } = await readAllTensorsAsF32(bytesSource('adapter_model.safetensors', files.find((f) => f.name === 'adapter_model.safetensors')!.data));
  return { config, tensors };
}

/** Trains, exports, applies the files to the ORIGINAL weights with `apply` (per module, as PEFT does) and compares logits. */
async function roundTrip(
  method: MethodDefinition,
  settings: MethodSettings,
  check: (config: Record<string, unknown>, tensors: FolderTensors, modules: readonly string[]) => void,
  apply: (module: string, W: Float32Array, out: number, inF: number) => Float32Array,
): Promise<void> {
  const rt = await testContext();
  const model = await modelFiles(rt, 'tiny-llama');
  const adapted = await trained(rt, model, method, settings, ['all']);
  try {
    const batch = testBatch(model);
    const expected = await logitsOf(rt, { model, linears: adapted.linears }, batch);
    const { config, tensors } = await folder(peftAdapterFiles(await peftAdapter(rt, method, adapted, 'tiny-llama')));
    check(config, tensors, [...adapted.linears.keys()]);
    const weights = await hostWeights(rt, model);
    for (const module of adapted.linears.keys()) {
      const W = weights.get(`${module}.weight`)!;
      const [out, inF] = W.shape as [number, number];
      weights.set(`${module}.weight`, { shape: W.shape, data: apply(module, W.data, out, inF) });
    }
    const reloaded = modelFromHostTensors(rt, model.config, weights);
    expect(maxAbsDiff(await logitsOf(rt, { model: reloaded }, batch), expected)).toBeLessThan(1e-4);
    releaseModel(rt, reloaded);
  } finally {
    adapted.release(rt);
    releaseModel(rt, model);
  }
}

describe('PEFT export of the other formats', () => {
  it(`${eva.id}: plain LoRA whose per-layer ranks and alphas sit in rank_pattern / alpha_pattern (W + alpha_l/r_l · B A)`, async () => {
    let config: Record<string, unknown> = {};
    let tensors: FolderTensors = new Map();
    await roundTrip(
      eva,
      { rank: 4, alpha: 8, calibrationBatches: 1, rho: 3 },
      (c, t, modules) => {
        config = c;
        tensors = t;
        expect(c.peft_type).toBe('LORA');
        const ranks = modules.map((m) => (c.rank_pattern as Record<string, number>)[hfModulePath('llama', m)] ?? (c.r as number));
        expect(new Set(ranks).size, `ranks ${ranks.join(',')}`).toBeGreaterThan(1); // ρ = 3 redistributes on this model
        // The budget of rank r on every target: kept layers' ranks plus the excluded ones' zeros.
        const excluded = (c.exclude_modules as string[] | undefined) ?? [];
        expect(ranks.reduce((a, b) => a + b, 0)).toBe(4 * (modules.length + excluded.length));
        for (const m of modules) expect(t.get(peftKey('llama', m, 'lora_A'))!.shape[0]).toBe(ranks[modules.indexOf(m)]);
      },
      (module, W, out, inF) => loraMerged(config, tensors, module, W, out, inF),
    );
  });

  it(`${vera.id}: VERA folder with the shared projections; W + diag(λ_b) vera_B[:out] diag(λ_d) vera_A[:, :in] as PEFT's get_delta_weight`, async () => {
    let tensors: FolderTensors = new Map();
    const r = 16;
    await roundTrip(
      vera,
      { rank: r },
      (c, t, modules) => {
        tensors = t;
        expect(c.peft_type).toBe('VERA');
        expect(c.r).toBe(r);
        expect(c.save_projection).toBe(true);
        expect(c.d_initial).toBe(0.1);
        expect(c.projection_prng_key).toBe(0);
        // in_max, out_max over the targets: the MLP's 96 on this model.
        expect(t.get(VERA_A_KEY)!.shape).toEqual([r, 96]);
        expect(t.get(VERA_B_KEY)!.shape).toEqual([96, r]);
        expect(t.size).toBe(2 + 2 * modules.length);
      },
      (module, W, out, inF) => {
        const A = tensors.get(VERA_A_KEY)!;
        const Bm = tensors.get(VERA_B_KEY)!.data;
        const inMax = A.shape[1]!;
        const d = tensors.get(veraVectorKey('llama', module, 'vera_lambda_d'))!.data;
        const b = tensors.get(veraVectorKey('llama', module, 'vera_lambda_b'))!.data;
        const merged = W.slice();
        for (let i = 0; i < out; i++)
          for (let k = 0; k < r; k++) {
            const c = b[i]! * Bm[i * r + k]! * d[k]!;
            for (let j = 0; j < inF; j++) merged[i * inF + j]! += c * A.data[k * inMax + j]!;
          }
        return merged;
      },
    );
  });

  it(`${shira.id}: SHIRA folder with shira_weight and int32 shira_indices [2, k]; W[i, j] += value as PEFT's sparse_coo delta`, async () => {
    let tensors: FolderTensors = new Map();
    const r = 4;
    await roundTrip(
      shira,
      { rank: r },
      (c, t, modules) => {
        tensors = t;
        expect(c.peft_type).toBe('SHIRA');
        expect(c.r).toBe(r);
        expect(c.mask_type).toBe('random');
        for (const m of modules) {
          const k = t.get(shiraKey('llama', m, 'shira_weight'))!.shape[0]!;
          expect(t.get(shiraKey('llama', m, 'shira_indices'))!.shape).toEqual([2, k]);
        }
      },
      (module, W, _out, inF) => {
        const values = tensors.get(shiraKey('llama', module, 'shira_weight'))!.data;
        const idx = tensors.get(shiraKey('llama', module, 'shira_indices'))!.data;
        const k = values.length;
        expect(values.some((v) => v !== 0)).toBe(true);
        const merged = W.slice();
        for (let t = 0; t < k; t++) merged[idx[t]! * inF + idx[k + t]!]! += values[t]!;
        return merged;
      },
    );
  });

  it(`${shira.id}: GPT-2's Conv1D projections have no PEFT SHiRA, so the export says so`, async () => {
    const rt = await testContext();
    const model = await modelFiles(rt, 'tiny-gpt2');
    const adapted = await shira.create({ rt, model, targets: selectTargets(model, ['all']), seed: 3, learningRate: 1e-2 }, resolveSettings(shira, { rank: 1 }));
    try {
      await expect(peftAdapter(rt, shira, adapted, 'tiny-gpt2')).rejects.toThrow(/Conv1D/);
    } finally {
      adapted.release(rt);
      releaseModel(rt, model);
    }
  });
});
