// PiSSA (Meng, Wang, Zhang 2024): LoRA's form, initialised from the principal singular
// components: A = diag(√σ') V_rᵀ, B = U_r diag(√σ') with σ' = σ_r/s, and the frozen base
// replaced by the residual W − sBA. The paper uses alpha = r (s = 1).

import { pissaInit } from '../../linalg/principal';
import { LowRankLayer } from '../forms/lowRank';
import { ResidualBase } from '../forms/residualBase';
import type { MethodDefinition } from '../types';
import { LOW_RANK_SETTINGS, adaptTargets, lowRankSettings, scalingOf } from './lowRankMethod';
import { SVD_SETTINGS, svdSettings } from './svdSettings';

export const pissa: MethodDefinition = {
  id: 'pissa',
  label: 'PiSSA',
  summary: 'LoRA initialised with the principal singular vectors; the residual is frozen.',
  paper: 'Meng, Wang, Zhang, PiSSA: Principal Singular Values and Singular Vectors Adaptation (NeurIPS 2024)',
  settings: [...LOW_RANK_SETTINGS, ...SVD_SETTINGS],
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const scaling = scalingOf(s);
    return adaptTargets(ctx, 'pissa', async (name, base, index, progress) => {
      progress('svd');
      const init = await pissaInit(ctx.rt, base.weight, scaling, svdSettings(settings, s.rank, ctx.seed + index), name);
      const residual = new ResidualBase(name, init.residual, base.bias);
      const layer = new LowRankLayer(name, residual, { A: init.A, B: init.B }, scaling, residual);
      await layer.snapshot(ctx.rt);
      return layer;
    });
  },
};
