// What the adapter methods share: rank/alpha/rsLoRA settings, the scale s = alpha/r (or
// alpha/√r), the loop that adapts every target projection of the shared model (reporting
// progress per layer, snapshotting each layer's init, collecting the trainable tensors), and the
// plan arithmetic (trainable parameters and own bases from the shapes alone).

import { DenseLinear } from '../../models/linearLayer';
import type { Tensor } from '../../tensor/tensor';
import type { Runtime } from '../../tensor/values';
import { LowRankLayer, type LowRankFactors } from '../forms/lowRank';
import { ResidualBase } from '../forms/residualBase';
import { withDenseWeight } from '../forms/frozenBase';
import {
  booleanSetting,
  numberSetting,
  type AdaptedLayer,
  type AdaptedModel,
  type CreateContext,
  type InitProgress,
  type LayerShape,
  type MethodId,
  type MethodPlan,
  type MethodSettings,
  type SettingSpec,
} from '../types';
import { InputError, InternalError } from '../../errors';

export interface LowRankSettings {
  readonly rank: number;
  readonly alpha: number;
  readonly rslora: boolean;
}

export const LOW_RANK_SETTINGS: readonly SettingSpec[] = [
  { kind: 'number', key: 'rank', label: 'Rank r', default: 8, min: 1, max: 1024, integer: true, help: 'Rank of the update (PEFT default 8).' },
  { kind: 'number', key: 'alpha', label: 'Alpha', default: 8, min: 0.001, max: 4096, help: 'Scale numerator: s = alpha / r (PEFT default alpha = 8).' },
  { kind: 'boolean', key: 'rslora', label: 'rsLoRA scaling', default: false, help: 's = alpha / √r instead of alpha / r (Kalajievsky 2023).' },
];

export function lowRankSettings(settings: MethodSettings): LowRankSettings {
  return { rank: numberSetting(settings, 'rank'), alpha: numberSetting(settings, 'alpha'), rslora: booleanSetting(settings, 'rslora') };
}

export function scalingOf(s: LowRankSettings): number {
  return s.rslora ? s.alpha / Math.sqrt(s.rank) : s.alpha / s.rank;
}

/** The dense frozen projection at `name` in the shared model. */
export function denseBase(ctx: CreateContext, name: string): DenseLinear {
  const layer = ctx.model.linear(name);
  if (!(layer instanceof DenseLinear)) throw new InternalError(`${name} is not a dense projection`);
  return layer;
}

/** A low-rank layer over a residual W_res [out, in] it owns (PiSSA and the other SVD-style inits), sharing W's bias. */
export function residualLayer(name: string, base: DenseLinear, residual: Tensor, factors: LowRankFactors, scaling: number): LowRankLayer {
  const owned = new ResidualBase(name, residual, base.bias);
  return new LowRankLayer(name, owned, factors, scaling, owned);
}

/** What an init that splits W makes: the frozen residual W − sBA and the factors. */
export interface ResidualSplit {
  readonly residual: Tensor;
  readonly A: Tensor;
  readonly B: Tensor;
}

/** Adapts every target with an init that splits its dense W into a frozen residual and factors A, B (PiSSA, MiLoRA, OLoRA, CorDA). */
export function adaptByResidualSplit(
  ctx: CreateContext,
  method: MethodId,
  phase: InitProgress['phase'],
  scaling: number,
  split: (W: Tensor, name: string, index: number) => ResidualSplit | Promise<ResidualSplit>,
): Promise<AdaptedModel> {
  return adaptTargets(ctx, method, async (name, base, index, progress) => {
    progress(phase);
    const init = await withDenseWeight(ctx.rt, base, (W) => split(W, name, index));
    return residualLayer(name, base, init.residual, { A: init.A, B: init.B }, scaling);
  });
}

/** The adapted layers, each checked to be the method's own layer class `kind` (`label` names the method). */
export function layersOf<L>(adapted: AdaptedModel, kind: abstract new (...args: never[]) => L, label: string): L[] {
  const layers = [...adapted.linears.values()];
  if (layers.length === 0) throw new InternalError(`${label} adapted no layer`);
  return layers.map((l) => {
    if (!(l instanceof kind)) throw new InternalError(`${l.name} is not a layer of ${label}`);
    return l;
  });
}

/**
 * Adapts every target in order with `adapt`; after each layer, tells the host it is ready
 * (CreateContext.onLayerReady) with `measureOf`'s measurement of that layer, if any.
 */
export async function adaptTargets(
  ctx: CreateContext,
  method: MethodId,
  adapt: (name: string, base: DenseLinear, index: number, progress: (phase: InitProgress['phase']) => void) => AdaptedLayer | Promise<AdaptedLayer>,
  measureOf?: (name: string) => ((rt: Runtime) => Promise<void>) | undefined,
): Promise<AdaptedModel> {
  const linears = new Map<string, AdaptedLayer>();
  const total = ctx.targets.length;
  try {
    for (const [index, name] of ctx.targets.entries()) {
      const progress = (phase: InitProgress['phase']) => ctx.onProgress?.({ method, layer: name, done: index, total, phase });
      progress('init');
      const base = denseBase(ctx, name);
      // A deferred projection (models/load.ts deferProjections) is read from the checkpoint for this init.
      const read = await base.hold(ctx.rt);
      const layer = await adapt(name, base, index, progress);
      linears.set(name, layer);
      // Submit the layer's work without waiting: the GPU runs it while the next one is recorded.
      ctx.rt.flush();
      await ctx.onLayerReady?.(name, layer, measureOf?.(name));
      // ... and let go once the layer runs on a base of its own (the host may have released it already).
      if (read && layer instanceof LowRankLayer && layer.base !== base) base.drop(ctx.rt);
    }
    // The init snapshots (host copies of the factors) read back together once every layer is
    // recorded: one wait for the whole method instead of one round trip per layer.
    await Promise.all([...linears.values()].map((layer) => layer.snapshot(ctx.rt)));
  } catch (error) {
    for (const layer of linears.values()) layer.release(ctx.rt);
    throw error;
  }
  ctx.onProgress?.({ method, layer: '', done: total, total, phase: 'init' });
  const trainable = [...linears.values()].flatMap((l) => l.tensors.filter((t) => t.requiresGrad).map((tensor) => ({ tensor, weightDecay: false })));
  return {
    method,
    linears,
    trainable,
    model: ctx.model,
    extraBytes: [...linears.values()].reduce((n, l) => n + l.bytes, 0),
    effectiveWeight(rt, name, when) {
      const layer = linears.get(name);
      if (!layer) throw new InputError(`${name} is not adapted by ${method}`);
      return layer.effectiveWeight(rt, when);
    },
    release(rt) {
      for (const layer of linears.values()) layer.release(rt);
    },
  };
}

/** Bytes per weight of an NF4 copy: 4 bits plus block constants (0.5 bit, or ~0.127 with double quantization), rounded up. */
export const NF4_BYTES_PER_WEIGHT = 0.53;

/** What frozen base a method makes for each target: none (it shares W), a dense f32 copy (residual, pruned), or NF4. */
export type OwnBaseKind = 'shared' | 'dense' | 'nf4';

/**
 * A plan summed over the targets: `perLayer` trainable parameters and one own base of `base` kind
 * each; `activations` is the plan's layerActivations.
 */
export function planOver(
  layers: readonly LayerShape[],
  perLayer: (layer: LayerShape) => number,
  base: OwnBaseKind,
  activations?: (layer: LayerShape) => readonly number[],
): MethodPlan {
  let trainableParams = 0;
  let weights = 0;
  for (const layer of layers) {
    trainableParams += perLayer(layer);
    weights += layer.out * layer.in;
  }
  const ownBaseBytes = base === 'shared' ? 0 : base === 'dense' ? 4 * weights : Math.ceil(NF4_BYTES_PER_WEIGHT * weights);
  return activations ? { trainableParams, ownBaseBytes, layerActivations: activations } : { trainableParams, ownBaseBytes };
}

/**
 * Floats per token of the buffers a LowRankLayer's forward keeps beside its output [out], which
 * stands in for the base's (forms/lowRank.ts through tensor/ops/loraLinear.ts: the branch is added
 * in the base product's epilogue): h = x Aᵀ [r], and diag(S)·h and R·h [r] when present.
 */
export function lowRankActivations(rank: number, extra: { S?: boolean; R?: boolean } = {}): (layer: LayerShape) => number[] {
  return () => [rank, ...(extra.S ? [rank] : []), ...(extra.R ? [rank] : [])];
}

/** The plan of a B A adapter of rank r (A [r, in], B [out, r]). */
export function lowRankPlan(settings: MethodSettings, layers: readonly LayerShape[], base: OwnBaseKind): MethodPlan {
  const rank = numberSetting(settings, 'rank');
  return planOver(layers, (l) => rank * (l.in + l.out), base, lowRankActivations(rank));
}

/** No calibration batches. */
export const NO_CALIBRATION = (): number => 0;

/** The number of calibration batches a setting asks for. */
export function calibrationFrom(key: string): (settings: MethodSettings) => number {
  return (settings) => numberSetting(settings, key);
}
