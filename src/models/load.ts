// Builds a CausalLM from a Hugging Face model folder (io/modelFiles.ts has validated names,
// shapes, dtypes and offsets). Tensors are read one at a time as f32 (f16/bf16 converted while
// reading) and uploaded, so at most one tensor is held on the CPU at a time besides the GPU copy.
// GPT-2's Conv1D weights [in, out] are transposed to nn.Linear's [out, in] here.

import type { ModelConfig } from '../io/hfConfig';
import { readModelTensorAsF32, type ModelSource } from '../io/modelFiles';
import { cloneParameter, parameterFromArray, releaseTensors, type Runtime } from '../tensor/values';
import type { CausalLM, NamedParameter, ParameterKind } from './causalLM';
import { Gemma3Model } from './gemma3';
import { Gpt2Model } from './gpt2';
import { LlamaModel } from './llama';

export interface LoadProgress {
  readonly done: number;
  readonly total: number;
  readonly tensor: string;
}

export interface LoadOptions {
  readonly onProgress?: (progress: LoadProgress) => void;
  /** Make every parameter trainable (full fine-tuning); frozen by default. */
  readonly trainable?: boolean;
}

/** A named host array in nn.Linear layout, for building a model without a folder (tests). */
export interface HostTensor {
  readonly data: Float32Array;
  readonly shape: readonly number[];
}

const GPT2_CONV1D = /\.(attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.weight$/;

export function parameterKind(name: string, shape: readonly number[]): ParameterKind {
  if (/(wte|wpe|embed_tokens)\.weight$/.test(name)) return 'embedding';
  if (/(ln_\d|ln_f|layernorm|norm)\.(weight|bias)$/.test(name)) return 'norm';
  if (shape.length === 1) return 'bias';
  return 'linear';
}

/** [rows, cols] row-major → [cols, rows] */
export function transpose2d(data: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

export async function loadCausalLM(rt: Runtime, source: ModelSource, options: LoadOptions = {}): Promise<CausalLM> {
  const params = new Map<string, NamedParameter>();
  const total = source.tensors.length;
  try {
    for (const [i, t] of source.tensors.entries()) {
      let data = await readModelTensorAsF32(t);
      let shape = t.shape;
      if (source.config.family === 'gpt2' && GPT2_CONV1D.test(t.name)) {
        const [rows, cols] = t.shape as [number, number];
        data = transpose2d(data, rows, cols);
        shape = [cols, rows];
      }
      params.set(t.name, { name: t.name, kind: parameterKind(t.name, shape), tensor: parameterFromArray(rt, data, shape, t.name, options.trainable ?? false) });
      options.onProgress?.({ done: i + 1, total, tensor: t.name });
    }
  } catch (error) {
    releaseTensors(rt, ...[...params.values()].map((p) => p.tensor));
    throw error;
  }
  return buildModel(source.config, params);
}

/** A model from host arrays already in nn.Linear layout (tests, synthetic models). */
export function modelFromHostTensors(rt: Runtime, config: ModelConfig, tensors: ReadonlyMap<string, HostTensor>, trainable = false): CausalLM {
  const params = new Map<string, NamedParameter>();
  for (const [name, t] of tensors) {
    params.set(name, { name, kind: parameterKind(name, t.shape), tensor: parameterFromArray(rt, t.data, t.shape, name, trainable) });
  }
  return buildModel(config, params);
}

/** An independent copy of every parameter (full fine-tuning trains its own weights). */
export function cloneCausalLM(rt: Runtime, model: CausalLM, trainable: boolean): CausalLM {
  const params = new Map<string, NamedParameter>();
  for (const p of model.parameters()) params.set(p.name, { ...p, tensor: cloneParameter(rt, p.tensor, p.name, trainable) });
  return buildModel(model.config, params);
}

function buildModel(config: ModelConfig, params: ReadonlyMap<string, NamedParameter>): CausalLM {
  if (config.family === 'gpt2') return new Gpt2Model(config, params);
  return config.modelType === 'gemma3_text' ? new Gemma3Model(config, params) : new LlamaModel(config, params);
}

export function releaseModel(rt: Runtime, model: CausalLM): void {
  releaseTensors(rt, ...model.parameters().map((p) => p.tensor));
}
