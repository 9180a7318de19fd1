// What the low-rank methods share: rank/alpha/rsLoRA settings, the scale s = alpha/r (or
// alpha/√r), and the loop that adapts every target projection of the shared model, reporting
// progress per layer and collecting the trainable tensors.

import { DenseLinear } from '../../models/linearLayer';
import { booleanSetting, numberSetting, type AdaptedLayer, type AdaptedModel, type CreateContext, type InitProgress, type MethodId, type MethodSettings, type SettingSpec } from '../types';

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
  if (!(layer instanceof DenseLinear)) throw new Error(`${name} is not a dense projection`);
  return layer;
}

export async function adaptTargets(
  ctx: CreateContext,
  method: MethodId,
  adapt: (name: string, base: DenseLinear, index: number, progress: (phase: InitProgress['phase']) => void) => AdaptedLayer | Promise<AdaptedLayer>,
): Promise<AdaptedModel> {
  const linears = new Map<string, AdaptedLayer>();
  const total = ctx.targets.length;
  try {
    for (const [index, name] of ctx.targets.entries()) {
      const progress = (phase: InitProgress['phase']) => ctx.onProgress?.({ method, layer: name, done: index, total, phase });
      progress('init');
      linears.set(name, await adapt(name, denseBase(ctx, name), index, progress));
    }
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
    release(rt) {
      for (const layer of linears.values()) layer.release(rt);
    },
  };
}
