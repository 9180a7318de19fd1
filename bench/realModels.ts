// Random-weight copies of real model folders for `npm run bench -- --models`: each model's real
// config.json values (typed in here from the Hugging Face repositories; nothing is fetched) and
// every tensor with its real name, shape and dtype, written to a temporary folder as safetensors
// shards (≤ 1 GiB each, with model.safetensors.index.json when there are several). Values are
// random (matrices uniform with std ≈ 0.02, norm scales 1, or 0 for Gemma's (1 + w) norms, biases
// 0): the bench measures load time, memory and step time, not what the model says.

import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { expectedTensors, parseModelConfig, type ExpectedTensor } from '../src/io/hfConfig';

export interface RealModelSpec {
  /** The name given to --models. */
  readonly id: string;
  /** The Hugging Face repository the config comes from. */
  readonly repo: string;
  /** The checkpoint's dtype (config torch_dtype). */
  readonly dtype: 'F32' | 'BF16';
  readonly config: Record<string, unknown>;
}

export const REAL_MODELS: readonly RealModelSpec[] = [
  {
    id: 'gpt2-124m',
    repo: 'openai-community/gpt2',
    dtype: 'F32',
    config: {
      architectures: ['GPT2LMHeadModel'],
      model_type: 'gpt2',
      n_embd: 768,
      n_layer: 12,
      n_head: 12,
      n_positions: 1024,
      n_ctx: 1024,
      vocab_size: 50257,
      layer_norm_epsilon: 1e-5,
      activation_function: 'gelu_new',
      bos_token_id: 50256,
      eos_token_id: 50256,
    },
  },
  {
    id: 'smollm2-135m',
    repo: 'HuggingFaceTB/SmolLM2-135M',
    dtype: 'BF16',
    config: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 576,
      intermediate_size: 1536,
      num_hidden_layers: 30,
      num_attention_heads: 9,
      num_key_value_heads: 3,
      head_dim: 64,
      max_position_embeddings: 8192,
      vocab_size: 49152,
      rms_norm_eps: 1e-5,
      rope_theta: 100000,
      rope_scaling: null,
      tie_word_embeddings: true,
      hidden_act: 'silu',
      attention_bias: false,
      mlp_bias: false,
      bos_token_id: 0,
      eos_token_id: 0,
      torch_dtype: 'bfloat16',
    },
  },
  {
    id: 'qwen2.5-0.5b',
    repo: 'Qwen/Qwen2.5-0.5B',
    dtype: 'BF16',
    config: {
      architectures: ['Qwen2ForCausalLM'],
      model_type: 'qwen2',
      hidden_size: 896,
      intermediate_size: 4864,
      num_hidden_layers: 24,
      num_attention_heads: 14,
      num_key_value_heads: 2,
      max_position_embeddings: 32768,
      max_window_layers: 24,
      sliding_window: 32768,
      use_sliding_window: false,
      vocab_size: 151936,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      rope_scaling: null,
      tie_word_embeddings: true,
      hidden_act: 'silu',
      bos_token_id: 151643,
      eos_token_id: 151643,
      torch_dtype: 'bfloat16',
    },
  },
  {
    id: 'qwen3-0.6b',
    repo: 'Qwen/Qwen3-0.6B',
    dtype: 'BF16',
    config: {
      architectures: ['Qwen3ForCausalLM'],
      model_type: 'qwen3',
      hidden_size: 1024,
      intermediate_size: 3072,
      num_hidden_layers: 28,
      num_attention_heads: 16,
      num_key_value_heads: 8,
      head_dim: 128,
      max_position_embeddings: 40960,
      max_window_layers: 28,
      sliding_window: null,
      use_sliding_window: false,
      vocab_size: 151936,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000,
      rope_scaling: null,
      attention_bias: false,
      tie_word_embeddings: true,
      hidden_act: 'silu',
      bos_token_id: 151643,
      eos_token_id: 151645,
      torch_dtype: 'bfloat16',
    },
  },
  {
    id: 'gemma-3-270m',
    repo: 'google/gemma-3-270m',
    dtype: 'BF16',
    config: {
      architectures: ['Gemma3ForCausalLM'],
      model_type: 'gemma3_text',
      hidden_size: 640,
      intermediate_size: 2048,
      num_hidden_layers: 18,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      head_dim: 256,
      max_position_embeddings: 32768,
      vocab_size: 262144,
      rms_norm_eps: 1e-6,
      rope_theta: 1000000.0,
      rope_local_base_freq: 10000.0,
      rope_scaling: null,
      sliding_window: 512,
      layer_types: Array.from({ length: 18 }, (_, i) => ((i + 1) % 6 === 0 ? 'full_attention' : 'sliding_attention')),
      query_pre_attn_scalar: 256,
      hidden_activation: 'gelu_pytorch_tanh',
      attn_logit_softcapping: null,
      final_logit_softcapping: null,
      attention_bias: false,
      tie_word_embeddings: true,
      bos_token_id: 2,
      eos_token_id: 1,
      pad_token_id: 0,
      torch_dtype: 'bfloat16',
    },
  },
  {
    id: 'tinyllama-1.1b',
    repo: 'TinyLlama/TinyLlama-1.1B-Chat-v1.0',
    dtype: 'BF16',
    config: {
      architectures: ['LlamaForCausalLM'],
      model_type: 'llama',
      hidden_size: 2048,
      intermediate_size: 5632,
      num_hidden_layers: 22,
      num_attention_heads: 32,
      num_key_value_heads: 4,
      max_position_embeddings: 2048,
      vocab_size: 32000,
      rms_norm_eps: 1e-5,
      rope_theta: 10000.0,
      rope_scaling: null,
      tie_word_embeddings: false,
      hidden_act: 'silu',
      attention_bias: false,
      bos_token_id: 1,
      eos_token_id: 2,
      torch_dtype: 'bfloat16',
    },
  },
];

export function realModelSpec(id: string): RealModelSpec {
  const spec = REAL_MODELS.find((m) => m.id === id);
  if (!spec) throw new Error(`unknown model "${id}" (known: ${REAL_MODELS.map((m) => m.id).join(', ')})`);
  return spec;
}

const SHARD_BYTES = 2 ** 30;
const CHUNK = 1 << 20;

type Fill = 'matrix' | 'one' | 'zero';

function fillOf(spec: RealModelSpec, t: ExpectedTensor): Fill {
  if (t.shape.length >= 2) return 'matrix';
  if (/bias$/.test(t.name)) return 'zero';
  // Gemma's norms scale by (1 + w): w = 0 is the identity.
  return spec.config.model_type === 'gemma3_text' ? 'zero' : 'one';
}

/** Writes `count` values of one tensor to `fd`, chunk by chunk (never the whole tensor in memory). */
function writeValues(fd: number, count: number, dtype: 'F32' | 'BF16', fill: Fill, seed: number): void {
  const f32 = new Float32Array(Math.min(CHUNK, count));
  const u32 = new Uint32Array(f32.buffer);
  const u16 = new Uint16Array(f32.length);
  let s = seed >>> 0 || 1;
  // Uniform in [-a, a) has std a/√3: a = 0.0346 gives std 0.02 (GPT-2's initializer_range).
  const a = 0.0346;
  for (let done = 0; done < count;) {
    const n = Math.min(f32.length, count - done);
    if (fill === 'matrix') {
      for (let i = 0; i < n; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        f32[i] = (s / 2 ** 32 - 0.5) * 2 * a;
      }
    } else f32.fill(fill === 'one' ? 1 : 0, 0, n);
    if (dtype === 'F32') writeSync(fd, new Uint8Array(f32.buffer, 0, 4 * n));
    else {
      for (let i = 0; i < n; i++) u16[i] = u32[i]! >>> 16; // truncation to bf16 (fine for random values)
      writeSync(fd, new Uint8Array(u16.buffer, 0, 2 * n));
    }
    done += n;
  }
}

export interface WrittenModel {
  readonly dir: string;
  readonly bytes: number;
  readonly tensors: number;
  readonly shards: number;
  readonly params: number;
}

/** Writes the random-weight folder of `spec` under `parent` (as parent/<id>) and returns its facts. */
export function writeRealModel(spec: RealModelSpec, parent: string): WrittenModel {
  const dir = join(parent, spec.id);
  mkdirSync(dir, { recursive: true });
  const config = parseModelConfig(spec.config);
  const tensors = expectedTensors(config);
  const width = spec.dtype === 'F32' ? 4 : 2;
  // Group into shards of at most SHARD_BYTES (a tensor never splits).
  const shards: ExpectedTensor[][] = [[]];
  let inShard = 0;
  for (const t of tensors) {
    const bytes = width * t.shape.reduce((x, y) => x * y, 1);
    if (inShard > 0 && inShard + bytes > SHARD_BYTES) {
      shards.push([]);
      inShard = 0;
    }
    shards[shards.length - 1]!.push(t);
    inShard += bytes;
  }
  const weightMap: Record<string, string> = {};
  let total = 0;
  let params = 0;
  shards.forEach((part, s) => {
    const name = shards.length === 1 ? 'model.safetensors' : `model-${String(s + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
    let offset = 0;
    for (const t of part) {
      const bytes = width * t.shape.reduce((x, y) => x * y, 1);
      header[t.name] = { dtype: spec.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
      offset += bytes;
      weightMap[t.name] = name;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (json.length % 8)) % 8);
    const head = new Uint8Array(8 + json.length);
    new DataView(head.buffer).setBigUint64(0, BigInt(json.length), true);
    head.set(new TextEncoder().encode(json), 8);
    const fd = openSync(join(dir, name), 'w');
    try {
      writeSync(fd, head);
      for (const t of part) {
        const count = t.shape.reduce((x, y) => x * y, 1);
        writeValues(fd, count, spec.dtype, fillOf(spec, t), tensors.indexOf(t) * 7919 + 1);
        params += count;
      }
    } finally {
      closeSync(fd);
    }
    total += offset;
  });
  if (shards.length > 1)
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2));
  writeFileSync(join(dir, 'config.json'), JSON.stringify(spec.config, null, 2));
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: {}, merges: [] } }));
  writeFileSync(join(dir, 'tokenizer_config.json'), '{}');
  return { dir, bytes: total, tensors: tensors.length, shards: shards.length, params };
}
