// What a fine-tuning method is to the rest of the engine (ARCHITECTURE.md convention 5): a
// declaration with a settings schema (defaults and ranges from the paper, which the studio
// renders as a form), and `create`, which initialises it on the GPU against a shared frozen
// model and returns an AdaptedModel: the projections it replaces, its trainable tensors, and
// how to release it. Forms (forms/), bases and init strategies (init/) are shared; a method
// file composes them.

import type { CausalLM } from '../models/causalLM';
import type { LinearLayer } from '../models/linearLayer';
import type { Tensor } from '../tensor/tensor';
import type { Runtime } from '../tensor/values';

export type MethodId = 'full' | 'lora' | 'pissa' | 'qlora' | 'qpissa' | 'loftq' | 'sorsa' | 'lorasb' | 'spp';

/** Projection roles a user can target (GPT-2 maps its own names onto these). */
export type TargetRole = 'q' | 'k' | 'v' | 'o' | 'gate' | 'up' | 'down' | 'c_attn' | 'attn.c_proj' | 'c_fc' | 'mlp.c_proj';

export type SettingValue = number | boolean | string;

export interface NumberSetting {
  readonly kind: 'number';
  readonly key: string;
  readonly label: string;
  readonly default: number;
  readonly min: number;
  readonly max: number;
  readonly integer?: boolean;
  readonly help: string;
}

export interface ChoiceSetting {
  readonly kind: 'choice';
  readonly key: string;
  readonly label: string;
  readonly default: string;
  readonly options: readonly string[];
  readonly help: string;
}

export interface BooleanSetting {
  readonly kind: 'boolean';
  readonly key: string;
  readonly label: string;
  readonly default: boolean;
  readonly help: string;
}

export type SettingSpec = NumberSetting | ChoiceSetting | BooleanSetting;

export type MethodSettings = Readonly<Record<string, SettingValue>>;

export interface InitProgress {
  readonly method: MethodId;
  /** Module path of the layer being initialised, or '' for whole-model phases. */
  readonly layer: string;
  /** Layers finished so far and in all. */
  readonly done: number;
  readonly total: number;
  readonly phase: 'init' | 'svd' | 'quantize' | 'prune' | 'estimate' | 'calibrate';
  /** A quantization error just measured for `layer` (QLoRA, QPiSSA, LoftQ): streamed for the live chart. */
  readonly quantError?: { readonly iteration: number; readonly frobenius: number; readonly nuclear: number };
}

/** A batch for the inits that look at data (LoRA-SB's gradient estimate, Wanda's norms). */
export interface CalibrationBatch {
  readonly ids: ArrayLike<number>;
  readonly targets: ArrayLike<number>;
  readonly batchSize: number;
  readonly seqLen: number;
}

export interface CreateContext {
  readonly rt: Runtime;
  /** The shared frozen model (never modified by a method). */
  readonly model: CausalLM;
  /** Module paths to adapt. */
  readonly targets: readonly string[];
  readonly seed: number;
  /** Peak learning rate (LoRA-SB's η, SORSA's γ/lr_max). */
  readonly learningRate: number;
  readonly calibration?: () => readonly CalibrationBatch[];
  readonly onProgress?: (progress: InitProgress) => void;
}

export interface TrainableTensor {
  readonly tensor: Tensor;
  readonly weightDecay: boolean;
}

/** A frozen base a method made for itself (dense residual, NF4 copy, pruned copy). */
export interface OwnedBase {
  readonly bytes: number;
  release(rt: Runtime): void;
}

/** A projection as a method adapted it. */
export interface AdaptedLayer extends LinearLayer {
  /** The adapter's tensors (trainable ones have requiresGrad). */
  readonly tensors: readonly Tensor[];
  /** Bytes this layer holds (adapter tensors and any owned base). */
  readonly bytes: number;
  release(rt: Runtime): void;
}

export interface AdaptedModel {
  readonly method: MethodId;
  /** Adapted projections by module path; the forward pass uses these over the model's. */
  readonly linears: ReadonlyMap<string, AdaptedLayer>;
  readonly trainable: readonly TrainableTensor[];
  /** The model to run (the shared one, or full fine-tuning's own copy). */
  readonly model: CausalLM;
  /** Bytes this method holds beyond the shared base (adapters, residuals, quantized copies). */
  readonly extraBytes: number;
  /** Adds method-specific gradients after the task loss's (SORSA's regulariser). */
  readonly afterBackward?: (rt: Runtime) => void;
  /** QLoRA, QPiSSA, LoftQ: ‖W − (deq(Q) + sBA)‖ per layer and iteration, measured at init. */
  readonly quantErrors?: readonly { readonly layer: string; readonly errors: readonly { iteration: number; frobenius: number; nuclear: number }[] }[];
  /** SORSA: the factors whose orthonormality the studio charts. */
  readonly orthoFactors?: readonly { readonly A: Tensor; readonly B: Tensor }[];
  release(rt: Runtime): void;
}

export interface MethodDefinition {
  readonly id: MethodId;
  readonly label: string;
  /** One line: what the method does. */
  readonly summary: string;
  /** The paper, for the studio's notes. */
  readonly paper: string;
  readonly settings: readonly SettingSpec[];
  create(ctx: CreateContext, settings: MethodSettings): Promise<AdaptedModel>;
}

/** The settings with defaults filled in, validated against the schema. */
export function resolveSettings(method: MethodDefinition, given: MethodSettings = {}): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  for (const spec of method.settings) {
    const value = given[spec.key] ?? spec.default;
    if (spec.kind === 'number') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < spec.min || value > spec.max || (spec.integer && !Number.isInteger(value))) {
        throw new RangeError(`${method.label}: ${spec.label} must be ${spec.integer ? 'an integer' : 'a number'} between ${spec.min} and ${spec.max}, is ${String(value)}`);
      }
    } else if (spec.kind === 'choice') {
      if (typeof value !== 'string' || !spec.options.includes(value)) {
        throw new RangeError(`${method.label}: ${spec.label} must be one of ${spec.options.join(', ')}, is ${String(value)}`);
      }
    } else if (typeof value !== 'boolean') {
      throw new RangeError(`${method.label}: ${spec.label} must be true or false, is ${String(value)}`);
    }
    out[spec.key] = value;
  }
  for (const key of Object.keys(given)) {
    if (!method.settings.some((s) => s.key === key)) throw new RangeError(`${method.label} has no setting "${key}"`);
  }
  return out;
}

function settingOf(settings: MethodSettings, key: string): SettingValue {
  const value = settings[key];
  if (value === undefined) throw new Error(`setting "${key}" is missing (call resolveSettings first)`);
  return value;
}

export function numberSetting(settings: MethodSettings, key: string): number {
  const value = settingOf(settings, key);
  if (typeof value !== 'number') throw new Error(`setting "${key}" is not a number`);
  return value;
}

export function booleanSetting(settings: MethodSettings, key: string): boolean {
  const value = settingOf(settings, key);
  if (typeof value !== 'boolean') throw new Error(`setting "${key}" is not a boolean`);
  return value;
}

export function choiceSetting<T extends string>(settings: MethodSettings, key: string): T {
  const value = settingOf(settings, key);
  if (typeof value !== 'string') throw new Error(`setting "${key}" is not a choice`);
  return value as T;
}
