// SORSA (Cao 2024): W = W_r + s·B diag(S) A with B = U_r, S = σ_r, A = V_rᵀ from the SVD,
// W_r frozen, and an orthonormality regulariser on A and B (sorsaRegularizer.ts) added after
// clipping with weight γ/lr_max. s = 1 by default (alpha unset in the official code).

import { addOrthoGradients, type OrthoFactors } from '../../linalg/orthoRegularizer';
import { sorsaInit } from '../../linalg/principal';
import { deltaAdapter } from '../export';
import { numberSetting, type MethodDefinition } from '../types';
import { NO_CALIBRATION, adaptTargets, lowRankActivations, planOver, residualLayer } from './lowRankMethod';
import { SVD_SETTINGS, svdSettings, peftPissaInit } from './svdSettings';
import { withDenseWeight } from '../forms/frozenBase';

export const sorsa: MethodDefinition = {
  id: 'sorsa',
  label: 'SORSA',
  summary: 'Trains B·diag(S)·A from the SVD with an orthonormality regulariser on A and B.',
  paper: 'Cao, SORSA: Singular Values and Orthonormal Regularized Singular Vectors Adaptation of LLMs (2024)',
  family: 'low-rank',
  settings: [
    { kind: 'number', key: 'rank', label: 'Rank r', default: 8, min: 1, max: 1024, integer: true, help: 'Rank of the trained singular subspace.' },
    {
      kind: 'number',
      key: 'gamma',
      label: 'Regulariser γ',
      default: 4e-4,
      min: 0,
      max: 1,
      help: 'Orthonormal regulariser weight; added as (γ/lr_max)·∇L_reg after clipping (official default 4e-4).',
    },
    ...SVD_SETTINGS,
  ],
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => {
    const rank = numberSetting(settings, 'rank');
    return planOver(layers, (l) => rank * (l.in + l.out) + rank, 'dense', lowRankActivations(rank, { S: true }));
  },
  async create(ctx, settings) {
    const rank = numberSetting(settings, 'rank');
    const scaling = 1;
    const gamma = numberSetting(settings, 'gamma');
    const factors: OrthoFactors[] = [];
    const adapted = await adaptTargets(ctx, 'sorsa', async (name, base, index, progress) => {
      progress('svd');
      const init = await withDenseWeight(ctx.rt, base, (W) => sorsaInit(ctx.rt, W, scaling, svdSettings(settings, rank, ctx.seed + index), name));
      factors.push({ A: init.A, B: init.B });
      return residualLayer(name, base, init.residual, { A: init.A, B: init.B, S: init.S }, scaling);
    });
    const weight = gamma / ctx.learningRate;
    return { ...adapted, orthoFactors: factors, afterBackward: (rt) => addOrthoGradients(rt, factors, weight) };
  },
  peft: { kind: 'adapter', build: deltaAdapter, note: 'converted to a LoRA on the original weights: rank 2r, diag(S) folded into lora_B' },
  python: (_settings, py) => ({
    notes: [
      'SORSA has no PEFT equivalent. It trains B diag(S) A from the principal SVD with an',
      `orthonormality regulariser on A and B (gamma = ${py.py(py.num('gamma', 4e-4))}). Official code: https://github.com/Gunale0926/SORSA`,
      'Below: the closest PEFT setup, PiSSA with the same rank (no diag(S), no regulariser).',
    ],
    body: [py.load(false), py.loraConfig(peftPissaInit(py)), py.wrap],
  }),
  claims: [{ against: 'pissa', claim: 'SORSA converges faster than PiSSA and keeps its singular vectors orthonormal' }],
};
