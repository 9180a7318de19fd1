// The PEFT folder writers beyond plain LoRA, as pure data: LoRA's per-layer rank_pattern /
// alpha_pattern / exclude_modules (EVA), VeRA's projections and vectors, SHiRA's values and
// int32 [2, k] indices; what each refuses. The trained round trips are in train/export.test.ts.

import { describe, expect, it } from 'vitest';
import { bytesSource } from './byteSource';
import { peftAdapterFiles, peftSummary, type PeftAdapter } from './peft';
import { readPeftAdapter } from './peftAdapterReader';
import { shiraAdapterFiles, shiraKey } from './peftShira';
import { VERA_A_KEY, VERA_B_KEY, veraAdapterFiles, veraVectorKey } from './peftVera';
import { parseSafetensorsHeader, readAllTensorsAsF32 } from './safetensors';

const decoder = new TextDecoder();

function configOf(files: readonly { name: string; data: Uint8Array }[]): Record<string, unknown> {
  return JSON.parse(decoder.decode(files.find((f) => f.name === 'adapter_config.json')!.data)) as Record<string, unknown>;
}

function weightsOf(files: readonly { name: string; data: Uint8Array }[]) {
  return bytesSource('adapter_model.safetensors', files.find((f) => f.name === 'adapter_model.safetensors')!.data);
}

const q0 = 'model.layers.0.self_attn.q_proj';
const q1 = 'model.layers.1.self_attn.q_proj';
const v0 = 'model.layers.0.self_attn.v_proj';

describe('LoRA with per-layer ranks (EVA)', () => {
  const adapter: PeftAdapter = {
    family: 'llama',
    baseModel: 'tiny',
    rank: 2,
    alpha: 4,
    useRslora: false,
    layers: [
      { module: q0, A: new Float32Array(3 * 4).fill(1), B: new Float32Array(5 * 3).fill(2), inFeatures: 4, outFeatures: 5, rank: 3, alpha: 6 },
      { module: v0, A: new Float32Array(2 * 4).fill(3), B: new Float32Array(5 * 2).fill(4), inFeatures: 4, outFeatures: 5 },
    ],
    excludeModules: [q1],
  };

  it('writes rank_pattern, alpha_pattern and exclude_modules by the module path in the base model, and the reader applies them', async () => {
    const files = peftAdapterFiles(adapter);
    const config = configOf(files);
    expect(config.rank_pattern).toEqual({ [q0]: 3 });
    expect(config.alpha_pattern).toEqual({ [q0]: 6 });
    expect(config.exclude_modules).toEqual([q1]);
    expect(config.target_modules).toEqual(['q_proj', 'v_proj']);
    const header = await parseSafetensorsHeader(weightsOf(files));
    expect(header.tensors.get(`base_model.model.${q0}.lora_A.weight`)?.shape).toEqual([3, 4]);
    expect(header.tensors.get(`base_model.model.${v0}.lora_B.weight`)?.shape).toEqual([5, 2]);
    const read = await readPeftAdapter(bytesSource('adapter_config.json', files[0]!.data), weightsOf(files));
    expect(read.layers.get(q0)).toMatchObject({ rank: 3, alpha: 6, scale: 2 });
    expect(read.layers.get(v0)).toMatchObject({ rank: 2, alpha: 4, scale: 2 });
    expect(peftSummary(adapter)).toBe('PEFT LoRA: r 2, lora_alpha 4, 2 modules (1 with their own rank)');
  });

  it('leaves exclude_modules out when nothing is excluded (older PEFT versions read the file), and checks factor sizes against the layer rank', () => {
    const config = configOf(peftAdapterFiles({ ...adapter, excludeModules: [] }));
    expect('exclude_modules' in config).toBe(false);
    expect(() => peftAdapterFiles({ ...adapter, layers: [{ ...adapter.layers[0]!, rank: 2 }] })).toThrow(/do not match rank 2/);
  });
});

describe('VeRA folder', () => {
  const r = 2;
  const adapter = {
    family: 'llama' as const,
    baseModel: 'tiny',
    rank: r,
    A: Float32Array.from({ length: r * 6 }, (_, i) => i),
    B: Float32Array.from({ length: 5 * r }, (_, i) => -i),
    inMax: 6,
    outMax: 5,
    projectionPrngKey: 3,
    dInitial: 0.1,
    layers: [
      { module: q0, inFeatures: 6, outFeatures: 5, d: Float32Array.from([0.1, 0.2]), b: new Float32Array(5).fill(0.5) },
      { module: v0, inFeatures: 4, outFeatures: 3, d: Float32Array.from([0.3, 0.4]), b: new Float32Array(3).fill(0.25) },
    ],
  };

  it('holds vera_A, vera_B once and λ_d, λ_b per module, with PEFT’s config fields', async () => {
    const folder = veraAdapterFiles(adapter);
    expect(folder.peftType).toBe('VERA');
    expect(peftAdapterFiles(folder)).toEqual([...folder.files]);
    expect(configOf(folder.files)).toMatchObject({
      peft_type: 'VERA',
      r,
      projection_prng_key: 3,
      save_projection: true,
      d_initial: 0.1,
      fan_in_fan_out: false,
      target_modules: ['q_proj', 'v_proj'],
    });
    const { tensors } = await readAllTensorsAsF32(weightsOf(folder.files));
    expect([...tensors.keys()].sort()).toEqual(
      [
        VERA_A_KEY,
        VERA_B_KEY,
        veraVectorKey('llama', q0, 'vera_lambda_b'),
        veraVectorKey('llama', q0, 'vera_lambda_d'),
        veraVectorKey('llama', v0, 'vera_lambda_b'),
        veraVectorKey('llama', v0, 'vera_lambda_d'),
      ].sort(),
    );
    expect(tensors.get(VERA_A_KEY)!.shape).toEqual([r, 6]);
    expect(Array.from(tensors.get(veraVectorKey('llama', v0, 'vera_lambda_b'))!.data)).toEqual([0.25, 0.25, 0.25]);
    expect(
      configOf(veraAdapterFiles({ ...adapter, family: 'gpt2', layers: [{ ...adapter.layers[0]!, module: 'h.0.attn.c_attn' }] }).files).fan_in_fan_out,
    ).toBe(true);
  });

  it('refuses layers wider than the projections and vectors of the wrong size', () => {
    expect(() => veraAdapterFiles({ ...adapter, layers: [{ ...adapter.layers[0]!, inFeatures: 7 }] })).toThrow(/exceeds/);
    expect(() => veraAdapterFiles({ ...adapter, layers: [{ ...adapter.layers[0]!, d: new Float32Array(3) }] })).toThrow(/λ_d/);
  });
});

describe('SHiRA folder', () => {
  const adapter = {
    family: 'llama' as const,
    baseModel: 'tiny',
    rank: 1,
    maskType: 'random',
    randomSeed: 5,
    layers: [{ module: q0, inFeatures: 4, outFeatures: 3, indices: Uint32Array.from([1, 4, 6, 11]), values: Float32Array.from([0.5, -1, 2, 3]) }],
  };

  it('writes shira_weight [k] and int32 shira_indices [2, k] (rows, then columns)', async () => {
    const folder = shiraAdapterFiles(adapter);
    expect(configOf(folder.files)).toMatchObject({
      peft_type: 'SHIRA',
      r: 1,
      mask_type: 'random',
      random_seed: 5,
      fan_in_fan_out: false,
      target_modules: ['q_proj'],
    });
    const header = await parseSafetensorsHeader(weightsOf(folder.files));
    expect(header.tensors.get(shiraKey('llama', q0, 'shira_indices'))).toMatchObject({ dtype: 'I32', shape: [2, 4] });
    const { tensors } = await readAllTensorsAsF32(weightsOf(folder.files));
    expect(Array.from(tensors.get(shiraKey('llama', q0, 'shira_indices'))!.data)).toEqual([0, 1, 1, 2, 1, 0, 2, 3]);
    expect(Array.from(tensors.get(shiraKey('llama', q0, 'shira_weight'))!.data)).toEqual([0.5, -1, 2, 3]);
    expect(folder.summary).toContain('4 trained entries');
  });

  it('refuses GPT-2 (no PEFT SHiRA for Conv1D) and unordered or out-of-range positions', () => {
    expect(() => shiraAdapterFiles({ ...adapter, family: 'gpt2' })).toThrow(/Conv1D/);
    expect(() => shiraAdapterFiles({ ...adapter, layers: [{ ...adapter.layers[0]!, indices: Uint32Array.from([4, 1, 6, 11]) }] })).toThrow(/ascending/);
    expect(() => shiraAdapterFiles({ ...adapter, layers: [{ ...adapter.layers[0]!, indices: Uint32Array.from([1, 4, 6, 12]) }] })).toThrow(/inside/);
  });
});
