// Tests for config.json parsing: real configs of GPT-2, SmolLM2, Qwen2.5, TinyLlama, Mistral,
// Qwen3-0.6B and Gemma 3 270M / 1B (copied from their Hugging Face repos), their published
// parameter counts, tensor name/shape lists, per-layer windows and RoPE bases, and every refusal
// (unknown or relative architectures, scaled RoPE, soft-capping, bad numbers).

import { describe, expect, it } from 'vitest';
import {
  expectedTensors,
  isIgnoredTensor,
  linearParamCounts,
  largestStepBuffer,
  memoryEstimate,
  stepActivationBytes,
  paramCount,
  parseModelConfig,
  parseModelConfigText,
  roundToTorchDtype,
  type LlamaConfig,
} from './hfConfig';
import { ModelFormatError, UnsupportedModelError } from '../errors';

const GPT2_CONFIG = {
  activation_function: 'gelu_new',
  architectures: ['GPT2LMHeadModel'],
  attn_pdrop: 0.1,
  bos_token_id: 50256,
  embd_pdrop: 0.1,
  eos_token_id: 50256,
  initializer_range: 0.02,
  layer_norm_epsilon: 1e-5,
  model_type: 'gpt2',
  n_ctx: 1024,
  n_embd: 768,
  n_head: 12,
  n_layer: 12,
  n_positions: 1024,
  resid_pdrop: 0.1,
  summary_activation: null,
  summary_first_dropout: 0.1,
  summary_proj_to_labels: true,
  summary_type: 'cls_index',
  summary_use_proj: true,
  task_specific_params: { 'text-generation': { do_sample: true, max_length: 50 } },
  vocab_size: 50257,
};

const SMOLLM2_135M = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 0,
  eos_token_id: 0,
  hidden_act: 'silu',
  hidden_size: 576,
  initializer_range: 0.041666666666666664,
  intermediate_size: 1536,
  is_llama_config: true,
  max_position_embeddings: 8192,
  mlp_bias: false,
  model_type: 'llama',
  num_attention_heads: 9,
  num_hidden_layers: 30,
  num_key_value_heads: 3,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_interleaved: false,
  rope_scaling: null,
  rope_theta: 100000,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.42.3',
  use_cache: true,
  vocab_size: 49152,
};

const QWEN25_05B = {
  architectures: ['Qwen2ForCausalLM'],
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151643,
  hidden_act: 'silu',
  hidden_size: 896,
  initializer_range: 0.02,
  intermediate_size: 4864,
  max_position_embeddings: 32768,
  max_window_layers: 24,
  model_type: 'qwen2',
  num_attention_heads: 14,
  num_hidden_layers: 24,
  num_key_value_heads: 2,
  rms_norm_eps: 1e-6,
  rope_theta: 1000000.0,
  sliding_window: 32768,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.40.1',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const TINYLLAMA = {
  architectures: ['LlamaForCausalLM'],
  attention_bias: false,
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 2048,
  initializer_range: 0.02,
  intermediate_size: 5632,
  max_position_embeddings: 2048,
  model_type: 'llama',
  num_attention_heads: 32,
  num_hidden_layers: 22,
  num_key_value_heads: 4,
  pretraining_tp: 1,
  rms_norm_eps: 1e-5,
  rope_scaling: null,
  rope_theta: 10000.0,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  use_cache: true,
  vocab_size: 32000,
};

const MISTRAL_7B = {
  architectures: ['MistralForCausalLM'],
  bos_token_id: 1,
  eos_token_id: 2,
  hidden_act: 'silu',
  hidden_size: 4096,
  initializer_range: 0.02,
  intermediate_size: 14336,
  max_position_embeddings: 32768,
  model_type: 'mistral',
  num_attention_heads: 32,
  num_hidden_layers: 32,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-5,
  rope_theta: 10000.0,
  sliding_window: 4096,
  tie_word_embeddings: false,
  torch_dtype: 'bfloat16',
  use_cache: true,
  vocab_size: 32000,
};

const QWEN3_06B = {
  architectures: ['Qwen3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  bos_token_id: 151643,
  eos_token_id: 151645,
  head_dim: 128,
  hidden_act: 'silu',
  hidden_size: 1024,
  initializer_range: 0.02,
  intermediate_size: 3072,
  max_position_embeddings: 40960,
  max_window_layers: 28,
  model_type: 'qwen3',
  num_attention_heads: 16,
  num_hidden_layers: 28,
  num_key_value_heads: 8,
  rms_norm_eps: 1e-6,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: null,
  tie_word_embeddings: true,
  torch_dtype: 'bfloat16',
  transformers_version: '4.51.0',
  use_cache: true,
  use_sliding_window: false,
  vocab_size: 151936,
};

const SLIDING = 'sliding_attention';
const FULL = 'full_attention';

const GEMMA3_270M = {
  _sliding_window_pattern: 6,
  architectures: ['Gemma3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  attn_logit_softcapping: null,
  bos_token_id: 2,
  eos_token_id: 1,
  final_logit_softcapping: null,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 640,
  initializer_range: 0.02,
  intermediate_size: 2048,
  layer_types: [
    SLIDING,
    SLIDING,
    SLIDING,
    SLIDING,
    SLIDING,
    FULL,
    SLIDING,
    SLIDING,
    SLIDING,
    SLIDING,
    SLIDING,
    FULL,
    SLIDING,
    SLIDING,
    SLIDING,
    SLIDING,
    SLIDING,
    FULL,
  ],
  max_position_embeddings: 32768,
  model_type: 'gemma3_text',
  num_attention_heads: 4,
  num_hidden_layers: 18,
  num_key_value_heads: 1,
  pad_token_id: 0,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_local_base_freq: 10000.0,
  rope_scaling: null,
  rope_theta: 1000000.0,
  sliding_window: 512,
  torch_dtype: 'bfloat16',
  transformers_version: '4.55.0.dev0',
  use_bidirectional_attention: false,
  use_cache: true,
  vocab_size: 262144,
};

// The 4.50-era format: no layer_types, sliding_window_pattern instead.
const GEMMA3_1B = {
  architectures: ['Gemma3ForCausalLM'],
  attention_bias: false,
  attention_dropout: 0.0,
  attn_logit_softcapping: null,
  bos_token_id: 2,
  cache_implementation: 'hybrid',
  eos_token_id: [1, 106],
  final_logit_softcapping: null,
  head_dim: 256,
  hidden_activation: 'gelu_pytorch_tanh',
  hidden_size: 1152,
  initializer_range: 0.02,
  intermediate_size: 6912,
  max_position_embeddings: 32768,
  model_type: 'gemma3_text',
  num_attention_heads: 4,
  num_hidden_layers: 26,
  num_key_value_heads: 1,
  pad_token_id: 0,
  query_pre_attn_scalar: 256,
  rms_norm_eps: 1e-6,
  rope_local_base_freq: 10000,
  rope_scaling: null,
  rope_theta: 1000000,
  sliding_window: 512,
  sliding_window_pattern: 6,
  torch_dtype: 'bfloat16',
  transformers_version: '4.50.0.dev0',
  use_cache: true,
  vocab_size: 262144,
};

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error('expected a throw');
}

describe('parseModelConfig: GPT-2', () => {
  it('normalizes the gpt2 config', () => {
    const c = parseModelConfig(GPT2_CONFIG);
    expect(c).toMatchObject({
      family: 'gpt2',
      modelType: 'gpt2',
      vocabSize: 50257,
      hiddenSize: 768,
      numLayers: 12,
      numHeads: 12,
      numKvHeads: 12,
      headDim: 64,
      intermediateSize: 3072,
      maxPositions: 1024,
      normEps: 1e-5,
      tieWordEmbeddings: true,
      activation: 'gelu_new',
      bosTokenId: 50256,
      eosTokenIds: [50256],
    });
    expect(paramCount(c)).toBe(124_439_808); // GPT-2 small, as published
  });

  it('lists tensors with Conv1D [in, out] shapes and the transformer. alias', () => {
    const c = parseModelConfig({ ...GPT2_CONFIG, n_layer: 2 });
    const tensors = expectedTensors(c);
    const byName = new Map(tensors.map((t) => [t.name, t]));
    expect(tensors).toHaveLength(2 + 12 * 2 + 2);
    expect(byName.get('wte.weight')!.shape).toEqual([50257, 768]);
    expect(byName.get('wpe.weight')!.shape).toEqual([1024, 768]);
    expect(byName.get('h.1.attn.c_attn.weight')).toEqual({
      name: 'h.1.attn.c_attn.weight',
      aliases: ['transformer.h.1.attn.c_attn.weight'],
      shape: [768, 2304],
      layer: 1,
    });
    expect(byName.get('h.0.attn.c_attn.bias')!.shape).toEqual([2304]);
    expect(byName.get('h.0.mlp.c_fc.weight')!.shape).toEqual([768, 3072]);
    expect(byName.get('h.0.mlp.c_proj.weight')!.shape).toEqual([3072, 768]);
    expect(byName.get('ln_f.bias')!.layer).toBeNull();
    expect(byName.has('lm_head.weight')).toBe(false);
    expect(isIgnoredTensor(c, 'h.0.attn.bias')).toBe(true);
    expect(isIgnoredTensor(c, 'transformer.h.11.attn.masked_bias')).toBe(true);
    expect(isIgnoredTensor(c, 'h.0.attn.c_attn.bias')).toBe(false);
  });

  it('uses n_inner, n_ctx and an untied head when the config says so', () => {
    const { n_positions: _dropped, ...noPositions } = GPT2_CONFIG;
    const c = parseModelConfig({ ...noPositions, n_inner: 1000, tie_word_embeddings: false });
    expect(c.maxPositions).toBe(1024);
    expect(c.intermediateSize).toBe(1000);
    const names = expectedTensors(c).map((t) => t.name);
    expect(names).toContain('lm_head.weight');
    expect(expectedTensors(c).find((t) => t.name === 'h.0.mlp.c_proj.weight')!.shape).toEqual([1000, 768]);
  });

  it('accepts gelu_pytorch_tanh and refuses other activations and attention variants', () => {
    expect(parseModelConfig({ ...GPT2_CONFIG, activation_function: 'gelu_pytorch_tanh' }).activation).toBe('gelu_new');
    const relu = errorOf(() => parseModelConfig({ ...GPT2_CONFIG, activation_function: 'relu' }));
    expect(relu).toBeInstanceOf(UnsupportedModelError);
    expect(relu.message).toMatch(/activation_function 'relu'/);
    expect(() => parseModelConfig({ ...GPT2_CONFIG, scale_attn_by_inverse_layer_idx: true })).toThrow(UnsupportedModelError);
    expect(() => parseModelConfig({ ...GPT2_CONFIG, add_cross_attention: true })).toThrow(UnsupportedModelError);
  });

  it('validates numbers with messages that name the key', () => {
    expect(() => parseModelConfig({ ...GPT2_CONFIG, n_head: 5 })).toThrow(/n_embd \(768\) must be divisible by n_head \(5\)/);
    expect(() => parseModelConfig({ ...GPT2_CONFIG, n_layer: 0 })).toThrow(/"n_layer" must be a positive integer, found 0/);
    expect(() => parseModelConfig({ ...GPT2_CONFIG, n_embd: 76.8 })).toThrow(/"n_embd" must be a positive integer/);
    expect(() => parseModelConfig({ ...GPT2_CONFIG, vocab_size: '50257' })).toThrow(/"vocab_size"/);
    expect(() => parseModelConfig({ ...GPT2_CONFIG, layer_norm_epsilon: -1 })).toThrow(/"layer_norm_epsilon" must be a positive number/);
    const { n_embd: _n, ...missing } = GPT2_CONFIG;
    const error = errorOf(() => parseModelConfig(missing, 'gpt2/config.json'));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toBe('gpt2/config.json: "n_embd" is missing; it must be a positive integer');
  });
});

describe('parseModelConfig: Llama family', () => {
  it('normalizes SmolLM2-135M (llama, GQA, tied)', () => {
    const c = parseModelConfig(SMOLLM2_135M) as LlamaConfig;
    expect(c).toMatchObject({
      family: 'llama',
      modelType: 'llama',
      hiddenSize: 576,
      intermediateSize: 1536,
      numLayers: 30,
      numHeads: 9,
      numKvHeads: 3,
      headDim: 64,
      normEps: 1e-5,
      ropeTheta: 100000,
      maxPositions: 8192,
      tieWordEmbeddings: true,
      attentionBias: { q: false, k: false, v: false, o: false },
      mlpBias: false,
      slidingWindow: null,
      torchDtype: 'bfloat16',
    });
    expect(paramCount(c)).toBe(134_515_008);
    const t = new Map(expectedTensors(c).map((e) => [e.name, e.shape]));
    expect(t.get('model.layers.29.self_attn.k_proj.weight')).toEqual([192, 576]);
    expect(t.get('model.layers.0.self_attn.o_proj.weight')).toEqual([576, 576]);
    expect(t.get('model.layers.0.mlp.down_proj.weight')).toEqual([576, 1536]);
    expect(t.has('lm_head.weight')).toBe(false);
    expect(t.has('model.layers.0.self_attn.q_proj.bias')).toBe(false);
  });

  it('gives Qwen2 q/k/v biases but no o_proj bias, and ignores its disabled sliding window', () => {
    const c = parseModelConfig(QWEN25_05B) as LlamaConfig;
    expect(c.attentionBias).toEqual({ q: true, k: true, v: true, o: false });
    expect(c.slidingWindow).toBeNull();
    expect(paramCount(c)).toBe(494_032_768);
    const t = new Map(expectedTensors(c).map((e) => [e.name, e.shape]));
    expect(t.get('model.layers.3.self_attn.k_proj.bias')).toEqual([128]);
    expect(t.has('model.layers.3.self_attn.o_proj.bias')).toBe(false);
    // With use_sliding_window, layers from max_window_layers on slide: here none (24 of 24 are full).
    expect((parseModelConfig({ ...QWEN25_05B, use_sliding_window: true }) as LlamaConfig).slidingWindow).toBeNull();
    const sliding = parseModelConfig({ ...QWEN25_05B, use_sliding_window: true, max_window_layers: 20 }) as LlamaConfig;
    expect(sliding.slidingWindow).toBe(32768);
    expect(sliding.layers.map((l) => l.window)).toEqual([...Array<null>(20).fill(null), 32768, 32768, 32768, 32768]);
    expect(c.layers.every((l) => l.window === null && l.ropeTheta === 1e6)).toBe(true);
  });

  it('handles TinyLlama (untied head) and Mistral (sliding window, no biases)', () => {
    const tiny = parseModelConfig(TINYLLAMA);
    expect(paramCount(tiny)).toBe(1_100_048_384);
    expect(expectedTensors(tiny).at(-1)).toEqual({ name: 'lm_head.weight', aliases: [], shape: [32000, 2048], layer: null });
    const mistral = parseModelConfig(MISTRAL_7B) as LlamaConfig;
    expect(mistral.modelType).toBe('mistral');
    expect(mistral.slidingWindow).toBe(4096);
    expect(mistral.attentionBias.q).toBe(false);
    expect(paramCount(mistral)).toBe(7_241_732_096);
    expect((parseModelConfig({ ...MISTRAL_7B, sliding_window: null }) as LlamaConfig).slidingWindow).toBeNull();
  });

  it('applies defaults: kv heads, head_dim, rope_theta, eps, positions', () => {
    const minimal = {
      model_type: 'llama',
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      vocab_size: 100,
    };
    const c = parseModelConfig(minimal) as LlamaConfig;
    expect(c).toMatchObject({ numKvHeads: 4, headDim: 16, ropeTheta: 10000, normEps: 1e-6, maxPositions: 2048, tieWordEmbeddings: false });
    expect(c.architectures).toEqual([]);
    const explicit = parseModelConfig({ ...minimal, head_dim: 32, num_key_value_heads: 2 });
    const t = new Map(expectedTensors(explicit).map((e) => [e.name, e.shape]));
    expect(t.get('model.layers.0.self_attn.q_proj.weight')).toEqual([128, 64]);
    expect(t.get('model.layers.0.self_attn.v_proj.weight')).toEqual([64, 64]);
    expect(t.get('model.layers.0.self_attn.o_proj.weight')).toEqual([64, 128]);
  });

  it("puts llama's attention_bias on q, k, v and o, and mlp_bias on the MLP", () => {
    const c = parseModelConfig({ ...SMOLLM2_135M, num_hidden_layers: 1, attention_bias: true, mlp_bias: true }) as LlamaConfig;
    expect(c.attentionBias).toEqual({ q: true, k: true, v: true, o: true });
    const names = expectedTensors(c).map((e) => e.name);
    for (const p of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) expect(names).toContain(`model.layers.0.self_attn.${p}.bias`);
    for (const p of ['gate_proj', 'up_proj', 'down_proj']) expect(names).toContain(`model.layers.0.mlp.${p}.bias`);
  });

  it('refuses scaled RoPE and says which', () => {
    for (const kind of ['linear', 'dynamic', 'yarn', 'llama3']) {
      const e = errorOf(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { rope_type: kind, factor: 8 } }));
      expect(e).toBeInstanceOf(UnsupportedModelError);
      expect(e.message).toContain(`rope_scaling of type '${kind}' is not supported`);
    }
    expect(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { type: 'linear', factor: 2 } })).toThrow(/'linear'/);
    expect(parseModelConfig({ ...SMOLLM2_135M, rope_scaling: { rope_type: 'default' } }).family).toBe('llama');
    expect(() => parseModelConfig({ ...SMOLLM2_135M, rope_scaling: 'yes' })).toThrow(ModelFormatError);
  });

  it('validates heads and sizes', () => {
    expect(() => parseModelConfig({ ...SMOLLM2_135M, num_key_value_heads: 2 })).toThrow(
      /num_attention_heads \(9\) must be divisible by num_key_value_heads \(2\)/,
    );
    expect(() => parseModelConfig({ ...SMOLLM2_135M, num_attention_heads: 7 })).toThrow(/hidden_size \(576\) must be divisible by num_attention_heads \(7\)/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, head_dim: 63, num_attention_heads: 9 })).toThrow(/head_dim \(63\) must be even/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, rope_theta: 0 })).toThrow(/"rope_theta" must be a positive number/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, num_hidden_layers: -3 })).toThrow(/"num_hidden_layers"/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, hidden_act: 'gelu' })).toThrow(UnsupportedModelError);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, tie_word_embeddings: 'yes' })).toThrow(/"tie_word_embeddings" must be true or false/);
  });
});

describe('parseModelConfig: Qwen3', () => {
  it('normalizes Qwen3-0.6B: head_dim 128 with hidden 1024 (H·D ≠ C), q/k norms, no biases, tied', () => {
    const c = parseModelConfig(QWEN3_06B) as LlamaConfig;
    expect(c).toMatchObject({
      family: 'llama',
      modelType: 'qwen3',
      hiddenSize: 1024,
      numHeads: 16,
      numKvHeads: 8,
      headDim: 128,
      qkNorm: true,
      attentionBias: { q: false, k: false, v: false, o: false },
      mlpBias: false,
      normWeightOffset: 0,
      sandwichNorms: false,
      activation: 'silu',
      embedScale: 1,
      slidingWindow: null,
      tieWordEmbeddings: true,
      ropeTheta: 1e6,
      eosTokenIds: [151645],
    });
    expect(c.attentionScale).toBe(1 / Math.sqrt(128));
    expect(c.layers).toHaveLength(28);
    expect(c.layers.every((l) => l.window === null && l.ropeTheta === 1e6)).toBe(true);
    // Published size: 0.6B (0.44B without the embedding).
    expect(paramCount(c)).toBe(596_049_920);
    const t = new Map(expectedTensors(c).map((e) => [e.name, e.shape]));
    expect(t.get('model.layers.0.self_attn.q_proj.weight')).toEqual([2048, 1024]);
    expect(t.get('model.layers.0.self_attn.o_proj.weight')).toEqual([1024, 2048]);
    expect(t.get('model.layers.0.self_attn.k_proj.weight')).toEqual([1024, 1024]);
    expect(t.get('model.layers.27.self_attn.q_norm.weight')).toEqual([128]);
    expect(t.get('model.layers.27.self_attn.k_norm.weight')).toEqual([128]);
    expect(t.has('model.layers.0.self_attn.q_proj.bias')).toBe(false);
    expect(t.has('lm_head.weight')).toBe(false);
    expect(linearParamCounts(c).q_norm).toBeUndefined();
  });

  it('uses head_dim 128 when absent, attention_bias on all four projections, and slides layers from max_window_layers on', () => {
    const { head_dim: _d, ...noHeadDim } = QWEN3_06B;
    expect(parseModelConfig(noHeadDim).headDim).toBe(128);
    const biased = parseModelConfig({ ...QWEN3_06B, num_hidden_layers: 1, attention_bias: true }) as LlamaConfig;
    expect(biased.attentionBias).toEqual({ q: true, k: true, v: true, o: true });
    const sliding = parseModelConfig({
      ...QWEN3_06B,
      num_hidden_layers: 4,
      max_window_layers: 2,
      use_sliding_window: true,
      sliding_window: 4096,
    }) as LlamaConfig;
    expect(sliding.layers.map((l) => l.window)).toEqual([null, null, 4096, 4096]);
    expect(sliding.slidingWindow).toBe(4096);
    // transformers 5 writes layer_types and rope_parameters instead.
    const v5 = parseModelConfig({
      ...QWEN3_06B,
      num_hidden_layers: 2,
      rope_theta: undefined,
      rope_parameters: { rope_type: 'default', rope_theta: 5e5 },
      layer_types: [FULL, SLIDING],
      use_sliding_window: true,
      sliding_window: 64,
    }) as LlamaConfig;
    expect(v5.layers).toEqual([
      { window: null, ropeTheta: 5e5 },
      { window: 64, ropeTheta: 5e5 },
    ]);
  });

  it('loads SmolLM2 as plain Llama (no q/k norms, no offsets, unit embedding scale)', () => {
    const c = parseModelConfig(SMOLLM2_135M) as LlamaConfig;
    expect(c).toMatchObject({ qkNorm: false, normWeightOffset: 0, sandwichNorms: false, embedScale: 1, activation: 'silu', tieWordEmbeddings: true });
    expect(c.attentionScale).toBe(1 / 8);
    expect(c.layers.every((l) => l.window === null && l.ropeTheta === 100000)).toBe(true);
    expect(expectedTensors(c).some((t) => t.name.includes('q_norm'))).toBe(false);
  });
});

describe('parseModelConfig: Gemma 3 (text)', () => {
  it('normalizes gemma-3-270m: layer_types, two RoPE bases, (1 + w) and sandwich norms, GELU, √C in bf16', () => {
    const c = parseModelConfig(GEMMA3_270M) as LlamaConfig;
    expect(c).toMatchObject({
      family: 'llama',
      modelType: 'gemma3_text',
      hiddenSize: 640,
      numHeads: 4,
      numKvHeads: 1,
      headDim: 256,
      intermediateSize: 2048,
      vocabSize: 262144,
      activation: 'gelu_tanh',
      qkNorm: true,
      normWeightOffset: 1,
      sandwichNorms: true,
      tieWordEmbeddings: true,
      slidingWindow: 512,
      ropeTheta: 1e6,
      attentionBias: { q: false, k: false, v: false, o: false },
      bosTokenId: 2,
      eosTokenIds: [1],
    });
    // √640 = 25.298…, which bf16 (8 significant bits) rounds to 25.25, as HF's embed_scale.to(bf16).
    expect(c.embedScale).toBe(25.25);
    expect(c.attentionScale).toBe(1 / 16);
    const global = { window: null, ropeTheta: 1e6 };
    const local = { window: 512, ropeTheta: 10000 };
    expect(c.layers.slice(0, 7)).toEqual([local, local, local, local, local, global, local]);
    expect(c.layers.filter((l) => l.window === null)).toHaveLength(3);
    // Published size: 268M (170M of them the 262K × 640 embedding).
    expect(paramCount(c)).toBe(268_098_176);
    const names = expectedTensors(c)
      .filter((t) => t.layer === 0)
      .map((t) => t.name.replace('model.layers.0.', ''));
    expect(names).toEqual([
      'input_layernorm.weight',
      'self_attn.q_proj.weight',
      'self_attn.k_proj.weight',
      'self_attn.v_proj.weight',
      'self_attn.o_proj.weight',
      'self_attn.q_norm.weight',
      'self_attn.k_norm.weight',
      'post_attention_layernorm.weight',
      'pre_feedforward_layernorm.weight',
      'mlp.gate_proj.weight',
      'mlp.up_proj.weight',
      'mlp.down_proj.weight',
      'post_feedforward_layernorm.weight',
    ]);
    const t = new Map(expectedTensors(c).map((e) => [e.name, e.shape]));
    expect(t.get('model.layers.0.self_attn.q_proj.weight')).toEqual([1024, 640]);
    expect(t.get('model.layers.0.self_attn.k_proj.weight')).toEqual([256, 640]);
    expect(t.get('model.layers.0.self_attn.q_norm.weight')).toEqual([256]);
    expect(t.has('lm_head.weight')).toBe(false);
  });

  it('derives the layers of gemma-3-1b from sliding_window_pattern (4.50 format)', () => {
    const c = parseModelConfig(GEMMA3_1B) as LlamaConfig;
    expect(paramCount(c)).toBe(999_885_952);
    // Layer i is global when (i + 1) is a multiple of 6: 5, 11, 17, 23.
    expect(c.layers.flatMap((l, i) => (l.window === null ? [i] : []))).toEqual([5, 11, 17, 23]);
    expect(c.layers[0]).toEqual({ window: 512, ropeTheta: 10000 });
    expect(c.layers[5]).toEqual({ window: null, ropeTheta: 1e6 });
    expect(c.embedScale).toBe(34); // √1152 = 33.94 → 34 in bf16
    expect(c.eosTokenIds).toEqual([1, 106]);
    const noPattern = parseModelConfig({ ...GEMMA3_1B, sliding_window_pattern: undefined, num_hidden_layers: 7 }) as LlamaConfig;
    expect(noPattern.layers.map((l) => l.window !== null)).toEqual([true, true, true, true, true, false, true]);
    const pattern2 = parseModelConfig({ ...GEMMA3_1B, sliding_window_pattern: 2, num_hidden_layers: 4 }) as LlamaConfig;
    expect(pattern2.layers.map((l) => l.window !== null)).toEqual([true, false, true, false]);
  });

  it('rounds √C to the dtype the model runs in', () => {
    expect(roundToTorchDtype(Math.sqrt(1152), 'bfloat16')).toBe(34);
    expect(roundToTorchDtype(Math.sqrt(2304), 'bfloat16')).toBe(48);
    expect(roundToTorchDtype(Math.sqrt(640), 'float16')).toBe(25.296875);
    expect(roundToTorchDtype(Math.sqrt(640), 'float32')).toBe(Math.fround(Math.sqrt(640)));
    expect((parseModelConfig({ ...GEMMA3_270M, torch_dtype: 'float32' }) as LlamaConfig).embedScale).toBe(Math.fround(Math.sqrt(640)));
  });

  it('reads transformers 5 rope_parameters per layer type', () => {
    const c = parseModelConfig({
      ...GEMMA3_270M,
      rope_theta: undefined,
      rope_local_base_freq: undefined,
      rope_scaling: undefined,
      rope_parameters: { full_attention: { rope_type: 'default', rope_theta: 2e6 }, sliding_attention: { rope_type: 'default', rope_theta: 2e4 } },
    }) as LlamaConfig;
    expect(c.layers[0]!.ropeTheta).toBe(2e4);
    expect(c.layers[5]!.ropeTheta).toBe(2e6);
    expect(c.ropeTheta).toBe(2e6);
  });

  it('refuses what is not implemented, naming the architecture and what is missing', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ final_logit_softcapping: 30 }, /Gemma3ForCausalLM: final_logit_softcapping 30 is not supported \(tanh soft-capping is not implemented/],
      [{ attn_logit_softcapping: 50 }, /Gemma3ForCausalLM: attn_logit_softcapping 50 is not supported/],
      [{ rope_scaling: { rope_type: 'linear', factor: 8 } }, /Gemma3ForCausalLM: rope_scaling of type 'linear' is not supported/],
      [{ rope_parameters: { full_attention: { rope_type: 'yarn', rope_theta: 1e6, factor: 4 } } }, /rope_parameters of type 'yarn' is not supported/],
      [{ use_bidirectional_attention: true }, /Gemma3ForCausalLM: use_bidirectional_attention=true .* not supported/],
      [{ hidden_activation: 'gelu' }, /Gemma3ForCausalLM: hidden_activation 'gelu' is not supported/],
      [{ layer_types: [...GEMMA3_270M.layer_types.slice(0, 17), 'chunked_attention'] }, /layer type 'chunked_attention' is not supported/],
    ];
    for (const [patch, message] of cases) {
      const e = errorOf(() => parseModelConfig({ ...GEMMA3_270M, ...patch }, 'gemma/config.json'));
      expect(e, JSON.stringify(patch)).toBeInstanceOf(UnsupportedModelError);
      expect(e.message).toMatch(/^gemma\/config\.json: /);
      expect(e.message).toMatch(message);
    }
    expect(() => parseModelConfig({ ...GEMMA3_270M, layer_types: [SLIDING] })).toThrow(/"layer_types" has 1 entries; num_hidden_layers is 18/);
    expect(() => parseModelConfig({ ...GEMMA3_270M, layer_types: 'sliding' })).toThrow(ModelFormatError);
  });

  it('refuses the multimodal Gemma 3 and other relatives, saying which is supported instead', () => {
    const multimodal = { architectures: ['Gemma3ForConditionalGeneration'], model_type: 'gemma3', text_config: { hidden_size: 2560 } };
    const e = errorOf(() => parseModelConfig(multimodal));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(
      /model_type 'gemma3' is not supported \(it is the multimodal Gemma 3 .*only text-only Gemma 3 checkpoints are supported \(model_type gemma3_text, Gemma3ForCausalLM/,
    );
    const { model_type: _t, ...architectureOnly } = multimodal;
    expect(errorOf(() => parseModelConfig(architectureOnly)).message).toMatch(
      /architecture Gemma3ForConditionalGeneration is not supported \(it is the multimodal Gemma 3/,
    );
    expect(errorOf(() => parseModelConfig({ model_type: 'gemma2', architectures: ['Gemma2ForCausalLM'] })).message).toMatch(
      /'gemma2' is not supported \(Gemma 2 .*soft-capping/,
    );
    expect(errorOf(() => parseModelConfig({ model_type: 'qwen3_moe' })).message).toMatch(/'qwen3_moe' is not supported \(Qwen3 mixture-of-experts/);
    expect(errorOf(() => parseModelConfig({ model_type: 'phi3' })).message).toMatch(/model_type 'phi3' is not supported; supported/);
  });
});

describe('model type and architecture checks', () => {
  it('refuses unknown model types and lists the supported ones', () => {
    const e = errorOf(() => parseModelConfig({ ...SMOLLM2_135M, model_type: 'phi3', architectures: ['Phi3ForCausalLM'] }));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(/model_type 'phi3' is not supported; supported model_type values: gpt2, llama, mistral, qwen2/);
  });

  it('refuses unsupported architectures of a supported type', () => {
    const e = errorOf(() => parseModelConfig({ ...SMOLLM2_135M, architectures: ['LlamaForSequenceClassification'] }));
    expect(e).toBeInstanceOf(UnsupportedModelError);
    expect(e.message).toMatch(/LlamaForSequenceClassification is not supported.*LlamaForCausalLM/);
  });

  it('infers the type from architectures, and refuses a contradiction or neither', () => {
    const { model_type: _t, ...noType } = SMOLLM2_135M;
    expect(parseModelConfig(noType).modelType).toBe('llama');
    expect(() => parseModelConfig({ ...SMOLLM2_135M, model_type: 'qwen2' })).toThrow(/does not match architecture 'LlamaForCausalLM'/);
    const { architectures: _a, ...neither } = noType;
    expect(() => parseModelConfig(neither)).toThrow(/neither "model_type" nor "architectures"/);
  });

  it('refuses JSON that is not an object, naming the file', () => {
    expect(() => parseModelConfig([1], 'm/config.json')).toThrow(/^m\/config\.json: must be a JSON object$/);
    expect(() => parseModelConfigText('{"model_type": ', 'm/config.json')).toThrow(/m\/config\.json: is not valid JSON/);
    expect(parseModelConfigText(JSON.stringify(GPT2_CONFIG)).hiddenSize).toBe(768);
  });
});

describe('counts and estimates', () => {
  it('sums linear weights per module', () => {
    const c = parseModelConfig({ ...SMOLLM2_135M, num_hidden_layers: 2 });
    const counts = linearParamCounts(c);
    expect(counts.q_proj).toBe(2 * 576 * 576);
    expect(counts.k_proj).toBe(2 * 192 * 576);
    expect(counts.down_proj).toBe(2 * 1536 * 576);
    expect(counts.input_layernorm).toBeUndefined();
    expect(linearParamCounts(parseModelConfig(GPT2_CONFIG)).c_attn).toBe(12 * 768 * 2304);
  });

  it('counts the q/k norms and their stats in the memory estimate', () => {
    const options = { weightBytesPerParam: 2, trainableParams: 0, batch: 1, seqLen: 4 };
    const base = { ...QWEN3_06B, num_hidden_layers: 1 };
    const withNorms = memoryEstimate(parseModelConfig(base), options).activationBytes;
    const c = parseModelConfig(base) as LlamaConfig;
    const without = memoryEstimate({ ...c, qkNorm: false }, options).activationBytes;
    expect(withNorms - without).toBe(4 * 4 * (16 * 128 + 2 * 16 + 8 * 128 + 2 * 8));
  });

  it('estimates memory from its parts: every buffer the tape keeps, then the LM head at its backward', () => {
    const c = parseModelConfig(GPT2_CONFIG);
    const m = memoryEstimate(c, { weightBytesPerParam: 2, trainableParams: 1000, batch: 2, seqLen: 8 });
    expect(m.weightBytes).toBe(2 * 124_439_808);
    expect(m.trainableBytes).toBe(16_000);
    const N = 16;
    const outer = 4 * N * (3 + 4 * 768 + 2) + 4 * (3 * N + 1) + 4; // ids, targets, positions, embeddings, ln_f; loss rows; loss
    const perBlock = 4 * N * (13 * 768 + 2 * 2 + 12 + 2 * 3072); // 13 [N, C], two stats, lse, c_fc and gelu
    const head = 4 * N * 768 + 4 * N * 50257 + 2 * 4; // ∂L/∂h and one chunk of all N rows
    expect(m.activationBytes).toBe(outer + 12 * perBlock + head);
    expect(m.totalBytes).toBe(m.weightBytes + m.trainableBytes + m.activationBytes);
  });

  it('keeps one [N, C] per block with checkpointing, and one recomputed block at a time', () => {
    const c = parseModelConfig(GPT2_CONFIG);
    const shape = { batch: 4, seqLen: 256, lmHeadRows: 332 };
    const plain = stepActivationBytes(c, shape);
    const checkpointed = stepActivationBytes(c, { ...shape, checkpointing: true });
    const N = 1024;
    const perBlock = 4 * N * (13 * 768 + 2 * 2 + 12 + 2 * 3072);
    const transient = 4 * N * (768 + 2 * 3072);
    const head = 4 * N * 768 + 4 * 332 * 50257 + 2 * 4 * 332 * 768 + 2 * 4; // ∂L/∂h, a chunk, its rows and their gradient
    expect(head).toBeGreaterThan(transient);
    expect(plain - checkpointed).toBe(12 * perBlock + head - (12 * 4 * N * 768 + Math.max(head, perBlock + transient + 4 * N * 768)));
    const adapters = Array.from({ length: 12 }, () => [8, 2304, 2304]);
    expect(stepActivationBytes(c, { ...shape, adapterActivations: adapters }) - plain).toBe(12 * 4 * N * (8 + 2 * 2304)); // the head's chunk still dominates backward
  });

  it('names the largest buffer of a step: a logits chunk, never [B·T, V]', () => {
    const c = parseModelConfig(GPT2_CONFIG);
    expect(largestStepBuffer(c, 1, 8)).toEqual({ bytes: 4 * 50257 * 768, what: 'the embedding matrix (50257×768)' });
    const mlp = largestStepBuffer(c, 16, 1024, { lmHeadRows: 332 });
    expect(mlp).toEqual({ bytes: 4 * 16 * 1024 * 3072, what: 'the MLP activations (16×1024 tokens × 3072)' });
    expect(largestStepBuffer(c, 1, 64, { lmHeadRows: 64 }).what).toBe('the embedding matrix (50257×768)');
    expect(largestStepBuffer({ ...c, hiddenSize: 16, intermediateSize: 64 }, 1, 1024, { lmHeadRows: 332 })).toEqual({
      bytes: 4 * 332 * 50257,
      what: 'a chunk of logits (332 of the 1×1024 tokens × 50257 vocabulary)',
    });
    expect(largestStepBuffer(c, 1, 8, { embeddingTrains: true }).bytes).toBe(8 * 50257 * 768);
  });
});
