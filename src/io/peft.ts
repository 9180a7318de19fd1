// Hugging Face PEFT formats, as pure data: a LoRA adapter folder (adapter_config.json +
// adapter_model.safetensors with PEFT's key names) and a merged model folder (model.safetensors
// with Hugging Face names + config.json + tokenizer files).
// Keys: PEFT wraps the causal-LM class, so a Llama projection `model.layers.0.self_attn.q_proj`
// becomes `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`, and GPT-2's
// `h.0.attn.c_attn` (inside GPT2LMHeadModel's `transformer`) becomes
// `base_model.model.transformer.h.0.attn.c_attn.lora_A.weight`.
// Layouts: lora_A [r, in], lora_B [out, r] for both families (PEFT keeps nn.Linear layouts for
// the factors even with GPT-2's Conv1D; fan_in_fan_out = true tells it the base is [in, out]).
// DoRA (use_dora): the magnitude m [out] under `….lora_magnitude_vector`, with no `.weight`
// (PEFT's LoraModel._get_adapter_state_dict strips it: files kept their key when the magnitude
// moved from a ParameterDict into a DoraLinearLayer module).

import { writeSafetensors, type TensorToWrite } from './safetensors';
import { InternalError } from '../errors';

export type ModelFamily = 'gpt2' | 'llama';

export interface PeftLayer {
  /** Our module path: `model.layers.{i}.self_attn.q_proj` or GPT-2 `h.{i}.attn.c_attn`. */
  readonly module: string;
  /** [r, in] */
  readonly A: Float32Array;
  /** [out, r] */
  readonly B: Float32Array;
  /** [out]: DoRA's magnitude vector (the adapter's useDora). */
  readonly magnitude?: Float32Array;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** This layer's rank when it differs from the adapter's (EVA); written to `rank_pattern`. */
  readonly rank?: number;
  /** This layer's lora_alpha when it differs from the adapter's; written to `alpha_pattern`. */
  readonly alpha?: number;
}

export interface PeftAdapter {
  readonly family: ModelFamily;
  readonly baseModel: string;
  readonly rank: number;
  readonly alpha: number;
  readonly useRslora: boolean;
  /** DoRA: every layer carries a magnitude. */
  readonly useDora?: boolean;
  readonly layers: readonly PeftLayer[];
  /** Our module paths that target_modules' suffixes match but that carry no adapter (`exclude_modules`). */
  readonly excludeModules?: readonly string[];
}

/**
 * A PEFT adapter of another type (VeRA, SHiRA, …) that its own writer (io/peftVera.ts,
 * io/peftShira.ts) has already turned into adapter_config.json + adapter_model.safetensors.
 */
export interface PeftFolder {
  readonly peftType: string;
  readonly files: readonly OutputFile[];
  /** One line for the user, e.g. "PEFT VeRA: r 256, 14 modules". */
  readonly summary: string;
}

/** What an exported adapter holds, in one line. */
export function peftSummary(adapter: PeftAdapter | PeftFolder): string {
  if ('files' in adapter) return adapter.summary;
  const patterned = adapter.layers.filter((l) => l.rank !== undefined && l.rank !== adapter.rank).length;
  return `PEFT LoRA: r ${adapter.rank}, lora_alpha ${adapter.alpha}, ${adapter.layers.length} modules${patterned > 0 ? ` (${patterned} with their own rank)` : ''}`;
}

export interface OutputFile {
  readonly name: string;
  readonly data: Uint8Array;
}

export function hfModulePath(family: ModelFamily, module: string): string {
  return family === 'gpt2' ? `transformer.${module}` : module;
}

export function peftKey(family: ModelFamily, module: string, factor: 'lora_A' | 'lora_B'): string {
  return `base_model.model.${hfModulePath(family, module)}.${factor}.weight`;
}

/** DoRA's magnitude key (no `.weight`). */
export function peftMagnitudeKey(family: ModelFamily, module: string): string {
  return `base_model.model.${hfModulePath(family, module)}.lora_magnitude_vector`;
}

/** PEFT matches a target when the module name equals it or ends with "." + it. */
export function targetModules(family: ModelFamily, modules: readonly string[]): string[] {
  const names = modules.map((m) => (family === 'gpt2' ? m.replace(/^h\.\d+\./, '') : m.replace(/^model\.layers\.\d+\.(self_attn|mlp)\./, '')));
  return [...new Set(names)].sort();
}

const encoder = new TextEncoder();

/** PEFT's adapter_config.json + adapter_model.safetensors for a LoRA adapter (or a PeftFolder's own files). */
export function peftAdapterFiles(adapter: PeftAdapter | PeftFolder): OutputFile[] {
  if ('files' in adapter) return [...adapter.files];
  const tensors: TensorToWrite[] = [];
  // Per-layer ranks and alphas as PEFT's LoraConfig keeps them: patterns keyed by the module's
  // path in the base model, consulted before r / lora_alpha.
  const rankPattern: Record<string, number> = {};
  const alphaPattern: Record<string, number> = {};
  for (const layer of adapter.layers) {
    const { A, B, inFeatures, outFeatures } = layer;
    const rank = layer.rank ?? adapter.rank;
    if (A.length !== rank * inFeatures || B.length !== outFeatures * rank) {
      throw new InternalError(`${layer.module}: factors do not match rank ${rank} and [${outFeatures}, ${inFeatures}]`);
    }
    if (rank !== adapter.rank) rankPattern[hfModulePath(adapter.family, layer.module)] = rank;
    if (layer.alpha !== undefined && layer.alpha !== adapter.alpha) alphaPattern[hfModulePath(adapter.family, layer.module)] = layer.alpha;
    tensors.push({ name: peftKey(adapter.family, layer.module, 'lora_A'), dtype: 'F32', shape: [rank, inFeatures], data: A });
    tensors.push({ name: peftKey(adapter.family, layer.module, 'lora_B'), dtype: 'F32', shape: [outFeatures, rank], data: B });
    if (adapter.useDora) {
      if (layer.magnitude?.length !== outFeatures) throw new InternalError(`${layer.module}: DoRA needs a magnitude of ${outFeatures} values`);
      tensors.push({ name: peftMagnitudeKey(adapter.family, layer.module), dtype: 'F32', shape: [outFeatures], data: layer.magnitude });
    }
  }
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: adapter.baseModel,
    r: adapter.rank,
    lora_alpha: adapter.alpha,
    lora_dropout: 0,
    bias: 'none',
    use_rslora: adapter.useRslora,
    use_dora: adapter.useDora === true,
    fan_in_fan_out: adapter.family === 'gpt2',
    target_modules: targetModules(
      adapter.family,
      adapter.layers.map((l) => l.module),
    ),
    // PEFT ≥ 0.14; written only when needed so that older versions still read the file.
    ...(adapter.excludeModules?.length ? { exclude_modules: adapter.excludeModules.map((m) => hfModulePath(adapter.family, m)) } : {}),
    rank_pattern: rankPattern,
    alpha_pattern: alphaPattern,
    init_lora_weights: true,
    inference_mode: true,
    modules_to_save: null,
  };
  return [
    { name: 'adapter_config.json', data: encoder.encode(`${JSON.stringify(config, null, 2)}\n`) },
    { name: 'adapter_model.safetensors', data: writeSafetensors(tensors, { format: 'pt' }) },
  ];
}

export interface MergedTensor {
  /** Canonical HF name (GPT-2 without `transformer.`), nn.Linear layout [out, in] for projections. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

const GPT2_CONV1D = /\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;

/** model.safetensors in Hugging Face layout (GPT-2: `transformer.` prefix, Conv1D [in, out]). */
export function mergedModelSafetensors(family: ModelFamily, tensors: readonly MergedTensor[]): Uint8Array {
  const out: TensorToWrite[] = tensors.map((t) => {
    if (family !== 'gpt2') return { name: t.name, dtype: 'F32', shape: t.shape, data: t.data };
    const name = t.name === 'lm_head.weight' ? t.name : `transformer.${t.name}`;
    if (!GPT2_CONV1D.test(t.name)) return { name, dtype: 'F32', shape: t.shape, data: t.data };
    const [rows, cols] = t.shape as [number, number];
    const transposed = new Float32Array(t.data.length);
    for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) transposed[c * rows + r] = t.data[r * cols + c]!;
    return { name, dtype: 'F32', shape: [cols, rows], data: transposed };
  });
  return writeSafetensors(out, { format: 'pt' });
}
