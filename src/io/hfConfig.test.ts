// Tests for config.json parsing: real configs of GPT-2, SmolLM2, Qwen2.5, TinyLlama and Mistral
// (copied from their Hugging Face repos), their published parameter counts, tensor name/shape
// lists, and every refusal (unknown architecture, scaled RoPE, bad numbers).

import { describe, expect, it } from 'vitest';
import {
  expectedTensors,
  isIgnoredTensor,
  linearParamCounts,
  largestStepBuffer,
  memoryEstimate,
  paramCount,
  parseModelConfig,
  parseModelConfigText,
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
    expect((parseModelConfig({ ...QWEN25_05B, use_sliding_window: true }) as LlamaConfig).slidingWindow).toBe(32768);
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
    expect(() => parseModelConfig({ ...SMOLLM2_135M, num_attention_heads: 7 })).toThrow(
      /hidden_size \(576\) must be divisible by num_attention_heads \(7\)/,
    );
    expect(() => parseModelConfig({ ...SMOLLM2_135M, head_dim: 63, num_attention_heads: 9 })).toThrow(/head_dim \(63\) must be even/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, rope_theta: 0 })).toThrow(/"rope_theta" must be a positive number/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, num_hidden_layers: -3 })).toThrow(/"num_hidden_layers"/);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, hidden_act: 'gelu' })).toThrow(UnsupportedModelError);
    expect(() => parseModelConfig({ ...SMOLLM2_135M, tie_word_embeddings: 'yes' })).toThrow(/"tie_word_embeddings" must be true or false/);
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

  it('estimates memory from its parts', () => {
    const c = parseModelConfig(GPT2_CONFIG);
    const m = memoryEstimate(c, { weightBytesPerParam: 2, trainableParams: 1000, batch: 2, seqLen: 8 });
    expect(m.weightBytes).toBe(2 * 124_439_808);
    expect(m.trainableBytes).toBe(16_000);
    const perLayer = 8 * 768 + 2 * 3072 + 12 * 8;
    expect(m.activationBytes).toBe(4 * 16 * (12 * perLayer + 2 * 50257));
    expect(m.totalBytes).toBe(m.weightBytes + m.trainableBytes + m.activationBytes);
  });

  it('names the largest buffer of a step', () => {
    const c = parseModelConfig(GPT2_CONFIG);
    expect(largestStepBuffer(c, 1, 8)).toEqual({ bytes: 4 * 50257 * 768, what: 'the embedding matrix (50257×768)' });
    const logits = largestStepBuffer(c, 8, 1024);
    expect(logits.bytes).toBe(4 * 8 * 1024 * 50257);
    expect(logits.what).toMatch(/^the logits/);
    const attention = largestStepBuffer({ ...c, vocabSize: 16 }, 4, 2048);
    expect(attention.bytes).toBe(4 * 4 * 12 * 2048 * 2048);
  });
});
