// What a fine-tuning method is to the rest of the engine (ARCHITECTURE.md convention 5): one
// MethodDefinition holds everything about a method, so export, diagnostics, the worker, the CLI,
// the study and the Python script ask the definition and never branch on a method id:
//   settings schema (defaults and ranges from the paper; the studio renders it as a form),
//   memory plan and model checks (before anything is allocated), calibration needs,
//   create (the init on the GPU against a shared frozen model) → AdaptedModel, whose layers know
//   their effective weight now and at init and their merge, the optimizer groups, the PEFT
//   export, the Python recipe (PEFT/TRL lines), and the diagnostics it offers.
// Forms (forms/), bases and init strategies (init/) are shared; a method file composes them.

import type { TokenBatch } from '../io/datasets';
import type { PeftAdapter, PeftFolder } from '../io/peft';
import type { PythonRecipe, ScriptHelpers } from '../io/pythonScript';
import type { CausalLM } from '../models/causalLM';
import type { LinearLayer } from '../models/linearLayer';
import type { Tensor } from '../tensor/tensor';
import type { Runtime } from '../tensor/values';
import { InputError, InternalError } from '../errors';

/** A method's id as the registry lists it (lower case, e.g. the file name under methods/). */
export type MethodId = string;

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
  /** 'measure': after the method is ready, its quantization errors being measured (done/total layers). */
  readonly phase: 'init' | 'svd' | 'quantize' | 'prune' | 'estimate' | 'calibrate' | 'measure';
  /** A quantization error just measured for `layer` (QLoRA, QPiSSA, LoftQ): streamed for the live chart. */
  readonly quantError?: QuantErrorPoint;
}

/** A batch for the inits that look at data (gradient estimates, activation statistics). */
export type CalibrationBatch = TokenBatch;

export interface CreateContext {
  readonly rt: Runtime;
  /** The shared frozen model (never modified by a method). */
  readonly model: CausalLM;
  /** Module paths to adapt. */
  readonly targets: readonly string[];
  readonly seed: number;
  /** Peak learning rate (LoRA-SB's η, SORSA's γ/lr_max). */
  readonly learningRate: number;
  /** The first `count` training batches of the run (the method asks for what calibrationBatches says). */
  readonly calibration?: (count: number) => readonly CalibrationBatch[];
  readonly onProgress?: (progress: InitProgress) => void;
  /**
   * Called once layer `name` is initialised (its work submitted) as `layer`: from then on the
   * method never reads the shared W of that slot, so the host may free it (train/baseRelease.ts
   * releaseEachLayer). `measure`, from a method that keeps a quantization error to measure, measures
   * that layer's now, while W is still there.
   */
  readonly onLayerReady?: (name: string, layer: AdaptedLayer, measure?: (rt: Runtime) => Promise<void>) => Promise<void>;
}

export interface TrainableTensor {
  readonly tensor: Tensor;
  readonly weightDecay: boolean;
  /** This tensor's learning rate as a multiple of the schedule's (LoRA+ trains B faster); 1 if absent. */
  readonly lrScale?: number;
}

/** A frozen base a method made for itself (dense residual, NF4 copy, pruned copy). */
export interface OwnedBase {
  readonly bytes: number;
  release(rt: Runtime): void;
}

/** A dense weight handed to a caller: `owned` tensors are the caller's to release. */
export interface WeightView {
  readonly tensor: Tensor;
  readonly owned: boolean;
}

/** Whether a diagnostic wants the weight as the method trained it now, or as its init left it. */
export type WeightTime = 'now' | 'init';

/** A projection as a method adapted it. */
export interface AdaptedLayer extends LinearLayer {
  /** The adapter's tensors (trainable ones have requiresGrad). */
  readonly tensors: readonly Tensor[];
  /** Bytes this layer holds (adapter tensors and any owned base). */
  readonly bytes: number;
  /** Takes the host copies `effectiveWeight('init')` and exports need; called once, right after init. */
  snapshot(rt: Runtime): Promise<void>;
  /** The dense W_eff [out, in] the forward pass multiplies by (NF4 dequantized), now or at init. */
  effectiveWeight(rt: Runtime, when: WeightTime): WeightView;
  release(rt: Runtime): void;
}

/** A quantization error ‖W − (deq(Q) + sBA)‖ of one layer after `iteration` rounds of its init. */
export interface QuantErrorPoint {
  readonly iteration: number;
  readonly frobenius: number;
  readonly nuclear: number;
  /** How `nuclear` was computed: exact singular values, or the randomized estimate (large layers, linalg/nuclear.ts). */
  readonly nuclearMethod: 'exact' | 'randomized';
  /** 'randomized' only: the estimate's stated bound on |nuclear − ‖E‖_*| (≈99 %). */
  readonly nuclearError?: number;
}

export interface LayerQuantError {
  readonly layer: string;
  readonly errors: readonly QuantErrorPoint[];
}

export interface QuantMeasureOptions {
  /** Layers to measure in this call at most (default: every pending one). */
  readonly maxLayers?: number;
  /** Only these layers, when still pending (the ones whose shared W is about to be released). */
  readonly layers?: readonly string[];
  /** Each layer's errors (all its iterations) as soon as they are measured; `measured` of `total` layers. */
  readonly onLayer?: (layer: LayerQuantError, measured: number, total: number) => void;
}

export interface QuantErrorReport {
  /** Every layer measured so far, in target order. */
  readonly layers: readonly LayerQuantError[];
  /** Layers still to measure (0: done, and what the init kept for them is released). */
  readonly pending: number;
}

/** SPP's check: exact zeros of the merged weights now against the pruned copies' zeros at init. */
export interface SparsityCheck {
  readonly zeros: number;
  readonly total: number;
  readonly fraction: number;
  readonly prunedZeros: number;
  readonly expected: number;
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
  /**
   * Quantized bases: measures the quantization error per layer and init iteration, OFF the init
   * path (create() only keeps what it needs: the rounds' small factors). Hosts call it once the
   * method is ready: the CLI at once, the studio a few layers between training steps. Resumable:
   * each call measures up to `maxLayers` pending layers and reports every layer measured so far.
   */
  measureQuantErrors?(rt: Runtime, options?: QuantMeasureOptions): Promise<QuantErrorReport>;
  /** Factors whose orthonormality the studio charts (SORSA). */
  readonly orthoFactors?: readonly { readonly A: Tensor; readonly B: Tensor }[];
  /** The sparsity a method must keep (SPP), checked on the merged weights. */
  sparsity?(rt: Runtime): Promise<SparsityCheck>;
  /** W_eff of any projection now or at init (adapted, or the method's own model's). */
  effectiveWeight(rt: Runtime, name: string, when: WeightTime): WeightView;
  release(rt: Runtime): void;
}

/** A target projection's shape, for plans and checks made before anything is allocated. */
export interface LayerShape {
  readonly name: string;
  readonly out: number;
  readonly in: number;
}

/** What a method will hold, from its settings and the targeted shapes alone. */
export interface MethodPlan {
  readonly trainableParams: number;
  /** Bytes of the frozen bases the method makes for itself (residuals, NF4 or pruned copies, a model copy). */
  readonly ownBaseBytes: number;
  /**
   * The f32 buffers one training step's forward keeps for an adapted target beyond its base
   * projection's own output, each in floats per token (a low-rank branch: x Aᵀ [r], B·(x Aᵀ) [out],
   * the sum [out], …). Absent: none (the layer's one output replaces the projection's).
   */
  readonly layerActivations?: (layer: LayerShape) => readonly number[];
}

/**
 * The learning-rate family a study tunes together (a sweep per family, as PEFT's benchmark does):
 * low-rank adapters, sparse updates of pruned weights, or dense updates of every weight (full
 * fine-tuning; 'dense' rather than 'full' so that no family is spelled like a method id).
 */
export type MethodFamily = 'low-rank' | 'sparse' | 'dense';

/** How a method's result can leave as a PEFT adapter folder, or why it cannot. */
export type PeftExport =
  | {
      readonly kind: 'adapter';
      readonly build: (rt: Runtime, adapted: AdaptedModel, baseModel: string) => Promise<PeftAdapter | PeftFolder>;
      /** One line for the user: what the files hold (e.g. "converted to a LoRA on the original weights"). */
      readonly note: string;
      /**
       * The base the adapter applies to: the original W (default); NF4(W) (QLoRA, LoftQ with T = 1:
       * load it onto a 4-bit base); or the original W although training ran on a quantized
       * residual (QPiSSA: reloading on W differs from the trained model by that quantization error).
       */
      readonly base?: 'original' | 'nf4' | 'original-lossy';
      /** PEFT's peft_type of the folder when it is not a LoRA adapter (e.g. "VERA"): LoRA readers skip it. */
      readonly peftType?: string;
    }
  | { readonly kind: 'none'; readonly reason: string };

/** A paper's claim against another method, as the study and the studio pair them. */
export interface MethodClaim {
  readonly against: MethodId;
  readonly claim: string;
}

export interface MethodDefinition {
  readonly id: MethodId;
  readonly label: string;
  /** One line: what the method does. */
  readonly summary: string;
  /** The paper, for the studio's notes. */
  readonly paper: string;
  readonly settings: readonly SettingSpec[];
  readonly family: MethodFamily;
  /** Training batches its init reads (gradient estimates, activation statistics); 0: none. */
  calibrationBatches(settings: MethodSettings): number;
  /** Trainable parameters and own bases for these targets; `modelParams` counts the whole model. */
  plan(settings: MethodSettings, layers: readonly LayerShape[], modelParams: number): MethodPlan;
  /** Why the targets cannot take this method (e.g. a shape), before anything is allocated. */
  check?(settings: MethodSettings, layers: readonly LayerShape[]): string | undefined;
  create(ctx: CreateContext, settings: MethodSettings): Promise<AdaptedModel>;
  readonly peft: PeftExport;
  /** The PEFT/TRL lines that reproduce this configuration on a CUDA machine. */
  python(settings: MethodSettings, script: ScriptHelpers): PythonRecipe;
  /** Its init measures quantization errors; `baseline`: NF4(W) with no correction (the error table's reference). */
  readonly quantError?: 'baseline' | 'reduced';
  /** The claims of its paper that the study tests (ADAPTERS.md). */
  readonly claims?: readonly MethodClaim[];
}

/** The settings with defaults filled in, validated against the schema. */
export function resolveSettings(method: MethodDefinition, given: MethodSettings = {}): Record<string, SettingValue> {
  const out: Record<string, SettingValue> = {};
  for (const spec of method.settings) {
    const value = given[spec.key] ?? spec.default;
    if (spec.kind === 'number') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < spec.min || value > spec.max || (spec.integer && !Number.isInteger(value))) {
        throw new InputError(
          `${method.label}: ${spec.label} must be ${spec.integer ? 'an integer' : 'a number'} between ${spec.min} and ${spec.max}, is ${String(value)}`,
        );
      }
    } else if (spec.kind === 'choice') {
      if (typeof value !== 'string' || !spec.options.includes(value)) {
        throw new InputError(`${method.label}: ${spec.label} must be one of ${spec.options.join(', ')}, is ${String(value)}`);
      }
    } else if (typeof value !== 'boolean') {
      throw new InputError(`${method.label}: ${spec.label} must be true or false, is ${String(value)}`);
    }
    out[spec.key] = value;
  }
  for (const key of Object.keys(given)) {
    if (!method.settings.some((s) => s.key === key)) throw new InputError(`${method.label} has no setting "${key}"`);
  }
  return out;
}

function settingOf(settings: MethodSettings, key: string): SettingValue {
  const value = settings[key];
  if (value === undefined) throw new InternalError(`setting "${key}" is missing (call resolveSettings first)`);
  return value;
}

export function numberSetting(settings: MethodSettings, key: string): number {
  const value = settingOf(settings, key);
  if (typeof value !== 'number') throw new InternalError(`setting "${key}" is not a number`);
  return value;
}

export function booleanSetting(settings: MethodSettings, key: string): boolean {
  const value = settingOf(settings, key);
  if (typeof value !== 'boolean') throw new InternalError(`setting "${key}" is not a boolean`);
  return value;
}

export function choiceSetting<T extends string>(settings: MethodSettings, key: string): T {
  const value = settingOf(settings, key);
  if (typeof value !== 'string') throw new InternalError(`setting "${key}" is not a choice`);
  return value as T;
}
