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
// deferProjections: the block projections' weights are not read at all; each is a DeferredWeight
// (models/deferredWeight.ts) that reads it from the checkpoint when a 4-bit init asks, so the GPU
// never holds the whole 16-bit base beside the NF4 copies (train/baseRelease.ts defersProjections
// says when a run may). The host then holds the projections it does not target (holdUntargeted).

import type { ModelConfig } from '../io/hfConfig';
import { encodeF16 } from '../io/halfFloat';
import { frozenStorage, readModelTensorAsF32, type FrozenPrecision, type ModelSource, type ModelTensor } from '../io/modelFiles';
import { readTensorBytes } from '../io/safetensors';
import type { Tensor } from '../tensor/tensor';
import { largeHalfParameter, largeParameterFromArray } from '../tensor/rowBlockValues';
import { cloneParameter, isPacked, releaseTensors, unheldParameter, type Runtime } from '../tensor/values';
import type { CausalLM, NamedParameter, ParameterKind } from './causalLM';
import { DeferredWeight } from './deferredWeight';
import { DenseLinear } from './linearLayer';
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
  /**
   * Read no block projection's weight now: each is read from the checkpoint when an init asks for it
   * (DeferredWeight). Only for a run whose every method keeps a 4-bit base of its own (train/baseRelease.ts
   * defersProjections); frozen models only. Call holdUntargeted once the targets are known.
   */
  readonly deferProjections?: boolean;
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

/** A block projection's weight (`model.layers.3.mlp.up_proj.weight`, `h.3.attn.c_attn.weight`): what deferProjections leaves unread. */
function isBlockProjection(t: ModelTensor): boolean {
  return t.shape.length === 2 && parameterKind(t.name, t.shape) === 'linear' && /\.\d+\./.test(t.name);
}

/** A projection's weight as a DeferredWeight: its shape and storage now, its values read from the checkpoint on each hold. */
function deferredParameter(t: ModelTensor, transpose: boolean, options: LoadOptions): DeferredWeight {
  const [rows, cols] = t.shape as [number, number];
  const storage = frozenStorage(t, options.frozenPrecision);
  const placeholder = unheldParameter(transpose ? [cols, rows] : t.shape, storage === 'f32' ? undefined : storage, t.name);
  return new DeferredWeight(t.name, placeholder, async (rt) => (await loadParameter(rt, t, transpose, options)).tensor);
}

export async function loadCausalLM(rt: Runtime, source: ModelSource, options: LoadOptions = {}): Promise<CausalLM> {
  const params = new Map<string, NamedParameter>();
  const total = source.tensors.length;
  const defer = (options.deferProjections ?? false) && !(options.trainable ?? false);
  let model: CausalLM;
  try {
    for (const [i, t] of source.tensors.entries()) {
      const transpose = source.config.family === 'gpt2' && GPT2_CONV1D.test(t.name);
      if (defer && isBlockProjection(t)) {
        params.set(t.name, deferredParameter(t, transpose, options));
      } else {
        const { tensor, shape } = await loadParameter(rt, t, transpose, options);
        params.set(t.name, { name: t.name, kind: parameterKind(t.name, shape), tensor });
      }
      options.onProgress?.({ done: i + 1, total, tensor: t.name });
    }
    model = buildModel(source.config, params);
    // A deferred tensor no projection slot reads on demand is read now.
    const slots = new Set(model.linearNames().map((name) => `${name}.weight`));
    for (const p of params.values()) if (p instanceof DeferredWeight && !slots.has(p.name)) await p.hold(rt);
  } catch (error) {
    releaseTensors(rt, ...[...params.values()].map((p) => p.tensor));
    throw error;
  }
  return model;
}

/** Reads the weights of the deferred projections `targets` leaves out (loadCausalLM deferProjections): the forward pass runs them as they are. */
export async function holdUntargeted(rt: Runtime, model: CausalLM, targets: readonly string[]): Promise<void> {
  const targeted = new Set(targets);
  await model.holdProjections(
    rt,
    model.linearNames().filter((name) => !targeted.has(name)),
  );
}

/** Whether any projection of `model` reads its weight from the checkpoint on demand (loadCausalLM deferProjections). */
export function hasDeferredProjections(model: CausalLM): boolean {
  return model.linearNames().some((name) => {
    const layer = model.linear(name);
    return layer instanceof DenseLinear && layer.deferred;
  });
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
  const unheld = model.parameters().find((p) => p instanceof DeferredWeight && !p.held);
  if (unheld) {
    throw new UnsupportedError(
      `${unheld.name} is not held: the model was loaded for 4-bit methods only, which read each projection from the checkpoint while quantizing it. ` +
        'Reload the model to train every weight.',
    );
  }
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
