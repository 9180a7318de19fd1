// Builds a CausalLM from a Hugging Face model folder (io/modelFiles.ts has validated names,
// shapes, dtypes and offsets). Tensors are read and uploaded one at a time, so at most one tensor
// is held on the CPU at a time besides the GPU copy. Frozen F16/BF16 matrices (projections,
// embeddings, LM head) are uploaded as their raw 16-bit bytes, packed two per u32 (gpu/tensor.ts),
// and stay so: 2 bytes per weight, never expanded for the whole model; with frozenPrecision 'f16'
// F32 matrices are rounded to f16 the same way. Everything else (norms, biases, and every tensor
// of a trainable model) is read as f32 (f16/bf16 converted exactly while reading).
// GPT-2's Conv1D weights [in, out] are transposed to nn.Linear's [out, in] here.
// A matrix over the device's per-binding or per-buffer limit (the embedding or LM head of a large
// vocabulary at WebGPU's default limits) is held as row blocks (tensor/rowBlockValues.ts).

import type { ModelConfig } from '../io/hfConfig';
import { encodeF16 } from '../io/halfFloat';
import { frozenStorage, readModelTensorAsF32, type FrozenPrecision, type ModelSource, type ModelTensor } from '../io/modelFiles';
import { readTensorBytes } from '../io/safetensors';
import type { Tensor } from '../tensor/tensor';
import { largeHalfParameter, largeParameterFromArray } from '../tensor/rowBlockValues';
import { cloneParameter, isPacked, releaseTensors, type Runtime } from '../tensor/values';
import type { CausalLM, NamedParameter, ParameterKind } from './causalLM';
import { Gemma3Model } from './gemma3';
import { Gpt2Model } from './gpt2';
import { LlamaModel } from './llama';
import { UnsupportedError } from '../errors';

export interface LoadProgress {
  readonly done: number;
  readonly total: number;
  readonly tensor: string;
}

export interface LoadOptions {
  readonly onProgress?: (progress: LoadProgress) => void;
  /** Make every parameter trainable (full fine-tuning; all f32); frozen by default. */
  readonly trainable?: boolean;
  /** How frozen matrices are kept (io/modelFiles.ts FrozenPrecision); 'checkpoint' by default. */
  readonly frozenPrecision?: FrozenPrecision;
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
export function transpose2d<T extends Float32Array | Uint16Array>(data: T, rows: number, cols: number): T {
  const out = new (data.constructor as new (length: number) => T)(data.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = data[r * cols + c]!;
  return out;
}

/** One model tensor as a parameter: packed 16-bit when frozen and `precision` says so, else f32. */
async function loadParameter(rt: Runtime, t: ModelTensor, transpose: boolean, options: LoadOptions): Promise<{ tensor: Tensor; shape: readonly number[] }> {
  const trainable = options.trainable ?? false;
  const storage = trainable ? 'f32' : frozenStorage(t, options.frozenPrecision);
  const [rows, cols] = t.shape as [number, number];
  const shape = transpose ? [cols, rows] : t.shape;
  if (storage === 'f32') {
    const data = await readModelTensorAsF32(t);
    return { tensor: largeParameterFromArray(rt, transpose ? transpose2d(data, rows, cols) : data, shape, t.name, trainable), shape };
  }
  let bits: Uint16Array;
  if (t.dtype === 'F32') {
    bits = encodeF16(await readModelTensorAsF32(t));
  } else {
    const bytes = await readTensorBytes(t.source, t.info);
    // A Uint16Array needs an even offset; safetensors only aligns tensors to their element size.
    const aligned = bytes.byteOffset % 2 === 0 ? bytes : bytes.slice();
    bits = new Uint16Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 2);
  }
  return { tensor: largeHalfParameter(rt, transpose ? transpose2d(bits, rows, cols) : bits, shape, storage, t.name), shape };
}

export async function loadCausalLM(rt: Runtime, source: ModelSource, options: LoadOptions = {}): Promise<CausalLM> {
  const params = new Map<string, NamedParameter>();
  const total = source.tensors.length;
  try {
    for (const [i, t] of source.tensors.entries()) {
      const { tensor, shape } = await loadParameter(rt, t, source.config.family === 'gpt2' && GPT2_CONV1D.test(t.name), options);
      params.set(t.name, { name: t.name, kind: parameterKind(t.name, shape), tensor });
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
    params.set(name, { name, kind: parameterKind(name, t.shape), tensor: largeParameterFromArray(rt, t.data, t.shape, name, trainable) });
  }
  return buildModel(config, params);
}

/** An independent f32 copy of every parameter (full fine-tuning trains its own weights; packed ones are expanded). */
export function cloneCausalLM(rt: Runtime, model: CausalLM, trainable: boolean): CausalLM {
  const split = model.parameters().find((p) => p.tensor.data.blocks);
  if (split) {
    throw new UnsupportedError(
      `${split.name} [${split.tensor.shape.join(', ')}] is over this GPU's limit per buffer in f32 and is held in ${split.tensor.data.blocks!.length} row blocks, ` +
        'which training every weight (its own copy, gradient and AdamW state) does not support. Choose an adapter method (LoRA, QLoRA, …), which keeps it frozen.',
    );
  }
  const params = new Map<string, NamedParameter>();
  for (const p of model.parameters()) params.set(p.name, { ...p, tensor: cloneParameter(rt, p.tensor, p.name, trainable) });
  return buildModel(model.config, params);
}

function buildModel(config: ModelConfig, params: ReadonlyMap<string, NamedParameter>): CausalLM {
  if (config.family === 'gpt2') return new Gpt2Model(config, params);
  return config.modelType === 'gemma3_text' ? new Gemma3Model(config, params) : new LlamaModel(config, params);
}

/** Bytes per weight of each parameter as the model holds it (2 packed 16-bit, 4 f32), by HF name; 4 for names it lacks. */
export function heldBytesPerParam(model: CausalLM): (tensor: { readonly name: string }) => number {
  const held = new Map(model.parameters().map((p) => [p.name, isPacked(p.tensor) ? 2 : 4]));
  return (tensor) => held.get(tensor.name) ?? 4;
}

export function releaseModel(rt: Runtime, model: CausalLM): void {
  releaseTensors(rt, ...model.parameters().map((p) => p.tensor));
}
