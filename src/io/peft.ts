// Hugging Face PEFT formats, as pure data: a LoRA adapter folder (adapter_config.json +
// adapter_model.safetensors with PEFT's key names) and a merged model folder (model.safetensors
// with Hugging Face names + config.json + tokenizer files).
// Keys: PEFT wraps the causal-LM class, so a Llama projection `model.layers.0.self_attn.q_proj`
// becomes `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`, and GPT-2's
// `h.0.attn.c_attn` (inside GPT2LMHeadModel's `transformer`) becomes
// `base_model.model.transformer.h.0.attn.c_attn.lora_A.weight`.
// Layouts: lora_A [r, in], lora_B [out, r] for both families (PEFT keeps nn.Linear layouts for
// the factors even with GPT-2's Conv1D; fan_in_fan_out = true tells it the base is [in, out]).

import { writeSafetensors, type TensorToWrite } from './safetensors';

export type ModelFamily = 'gpt2' | 'llama';

export interface PeftLayer {
  /** Our module path: `model.layers.{i}.self_attn.q_proj` or GPT-2 `h.{i}.attn.c_attn`. */
  readonly module: string;
  /** [r, in] */
  readonly A: Float32Array;
  /** [out, r] */
  readonly B: Float32Array;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export interface PeftAdapter {
  readonly family: ModelFamily;
  readonly baseModel: string;
  readonly rank: number;
  readonly alpha: number;
  readonly useRslora: boolean;
  readonly layers: readonly PeftLayer[];
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

/** PEFT matches a target when the module name equals it or ends with "." + it. */
export function targetModules(family: ModelFamily, modules: readonly string[]): string[] {
  const names = modules.map((m) => (family === 'gpt2' ? m.replace(/^h\.\d+\./, '') : m.replace(/^model\.layers\.\d+\.(self_attn|mlp)\./, '')));
  return [...new Set(names)].sort();
}

const encoder = new TextEncoder();

export function peftAdapterFiles(adapter: PeftAdapter): OutputFile[] {
  const tensors: TensorToWrite[] = [];
  for (const layer of adapter.layers) {
    const { A, B, inFeatures, outFeatures } = layer;
    if (A.length !== adapter.rank * inFeatures || B.length !== outFeatures * adapter.rank) {
      throw new Error(`${layer.module}: factors do not match rank ${adapter.rank} and [${outFeatures}, ${inFeatures}]`);
    }
    tensors.push({ name: peftKey(adapter.family, layer.module, 'lora_A'), dtype: 'F32', shape: [adapter.rank, inFeatures], data: A });
    tensors.push({ name: peftKey(adapter.family, layer.module, 'lora_B'), dtype: 'F32', shape: [outFeatures, adapter.rank], data: B });
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
    fan_in_fan_out: adapter.family === 'gpt2',
    target_modules: targetModules(adapter.family, adapter.layers.map((l) => l.module)),
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
