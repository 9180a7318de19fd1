// Tests for reading PEFT LoRA adapters: what peft.ts writes reads back exactly (Llama, GPT-2 with
// rsLoRA and fan_in_fan_out), a DoRA adapter with rank and alpha patterns as PEFT writes it, keys
// without the base_model.model. prefix, and every refusal with the message a user sees.

import { describe, expect, it } from 'vitest';
import { bytesSource, type ByteSource } from './byteSource';
import { hfModulePath, peftAdapterFiles, type PeftAdapter } from './peft';
import { openPeftAdapterFiles, parsePeftAdapterConfig, patternValue, readPeftAdapter } from './peftAdapterReader';
import { writeSafetensors, type TensorToWrite } from './safetensors';
import { pseudoRandom } from './testModels';
import { ModelFormatError, UnsupportedModelError } from '../errors';

const encoder = new TextEncoder();

function layer(module: string, r: number, inF: number, outF: number, seed: number) {
  return { module, A: pseudoRandom(r * inF, seed), B: pseudoRandom(outF * r, seed + 1), inFeatures: inF, outFeatures: outF };
}

function folder(files: readonly { name: string; data: Uint8Array }[], dir = 'adapter/'): ByteSource[] {
  return files.map((f) => bytesSource(dir + f.name, f.data));
}

function configSource(config: unknown, name = 'adapter/adapter_config.json'): ByteSource {
  return bytesSource(name, encoder.encode(JSON.stringify(config)));
}

function weightsSource(tensors: TensorToWrite[], name = 'adapter/adapter_model.safetensors'): ByteSource {
  return bytesSource(name, writeSafetensors(tensors));
}

const LORA = { peft_type: 'LORA', r: 2, lora_alpha: 4, target_modules: ['q_proj'] };

function pair(module: string, r: number, inF: number, outF: number, prefix = 'base_model.model.'): TensorToWrite[] {
  return [
    { name: `${prefix}${module}.lora_A.weight`, dtype: 'F32', shape: [r, inF], data: pseudoRandom(r * inF, 1) },
    { name: `${prefix}${module}.lora_B.weight`, dtype: 'F32', shape: [outF, r], data: pseudoRandom(outF * r, 2) },
  ];
}

async function refusal(config: unknown, tensors: TensorToWrite[]): Promise<Error> {
  try {
    await readPeftAdapter(configSource(config), weightsSource(tensors));
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error('expected a refusal');
}

describe('round trip with peft.ts', () => {
  it('reads back a Llama adapter exactly', async () => {
    const adapter: PeftAdapter = {
      family: 'llama',
      baseModel: 'tiny-llama',
      rank: 4,
      alpha: 8,
      useRslora: false,
      layers: [layer('model.layers.0.self_attn.q_proj', 4, 16, 16, 1), layer('model.layers.1.mlp.down_proj', 4, 40, 16, 3)],
    };
    const read = await openPeftAdapterFiles(folder(peftAdapterFiles(adapter)));
    expect(read.config).toMatchObject({
      peftType: 'LORA',
      r: 4,
      loraAlpha: 8,
      useRslora: false,
      useDora: false,
      fanInFanOut: false,
      baseModel: 'tiny-llama',
      taskType: 'CAUSAL_LM',
    });
    expect(read.config.targetModules).toEqual(['down_proj', 'q_proj']);
    expect([...read.layers.keys()]).toEqual(adapter.layers.map((l) => hfModulePath('llama', l.module)));
    for (const written of adapter.layers) {
      const got = read.layers.get(hfModulePath('llama', written.module))!;
      expect(got.A).toEqual(written.A);
      expect(got.B).toEqual(written.B);
      expect([got.rank, got.inFeatures, got.outFeatures, got.alpha, got.scale]).toEqual([4, written.inFeatures, written.outFeatures, 8, 2]);
      expect(got.magnitude).toBeUndefined();
    }
    expect(read.warnings).toEqual([]);
  });

  it('reads back a GPT-2 adapter with rsLoRA and fan_in_fan_out, in nn.Linear factor layouts', async () => {
    const adapter: PeftAdapter = { family: 'gpt2', baseModel: 'gpt2', rank: 2, alpha: 4, useRslora: true, layers: [layer('h.0.attn.c_attn', 2, 16, 48, 5)] };
    const read = await openPeftAdapterFiles(folder(peftAdapterFiles(adapter)));
    expect(read.config.fanInFanOut).toBe(true);
    expect(read.config.useRslora).toBe(true);
    const got = read.layers.get('transformer.h.0.attn.c_attn')!;
    expect([got.rank, got.inFeatures, got.outFeatures]).toEqual([2, 16, 48]);
    expect(got.scale).toBeCloseTo(4 / Math.SQRT2, 12);
    expect(got.A).toEqual(adapter.layers[0]!.A);
    expect(got.B).toEqual(adapter.layers[0]!.B);
  });
});

describe('PEFT files', () => {
  it('reads DoRA magnitudes (both key spellings), F16 factors, rank_pattern and alpha_pattern', async () => {
    const q = 'model.layers.0.self_attn.q_proj';
    const k = 'model.layers.0.self_attn.k_proj';
    const tensors: TensorToWrite[] = [
      { name: `base_model.model.${q}.lora_A.weight`, dtype: 'F16', shape: [2, 16], data: pseudoRandom(32, 1) },
      { name: `base_model.model.${q}.lora_B.weight`, dtype: 'F16', shape: [16, 2], data: pseudoRandom(32, 2) },
      { name: `base_model.model.${q}.lora_magnitude_vector`, dtype: 'F32', shape: [16], data: pseudoRandom(16, 3) },
      { name: `base_model.model.${k}.lora_A.weight`, dtype: 'BF16', shape: [4, 16], data: pseudoRandom(64, 4) },
      { name: `base_model.model.${k}.lora_B.weight`, dtype: 'BF16', shape: [8, 4], data: pseudoRandom(32, 5) },
      { name: `base_model.model.${k}.lora_magnitude_vector.weight`, dtype: 'F32', shape: [8], data: pseudoRandom(8, 6) },
    ];
    const config = { ...LORA, r: 4, lora_alpha: 8, use_dora: true, rank_pattern: { q_proj: 2 }, alpha_pattern: { [k]: 16 } };
    const read = await readPeftAdapter(configSource(config), weightsSource(tensors));
    const gq = read.layers.get(q)!;
    const gk = read.layers.get(k)!;
    expect([gq.rank, gq.alpha, gq.scale]).toEqual([2, 8, 4]);
    expect([gk.rank, gk.alpha, gk.scale]).toEqual([4, 16, 4]);
    expect(gq.magnitude).toEqual(pseudoRandom(16, 3));
    expect(gk.magnitude).toEqual(pseudoRandom(8, 6));
    // F16 rounds the factors: within half an f16 ulp of [-0.5, 0.5) values.
    gq.A.forEach((v, i) => expect(Math.abs(v - pseudoRandom(32, 1)[i]!)).toBeLessThan(2 ** -11));
  });

  it('reads keys without the base_model.model. prefix (transformers-saved adapters)', async () => {
    const read = await readPeftAdapter(configSource(LORA), weightsSource(pair('model.layers.0.self_attn.q_proj', 2, 8, 8, '')));
    expect([...read.layers.keys()]).toEqual(['model.layers.0.self_attn.q_proj']);
  });

  it('matches pattern keys as PEFT does: the whole name or a dotted suffix', () => {
    const pattern = { q_proj: 2, 'layers.1.self_attn.v_proj': 8 };
    expect(patternValue(pattern, 'model.layers.0.self_attn.q_proj')).toBe(2);
    expect(patternValue(pattern, 'model.layers.1.self_attn.v_proj')).toBe(8);
    expect(patternValue(pattern, 'model.layers.0.self_attn.v_proj')).toBeUndefined();
    expect(patternValue(pattern, 'model.layers.0.self_attn.xq_proj')).toBeUndefined();
  });

  it('warns about an unconverted PiSSA adapter', async () => {
    const read = await readPeftAdapter(configSource({ ...LORA, init_lora_weights: 'pissa_niter_4' }), weightsSource(pair('m.q_proj', 2, 4, 4)));
    expect(read.warnings[0]).toContain('init_lora_weights "pissa_niter_4"');
  });
});

describe('refusals', () => {
  it('refuses other PEFT types by name', async () => {
    const error = await refusal({ peft_type: 'LOHA', r: 8 }, pair('m.q_proj', 2, 4, 4));
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect(error.message).toBe(
      "adapter/adapter_config.json: peft_type 'LOHA' is not supported; Adapter Studio reads LoRA adapters " +
        '(peft_type "LORA", including rsLoRA and DoRA), not LoHa, LoKr, IA³, prompt tuning or other PEFT types',
    );
  });

  it('checks the config fields, naming each', () => {
    const bad = (config: unknown): string => {
      try {
        parsePeftAdapterConfig(config, 'a/adapter_config.json');
      } catch (error) {
        if (error instanceof ModelFormatError) return error.message;
      }
      throw new Error('expected a ModelFormatError');
    };
    expect(bad([])).toBe('a/adapter_config.json: must be a JSON object with "peft_type", "r" and "lora_alpha"');
    expect(bad({ r: 8 })).toBe('a/adapter_config.json: "peft_type" is missing; a PEFT LoRA adapter says "peft_type": "LORA"');
    expect(bad({ ...LORA, r: 0 })).toBe('a/adapter_config.json: "r" must be a whole number from 1 to 65536, found 0');
    expect(bad({ ...LORA, lora_alpha: 'x' })).toBe('a/adapter_config.json: "lora_alpha" must be a finite number, found "x"');
    expect(bad({ ...LORA, use_dora: 'yes' })).toBe('a/adapter_config.json: "use_dora" must be true or false, found "yes"');
    expect(bad({ ...LORA, rank_pattern: { q_proj: 2.5 } })).toBe(
      `a/adapter_config.json: "rank_pattern" entry 'q_proj' must be a whole number from 1 to 65536, found 2.5`,
    );
    expect(bad({ ...LORA, rank_pattern: { '(a+)+$': 4 } })).toContain(`"rank_pattern" key '(a+)+$' is a regular expression`);
    expect(bad({ ...LORA, target_modules: [1] })).toBe('a/adapter_config.json: "target_modules" must be a list of module names or one pattern, found [1]');
  });

  it('checks every factor against the config and against each other', async () => {
    const m = 'model.layers.0.self_attn.q_proj';
    expect((await refusal({ ...LORA, r: 4 }, pair(m, 2, 8, 8))).message).toBe(
      `adapter/adapter_model.safetensors: module '${m}': the factors have rank 2 but adapter/adapter_config.json says 4 ("r"); the config and the weights do not belong together`,
    );
    const [A, B] = pair(m, 2, 8, 8);
    expect((await refusal(LORA, [A!])).message).toBe(
      `adapter/adapter_model.safetensors: module '${m}': has lora_A but no lora_B; every adapted module needs both factors`,
    );
    expect((await refusal(LORA, [A!, { ...B!, shape: [8, 3], data: pseudoRandom(24, 1) }])).message).toContain(
      'lora_A [2, 8] has rank 2 but lora_B [8, 3] has rank 3',
    );
    expect((await refusal(LORA, [{ ...A!, shape: [2, 2, 4] }, B!])).message).toContain('lora_A must be a matrix [r, in], found shape [2, 2, 4]');
    const magnitude: TensorToWrite = { name: `base_model.model.${m}.lora_magnitude_vector`, dtype: 'F32', shape: [8], data: pseudoRandom(8, 3) };
    expect((await refusal(LORA, [A!, B!, magnitude])).message).toContain(
      'has a DoRA lora_magnitude_vector but adapter/adapter_config.json does not set use_dora',
    );
    expect((await refusal({ ...LORA, use_dora: true }, [A!, B!])).message).toContain('sets use_dora but the module has no lora_magnitude_vector');
    expect((await refusal({ ...LORA, use_dora: true }, [A!, B!, { ...magnitude, shape: [4], data: pseudoRandom(4, 1) }])).message).toContain(
      'the DoRA magnitude vector must have shape [8] (one value per output), found [4]',
    );
  });

  it('refuses tensors it cannot apply, naming them', async () => {
    const withExtra = (t: TensorToWrite): Promise<Error> => refusal(LORA, [...pair('m.q_proj', 2, 4, 4), t]);
    expect((await withExtra({ name: 'base_model.model.lm_head.weight', dtype: 'F32', shape: [2], data: new Float32Array(2) })).message).toBe(
      "adapter/adapter_model.safetensors: tensor 'base_model.model.lm_head.weight' is not a LoRA factor (lora_A, lora_B or a DoRA " +
        'lora_magnitude_vector); adapters with modules_to_save are not supported',
    );
    expect((await withExtra({ name: 'base_model.model.embed.lora_embedding_A', dtype: 'F32', shape: [2], data: new Float32Array(2) })).message).toContain(
      'a LoRA on an embedding layer',
    );
    expect(
      (await withExtra({ name: 'base_model.model.m.k_proj.lora_A.default.weight', dtype: 'F32', shape: [2], data: new Float32Array(2) })).message,
    ).toContain('carries an adapter name');
    const int = await refusal(LORA, [{ ...pair('m.q_proj', 2, 4, 4)[0]!, dtype: 'I32', data: new Uint8Array(32) }, pair('m.q_proj', 2, 4, 4)[1]!]);
    expect(int).toBeInstanceOf(UnsupportedModelError);
    expect(int.message).toContain('has dtype I32; LoRA factors must be F32, F16, BF16');
    expect((await refusal(LORA, [])).message).toContain('holds no LoRA tensors');
  });

  it('never opens a pickle adapter_model.bin and says what to do', async () => {
    const files = [configSource(LORA), bytesSource('adapter/adapter_model.bin', new Uint8Array([0x80, 0x02]))];
    await expect(openPeftAdapterFiles(files)).rejects.toThrow(
      'adapter/adapter_config.json: found only adapter_model.bin, a pickle file, which Adapter Studio never opens (unpickling can run code); ' +
        'save the adapter with safe_serialization=True to get adapter_model.safetensors',
    );
    await expect(openPeftAdapterFiles([weightsSource(pair('m.q_proj', 2, 4, 4))])).rejects.toThrow(/no adapter_config\.json among the files given/);
  });
});
