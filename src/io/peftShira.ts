// Hugging Face PEFT's SHiRA adapter folder, as pure data (PEFT src/peft/tuners/shira: config.py
// ShiraConfig, layer.py ShiraLayer, model.py ShiraModel._get_adapter_state_dict):
//   adapter_config.json    peft_type "SHIRA", r, mask_type, random_seed, target_modules,
//                          fan_in_fan_out false, init_weights, …
//   adapter_model.safetensors, per adapted module:
//     base_model.model.<module>.shira_weight    F32 [k]     the trained values
//     base_model.model.<module>.shira_indices   I32 [2, k]  row indices, then column indices
// with k = r·(in + out). PEFT applies them as ΔW = sparse_coo(indices, weight · scaling,
// (out, in)) with scaling 1 (layer.py get_delta_weight) and, on load, takes the indices from the
// file rather than recomputing its mask (ShiraModel._remap_adapter_state_dict_for_load), so a
// magnitude mask travels as well as a random one. The values are listed in the indices' order
// (ascending row-major here, as torch.where returns a random mask's positions).
// PEFT's SHiRA wraps torch.nn.Linear only (model.py _get_tuner_layer_class): GPT-2's Conv1D
// projections have no SHiRA adapter there, so GPT-2 is refused (export the merged model).

import { hfModulePath, targetModules, type ModelFamily, type OutputFile, type PeftFolder } from './peft';
import { writeSafetensors, type TensorToWrite } from './safetensors';
import { InternalError, UnsupportedError } from '../errors';

export interface ShiraLayerUpdate {
  /** Our module path (`model.layers.{i}.self_attn.q_proj`). */
  readonly module: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** Flat row-major positions i·in + j [k], ascending and distinct. */
  readonly indices: Uint32Array;
  /** [k] */
  readonly values: Float32Array;
}

export interface ShiraAdapter {
  readonly family: ModelFamily;
  readonly baseModel: string;
  readonly rank: number;
  /** How the mask was chosen ("random" is PEFT's; others need the indices from the file, which PEFT reads). */
  readonly maskType: string;
  readonly randomSeed: number | null;
  readonly layers: readonly ShiraLayerUpdate[];
}

export function shiraKey(family: ModelFamily, module: string, tensor: 'shira_weight' | 'shira_indices'): string {
  return `base_model.model.${hfModulePath(family, module)}.${tensor}`;
}

const encoder = new TextEncoder();

/** [2, k] int32 little-endian bytes: rows (i = p / in) then columns (j = p mod in). */
function indexBytes(indices: Uint32Array, inFeatures: number): Uint8Array {
  const k = indices.length;
  const bytes = new Uint8Array(8 * k);
  const view = new DataView(bytes.buffer);
  for (let t = 0; t < k; t++) {
    const p = indices[t]!;
    view.setInt32(4 * t, Math.floor(p / inFeatures), true);
    view.setInt32(4 * (k + t), p % inFeatures, true);
  }
  return bytes;
}

export function shiraAdapterFiles(adapter: ShiraAdapter): PeftFolder {
  if (adapter.family === 'gpt2')
    throw new UnsupportedError("PEFT's SHiRA adapts torch.nn.Linear layers only, not GPT-2's Conv1D projections: export the merged model instead.");
  const tensors: TensorToWrite[] = [];
  for (const layer of adapter.layers) {
    const { indices, values, inFeatures, outFeatures } = layer;
    const k = indices.length;
    if (values.length !== k) throw new InternalError(`${layer.module}: ${values.length} values for ${k} positions`);
    for (let t = 0; t < k; t++) {
      if (indices[t]! >= inFeatures * outFeatures || (t > 0 && indices[t]! <= indices[t - 1]!))
        throw new InternalError(`${layer.module}: positions must be ascending, distinct and inside [${outFeatures}, ${inFeatures}]`);
    }
    tensors.push({ name: shiraKey(adapter.family, layer.module, 'shira_weight'), dtype: 'F32', shape: [k], data: values });
    tensors.push({ name: shiraKey(adapter.family, layer.module, 'shira_indices'), dtype: 'I32', shape: [2, k], data: indexBytes(indices, inFeatures) });
  }
  const config = {
    peft_type: 'SHIRA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: adapter.baseModel,
    r: adapter.rank,
    mask_type: adapter.maskType,
    random_seed: adapter.randomSeed,
    target_modules: targetModules(
      adapter.family,
      adapter.layers.map((l) => l.module),
    ),
    fan_in_fan_out: false,
    init_weights: true,
    modules_to_save: null,
    inference_mode: true,
  };
  const files: OutputFile[] = [
    { name: 'adapter_config.json', data: encoder.encode(`${JSON.stringify(config, null, 2)}\n`) },
    { name: 'adapter_model.safetensors', data: writeSafetensors(tensors, { format: 'pt' }) },
  ];
  const entries = adapter.layers.reduce((n, l) => n + l.indices.length, 0);
  return {
    peftType: 'SHIRA',
    files,
    summary: `PEFT SHiRA: r ${adapter.rank} (${entries.toLocaleString('en-US')} trained entries), ${adapter.layers.length} modules`,
  };
}
