// The GPU memory a run will hold, planned before anything of it is allocated, and the refusal of a
// run that would not fit, naming the figure and the settings that would.
// Per method (MethodDefinition.plan): its own bases (residual, NF4 or pruned copies, full
// fine-tuning's copy), its trainable values, gradients (4 bytes each) and AdamW's m and v (8), and
// one step's activations as the tape holds them (io/hfConfig.ts memoryEstimate: every buffer a
// block keeps, the adapters' extra buffers from the plan's layerActivations, flash attention's
// log-sum-exp, one [R, V] logits chunk of the LM-head loss), without and with activation
// checkpointing. Every buffer is rounded to the pool's size class (gpu/pool.ts), as the pool's
// measured peak counts it. A run: the shared base once, every method's persistent bytes, and the
// activations of the method stepping (methods step one after another).
// The totals are checked against the device's per-buffer limit always, and against a total
// budget when one is known (browsers and Dawn do not report a GPU's memory: the CLI's
// --memory-budget, the studio's setting).
// Row blocks: a matrix over the per-buffer limits (an embedding or LM head) is held as row blocks
// (gpu/rowBlocks.ts), each rounded to its own size class; a head in blocks adds a scratch
// [R, rows of a block] to the LM-head loss; the largest buffer is then one block.
// The shared base after the inits: when no method of the run reads the shared projection weights
// (4-bit methods quantize them into bases of their own; full fine-tuning trains its own copy), the
// hosts release them after the inits (train/baseRelease.ts), and the steps hold the base without
// them (`releaseBase`, on by default). The inits still need the base: `initBytes` is the run's
// bytes as its last method starts to initialise (the whole base, every earlier method's tensors,
// one layer's f32 working copies). With the release, that last init frees each layer's W as soon
// as it has quantized it (baseRelease.ts BaseReleaser), so the base shrinks faster than its own
// NF4 copies grow and none of them counts at that peak; without it, the last method's tensors all
// sit beside the whole base. The run's total is the larger of the init and the steps.
// Deferred (`deferProjections`: the host loaded the model with models/load.ts deferProjections,
// baseRelease.ts defersProjections): the targeted projections are never all held; each init reads
// one layer's 16-bit W at a time, so the init is the base without them, every earlier method's
// tensors and AdamW state, the last one's NF4 bases and trainable values (its AdamW state comes
// with its trainer, after the init), one layer's W and its f32 working copies.

import { METHODS } from '../adapters/registry';
import { resolveSettings, type LayerShape, type MethodDefinition, type MethodSettings } from '../adapters/types';
import { formatBytes } from '../errors';
import { keepsOwnFourBitBase } from './baseRelease';
import { sizeClassOf } from '../tensor/runtime';
import {
  expectedTensors,
  largestStepBuffer,
  memoryEstimate,
  paramCount,
  stepActivationBytes,
  type ExpectedTensor,
  type LargestBuffer,
  type MemoryEstimateOptions,
  type ModelConfig,
  type StepShape,
} from '../io/hfConfig';
import { lmHeadChunkRows, type BufferLimits } from '../tensor/ops/lmHeadLoss';
import { rowBlockRows } from '../tensor/rowBlockValues';
import type { CausalLM } from '../models/causalLM';
import { heldBytesPerParam } from '../models/load';

export interface PlanSetup {
  readonly config: ModelConfig;
  /** The targeted projections: module path and [out, in]. */
  readonly layers: readonly LayerShape[];
  readonly batch: number;
  readonly seqLen: number;
  readonly limits: BufferLimits;
  /** Bytes per weight of the shared base as held (models/load.ts heldBytesPerParam); default 4 (f32). */
  readonly weightBytesPerParam?: MemoryEstimateOptions['weightBytesPerParam'];
}

export interface MethodMemoryPlan {
  readonly id: string;
  readonly trainableParams: number;
  /** The frozen model every method of a run shares (held once). */
  readonly sharedBaseBytes: number;
  /** Bases the method makes for itself. */
  readonly ownBaseBytes: number;
  /** Trainable values (when they are not the own base), their gradients and AdamW's m and v. */
  readonly trainableBytes: number;
  /** Of trainableBytes, the gradients: live only during the method's own step. */
  readonly gradientBytes: number;
  /** One training step's own bytes at its peak, without and with activation checkpointing. */
  readonly activationBytes: { readonly plain: number; readonly checkpointed: number };
  readonly largestBuffer: LargestBuffer;
  /** Of sharedBaseBytes, the targeted projections' weights: what a release frees (train/baseRelease.ts). */
  readonly releasableBaseBytes: number;
  /** Whether the method reads the shared projection weights after its init (false: 4-bit bases of its own, or its own model copy). */
  readonly keepsSharedBase: boolean;
  /** f32 working copies its init makes of one layer at a time (the expanded W, and a residual or dequantized copy but for QLoRA). */
  readonly initScratchBytes: number;
  /** Whether its init frees each layer's shared W as it quantizes it, when it is the last init of a run that releases the base. */
  readonly releasesDuringInit: boolean;
  /** The largest targeted projection's weight as held (pool bytes): what a deferred init reads for one layer. */
  readonly layerWeightBytes: number;
}

/** The plan's setup for `targets` of a loaded model: their shapes, and the base as the model holds it. */
export function modelPlanSetup(
  model: CausalLM,
  targets: readonly string[],
  shape: { readonly batch: number; readonly seqLen: number },
  limits: BufferLimits,
): PlanSetup {
  return {
    config: model.config,
    layers: targets.map((name) => ({ name, out: model.linear(name).outFeatures, in: model.linear(name).inFeatures })),
    batch: shape.batch,
    seqLen: shape.seqLen,
    limits,
    weightBytesPerParam: heldBytesPerParam(model),
  };
}

/** Block index of a projection's module path (`model.layers.3.mlp.up_proj`, `h.3.attn.c_attn`). */
function blockOf(name: string): number | undefined {
  const match = /(?:^|\.)(\d+)\./.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** The plan of one method with resolved settings. */
export function planMethod(setup: PlanSetup, method: MethodDefinition, settings: MethodSettings): MethodMemoryPlan {
  const { config, batch, seqLen } = setup;
  const modelParams = paramCount(config);
  const plan = method.plan(settings, setup.layers, modelParams);
  const adapterActivations: number[][] = Array.from({ length: config.numLayers }, () => []);
  if (plan.layerActivations) {
    for (const layer of setup.layers) {
      const i = blockOf(layer.name);
      if (i !== undefined && i < config.numLayers) adapterActivations[i]!.push(...plan.layerActivations(layer));
    }
  }
  const lmHeadRows = lmHeadChunkRows(batch * seqLen, config.vocabSize, setup.limits);
  const { hiddenSize: C, vocabSize: V } = config;
  const headBlocks = rowBlockRows(V, C, setup.limits);
  const lmHeadBlockRows = headBlocks.length > 1 ? Math.max(...headBlocks) : undefined;
  const shape: StepShape = { batch, seqLen, lmHeadRows, adapterActivations, roundBuffer: sizeClassOf, lmHeadBlockRows };
  const weightBytesPerParam = setup.weightBytesPerParam ?? 4;
  const heldBytes = (t: ExpectedTensor, bytes: number) => heldTensorBytes(t, bytes, setup.limits);
  const estimate = memoryEstimate(config, { ...shape, weightBytesPerParam, trainableParams: plan.trainableParams, heldBytes });
  const targeted = new Set(setup.layers.map((l) => `${l.name}.weight`));
  const targetedBytes = expectedTensors(config)
    .filter((t) => targeted.has(t.name))
    .map((t) =>
      heldBytes(t, Math.ceil(t.shape.reduce((a, b) => a * b, 1) * (typeof weightBytesPerParam === 'number' ? weightBytesPerParam : weightBytesPerParam(t)))),
    );
  const releasableBaseBytes = targetedBytes.reduce((n, b) => n + b, 0);
  const largestLayer = Math.max(0, ...setup.layers.map((l) => l.out * l.in));
  // The pool's slack on the model's own f32 shapes stands in for tensors whose shapes the plan does not list.
  const sizes = expectedTensors(config).map((t) => 4 * t.shape.reduce((a, b) => a * b, 1));
  const slack = sizes.reduce((n, b) => n + sizeClassOf(b), 0) / sizes.reduce((n, b) => n + b, 0);
  // A dense method trains its own copy of the weights: their values are its own base.
  const trainableBytes = method.family === 'dense' ? Math.ceil(estimate.trainableBytes * (12 / 16)) : estimate.trainableBytes;
  return {
    id: method.id,
    trainableParams: plan.trainableParams,
    sharedBaseBytes: estimate.weightBytes,
    ownBaseBytes: Math.ceil(plan.ownBaseBytes * slack),
    trainableBytes,
    gradientBytes: Math.ceil(4 * plan.trainableParams * slack),
    activationBytes: { plain: estimate.activationBytes, checkpointed: stepActivationBytes(config, { ...shape, checkpointing: true }) },
    largestBuffer: largestStepBuffer(config, batch, seqLen, { lmHeadRows, embeddingTrains: method.family === 'dense', embeddingBlockRows: lmHeadBlockRows }),
    releasableBaseBytes,
    keepsSharedBase: method.quantError === undefined && method.family !== 'dense',
    // QLoRA quantizes the f32 W itself; the others also make a residual or dequantized copy.
    initScratchBytes: plan.ownBaseBytes > 0 ? (method.quantError === 'baseline' ? 1 : 2) * sizeClassOf(4 * largestLayer) : 0,
    releasesDuringInit: keepsOwnFourBitBase(method),
    layerWeightBytes: Math.max(0, ...targetedBytes),
  };
}

/** Pool bytes of a frozen tensor of `bytes` as held: one buffer, or its row blocks when its f32 form is over the limits. */
function heldTensorBytes(t: ExpectedTensor, bytes: number, limits: BufferLimits): number {
  if (t.shape.length !== 2) return sizeClassOf(bytes);
  const [rows, cols] = t.shape as [number, number];
  const blocks = rowBlockRows(rows, cols, limits, t.name);
  if (blocks.length === 1) return sizeClassOf(bytes);
  return blocks.reduce((n, r) => n + sizeClassOf(Math.ceil((bytes * r) / rows)), 0);
}

export interface RunMemoryPlan {
  /** At the run's peak: the larger of the last init (initBytes) and the steps (the shared base once, every method's own bases and trainables, the largest step's activations). */
  readonly totalBytes: number;
  /**
   * As the last method starts its init: the whole shared base, every earlier method's tensors and AdamW state, one layer's f32
   * working copies; and the last method's own tensors too when the base is not released (released, its W goes layer by layer,
   * and the figure is the larger of that start and the end of the inits). With deferProjections: the base without the
   * targeted projections, every method's tensors and AdamW state, one layer's W and working copies.
   */
  readonly initBytes: number;
  /** Shared projection weights released after the inits (no method reads them; train/baseRelease.ts); 0 when any method keeps them. */
  readonly releasedBaseBytes: number;
  /**
   * Per method, the run's bytes while that method steps (what its measured pool peak compares
   * with): the others hold their tensors and AdamW state but no gradients then.
   */
  readonly whileStepping: readonly number[];
  readonly largestBuffer: LargestBuffer;
}

export interface RunPlanOptions {
  /** The host releases the shared projection weights no method reads after the inits (train/baseRelease.ts); default true. */
  readonly releaseBase?: boolean;
  /**
   * The host loaded the model with deferred projections (models/load.ts; only when every method keeps a 4-bit base,
   * baseRelease.ts defersProjections): the inits read one layer's W at a time and the whole base is never held. Default false.
   */
  readonly deferProjections?: boolean;
}

export function planRun(methods: readonly MethodMemoryPlan[], checkpointing: boolean, options: RunPlanOptions = {}): RunMemoryPlan {
  if (methods.length === 0) return { totalBytes: 0, initBytes: 0, releasedBaseBytes: 0, whileStepping: [], largestBuffer: { bytes: 0, what: 'nothing' } };
  const shared = Math.max(...methods.map((m) => m.sharedBaseBytes));
  const releasedBaseBytes =
    (options.releaseBase ?? true) && methods.every((m) => !m.keepsSharedBase) ? Math.min(...methods.map((m) => m.releasableBaseBytes)) : 0;
  const held = methods.reduce((n, m) => n + m.ownBaseBytes + m.trainableBytes - m.gradientBytes, 0);
  const whileStepping = methods.map(
    (m) => shared - releasedBaseBytes + held + m.gradientBytes + (checkpointing ? m.activationBytes.checkpointed : m.activationBytes.plain),
  );
  const last = methods[methods.length - 1]!;
  const lastHeld = releasedBaseBytes > 0 && last.releasesDuringInit ? last.ownBaseBytes + last.trainableBytes - last.gradientBytes : 0;
  // Released during the last init, the run's end-of-init level (every method's tensors and AdamW state beside the base less its
  // projections) can be the higher one on a small model, whose NF4 copies and adapters outweigh the 16-bit weights they replace.
  const scratch = Math.max(...methods.map((m) => m.initScratchBytes));
  const deferred = (options.deferProjections ?? false) && releasedBaseBytes > 0 && methods.every((m) => m.releasesDuringInit);
  // Deferred, the inits' peak is at the last layer of the last one: the base without its projections, every earlier method's
  // tensors, the last one's own bases and trainable values (AdamW's state comes with its trainer, after the init), one layer's W
  // and its working copies; or the end of the inits, trainers included.
  const lastInit = last.ownBaseBytes + last.gradientBytes;
  const lastAll = last.ownBaseBytes + last.trainableBytes - last.gradientBytes;
  const layerWeight = Math.max(...methods.map((m) => m.layerWeightBytes));
  const initBytes = deferred
    ? Math.max(shared - releasedBaseBytes + held - lastAll + lastInit + layerWeight + scratch, shared - releasedBaseBytes + held)
    : Math.max(shared + held - lastHeld + scratch, shared - releasedBaseBytes + held);
  const largestBuffer = methods.map((m) => m.largestBuffer).reduce((a, b) => (b.bytes > a.bytes ? b : a));
  return { totalBytes: Math.max(initBytes, ...whileStepping), initBytes, releasedBaseBytes, whileStepping, largestBuffer };
}

export interface MemoryBudget {
  /** The largest buffer the device allows (min of maxBufferSize and maxStorageBufferBindingSize). */
  readonly perBuffer: number;
  /** Bytes the run may hold in all; absent: not checked. */
  readonly totalBytes?: number;
}

export interface RunChoice {
  readonly method: MethodDefinition;
  readonly settings: MethodSettings;
}

/** The device limit on one buffer. */
export function perBufferLimit(limits: BufferLimits): number {
  return Math.min(limits.maxBufferSize, limits.maxStorageBufferBindingSize);
}

function overBudget(plan: RunMemoryPlan, budget: MemoryBudget): boolean {
  return plan.largestBuffer.bytes > budget.perBuffer || (budget.totalBytes !== undefined && plan.totalBytes > budget.totalBytes);
}

function planChoices(setup: PlanSetup, choices: readonly RunChoice[], checkpointing: boolean, options: RunPlanOptions = {}): RunMemoryPlan {
  return planRun(
    choices.map((c) => planMethod(setup, c.method, c.settings)),
    checkpointing,
    options,
  );
}

/**
 * Why the run would not fit the budget, naming the planned figure and the settings that would fit
 * (checkpointing, a smaller batch, fewer methods, a 4-bit base instead of a method's own copy), or
 * undefined when it fits.
 */
export function fitProblem(
  setup: PlanSetup,
  choices: readonly RunChoice[],
  checkpointing: boolean,
  budget: MemoryBudget,
  options: RunPlanOptions = {},
): string | undefined {
  const plan = planChoices(setup, choices, checkpointing, options);
  if (!overBudget(plan, budget)) return undefined;
  const figure =
    plan.largestBuffer.bytes > budget.perBuffer
      ? `${plan.largestBuffer.what} needs one ${formatBytes(plan.largestBuffer.bytes)} buffer, over this GPU's ${formatBytes(budget.perBuffer)} limit per buffer`
      : `the run needs about ${formatBytes(plan.totalBytes)} of GPU memory (B=${setup.batch}, T=${setup.seqLen}, ` +
        `${checkpointing ? 'with' : 'without'} activation checkpointing), over the ${formatBytes(budget.totalBytes ?? 0)} budget`;
  const fits: string[] = [];
  const tryPlan = (label: string, s: PlanSetup, c: readonly RunChoice[], ckpt: boolean): boolean => {
    const p = planChoices(s, c, ckpt, options);
    if (overBudget(p, budget)) return false;
    fits.push(`${label} (≈${formatBytes(p.totalBytes)})`);
    return true;
  };
  if (!checkpointing) tryPlan('activation checkpointing', setup, choices, true);
  for (const ckpt of checkpointing ? [true] : [false, true]) {
    let found = false;
    for (let batch = setup.batch - 1; batch >= 1 && !found; batch--) {
      found = tryPlan(`batch ${batch}${ckpt && !checkpointing ? ' with checkpointing' : ''}`, { ...setup, batch }, choices, ckpt);
    }
    if (found) break;
  }
  if (choices.length > 1) {
    const held = (c: RunChoice) => {
      const m = planMethod(setup, c.method, c.settings);
      return m.ownBaseBytes + m.trainableBytes;
    };
    const kept = [...choices].sort((a, b) => held(a) - held(b));
    while (kept.length > 1) {
      kept.pop();
      if (tryPlan(`only ${kept.map((c) => c.method.id).join(', ')}`, setup, kept, checkpointing)) break;
    }
  }
  const nf4 = METHODS.find((m) => m.quantError === 'baseline');
  if (nf4) {
    for (const choice of choices) {
      if (choice.method.id === nf4.id || choices.some((c) => c.method.id === nf4.id)) continue;
      const replacement = { method: nf4, settings: resolveSettings(nf4) };
      const swapped = choices.map((c) => (c === choice ? replacement : c));
      // Judged on the whole run, not the method's own bytes: a 4-bit base lets the shared 16-bit projections go (and with
      // options.deferProjections a run of 4-bit methods never holds them all), so QLoRA can fit where LoRA does not.
      tryPlan(`${nf4.id} (4-bit base) instead of ${choice.method.id}`, setup, swapped, checkpointing);
    }
  }
  return (
    `Will not fit: ${figure}. ` +
    (fits.length > 0
      ? `These would fit: ${fits.join('; ')}.`
      : 'No smaller batch, checkpointing or fewer methods fits either: choose a smaller model or a shorter sequence.')
  );
}
