// Hugging Face `config.json` → a normalized ModelConfig for the two families we run:
// GPT-2 (LayerNorm, learned positions, gelu_new MLP, fused c_attn, Conv1D weights stored [in, out])
// and Llama: decoders laid out as HF's `model.layers.{i}` with RMSNorm, RoPE, a gated MLP and
// grouped-query attention (Llama, Mistral, Qwen2, SmolLM, TinyLlama; Qwen3 adds per-head q/k
// RMSNorm and an explicit head_dim; Gemma 3 text adds (1 + w) norms around both sublayers, a
// GELU-gated MLP, a √C embedding scale, query_pre_attn_scalar and interleaved sliding/global
// layers with their own RoPE bases).
// Also the list of HF tensor names and shapes each config needs, parameter counts and a memory
// estimate. Dimension letters: C model width, L layers, H heads, KV key/value heads, D head size,
// I MLP width, V vocabulary, P positions. Not here: reading weights (modelFiles.ts), tokenizers.

import { ModelFormatError, UnsupportedModelError } from '../errors';
import { bf16BitsToF32, f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './halfFloat';
import { clipText, parseJsonText, showJson } from './json';

/** Largest layer count accepted (the deepest public models have under 200); also bounds the tensor list. */
export const MAX_LAYERS = 1024;
/** Largest size of any other dimension: GPU indices are 32-bit. */
export const MAX_SIZE = 2 ** 31 - 1;

export const SUPPORTED_MODEL_TYPES = ['gpt2', 'llama', 'mistral', 'qwen2', 'qwen3', 'gemma3_text'] as const;
export type SupportedModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

/** `architectures` entries we accept and the model_type each implies. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, SupportedModelType>> = {
  GPT2LMHeadModel: 'gpt2',
  GPT2Model: 'gpt2',
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
  Gemma3ForCausalLM: 'gemma3_text',
};

/** Relatives of the supported models that are refused, with what they lack here. */
const REFUSED_MODEL_TYPES: Readonly<Record<string, string>> = {
  gemma3:
    'it is the multimodal Gemma 3 (Gemma3ForConditionalGeneration: a SigLIP vision tower and projector, ' +
    'the language model under language_model.*); only text-only Gemma 3 checkpoints are supported ' +
    '(model_type gemma3_text, Gemma3ForCausalLM, e.g. gemma-3-270m or gemma-3-1b)',
  gemma3n: 'Gemma 3n (per-layer embeddings, AltUp, shared KV caches) is not implemented; text-only Gemma 3 (gemma3_text) is',
  gemma2: 'Gemma 2 (attention and final-logit soft-capping, no q/k norm) is not implemented; text-only Gemma 3 (gemma3_text) is',
  gemma: 'Gemma 1 is not implemented; text-only Gemma 3 (gemma3_text) is',
  qwen3_moe: 'Qwen3 mixture-of-experts layers are not implemented; dense Qwen3 (qwen3) is',
  qwen2_moe: 'Qwen2 mixture-of-experts layers are not implemented; dense Qwen2 (qwen2) is',
  mixtral: 'Mixtral mixture-of-experts layers are not implemented; dense Mistral (mistral) is',
};

/** Architectures of refused relatives (a config may name only its architecture). */
const REFUSED_ARCHITECTURES: Readonly<Record<string, string>> = {
  Gemma3ForConditionalGeneration: 'gemma3',
  Gemma3nForConditionalGeneration: 'gemma3n',
  Gemma3nForCausalLM: 'gemma3n',
  Gemma2ForCausalLM: 'gemma2',
  GemmaForCausalLM: 'gemma',
  Qwen3MoeForCausalLM: 'qwen3_moe',
  Qwen2MoeForCausalLM: 'qwen2_moe',
  MixtralForCausalLM: 'mixtral',
};

interface ConfigBase {
  /** The config's model_type (normalized: inferred from `architectures` when absent). */
  readonly modelType: SupportedModelType;
  readonly architectures: readonly string[];
  /** V */
  readonly vocabSize: number;
  /** C */
  readonly hiddenSize: number;
  /** L */
  readonly numLayers: number;
  /** H */
  readonly numHeads: number;
  /** KV (GPT-2: = H) */
  readonly numKvHeads: number;
  /** D */
  readonly headDim: number;
  /** I, the MLP's inner width */
  readonly intermediateSize: number;
  /** P, the longest sequence the model was trained for */
  readonly maxPositions: number;
  /** epsilon of LayerNorm (GPT-2) or RMSNorm (Llama) */
  readonly normEps: number;
  /** lm_head shares wte / embed_tokens */
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  /** One or several end-of-sequence ids (Llama 3 style configs list several). */
  readonly eosTokenIds: readonly number[];
  /** `torch_dtype`/`dtype` as stated (informational; the weights' own dtypes rule). */
  readonly torchDtype: string | null;
}

export interface Gpt2Config extends ConfigBase {
  readonly family: 'gpt2';
  readonly norm: 'layernorm';
  /** tanh-approximated GELU (HF `gelu_new` / `gelu_pytorch_tanh`) */
  readonly activation: 'gelu_new';
}

/** How one block attends. */
export interface LayerAttention {
  /**
   * Sliding window W (query i sees key j iff j ≤ i and i − j < W, HF's sliding_window_overlay),
   * or null for full causal attention.
   */
  readonly window: number | null;
  /** RoPE base of this layer (Gemma 3: rope_local_base_freq on sliding layers, rope_theta on global ones). */
  readonly ropeTheta: number;
}

export interface LlamaConfig extends ConfigBase {
  readonly family: 'llama';
  readonly norm: 'rmsnorm';
  /** The gated MLP's activation: silu (SwiGLU) or tanh-approximated GELU (Gemma's gelu_pytorch_tanh). */
  readonly activation: 'silu' | 'gelu_tanh';
  /** RoPE base (Gemma 3: of the global layers; `layers` has each layer's). */
  readonly ropeTheta: number;
  /** Which attention projections carry a bias (Qwen2: q, k, v; Llama `attention_bias`: all four). */
  readonly attentionBias: { readonly q: boolean; readonly k: boolean; readonly v: boolean; readonly o: boolean };
  readonly mlpBias: boolean;
  /**
   * The window of the sliding-window layers (Mistral `sliding_window`, Qwen2/Qwen3 with
   * `use_sliding_window` from layer `max_window_layers` on, Gemma 3's local layers); null when no
   * layer slides. The model applies it per layer (`layers`), so T is not limited by it.
   */
  readonly slidingWindow: number | null;
  /** Per block: its window and RoPE base; length L. */
  readonly layers: readonly LayerAttention[];
  /** RMSNorm of each head of q and k (weights q_norm, k_norm [D]) after the projection, before RoPE (Qwen3, Gemma 3). */
  readonly qkNorm: boolean;
  /** Every RMSNorm multiplies by (offset + w): 1 for Gemma, whose stored weights are offsets from one; 0 otherwise. */
  readonly normWeightOffset: 0 | 1;
  /**
   * Gemma 3's four norms per block: x += post_attention_norm(attn(input_norm(x))), then
   * x += post_feedforward_norm(mlp(pre_feedforward_norm(x))). False: Llama's
   * x += attn(input_norm(x)), then x += mlp(post_attention_norm(x)).
   */
  readonly sandwichNorms: boolean;
  /** Factor on the token embeddings: 1, or Gemma's √C rounded to torch_dtype as HF does. */
  readonly embedScale: number;
  /** Factor on q·kᵀ: 1/√D, or Gemma's query_pre_attn_scalar^(−1/2). */
  readonly attentionScale: number;
}

export type ModelConfig = Gpt2Config | LlamaConfig;

export interface ExpectedTensor {
  /** Canonical HF name. */
  readonly name: string;
  /** Other names the same tensor is saved under (GPT-2: with a `transformer.` prefix). */
  readonly aliases: readonly string[];
  readonly shape: readonly number[];
  /** Block index, or null for embeddings, final norm and head. */
  readonly layer: number | null;
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

class Reader {
  constructor(
    private readonly raw: Json,
    private readonly file: string,
  ) {}

  private fail(message: string): never {
    throw new ModelFormatError(message, this.file);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** A size: a positive integer up to `max` (a bound keeps loops over layers and 32-bit GPU indices sane). */
  positiveInt(key: string, fallback?: number, max = MAX_SIZE): number {
    const value = this.raw[key] ?? fallback;
    if (value === undefined) this.fail(`"${key}" is missing; it must be a positive integer`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      this.fail(`"${key}" must be a positive integer, found ${showJson(value)}`);
    }
    if ((value as number) > max) {
      this.fail(
        `"${key}" is ${value as number}, above the limit of ${max}; no model Adapter Studio can load is this large, so the file is corrupt or describes another kind of model`,
      );
    }
    return value as number;
  }

  positiveNumber(key: string, fallback: number): number {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      this.fail(`"${key}" must be a positive number, found ${showJson(value)}`);
    }
    return value as number;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'boolean') this.fail(`"${key}" must be true or false, found ${showJson(value)}`);
    return value as boolean;
  }

  string(key: string, fallback: string): string {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'string') this.fail(`"${key}" must be a string, found ${showJson(value)}`);
    return value as string;
  }

  tokenIds(key: string): number[] {
    const value = this.raw[key];
    if (value === undefined || value === null) return [];
    const list = Array.isArray(value) ? (value as unknown[]) : [value];
    for (const id of list) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
        this.fail(`"${key}" must be a token id or a list of token ids, found ${showJson(value)}`);
      }
    }
    return list as number[];
  }
}

function supportedList(): string {
  return (
    `supported model_type values: ${SUPPORTED_MODEL_TYPES.join(', ')} ` +
    `(architectures ${Object.keys(SUPPORTED_ARCHITECTURES).join(', ')}; SmolLM and TinyLlama are llama)`
  );
}

/** Decides the family from model_type and architectures, refusing anything else. */
function resolveModelType(raw: Json, file: string): { modelType: SupportedModelType; architectures: string[] } {
  const rawType = raw.model_type;
  const rawArchitectures = raw.architectures ?? [];
  if (rawType !== undefined && typeof rawType !== 'string') {
    throw new ModelFormatError(`"model_type" must be a string, found ${showJson(rawType)}`, file);
  }
  if (!Array.isArray(rawArchitectures) || !rawArchitectures.every((a) => typeof a === 'string')) {
    throw new ModelFormatError(`"architectures" must be a list of strings, found ${showJson(rawArchitectures)}`, file);
  }
  const architectures = rawArchitectures as string[];
  let modelType: SupportedModelType | undefined;
  if (rawType !== undefined) {
    if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(rawType)) {
      const why = Object.hasOwn(REFUSED_MODEL_TYPES, rawType) ? ` (${REFUSED_MODEL_TYPES[rawType]})` : '';
      throw new UnsupportedModelError(`${file}: model_type '${clipText(rawType)}' is not supported${why}; ${supportedList()}`);
    }
    modelType = rawType as SupportedModelType;
  }
  if (architectures.length > 0) {
    const known = architectures.filter((a) => SUPPORTED_ARCHITECTURES[a] !== undefined);
    if (known.length === 0) {
      const relative = architectures.find((a) => Object.hasOwn(REFUSED_ARCHITECTURES, a));
      const why = relative ? REFUSED_MODEL_TYPES[REFUSED_ARCHITECTURES[relative]!] : 'only causal language models with a language-model head are';
      throw new UnsupportedModelError(`${file}: architecture ${clipText(architectures.join(', '), 200)} is not supported (${why}); ${supportedList()}`);
    }
    const implied = SUPPORTED_ARCHITECTURES[known[0]!]!;
    if (modelType === undefined) modelType = implied;
    else if (implied !== modelType) {
      throw new ModelFormatError(`model_type '${modelType}' does not match architecture '${known[0]}' (which is ${implied})`, file);
    }
  }
  if (modelType === undefined) {
    throw new UnsupportedModelError(`${file}: neither "model_type" nor "architectures" says what model this is; ${supportedList()}`);
  }
  return { modelType, architectures };
}

function torchDtypeOf(raw: Json): string | null {
  const value = raw.torch_dtype ?? raw.dtype;
  return typeof value === 'string' ? value : null;
}

function parseGpt2(raw: Json, file: string, architectures: string[]): Gpt2Config {
  const r = new Reader(raw, file);
  const fail = (message: string): never => {
    throw new ModelFormatError(message, file);
  };
  const unsupported = (message: string): never => {
    throw new UnsupportedModelError(`${file}: ${message}`);
  };
  const hiddenSize = r.positiveInt('n_embd');
  const numLayers = r.positiveInt('n_layer', undefined, MAX_LAYERS);
  const numHeads = r.positiveInt('n_head');
  const vocabSize = r.positiveInt('vocab_size');
  const maxPositions = r.positiveInt('n_positions', r.has('n_ctx') ? (raw.n_ctx as number) : undefined);
  const intermediateSize = r.positiveInt('n_inner', 4 * hiddenSize);
  const normEps = r.positiveNumber('layer_norm_epsilon', 1e-5);
  if (hiddenSize % numHeads !== 0) {
    fail(`n_embd (${hiddenSize}) must be divisible by n_head (${numHeads})`);
  }
  const act = r.string('activation_function', 'gelu_new');
  if (act !== 'gelu_new' && act !== 'gelu_pytorch_tanh') {
    unsupported(`activation_function '${clipText(act)}' is not supported; GPT-2 models here use gelu_new (tanh-approximated GELU)`);
  }
  if (!r.bool('scale_attn_weights', true)) unsupported('scale_attn_weights=false is not supported');
  if (r.bool('scale_attn_by_inverse_layer_idx', false)) {
    unsupported('scale_attn_by_inverse_layer_idx=true is not supported');
  }
  if (r.bool('add_cross_attention', false)) unsupported('add_cross_attention=true (an encoder-decoder GPT-2) is not supported');
  return {
    family: 'gpt2',
    modelType: 'gpt2',
    architectures,
    norm: 'layernorm',
    activation: 'gelu_new',
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads: numHeads,
    headDim: hiddenSize / numHeads,
    intermediateSize,
    maxPositions,
    normEps,
    tieWordEmbeddings: r.bool('tie_word_embeddings', true),
    bosTokenId: r.tokenIds('bos_token_id')[0] ?? null,
    eosTokenIds: r.tokenIds('eos_token_id'),
    torchDtype: torchDtypeOf(raw),
  };
}

type LlamaModelType = Exclude<SupportedModelType, 'gpt2'>;

interface LlamaDefaults {
  readonly maxPositions: number;
  readonly rmsNormEps: number;
  readonly ropeTheta: number;
  readonly tieWordEmbeddings: boolean;
  /** null: C / H */
  readonly headDim: number | null;
  /** null: H */
  readonly numKvHeads: number | null;
}

/** HF's per-class defaults for keys a config may leave out. */
const LLAMA_DEFAULTS: Record<LlamaModelType, LlamaDefaults> = {
  llama: { maxPositions: 2048, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, headDim: null, numKvHeads: null },
  mistral: { maxPositions: 4096 * 32, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, headDim: null, numKvHeads: null },
  qwen2: { maxPositions: 32768, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, headDim: null, numKvHeads: null },
  qwen3: { maxPositions: 32768, rmsNormEps: 1e-6, ropeTheta: 10000, tieWordEmbeddings: false, headDim: 128, numKvHeads: null },
  gemma3_text: { maxPositions: 131072, rmsNormEps: 1e-6, ropeTheta: 1e6, tieWordEmbeddings: true, headDim: 256, numKvHeads: 4 },
};

type LayerType = 'full_attention' | 'sliding_attention';

/** `value` as torch's `torch.tensor(value).to(dtype)` gives it: f32, then bf16/f16 (nearest, ties to even). */
export function roundToTorchDtype(value: number, dtype: string | null): number {
  if (dtype === 'bfloat16') return bf16BitsToF32(f32ToBf16Bits(value));
  if (dtype === 'float16') return f16BitsToF32(f32ToF16Bits(value));
  return Math.fround(value);
}

function parseLlama(raw: Json, file: string, modelType: LlamaModelType, architectures: string[]): LlamaConfig {
  const r = new Reader(raw, file);
  const fail = (message: string): never => {
    throw new ModelFormatError(message, file);
  };
  // Refusals name the architecture: "config.json: Gemma3ForCausalLM: … is not supported".
  const unsupported = (message: string): never => {
    throw new UnsupportedModelError(`${file}: ${architectures[0] ?? `model_type ${modelType}`}: ${message}`);
  };
  const gemma = modelType === 'gemma3_text';
  const defaults = LLAMA_DEFAULTS[modelType];
  const hiddenSize = r.positiveInt('hidden_size');
  const intermediateSize = r.positiveInt('intermediate_size');
  const numLayers = r.positiveInt('num_hidden_layers', undefined, MAX_LAYERS);
  const numHeads = r.positiveInt('num_attention_heads');
  const numKvHeads = r.positiveInt('num_key_value_heads', defaults.numKvHeads ?? numHeads);
  const vocabSize = r.positiveInt('vocab_size');
  const maxPositions = r.positiveInt('max_position_embeddings', defaults.maxPositions);
  if (!r.has('head_dim') && defaults.headDim === null && hiddenSize % numHeads !== 0) {
    fail(`hidden_size (${hiddenSize}) must be divisible by num_attention_heads (${numHeads})`);
  }
  const headDim = r.positiveInt('head_dim', defaults.headDim ?? hiddenSize / numHeads);
  if (numHeads % numKvHeads !== 0) {
    fail(`num_attention_heads (${numHeads}) must be divisible by num_key_value_heads (${numKvHeads}) ` + `for grouped-query attention`);
  }
  if (headDim % 2 !== 0) fail(`head_dim (${headDim}) must be even for rotary position embeddings`);

  let activation: LlamaConfig['activation'] = 'silu';
  if (gemma) {
    // Gemma3TextConfig names it hidden_activation; gelu_new is the same tanh approximation.
    const act = r.string('hidden_activation', 'gelu_pytorch_tanh');
    if (act !== 'gelu_pytorch_tanh' && act !== 'gelu_new') {
      unsupported(`hidden_activation '${clipText(act)}' is not supported; Gemma 3 models here use gelu_pytorch_tanh (tanh-approximated GELU)`);
    }
    activation = 'gelu_tanh';
    for (const key of ['final_logit_softcapping', 'attn_logit_softcapping']) {
      if (r.has(key)) {
        unsupported(`${key} ${showJson(raw[key])} is not supported (tanh soft-capping is not implemented; Gemma 3 checkpoints set it null)`);
      }
    }
    if (r.bool('use_bidirectional_attention', false)) {
      unsupported('use_bidirectional_attention=true (an encoder such as EmbeddingGemma) is not supported; only causal language models are');
    }
  } else {
    const act = r.string('hidden_act', 'silu');
    if (act !== 'silu' && act !== 'swish') {
      unsupported(`hidden_act '${clipText(act)}' is not supported; Llama-family models here use silu (SwiGLU MLP)`);
    }
  }
  if (r.has('partial_rotary_factor') && raw.partial_rotary_factor !== 1) {
    unsupported(`partial_rotary_factor ${showJson(raw.partial_rotary_factor)} is not supported; RoPE must cover the whole head`);
  }

  // RoPE: transformers 5 nests base and type in rope_parameters (per layer type for Gemma 3);
  // 4.x keeps rope_theta and rope_scaling at the top level (Gemma 3: rope_local_base_freq for
  // the sliding layers, whose RoPE is never scaled).
  const ropeParameters = raw.rope_parameters;
  if (ropeParameters !== undefined && ropeParameters !== null && !isObject(ropeParameters)) {
    fail(`"rope_parameters" must be an object or null, found ${showJson(ropeParameters)}`);
  }
  const checkRopeType = (key: string, spec: unknown): void => {
    if (spec === undefined || spec === null) return;
    if (!isObject(spec)) fail(`"${key}" must be an object or null, found ${showJson(spec)}`);
    const kind = (spec as Json).rope_type ?? (spec as Json).type;
    if (kind !== 'default') {
      unsupported(
        `${key} of type '${clipText(String(kind))}' is not supported (linear, dynamic, yarn, longrope, llama3 and ` +
          `the other scaled RoPE variants are not implemented); only unscaled RoPE (rope_scaling null) is`,
      );
    }
  };
  const ropeTheta = (layerType: LayerType | null, v4Key: string, v4Default: number, v4Scaling: unknown): number => {
    if (isObject(ropeParameters)) {
      const nested = layerType !== null ? ropeParameters[layerType] : undefined;
      const spec = isObject(nested) ? nested : ropeParameters;
      checkRopeType('rope_parameters', spec);
      return new Reader(spec, file).positiveNumber('rope_theta', r.positiveNumber(v4Key, v4Default));
    }
    checkRopeType('rope_scaling', v4Scaling);
    return r.positiveNumber(v4Key, v4Default);
  };
  const globalTheta = ropeTheta(gemma ? 'full_attention' : null, 'rope_theta', defaults.ropeTheta, raw.rope_scaling);
  const localTheta = gemma ? ropeTheta('sliding_attention', 'rope_local_base_freq', 10000, null) : globalTheta;

  // Which layers slide, and by how much.
  let types: LayerType[];
  let window: number | null;
  if (Array.isArray(raw.layer_types)) {
    const list = raw.layer_types as unknown[];
    if (list.length !== numLayers) fail(`"layer_types" has ${list.length} entries; num_hidden_layers is ${numLayers}`);
    for (const t of list) {
      if (t !== 'full_attention' && t !== 'sliding_attention') {
        if (typeof t !== 'string') fail(`"layer_types" must be a list of strings, found ${showJson(raw.layer_types)}`);
        unsupported(`layer type '${String(t)}' is not supported; only full_attention and sliding_attention are`);
      }
    }
    types = list as LayerType[];
  } else if (r.has('layer_types')) {
    fail(`"layer_types" must be a list of strings, found ${showJson(raw.layer_types)}`);
  }
  if (gemma) {
    // Gemma3TextConfig: without layer_types, layer i slides unless (i + 1) is a multiple of the
    // pattern (5 local layers, then 1 global, by default).
    const pattern = r.positiveInt('sliding_window_pattern', r.has('_sliding_window_pattern') ? r.positiveInt('_sliding_window_pattern') : 6);
    types ??= Array.from({ length: numLayers }, (_, i): LayerType => ((i + 1) % pattern !== 0 ? 'sliding_attention' : 'full_attention'));
    window = r.has('sliding_window') ? r.positiveInt('sliding_window') : raw.sliding_window === null ? null : 4096;
  } else if (modelType === 'qwen2' || modelType === 'qwen3') {
    // The window is off unless use_sliding_window; then layers from max_window_layers on slide.
    window = r.bool('use_sliding_window', false) && r.has('sliding_window') ? r.positiveInt('sliding_window') : null;
    const first = r.positiveInt('max_window_layers', 28, MAX_LAYERS);
    types ??= Array.from({ length: numLayers }, (_, i): LayerType => (window !== null && i >= first ? 'sliding_attention' : 'full_attention'));
  } else if (modelType === 'mistral') {
    window = r.has('sliding_window') ? r.positiveInt('sliding_window') : null;
    types ??= Array.from({ length: numLayers }, (): LayerType => 'sliding_attention');
  } else {
    window = null;
    types ??= Array.from({ length: numLayers }, (): LayerType => 'full_attention');
  }
  const layers = types.map((t): LayerAttention => ({
    window: t === 'sliding_attention' ? window : null,
    ropeTheta: t === 'sliding_attention' ? localTheta : globalTheta,
  }));
  const slidingWindow = layers.some((l) => l.window !== null) ? window : null;

  let attentionBias = { q: false, k: false, v: false, o: false };
  let mlpBias = false;
  if (modelType === 'qwen2') {
    // Qwen2Attention hard-codes bias=True on q/k/v and bias=False on o_proj; configs do not say so.
    attentionBias = { q: true, k: true, v: true, o: false };
  } else if (modelType !== 'mistral') {
    const b = r.bool('attention_bias', false);
    attentionBias = { q: b, k: b, v: b, o: b };
    if (modelType === 'llama') mlpBias = r.bool('mlp_bias', false);
  }

  const torchDtype = torchDtypeOf(raw);
  return {
    family: 'llama',
    modelType,
    architectures,
    norm: 'rmsnorm',
    activation,
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    maxPositions,
    normEps: r.positiveNumber('rms_norm_eps', defaults.rmsNormEps),
    tieWordEmbeddings: r.bool('tie_word_embeddings', defaults.tieWordEmbeddings),
    bosTokenId: r.tokenIds('bos_token_id')[0] ?? null,
    eosTokenIds: r.tokenIds('eos_token_id'),
    torchDtype,
    ropeTheta: globalTheta,
    attentionBias,
    mlpBias,
    slidingWindow,
    layers,
    qkNorm: modelType === 'qwen3' || gemma,
    normWeightOffset: gemma ? 1 : 0,
    sandwichNorms: gemma,
    // Gemma3TextScaledWordEmbedding: embed_scale = √C cast to the weights' dtype (√1152 → 34 in bf16).
    embedScale: gemma ? roundToTorchDtype(Math.sqrt(hiddenSize), torchDtype) : 1,
    attentionScale: gemma ? 1 / Math.sqrt(r.positiveNumber('query_pre_attn_scalar', 256)) : 1 / Math.sqrt(headDim),
  };
}

/** Normalizes a parsed config.json. Throws UnsupportedModelError or ModelFormatError naming `file`. */
export function parseModelConfig(raw: unknown, file = 'config.json'): ModelConfig {
  if (!isObject(raw)) throw new ModelFormatError('must be a JSON object', file);
  const { modelType, architectures } = resolveModelType(raw, file);
  return modelType === 'gpt2' ? parseGpt2(raw, file, architectures) : parseLlama(raw, file, modelType, architectures);
}

/** parseModelConfig from the file's text. */
export function parseModelConfigText(text: string, file = 'config.json'): ModelConfig {
  return parseModelConfig(
    parseJsonText(text, (reason) => new ModelFormatError(reason, file)),
    file,
  );
}

/** Buffers GPT-2 checkpoints carry that are not parameters (the causal mask); never loaded. */
export function isIgnoredTensor(config: ModelConfig, name: string): boolean {
  if (config.family === 'gpt2') return /(^|\.)attn\.(masked_)?bias$/.test(name);
  return /\.rotary_emb\.inv_freq$/.test(name);
}

/** HF tensor names and shapes the model needs, in load order (embeddings, blocks, final norm, head). */
export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  const out: ExpectedTensor[] = [];
  const { hiddenSize: C, vocabSize: V, numLayers: L, intermediateSize: I } = config;
  if (config.family === 'gpt2') {
    const add = (name: string, shape: number[], layer: number | null): void => {
      out.push({ name, aliases: [`transformer.${name}`], shape, layer });
    };
    add('wte.weight', [V, C], null);
    add('wpe.weight', [config.maxPositions, C], null);
    for (let i = 0; i < L; i++) {
      const p = `h.${i}.`;
      add(`${p}ln_1.weight`, [C], i);
      add(`${p}ln_1.bias`, [C], i);
      add(`${p}attn.c_attn.weight`, [C, 3 * C], i); // Conv1D: [in, out]
      add(`${p}attn.c_attn.bias`, [3 * C], i);
      add(`${p}attn.c_proj.weight`, [C, C], i);
      add(`${p}attn.c_proj.bias`, [C], i);
      add(`${p}ln_2.weight`, [C], i);
      add(`${p}ln_2.bias`, [C], i);
      add(`${p}mlp.c_fc.weight`, [C, I], i);
      add(`${p}mlp.c_fc.bias`, [I], i);
      add(`${p}mlp.c_proj.weight`, [I, C], i);
      add(`${p}mlp.c_proj.bias`, [C], i);
    }
    add('ln_f.weight', [C], null);
    add('ln_f.bias', [C], null);
    if (!config.tieWordEmbeddings) out.push({ name: 'lm_head.weight', aliases: [], shape: [V, C], layer: null });
    return out;
  }
  const { numHeads: H, numKvHeads: KV, headDim: D, attentionBias, mlpBias } = config;
  const add = (name: string, shape: number[], layer: number | null): void => {
    out.push({ name, aliases: [], shape, layer });
  };
  add('model.embed_tokens.weight', [V, C], null);
  for (let i = 0; i < L; i++) {
    const p = `model.layers.${i}.`;
    add(`${p}input_layernorm.weight`, [C], i);
    // nn.Linear: [out, in]
    const proj: [string, number, number, boolean][] = [
      ['q_proj', H * D, C, attentionBias.q],
      ['k_proj', KV * D, C, attentionBias.k],
      ['v_proj', KV * D, C, attentionBias.v],
      ['o_proj', C, H * D, attentionBias.o],
    ];
    for (const [name, outDim, inDim, bias] of proj) {
      add(`${p}self_attn.${name}.weight`, [outDim, inDim], i);
      if (bias) add(`${p}self_attn.${name}.bias`, [outDim], i);
    }
    if (config.qkNorm) {
      add(`${p}self_attn.q_norm.weight`, [D], i);
      add(`${p}self_attn.k_norm.weight`, [D], i);
    }
    add(`${p}post_attention_layernorm.weight`, [C], i);
    if (config.sandwichNorms) add(`${p}pre_feedforward_layernorm.weight`, [C], i);
    const mlp: [string, number, number][] = [
      ['gate_proj', I, C],
      ['up_proj', I, C],
      ['down_proj', C, I],
    ];
    for (const [name, outDim, inDim] of mlp) {
      add(`${p}mlp.${name}.weight`, [outDim, inDim], i);
      if (mlpBias) add(`${p}mlp.${name}.bias`, [outDim], i);
    }
    if (config.sandwichNorms) add(`${p}post_feedforward_layernorm.weight`, [C], i);
  }
  add('model.norm.weight', [C], null);
  if (!config.tieWordEmbeddings) add('lm_head.weight', [V, C], null);
  return out;
}

/** Parameters of the model (tied embeddings counted once). */
export function paramCount(config: ModelConfig): number {
  let n = 0;
  for (const t of expectedTensors(config)) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** Parameters that sit in linear layers an adapter can target, per module name (all layers summed). */
export function linearParamCounts(config: ModelConfig): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of expectedTensors(config)) {
    if (t.layer === null || t.shape.length !== 2) continue;
    const module = t.name.split('.').slice(-2, -1)[0]!;
    out[module] = (out[module] ?? 0) + t.shape[0]! * t.shape[1]!;
  }
  return out;
}

/** One training step's shape, as the memory plan needs it. */
export interface StepShape {
  /** B */
  readonly batch: number;
  /** T */
  readonly seqLen: number;
  /** Activation checkpointing: each block keeps only its output; backward recomputes one block at a time. */
  readonly checkpointing?: boolean;
  /** Rows R of one logits chunk of the LM-head loss (tensor/ops/lmHeadLoss.ts lmHeadChunkRows); default B·T (one chunk). */
  readonly lmHeadRows?: number;
  /**
   * Per block, the f32 buffers the adapters in it keep beyond their base projections' outputs, each
   * in floats per token (MethodPlan.layerActivations of its targets); absent: none.
   */
  readonly adapterActivations?: readonly (readonly number[])[];
  /** The pool's bytes for one buffer of `bytes` (gpu/pool.ts sizeClassOf); exact bytes when absent. */
  readonly roundBuffer?: (bytes: number) => number;
  /**
   * Rows of the LM head's largest row block when the head is held as row blocks (gpu/rowBlocks.ts):
   * each chunk's products then go through a scratch [R, rows]; absent: one buffer, no scratch.
   */
  readonly lmHeadBlockRows?: number;
}

export interface MemoryEstimateOptions extends StepShape {
  /**
   * Bytes per frozen base weight as held on the GPU (4 f32, 2 f16/bf16, ~0.53 NF4 with its scales),
   * for every tensor or per tensor (16-bit checkpoints keep their matrices 2-byte, norms f32).
   */
  readonly weightBytesPerParam: number | ((tensor: ExpectedTensor) => number);
  /** Parameters that train (all for full fine-tuning, the adapter's otherwise). */
  readonly trainableParams: number;
  /**
   * The pool's bytes for a frozen tensor of `bytes` as held: one buffer (roundBuffer), or several
   * for a matrix held as row blocks (gpu/rowBlocks.ts); roundBuffer(bytes) when absent.
   */
  readonly heldBytes?: (tensor: ExpectedTensor, bytes: number) => number;
}

export interface MemoryEstimate {
  /** Frozen base weights, one buffer per tensor. */
  readonly weightBytes: number;
  /** Trainable parameters, their gradients and AdamW's two moments, all f32 (16 bytes each). */
  readonly trainableBytes: number;
  /** One training step at its peak: what the tape keeps, plus the largest set of buffers live at once in backward. */
  readonly activationBytes: number;
  readonly totalBytes: number;
}

/**
 * Floats per token of each buffer one block's forward keeps until the end of the step (every op
 * output is kept; norms add their (μ, rstd) stats [rows, 2], flash attention its log-sum-exp
 * [B, H, T]; nothing [B, H, T, T]), in the order the block makes them.
 */
function blockBuffers(config: ModelConfig): number[] {
  const { hiddenSize: C, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: D } = config;
  if (config.family === 'gpt2') {
    // ln_1 and stats, c_attn, split q k v, attention and lse, c_proj, residual, ln_2 and stats, c_fc, gelu, mlp.c_proj, residual
    return [C, 2, 3 * C, C, C, C, C, H, C, C, C, 2, I, I, C, C];
  }
  const q = H * D;
  const kv = KV * D;
  const out = [C, 2, q, kv, kv]; // input norm and stats, q, k, v
  if (config.qkNorm) out.push(q, 2 * H, kv, 2 * KV); // per-head norms and their stats
  out.push(q, kv, q, H, C); // rope(q), rope(k), attention output, lse, o_proj
  if (config.sandwichNorms) out.push(C, 2); // post-attention norm
  out.push(C, C, 2, I, I); // residual, the MLP's input norm and stats, gate, up
  out.push(...(config.activation === 'silu' ? [I] : [I, I])); // swiglu, or gelu(gate) and its product with up
  out.push(C); // down
  if (config.sandwichNorms) out.push(C, 2); // post-feedforward norm
  out.push(C); // residual
  return out;
}

/** Floats per token of the buffers kept outside the blocks: ids, targets, embeddings, final norm and stats. */
function outerBuffers(config: ModelConfig): number[] {
  const C = config.hiddenSize;
  // GPT-2: positions, wte, wpe, their sum; Gemma 3: the lookup and its √C scaling
  const embed = config.family === 'gpt2' ? [1, C, C, C] : config.modelType === 'gemma3_text' ? [C, C] : [C];
  return [1, 1, ...embed, C, 2];
}

/**
 * Floats per token of the gradients live at once in one block's backward: the residual's gradient
 * C with, at the MLP's activation, its output's gradient and the two input gradients (3I gated,
 * 2I GPT-2), one more I when an adapter's sum splits a gradient in two; or at attention dO, dq,
 * dk, dv and Δ.
 */
function blockTransient(config: ModelConfig, adapted: boolean): number {
  const { hiddenSize: C, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: D } = config;
  const mlp = C + (config.family === 'gpt2' ? 2 : 3) * I + (adapted ? I : 0);
  const attention = C + 2 * H * D + 2 * KV * D + H;
  return Math.max(mlp, attention);
}

/**
 * A plan (not a measurement) of GPU memory for one training step, buffer by buffer as the tape
 * holds them (`roundBuffer` applies the pool's size classes to each). Without checkpointing every
 * block keeps all its outputs (blockBuffers) until the step ends; with it each block keeps only
 * its output [B·T, C], and backward holds one recomputed block at a time with the incoming
 * gradient. On top: the LM-head loss's saved row statistics (3N + 1 floats) and, at its backward,
 * ∂L/∂h [N, C], one logits chunk [R, V] and, when chunked, two [R, C] row buffers (never [N, V]),
 * with a head in row blocks one scratch [R, rows of a block];
 * or the largest gradient set of a block's backward, whichever is larger. Trainable tensors count
 * 16 bytes per parameter (value, gradient, AdamW's m and v).
 */
export function memoryEstimate(config: ModelConfig, options: MemoryEstimateOptions): MemoryEstimate {
  const round = options.roundBuffer ?? ((bytes: number) => bytes);
  let weightBytes = 0;
  let f32Raw = 0;
  let f32Rounded = 0;
  for (const t of expectedTensors(config)) {
    const perParam = typeof options.weightBytesPerParam === 'number' ? options.weightBytesPerParam : options.weightBytesPerParam(t);
    const size = t.shape.reduce((a, b) => a * b, 1);
    const bytes = Math.ceil(size * perParam);
    weightBytes += options.heldBytes ? options.heldBytes(t, bytes) : round(bytes);
    f32Raw += 4 * size;
    f32Rounded += round(4 * size);
  }
  // Trainable tensors' shapes are not known here: the rounding of the model's own shapes in f32 stands in.
  const slack = f32Raw > 0 ? f32Rounded / f32Raw : 1;
  const trainableBytes = Math.ceil(16 * options.trainableParams * slack);
  const activationBytes = stepActivationBytes(config, options);
  return { weightBytes, trainableBytes, activationBytes, totalBytes: weightBytes + trainableBytes + activationBytes };
}

/** The step's own bytes at its peak (see memoryEstimate). */
export function stepActivationBytes(config: ModelConfig, shape: StepShape): number {
  const round = shape.roundBuffer ?? ((bytes: number) => bytes);
  const { hiddenSize: C, vocabSize: V, numLayers: L } = config;
  const N = shape.batch * shape.seqLen;
  const R = Math.max(1, Math.min(shape.lmHeadRows ?? N, N));
  const buffers = (floatsPerToken: readonly number[]) => floatsPerToken.reduce((n, f) => n + round(4 * f * N), 0);
  const kept = buffers(outerBuffers(config)) + round(4 * (3 * N + 1)) + round(4);
  const scratch = shape.lmHeadBlockRows ? round(4 * R * shape.lmHeadBlockRows) : 0;
  const head = round(4 * N * C) + round(4 * R * V) + (R < N ? 2 * round(4 * R * C) : 0) + scratch + 2 * round(4);
  const perBlock = blockBuffers(config);
  const blocks = Array.from({ length: L }, (_, i) => {
    const adapters = shape.adapterActivations?.[i] ?? [];
    return { kept: buffers(perBlock) + buffers(adapters), transient: buffers([blockTransient(config, adapters.length > 0)]) };
  });
  if (shape.checkpointing) {
    const outputs = L * round(4 * N * C);
    const recomputed = Math.max(0, ...blocks.map((b) => b.kept + b.transient + round(4 * N * C)));
    return kept + outputs + Math.max(head, recomputed);
  }
  const all = blocks.reduce((n, b) => n + b.kept, 0);
  return kept + all + Math.max(head, ...blocks.map((b) => b.transient));
}

/** The largest single GPU buffer a training step needs, and what it holds. */
export interface LargestBuffer {
  readonly bytes: number;
  readonly what: string;
}

export interface LargestBufferOptions {
  /** Rows R of one logits chunk (lmHeadChunkRows); default B·T. */
  readonly lmHeadRows?: number;
  /** Every parameter trains (full fine-tuning): AdamW keeps m and v of the embedding in one [2·V·C] buffer. */
  readonly embeddingTrains?: boolean;
  /** Rows of the embedding's largest row block when a frozen embedding is held as row blocks (gpu/rowBlocks.ts). */
  readonly embeddingBlockRows?: number;
}

/**
 * The biggest buffer one step allocates (f32): a logits chunk [R, V] (the loss never holds
 * [B·T, V]), the MLP's hidden [B·T, I], GPT-2's fused q, k, v [B·T, 3C], the embedding matrix
 * [V, C], or under full fine-tuning the embedding's AdamW state [2·V·C]. Each must fit the
 * adapter's maxBufferSize and maxStorageBufferBindingSize, whatever the total memory.
 */
export function largestStepBuffer(config: ModelConfig, batch: number, seqLen: number, options: LargestBufferOptions = {}): LargestBuffer {
  const { hiddenSize: C, intermediateSize: I, vocabSize: V } = config;
  const N = batch * seqLen;
  const R = Math.max(1, Math.min(options.lmHeadRows ?? N, N));
  const candidates: LargestBuffer[] = [
    { bytes: 4 * R * V, what: `a chunk of logits (${R} of the ${batch}×${seqLen} tokens × ${V} vocabulary)` },
    { bytes: 4 * N * I, what: `the MLP activations (${batch}×${seqLen} tokens × ${I})` },
    options.embeddingBlockRows !== undefined && options.embeddingBlockRows < V && !options.embeddingTrains
      ? { bytes: 4 * options.embeddingBlockRows * C, what: `a row block of the embedding matrix (${options.embeddingBlockRows} of its ${V}×${C})` }
      : { bytes: 4 * V * C, what: `the embedding matrix (${V}×${C})` },
  ];
  if (config.family === 'gpt2') candidates.push({ bytes: 4 * N * 3 * C, what: `the fused q, k, v (${batch}×${seqLen} tokens × ${3 * C})` });
  if (options.embeddingTrains) candidates.push({ bytes: 8 * V * C, what: `AdamW's state of the embedding (2 × ${V}×${C})` });
  return candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
}
