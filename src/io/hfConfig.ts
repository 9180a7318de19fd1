// Hugging Face `config.json` → a normalized ModelConfig for the two families we run:
// GPT-2 (LayerNorm, learned positions, gelu_new MLP, fused c_attn, Conv1D weights stored [in, out])
// and Llama (Llama, Mistral, Qwen2, SmolLM: RMSNorm, RoPE, SwiGLU, grouped-query attention).
// Also the list of HF tensor names and shapes each config needs, parameter counts and a memory
// estimate. Dimension letters: C model width, L layers, H heads, KV key/value heads, D head size,
// I MLP width, V vocabulary, P positions. Not here: reading weights (modelFiles.ts), tokenizers.

import { ModelFormatError, UnsupportedModelError } from '../errors';

export const SUPPORTED_MODEL_TYPES = ['gpt2', 'llama', 'mistral', 'qwen2'] as const;
export type SupportedModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

/** `architectures` entries we accept and the model_type each implies. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, SupportedModelType>> = {
  GPT2LMHeadModel: 'gpt2',
  GPT2Model: 'gpt2',
  LlamaForCausalLM: 'llama',
  MistralForCausalLM: 'mistral',
  Qwen2ForCausalLM: 'qwen2',
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

export interface LlamaConfig extends ConfigBase {
  readonly family: 'llama';
  readonly norm: 'rmsnorm';
  readonly activation: 'silu';
  readonly ropeTheta: number;
  /** Which attention projections carry a bias (Qwen2: q, k, v; Llama `attention_bias`: all four). */
  readonly attentionBias: { readonly q: boolean; readonly k: boolean; readonly v: boolean; readonly o: boolean };
  readonly mlpBias: boolean;
  /**
   * Sliding-window attention span when enabled (Mistral `sliding_window`, Qwen2 with
   * `use_sliding_window`); null when disabled. Full causal attention is exact for sequences up to
   * this length, so the trainer must keep T ≤ slidingWindow.
   */
  readonly slidingWindow: number | null;
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

  positiveInt(key: string, fallback?: number): number {
    const value = this.raw[key] ?? fallback;
    if (value === undefined) this.fail(`"${key}" is missing; it must be a positive integer`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      this.fail(`"${key}" must be a positive integer, found ${JSON.stringify(value)}`);
    }
    return value as number;
  }

  positiveNumber(key: string, fallback: number): number {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      this.fail(`"${key}" must be a positive number, found ${JSON.stringify(value)}`);
    }
    return value as number;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'boolean') this.fail(`"${key}" must be true or false, found ${JSON.stringify(value)}`);
    return value as boolean;
  }

  string(key: string, fallback: string): string {
    const value = this.raw[key] ?? fallback;
    if (typeof value !== 'string') this.fail(`"${key}" must be a string, found ${JSON.stringify(value)}`);
    return value as string;
  }

  tokenIds(key: string): number[] {
    const value = this.raw[key];
    if (value === undefined || value === null) return [];
    const list = Array.isArray(value) ? (value as unknown[]) : [value];
    for (const id of list) {
      if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
        this.fail(`"${key}" must be a token id or a list of token ids, found ${JSON.stringify(value)}`);
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
    throw new ModelFormatError(`"model_type" must be a string, found ${JSON.stringify(rawType)}`, file);
  }
  if (!Array.isArray(rawArchitectures) || !rawArchitectures.every((a) => typeof a === 'string')) {
    throw new ModelFormatError(`"architectures" must be a list of strings, found ${JSON.stringify(rawArchitectures)}`, file);
  }
  const architectures = rawArchitectures as string[];
  let modelType: SupportedModelType | undefined;
  if (rawType !== undefined) {
    if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(rawType)) {
      throw new UnsupportedModelError(`${file}: model_type '${rawType}' is not supported; ${supportedList()}`);
    }
    modelType = rawType as SupportedModelType;
  }
  if (architectures.length > 0) {
    const known = architectures.filter((a) => SUPPORTED_ARCHITECTURES[a] !== undefined);
    if (known.length === 0) {
      throw new UnsupportedModelError(
        `${file}: architecture ${architectures.join(', ')} is not supported (only causal language models ` +
          `with a language-model head are); ${supportedList()}`,
      );
    }
    const implied = SUPPORTED_ARCHITECTURES[known[0]!]!;
    if (modelType === undefined) modelType = implied;
    else if (implied !== modelType) {
      throw new ModelFormatError(
        `model_type '${modelType}' does not match architecture '${known[0]}' (which is ${implied})`,
        file,
      );
    }
  }
  if (modelType === undefined) {
    throw new UnsupportedModelError(
      `${file}: neither "model_type" nor "architectures" says what model this is; ${supportedList()}`,
    );
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
  const numLayers = r.positiveInt('n_layer');
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
    unsupported(
      `activation_function '${act}' is not supported; GPT-2 models here use gelu_new (tanh-approximated GELU)`,
    );
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

/** HF's per-class defaults for keys a config may leave out. */
const LLAMA_DEFAULTS: Record<'llama' | 'mistral' | 'qwen2', { maxPositions: number; rmsNormEps: number }> = {
  llama: { maxPositions: 2048, rmsNormEps: 1e-6 },
  mistral: { maxPositions: 4096 * 32, rmsNormEps: 1e-6 },
  qwen2: { maxPositions: 32768, rmsNormEps: 1e-6 },
};

function parseLlama(raw: Json, file: string, modelType: 'llama' | 'mistral' | 'qwen2', architectures: string[]): LlamaConfig {
  const r = new Reader(raw, file);
  const fail = (message: string): never => {
    throw new ModelFormatError(message, file);
  };
  const unsupported = (message: string): never => {
    throw new UnsupportedModelError(`${file}: ${message}`);
  };
  const defaults = LLAMA_DEFAULTS[modelType];
  const hiddenSize = r.positiveInt('hidden_size');
  const intermediateSize = r.positiveInt('intermediate_size');
  const numLayers = r.positiveInt('num_hidden_layers');
  const numHeads = r.positiveInt('num_attention_heads');
  const numKvHeads = r.positiveInt('num_key_value_heads', numHeads);
  const vocabSize = r.positiveInt('vocab_size');
  const maxPositions = r.positiveInt('max_position_embeddings', defaults.maxPositions);
  if (!r.has('head_dim') && hiddenSize % numHeads !== 0) {
    fail(`hidden_size (${hiddenSize}) must be divisible by num_attention_heads (${numHeads})`);
  }
  const headDim = r.positiveInt('head_dim', hiddenSize / numHeads);
  if (numHeads % numKvHeads !== 0) {
    fail(
      `num_attention_heads (${numHeads}) must be divisible by num_key_value_heads (${numKvHeads}) ` +
        `for grouped-query attention`,
    );
  }
  if (headDim % 2 !== 0) fail(`head_dim (${headDim}) must be even for rotary position embeddings`);
  const act = r.string('hidden_act', 'silu');
  if (act !== 'silu' && act !== 'swish') {
    unsupported(`hidden_act '${act}' is not supported; Llama-family models here use silu (SwiGLU MLP)`);
  }

  const ropeScaling = raw.rope_scaling;
  if (ropeScaling !== undefined && ropeScaling !== null) {
    if (!isObject(ropeScaling)) fail(`"rope_scaling" must be an object or null, found ${JSON.stringify(ropeScaling)}`);
    const scaling = ropeScaling as Json;
    const kind = scaling.rope_type ?? scaling.type;
    if (kind !== 'default') {
      unsupported(
        `rope_scaling of type '${String(kind)}' is not supported (linear, dynamic, yarn, longrope, llama3 and ` +
          `the other scaled RoPE variants are not implemented); only unscaled RoPE (rope_scaling null) is`,
      );
    }
  }
  if (r.has('partial_rotary_factor') && raw.partial_rotary_factor !== 1) {
    unsupported(`partial_rotary_factor ${JSON.stringify(raw.partial_rotary_factor)} is not supported; RoPE must cover the whole head`);
  }

  let slidingWindow: number | null = null;
  const windowEnabled = modelType === 'qwen2' ? r.bool('use_sliding_window', false) : modelType === 'mistral';
  if (windowEnabled && r.has('sliding_window')) slidingWindow = r.positiveInt('sliding_window');

  let attentionBias = { q: false, k: false, v: false, o: false };
  let mlpBias = false;
  if (modelType === 'qwen2') {
    // Qwen2Attention hard-codes bias=True on q/k/v and bias=False on o_proj; configs do not say so.
    attentionBias = { q: true, k: true, v: true, o: false };
  } else if (modelType === 'llama') {
    const b = r.bool('attention_bias', false);
    attentionBias = { q: b, k: b, v: b, o: b };
    mlpBias = r.bool('mlp_bias', false);
  }

  return {
    family: 'llama',
    modelType,
    architectures,
    norm: 'rmsnorm',
    activation: 'silu',
    vocabSize,
    hiddenSize,
    numLayers,
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize,
    maxPositions,
    normEps: r.positiveNumber('rms_norm_eps', defaults.rmsNormEps),
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    bosTokenId: r.tokenIds('bos_token_id')[0] ?? null,
    eosTokenIds: r.tokenIds('eos_token_id'),
    torchDtype: torchDtypeOf(raw),
    ropeTheta: r.positiveNumber('rope_theta', 10000),
    attentionBias,
    mlpBias,
    slidingWindow,
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
  let raw: unknown;
  try {
    raw = JSON.parse(text) as unknown;
  } catch (error) {
    throw new ModelFormatError(`is not valid JSON (${error instanceof Error ? error.message : String(error)})`, file);
  }
  return parseModelConfig(raw, file);
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
    add(`${p}post_attention_layernorm.weight`, [C], i);
    const mlp: [string, number, number][] = [
      ['gate_proj', I, C],
      ['up_proj', I, C],
      ['down_proj', C, I],
    ];
    for (const [name, outDim, inDim] of mlp) {
      add(`${p}mlp.${name}.weight`, [outDim, inDim], i);
      if (mlpBias) add(`${p}mlp.${name}.bias`, [outDim], i);
    }
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

export interface MemoryEstimateOptions {
  /** Bytes per frozen base weight as held on the GPU (4 f32, 2 f16/bf16, ~0.53 NF4 with its scales). */
  readonly weightBytesPerParam: number;
  /** Parameters that train (all for full fine-tuning, the adapter's otherwise). */
  readonly trainableParams: number;
  /** B */
  readonly batch: number;
  /** T */
  readonly seqLen: number;
}

export interface MemoryEstimate {
  /** Frozen base weights. */
  readonly weightBytes: number;
  /** Trainable parameters, their gradients and AdamW's two moments, all f32 (16 bytes each). */
  readonly trainableBytes: number;
  /** Activations kept for backward, f32, including the logits and their gradient. */
  readonly activationBytes: number;
  readonly totalBytes: number;
}

/**
 * A planning estimate (not a measurement) of GPU memory for one training step. Activations per
 * layer and token (f32): GPT-2 keeps x, ln_1, qkv (3C), attention output, residual and ln_2
 * (8C), the MLP pre- and post-activation (2I) and attention probabilities (H·T). Llama keeps x,
 * norm 1, residual, norm 2 (4C), q and its rotated copy and the attention output (3·H·D), k, v
 * and rotated k (3·KV·D), gate, up and their product (3I) and the probabilities (H·T). Plus the
 * logits and their gradient (2V per token). Pool fragmentation and kernel scratch are not
 * included.
 */
export function memoryEstimate(config: ModelConfig, options: MemoryEstimateOptions): MemoryEstimate {
  const { hiddenSize: C, intermediateSize: I, numHeads: H, numKvHeads: KV, headDim: D, vocabSize: V } = config;
  const tokens = options.batch * options.seqLen;
  const perTokenPerLayer =
    config.family === 'gpt2'
      ? 8 * C + 2 * I + H * options.seqLen
      : 4 * C + 3 * H * D + 3 * KV * D + 3 * I + H * options.seqLen;
  const activationBytes = 4 * tokens * (config.numLayers * perTokenPerLayer + 2 * V);
  const weightBytes = Math.ceil(paramCount(config) * options.weightBytesPerParam);
  const trainableBytes = 16 * options.trainableParams;
  return { weightBytes, trainableBytes, activationBytes, totalBytes: weightBytes + trainableBytes + activationBytes };
}

/** The largest single GPU buffer a training step needs, and what it holds. */
export interface LargestBuffer {
  readonly bytes: number;
  readonly what: string;
}

/**
 * The biggest buffer one step allocates (f32): the logits [B·T, vocab] (and their gradient, same
 * size), the attention probabilities [B, H, T, T], the MLP's hidden [B·T, I], or the embedding
 * matrix [vocab, C] (its gradient and AdamW moments too under full fine-tuning). Each must fit the
 * adapter's maxBufferSize and maxStorageBufferBindingSize, whatever the total memory.
 */
export function largestStepBuffer(config: ModelConfig, batch: number, seqLen: number): LargestBuffer {
  const { hiddenSize: C, intermediateSize: I, numHeads: H, vocabSize: V } = config;
  const candidates: LargestBuffer[] = [
    { bytes: 4 * batch * seqLen * V, what: `the logits (${batch}×${seqLen} tokens × ${V} vocabulary)` },
    { bytes: 4 * batch * H * seqLen * seqLen, what: `the attention probabilities (${batch} × ${H} heads × ${seqLen}×${seqLen})` },
    { bytes: 4 * batch * seqLen * I, what: `the MLP activations (${batch}×${seqLen} tokens × ${I})` },
    { bytes: 4 * V * C, what: `the embedding matrix (${V}×${C})` },
  ];
  return candidates.reduce((a, b) => (b.bytes > a.bytes ? b : a));
}
