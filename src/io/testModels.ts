// Tiny Hugging Face model folders built in memory (config.json + safetensors, single or sharded,
// deterministic pseudo-random weights) for tests and fixture generators. Shapes come from
// expectedTensors(), so a folder is always consistent with its config unless a test breaks it on
// purpose. Not for real weights: values are uniform in [-0.5, 0.5).

import { bytesSource, type ByteSource } from './byteSource';
import { expectedTensors, parseModelConfig } from './hfConfig';
import { writeSafetensors, type Dtype, type TensorToWrite } from './safetensors';

/** config.json contents of a tiny model of each supported type (C 16, L 2, H 4, V 32, P 16). */
export function tinyConfigJson(modelType: 'gpt2' | 'llama' | 'mistral' | 'qwen2'): Record<string, unknown> {
  if (modelType === 'gpt2') {
    return {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      n_embd: 16,
      n_layer: 2,
      n_head: 4,
      n_positions: 16,
      vocab_size: 32,
      layer_norm_epsilon: 1e-5,
      activation_function: 'gelu_new',
      bos_token_id: 0,
      eos_token_id: 0,
    };
  }
  const architectures = { llama: 'LlamaForCausalLM', mistral: 'MistralForCausalLM', qwen2: 'Qwen2ForCausalLM' };
  return {
    architectures: [architectures[modelType]],
    model_type: modelType,
    hidden_size: 16,
    intermediate_size: 40,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 16,
    vocab_size: 32,
    rms_norm_eps: 1e-6,
    rope_theta: 10000,
    tie_word_embeddings: modelType !== 'mistral',
    hidden_act: 'silu',
    rope_scaling: null,
  };
}

export interface TinyModelOptions {
  /** Weight dtype (default F32). */
  readonly dtype?: Dtype;
  /** Split into this many shards with model.safetensors.index.json (default 1: model.safetensors). */
  readonly shards?: number;
  /** Prefix every tensor name (GPT-2 checkpoints saved from GPT2LMHeadModel use 'transformer.'). */
  readonly namePrefix?: string;
  /** Extra tensors to store (e.g. GPT-2's attn.bias buffers). */
  readonly extraTensors?: readonly TensorToWrite[];
  /** Folder prefix for every file name, e.g. 'tiny-gpt2/'. */
  readonly folder?: string;
  readonly seed?: number;
}

/** Deterministic values in [-0.5, 0.5). */
export function pseudoRandom(count: number, seed: number): Float32Array {
  const out = new Float32Array(count);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** The weights the config needs, in expectedTensors() order. */
export function tinyModelTensors(config: Record<string, unknown>, options: TinyModelOptions = {}): TensorToWrite[] {
  const parsed = parseModelConfig(config);
  return expectedTensors(parsed).map((t, i) => ({
    name: `${options.namePrefix ?? ''}${t.name}`,
    dtype: options.dtype ?? 'F32',
    shape: t.shape,
    data: pseudoRandom(
      t.shape.reduce((a, b) => a * b, 1),
      (options.seed ?? 1) * 7919 + i,
    ),
  }));
}

/** A model folder as ByteSources: config.json, weights, and a minimal tokenizer.json. */
export function tinyModelFolder(config: Record<string, unknown>, options: TinyModelOptions = {}): ByteSource[] {
  const folder = options.folder ?? '';
  const text = (name: string, value: unknown): ByteSource => bytesSource(folder + name, new TextEncoder().encode(JSON.stringify(value, null, 2)));
  const tensors = [...tinyModelTensors(config, options), ...(options.extraTensors ?? [])];
  const files: ByteSource[] = [
    text('config.json', config),
    text('tokenizer.json', { version: '1.0', model: { type: 'BPE', vocab: {}, merges: [] } }),
    text('tokenizer_config.json', {}),
  ];
  const shards = options.shards ?? 1;
  if (shards <= 1) {
    files.push(bytesSource(`${folder}model.safetensors`, writeSafetensors(tensors, { format: 'pt' })));
    return files;
  }
  const weightMap: Record<string, string> = {};
  const perShard = Math.ceil(tensors.length / shards);
  for (let s = 0; s < shards; s++) {
    const name = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = tensors.slice(s * perShard, (s + 1) * perShard);
    for (const t of part) weightMap[t.name] = name;
    files.push(bytesSource(folder + name, writeSafetensors(part, { format: 'pt' })));
  }
  const totalSize = files.slice(3).reduce((n, f) => n + f.size, 0);
  files.push(text('model.safetensors.index.json', { metadata: { total_size: totalSize }, weight_map: weightMap }));
  return files;
}
