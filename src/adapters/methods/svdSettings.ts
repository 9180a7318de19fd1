// Settings shared by the methods whose init takes an SVD of each target weight.

import type { SvdSettings } from '../../linalg/principal';
import { booleanSetting, numberSetting, type MethodSettings, type SettingSpec } from '../types';

export const SVD_SETTINGS: readonly SettingSpec[] = [
  { kind: 'number', key: 'niter', label: 'rSVD power iterations', default: 4, min: 0, max: 64, integer: true, help: 'PEFT pissa_niter_K; the paper finds niter=16 matches a full SVD to ~1e-4 in loss.' },
  { kind: 'number', key: 'oversample', label: 'rSVD oversampling', default: 0, min: 0, max: 64, integer: true, help: 'Extra sketch columns (0 = PEFT); 5–10 is more accurate.' },
  { kind: 'boolean', key: 'exactSvd', label: 'Exact SVD', default: false, help: 'One-sided Jacobi SVD instead of the randomized one (slow for wide layers).' },
];

export function svdSettings(settings: MethodSettings, rank: number, seed: number): SvdSettings {
  return { rank, niter: numberSetting(settings, 'niter'), oversample: numberSetting(settings, 'oversample'), exact: booleanSetting(settings, 'exactSvd'), seed };
}

/** What a PiSSA-style PEFT export holds. */
export const PISSA_EXPORT_NOTE = 'converted to a LoRA on the original weights: rank 2r';
