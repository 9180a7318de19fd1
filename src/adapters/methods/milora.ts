// MiLoRA (Wang et al. 2024, "MiLoRA: Harnessing Minor Singular Components for Parameter-Efficient
// LLM Finetuning"): PiSSA with the r SMALLEST singular triplets (the minor subspace) of W instead
// of the largest: σ' = σ_minor/s, B = U_minor diag(√σ'), A = diag(√σ') V_minorᵀ, frozen base
// W − s·B·A (the principal part), so the model starts at W. Official code (svd_init.py, mode
// "min"): full torch.linalg.svd, alpha = r. PEFT has no MiLoRA (its "mica" init also uses the
// minor U, but as a frozen B with A = 0: a different method).
// The minor triplets need the full exact SVD (one-sided Jacobi, linalg/svd.ts): layers with
// min(out, in) ≤ EXACT_SVD_MAX_SIDE only, and slow for wide ones (128×768 ≈ 9 s on SwiftShader).

import { EXACT_SVD_MAX_SIDE, miloraInit } from '../../linalg/lowRankInits';
import { deltaAdapter } from '../export';
import type { MethodDefinition } from '../types';
import { adaptByResidualSplit, LOW_RANK_SETTINGS, lowRankPlan, lowRankSettings, NO_CALIBRATION, scalingOf } from './lowRankMethod';
import { PISSA_EXPORT_NOTE, exactSvdCheck } from './svdSettings';

export const milora: MethodDefinition = {
  id: 'milora',
  label: 'MiLoRA',
  summary: 'LoRA initialised with the r smallest singular triplets of W (the minor subspace); the principal part is frozen.',
  paper: 'Wang et al., MiLoRA: Harnessing Minor Singular Components for Parameter-Efficient LLM Finetuning (2024)',
  family: 'low-rank',
  settings: LOW_RANK_SETTINGS.map((s) =>
    s.key === 'rank'
      ? { ...s, help: `${s.help} Needs the exact SVD of every target (min(out, in) ≤ ${EXACT_SVD_MAX_SIDE}; slow for wide layers). Official code: alpha = r.` }
      : s,
  ),
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => lowRankPlan(settings, layers, 'dense'),
  check: (settings, layers) => exactSvdCheck('MiLoRA', settings, layers),
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const scaling = scalingOf(s);
    return adaptByResidualSplit(ctx, 'milora', 'svd', scaling, (W, name) => miloraInit(ctx.rt, W, scaling, s.rank, name));
  },
  peft: { kind: 'adapter', build: deltaAdapter, note: PISSA_EXPORT_NOTE },
  python: (_settings, py) => ({
    notes: [
      'MiLoRA has no PEFT option (PEFT\'s "mica" is a different method). The loop below does the',
      'authors\' init (svd_init.py, mode "min"; https://arxiv.org/abs/2406.09044) on a LoRA model:',
      'the r smallest singular triplets go to A and B, the base keeps W - s*B*A.',
    ],
    body: [
      py.load(false),
      py.loraConfig('True'),
      py.wrap,
      'with torch.no_grad():',
      '    for module in model.modules():',
      '        if not (hasattr(module, "lora_A") and "default" in module.lora_A):',
      '            continue',
      '        base = module.get_base_layer()',
      '        W = base.weight.float().T if module.fan_in_fan_out else base.weight.float()',
      '        r, s = module.r["default"], module.scaling["default"]',
      '        U, S, Vh = torch.linalg.svd(W, full_matrices=False)',
      '        root = (S[-r:] / s).sqrt()',
      '        B, A = U[:, -r:] * root, root[:, None] * Vh[-r:]',
      '        module.lora_B["default"].weight.data = B.to(module.lora_B["default"].weight.dtype)',
      '        module.lora_A["default"].weight.data = A.to(module.lora_A["default"].weight.dtype)',
      '        W = W - s * B @ A',
      '        base.weight.data = (W.T if module.fan_in_fan_out else W).to(base.weight.dtype)',
    ],
  }),
  claims: [
    { against: 'pissa', claim: 'MiLoRA ends lower than PiSSA at the same rank (it leaves the principal components in place)' },
    { against: 'lora', claim: 'MiLoRA ends lower than LoRA at the same rank' },
  ],
};
