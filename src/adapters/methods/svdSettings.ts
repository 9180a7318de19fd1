// Settings shared by the methods whose init takes an SVD of each target weight.

import { EXACT_SVD_MAX_SIDE } from '../../linalg/lowRankInits';
import type { ScriptHelpers } from '../../io/pythonScript';
import type { SvdSettings } from '../../linalg/principal';
import { booleanSetting, numberSetting, type LayerShape, type MethodSettings, type SettingSpec } from '../types';

export const SVD_SETTINGS: readonly SettingSpec[] = [
  {
    kind: 'number',
    key: 'niter',
    label: 'rSVD power iterations',
    default: 4,
    min: 0,
    max: 64,
    integer: true,
    help: 'PEFT pissa_niter_K; the paper finds niter=16 matches a full SVD to ~1e-4 in loss.',
  },
  {
    kind: 'number',
    key: 'oversample',
    label: 'rSVD oversampling',
    default: 0,
    min: 0,
    max: 64,
    integer: true,
    help: 'Extra sketch columns (0 = PEFT); 5–10 is more accurate.',
  },
  { kind: 'boolean', key: 'exactSvd', label: 'Exact SVD', default: false, help: 'One-sided Jacobi SVD instead of the randomized one (slow for wide layers).' },
];

export function svdSettings(settings: MethodSettings, rank: number, seed: number): SvdSettings {
  return {
    rank,
    niter: numberSetting(settings, 'niter'),
    oversample: numberSetting(settings, 'oversample'),
    exact: booleanSetting(settings, 'exactSvd'),
    seed,
  };
}

/** What a PiSSA-style PEFT export holds. */
export const PISSA_EXPORT_NOTE = 'converted to a LoRA on the original weights: rank 2r';

/** Why these layers cannot take an init from rank-r triplets of the exact SVD (MiLoRA, CorDA), if they cannot. */
export function exactSvdCheck(label: string, settings: MethodSettings, layers: readonly LayerShape[]): string | undefined {
  const rank = numberSetting(settings, 'rank');
  const narrow = layers.find((l) => rank > Math.min(l.out, l.in));
  if (narrow) return `${label} takes r ≤ min(out, in); ${narrow.name} is [${narrow.out}, ${narrow.in}]`;
  const wide = layers.find((l) => Math.min(l.out, l.in) > EXACT_SVD_MAX_SIDE);
  if (wide) return `${label} needs an exact SVD, which takes layers with min(out, in) ≤ ${EXACT_SVD_MAX_SIDE}; ${wide.name} is [${wide.out}, ${wide.in}]`;
  return undefined;
}

/** PEFT's init_lora_weights for a principal-SVD init: "pissa_niter_K" (rSVD, K power iterations), or exact. */
export function peftPissaInit(py: ScriptHelpers): string {
  const exact = 'pissa';
  return py.bool('exactSvd', false) ? `"${exact}"` : `"${exact}_niter_${py.num('niter', 4)}"`;
}
