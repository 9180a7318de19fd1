// Tests for finding and checking a model folder: tiny GPT-2/Llama/Qwen2/Mistral folders, single
// and sharded, f32/f16/bf16, with and without GPT-2's `transformer.` prefix, from memory and
// from a Node directory; and every refusal (pickles, missing/mismatched tensors, broken index).

import { describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bytesSource, type ByteSource } from './byteSource';
import { openModelFiles, readModelTensorAsF32 } from './modelFiles';
import { nodeDirectorySources } from './nodeSource';
import { decodeBf16, encodeBf16, writeSafetensors } from './safetensors';
import { pseudoRandom, tinyConfigJson, tinyModelFolder, tinyModelTensors } from './testModels';
import { ModelFormatError, UnsupportedModelError } from '../errors';

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  const result = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(result instanceof Error)) throw new Error('expected the promise to reject');
  return result;
}

function json(name: string, value: unknown): ByteSource {
  return bytesSource(name, new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value)));
}

function replace(files: ByteSource[], replacement: ByteSource): ByteSource[] {
  return files.map((f) => (f.name === replacement.name ? replacement : f));
}

describe('openModelFiles: good folders', () => {
  it('opens a GPT-2 folder and streams its tensors exactly', async () => {
    const config = tinyConfigJson('gpt2');
    const model = await openModelFiles(tinyModelFolder(config));
    expect(model.root).toBe('');
    expect(model.config.family).toBe('gpt2');
    expect(model.tensors).toHaveLength(2 + 2 * 12 + 2);
    expect(model.dtypes).toEqual({ F32: 28 });
    expect(model.weightFiles).toHaveLength(1);
    expect(model.indexFile).toBeNull();
    expect(model.warnings).toEqual([]);
    expect(model.unusedTensors).toEqual([]);
    expect(model.tokenizer.tokenizerJson?.name).toBe('tokenizer.json');
    expect(model.tokenizer.tokenizerConfig?.name).toBe('tokenizer_config.json');
    expect(model.tokenizer.mergesTxt).toBeNull();
    const cAttn = model.tensorByName.get('h.1.attn.c_attn.weight')!;
    expect(cAttn).toMatchObject({ storedName: 'h.1.attn.c_attn.weight', shape: [16, 48], dtype: 'F32', layer: 1 });
    const index = model.tensors.indexOf(cAttn);
    expect(await readModelTensorAsF32(cAttn)).toEqual(pseudoRandom(16 * 48, 7919 + index));
    expect(model.weightBytes).toBe(model.tensors.reduce((n, t) => n + t.info.byteLength, 0));
  });

  it('accepts the transformer. prefix and ignores attn.bias / attn.masked_bias buffers', async () => {
    const config = tinyConfigJson('gpt2');
    const buffers = [0, 1].flatMap((i) => [
      { name: `transformer.h.${i}.attn.bias`, dtype: 'F32' as const, shape: [1, 1, 16, 16], data: new Float32Array(256) },
      { name: `transformer.h.${i}.attn.masked_bias`, dtype: 'F32' as const, shape: [], data: new Float32Array([-1e4]) },
    ]);
    const model = await openModelFiles(tinyModelFolder(config, { namePrefix: 'transformer.', extraTensors: buffers }));
    expect(model.tensorByName.get('wte.weight')!.storedName).toBe('transformer.wte.weight');
    expect(model.unusedTensors).toEqual([]);
    expect(model.warnings).toEqual([]);
  });

  it('opens a sharded bf16 Llama inside a folder', async () => {
    const config = tinyConfigJson('llama');
    const files = tinyModelFolder(config, { dtype: 'BF16', shards: 3, folder: 'SmolLM-tiny/' });
    const model = await openModelFiles(files);
    expect(model.root).toBe('SmolLM-tiny/');
    expect(model.indexFile?.name).toBe('SmolLM-tiny/model.safetensors.index.json');
    expect(model.weightFiles.map((w) => w.source.name)).toEqual([
      'SmolLM-tiny/model-00001-of-00003.safetensors',
      'SmolLM-tiny/model-00002-of-00003.safetensors',
      'SmolLM-tiny/model-00003-of-00003.safetensors',
    ]);
    expect(new Set(model.tensors.map((t) => t.source.name)).size).toBe(3);
    expect(model.dtypes).toEqual({ BF16: model.tensors.length });
    const last = model.tensors.at(-1)!;
    expect(last.name).toBe('model.norm.weight');
    const expected = tinyModelTensors(config).at(-1)!.data as Float32Array;
    expect(await readModelTensorAsF32(last)).toEqual(decodeBf16(encodeBf16(expected)));
    expect(model.tensorByName.get('model.layers.1.self_attn.k_proj.weight')!.shape).toEqual([8, 16]);
  });

  it('needs the q/k/v biases of Qwen2 and reads f16', async () => {
    const model = await openModelFiles(tinyModelFolder(tinyConfigJson('qwen2'), { dtype: 'F16' }));
    expect(model.tensorByName.get('model.layers.0.self_attn.q_proj.bias')!.shape).toEqual([16]);
    expect(model.tensorByName.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
    expect(model.dtypes).toEqual({ F16: model.tensors.length });
  });

  it('reads a model folder from disk through the Node source', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'adapter-studio-model-'));
    try {
      for (const file of tinyModelFolder(tinyConfigJson('mistral'), { shards: 2 })) {
        await writeFile(join(dir, file.name), await file.read(0, file.size));
      }
      await writeFile(join(dir, 'pytorch_model.bin'), 'not read');
      const model = await openModelFiles(await nodeDirectorySources(dir));
      expect(model.config.modelType).toBe('mistral');
      expect(model.tensorByName.has('lm_head.weight')).toBe(true);
      expect(model.warnings.join('\n')).toMatch(/pickle files were not opened.*pytorch_model\.bin/);
      const head = model.tensorByName.get('lm_head.weight')!;
      expect((await readModelTensorAsF32(head)).length).toBe(32 * 16);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('does not warn about a stored lm_head when embeddings are tied, but reports other extras', async () => {
    const config = tinyConfigJson('llama');
    const extra = [
      { name: 'lm_head.weight', dtype: 'F32' as const, shape: [32, 16], data: new Float32Array(512) },
      { name: 'model.layers.0.self_attn.rotary_emb.inv_freq', dtype: 'F32' as const, shape: [2], data: new Float32Array(2) },
      { name: 'score.weight', dtype: 'F32' as const, shape: [2, 16], data: new Float32Array(32) },
    ];
    const model = await openModelFiles(tinyModelFolder(config, { extraTensors: extra }));
    expect(model.unusedTensors).toEqual(['lm_head.weight', 'score.weight']);
    expect(model.warnings).toEqual(['1 tensors in the weights are not used by this architecture: score.weight']);
  });

  it('picks the shallowest config.json and only its folder', async () => {
    const files = [...tinyModelFolder(tinyConfigJson('gpt2'), { folder: 'gpt2/' }), json('gpt2/onnx/config.json', { model_type: 'bert' })];
    expect((await openModelFiles(files)).root).toBe('gpt2/');
  });
});

describe('openModelFiles: refusals', () => {
  it('refuses pickle-only folders, explaining why and how to convert', async () => {
    const files = [json('config.json', tinyConfigJson('gpt2')), bytesSource('pytorch_model.bin', new Uint8Array(10))];
    const error = await errorOf(openModelFiles(files));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(/pytorch_model\.bin/);
    expect(error.message).toMatch(/run arbitrary code/);
    expect(error.message).toContain('save_pretrained(folder, safe_serialization=True)');
    for (const name of ['model.pt', 'weights.pth', 'last.ckpt']) {
      await expect(openModelFiles([files[0]!, bytesSource(name, new Uint8Array(1))])).rejects.toThrow(/never loads pickle/);
    }
  });

  it('says what is missing when there is no config.json, and recognises an adapter folder', async () => {
    await expect(openModelFiles([bytesSource('model.safetensors', writeSafetensors([]))])).rejects.toThrow(
      /no config\.json among the 1 files given \(model\.safetensors\)/,
    );
    await expect(openModelFiles([json('adapter_config.json', {}), bytesSource('adapter_model.safetensors', writeSafetensors([]))])).rejects.toThrow(
      /PEFT adapter folder/,
    );
    await expect(openModelFiles([json('config.json', tinyConfigJson('gpt2'))])).rejects.toThrow(/no weights found/);
  });

  it('refuses a selection with several models', async () => {
    const files = [...tinyModelFolder(tinyConfigJson('gpt2'), { folder: 'a/' }), ...tinyModelFolder(tinyConfigJson('llama'), { folder: 'b/' })];
    await expect(openModelFiles(files)).rejects.toThrow(/several models \(a\/config\.json, b\/config\.json\)/);
  });

  it('passes config errors through with the file name', async () => {
    const files = replace(
      tinyModelFolder(tinyConfigJson('gpt2'), { folder: 'm/' }),
      json('m/config.json', { ...tinyConfigJson('gpt2'), model_type: 't5', architectures: ['T5ForConditionalGeneration'] }),
    );
    const error = await errorOf(openModelFiles(files));
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect(error.message).toMatch(/^m\/config\.json: model_type 't5' is not supported/);
    const broken = replace(files, json('m/config.json', '{"model_type": "gpt2",'));
    await expect(openModelFiles(broken)).rejects.toThrow(/m\/config\.json: is not valid JSON/);
  });

  it('names a missing tensor, its shape and the file', async () => {
    const config = tinyConfigJson('gpt2');
    const tensors = tinyModelTensors(config).filter((t) => t.name !== 'h.1.mlp.c_fc.bias');
    const files = replace(tinyModelFolder(config), bytesSource('model.safetensors', writeSafetensors(tensors)));
    const error = await errorOf(openModelFiles(files));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toBe("model.safetensors: tensor 'h.1.mlp.c_fc.bias' with shape [64] is missing (also looked for 'transformer.h.1.mlp.c_fc.bias')");
  });

  it('explains a missing lm_head when the config unties embeddings', async () => {
    const config = tinyConfigJson('mistral');
    const tensors = tinyModelTensors(config).filter((t) => t.name !== 'lm_head.weight');
    const files = replace(tinyModelFolder(config), bytesSource('model.safetensors', writeSafetensors(tensors)));
    await expect(openModelFiles(files)).rejects.toThrow(/'lm_head\.weight' with shape \[32, 16\] is missing.*tie_word_embeddings is false/);
  });

  it('names a tensor with the wrong shape, the expected and found shapes, and the file', async () => {
    const config = tinyConfigJson('llama');
    const tensors = tinyModelTensors(config).map((t) => (t.name === 'model.layers.1.self_attn.v_proj.weight' ? { ...t, shape: [16, 8] } : t));
    const files = replace(tinyModelFolder(config, { folder: 'x/' }), bytesSource('x/model.safetensors', writeSafetensors(tensors)));
    const error = await errorOf(openModelFiles(files));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toMatch(
      /^x\/model\.safetensors: tensor 'model\.layers\.1\.self_attn\.v_proj\.weight' has shape \[16, 8\] but config\.json implies \[8, 16\]/,
    );
  });

  it('refuses non-float weights as unsupported', async () => {
    const config = tinyConfigJson('gpt2');
    const tensors = tinyModelTensors(config).map((t) => (t.name === 'wpe.weight' ? { ...t, dtype: 'I8' as const, data: new Uint8Array(16 * 16) } : t));
    const files = replace(tinyModelFolder(config), bytesSource('model.safetensors', writeSafetensors(tensors)));
    const error = await errorOf(openModelFiles(files));
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect(error.message).toMatch(/model\.safetensors: tensor 'wpe\.weight' has dtype I8; model weights must be F32, F16, BF16/);
  });

  it('passes corrupt safetensors errors through, naming the shard', async () => {
    const files = tinyModelFolder(tinyConfigJson('llama'), { shards: 2 });
    const shard = files.find((f) => f.name === 'model-00002-of-00002.safetensors')!;
    const truncated = bytesSource(shard.name, (await shard.read(0, shard.size)).subarray(0, shard.size - 3));
    await expect(openModelFiles(replace(files, truncated))).rejects.toThrow(/^model-00002-of-00002\.safetensors: .*run past the end/);
  });

  describe('sharded index validation', () => {
    const config = tinyConfigJson('llama');
    const files = tinyModelFolder(config, { shards: 2 });
    const indexFile = files.find((f) => f.name === 'model.safetensors.index.json')!;
    const readIndex = async () => JSON.parse(new TextDecoder().decode(await indexFile.read(0, indexFile.size))) as { weight_map: Record<string, string> };

    it('refuses a missing shard', async () => {
      const without = files.filter((f) => f.name !== 'model-00002-of-00002.safetensors');
      await expect(openModelFiles(without)).rejects.toThrow(
        /model\.safetensors\.index\.json: the index needs shard files that were not given: model-00002-of-00002\.safetensors/,
      );
    });

    it('refuses a weight_map that is missing or not a map of strings', async () => {
      await expect(openModelFiles(replace(files, json(indexFile.name, { metadata: {} })))).rejects.toThrow(/"weight_map" must be an object/);
      await expect(openModelFiles(replace(files, json(indexFile.name, { weight_map: { a: 3 } })))).rejects.toThrow(/"weight_map" must be an object/);
      await expect(openModelFiles(replace(files, json(indexFile.name, { weight_map: {} })))).rejects.toThrow(/"weight_map" is empty/);
      await expect(openModelFiles(replace(files, json(indexFile.name, '{"weight_map": ')))).rejects.toThrow(/index\.json: is not valid JSON/);
    });

    it('refuses an index that maps a tensor to a shard that lacks it', async () => {
      const index = await readIndex();
      index.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
      const error = await errorOf(openModelFiles(replace(files, json(indexFile.name, index))));
      expect(error.message).toMatch(/^model-00001-of-00002\.safetensors: .*maps tensor 'model\.norm\.weight' to this shard/);
    });

    it('refuses an index that does not map a needed tensor', async () => {
      const index = await readIndex();
      delete index.weight_map['model.embed_tokens.weight'];
      const error = await errorOf(openModelFiles(replace(files, json(indexFile.name, index))));
      expect(error.message).toMatch(/^model\.safetensors\.index\.json: tensor 'model\.embed_tokens\.weight' with shape \[32, 16\] is missing/);
    });

    it('refuses shards without their index', async () => {
      await expect(openModelFiles(files.filter((f) => f !== indexFile))).rejects.toThrow(
        /found model-00001-of-00002\.safetensors, model-00002-of-00002\.safetensors but no model\.safetensors or model\.safetensors\.index\.json/,
      );
    });
  });
});
