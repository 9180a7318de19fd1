// Hugging Face PEFT's VeRA adapter folder, as pure data (PEFT src/peft/tuners/vera: config.py
// VeraConfig, model.py VeraModel._get_adapter_state_dict, layer.py VeraLayer):
//   adapter_config.json    peft_type "VERA", r, target_modules, projection_prng_key,
//                          save_projection, vera_dropout, d_initial, fan_in_fan_out, bias, …
//   adapter_model.safetensors
//     base_model.vera_A                                 [r, in_max]   shared frozen projection
//     base_model.vera_B                                 [out_max, r]  shared frozen projection
//     base_model.model.<module>.vera_lambda_d           [r]           per layer, trained
//     base_model.model.<module>.vera_lambda_b           [out]         per layer, trained
// (PEFT keeps `vera_A.<adapter>` in the model and drops the adapter name on save.) A layer of
// shape [out, in] uses vera_A[:, :in] and vera_B[:out, :]: ΔW = diag(λ_b) vera_B[:out] diag(λ_d)
// vera_A[:, :in] (layer.py get_delta_weight). in_max and out_max are the largest in/out over the
// targeted modules, which PEFT recomputes from target_modules on load (VeraModel._find_dim), so
// the file must cover exactly the modules those names match.
// save_projection is always true here: the projections come from the studio's own seeded
// generator, not torch.Generator(projection_prng_key), so PEFT could not regenerate them.
// GPT-2 (Conv1D): fan_in_fan_out true; the vectors and projections keep their layouts.

import { hfModulePath, targetModules, type ModelFamily, type OutputFile, type PeftFolder } from './peft';
import { writeSafetensors, type TensorToWrite } from './safetensors';
import { InternalError } from '../errors';

export interface VeraLayerVectors {
  /** Our module path (`model.layers.{i}.self_attn.q_proj`, GPT-2 `h.{i}.attn.c_attn`). */
  readonly module: string;
  readonly inFeatures: number;
  readonly outFeatures: number;
  /** λ_d [r] */
  readonly d: Float32Array;
  /** λ_b [out] */
  readonly b: Float32Array;
}

export interface VeraAdapter {
  readonly family: ModelFamily;
  readonly baseModel: string;
  readonly rank: number;
  /** [r, in_max] */
  readonly A: Float32Array;
  /** [out_max, r] */
  readonly B: Float32Array;
  readonly inMax: number;
  readonly outMax: number;
  readonly projectionPrngKey: number;
  readonly dInitial: number;
  readonly layers: readonly VeraLayerVectors[];
}

export function veraVectorKey(family: ModelFamily, module: string, vector: 'vera_lambda_d' | 'vera_lambda_b'): string {
  return `base_model.model.${hfModulePath(family, module)}.${vector}`;
}

export const VERA_A_KEY = 'base_model.vera_A';
export const VERA_B_KEY = 'base_model.vera_B';

const encoder = new TextEncoder();

export function veraAdapterFiles(adapter: VeraAdapter): PeftFolder {
  const { rank: r, inMax, outMax } = adapter;
  if (adapter.A.length !== r * inMax || adapter.B.length !== outMax * r)
    throw new InternalError(`VeRA projections do not match r ${r}, in_max ${inMax}, out_max ${outMax}`);
  const tensors: TensorToWrite[] = [
    { name: VERA_A_KEY, dtype: 'F32', shape: [r, inMax], data: adapter.A },
    { name: VERA_B_KEY, dtype: 'F32', shape: [outMax, r], data: adapter.B },
  ];
  for (const layer of adapter.layers) {
    if (layer.inFeatures > inMax || layer.outFeatures > outMax)
      throw new InternalError(`${layer.module} [${layer.outFeatures}, ${layer.inFeatures}] exceeds the projections' [${outMax}, ${inMax}]`);
    if (layer.d.length !== r || layer.b.length !== layer.outFeatures)
      throw new InternalError(`${layer.module}: λ_d must have ${r} values and λ_b ${layer.outFeatures}`);
    tensors.push({ name: veraVectorKey(adapter.family, layer.module, 'vera_lambda_d'), dtype: 'F32', shape: [r], data: layer.d });
    tensors.push({ name: veraVectorKey(adapter.family, layer.module, 'vera_lambda_b'), dtype: 'F32', shape: [layer.outFeatures], data: layer.b });
  }
  const config = {
    peft_type: 'VERA',
    task_type: 'CAUSAL_LM',
    base_model_name_or_path: adapter.baseModel,
    r,
    target_modules: targetModules(
      adapter.family,
      adapter.layers.map((l) => l.module),
    ),
    projection_prng_key: adapter.projectionPrngKey,
    save_projection: true,
    vera_dropout: 0,
    d_initial: adapter.dInitial,
    fan_in_fan_out: adapter.family === 'gpt2',
    bias: 'none',
    modules_to_save: null,
    init_weights: true,
    layers_to_transform: null,
    layers_pattern: null,
    inference_mode: true,
  };
  const files: OutputFile[] = [
    { name: 'adapter_config.json', data: encoder.encode(`${JSON.stringify(config, null, 2)}\n`) },
    { name: 'adapter_model.safetensors', data: writeSafetensors(tensors, { format: 'pt' }) },
  ];
  return { peftType: 'VERA', files, summary: `PEFT VeRA: r ${r}, shared projections [${r}, ${inMax}] and [${outMax}, ${r}], ${adapter.layers.length} modules` };
}
