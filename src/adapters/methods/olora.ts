// OLoRA (Büyükakyüz 2024; PEFT init_lora_weights="olora", LoraLayer.olora_init): LoRA's form,
// initialised from the thin QR of the weight, W = Q R: B = Q[:, :r] [out, r] (orthonormal
// columns), A = R[:r, :] [r, in], no division by s; the frozen base becomes W − s·B·A, so the
// model starts at W. B·A is the projection of W onto the span of its first r columns
// (linalg/lowRankInits.ts). PEFT defaults r = 8, alpha = 8.

import { oloraInit } from '../../linalg/lowRankInits';
import { deltaAdapter } from '../export';
import { numberSetting, type MethodDefinition } from '../types';
import { adaptByResidualSplit, LOW_RANK_SETTINGS, lowRankPlan, lowRankSettings, NO_CALIBRATION, scalingOf } from './lowRankMethod';
import { PISSA_EXPORT_NOTE } from './svdSettings';

export const olora: MethodDefinition = {
  id: 'olora',
  label: 'OLoRA',
  summary: 'LoRA initialised from the thin QR of W (B orthonormal, A = R’s first rows); the residual is frozen.',
  paper: 'Büyükakyüz, OLoRA: Orthonormal Low-Rank Adaptation of Large Language Models (2024)',
  family: 'low-rank',
  settings: LOW_RANK_SETTINGS,
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => lowRankPlan(settings, layers, 'dense'),
  check(settings, layers) {
    const rank = numberSetting(settings, 'rank');
    const narrow = layers.find((l) => rank > Math.min(l.out, l.in));
    return narrow ? `OLoRA takes r ≤ min(out, in); ${narrow.name} is [${narrow.out}, ${narrow.in}]` : undefined;
  },
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const scaling = scalingOf(s);
    return adaptByResidualSplit(ctx, 'olora', 'init', scaling, (W, name) => oloraInit(ctx.rt, W, scaling, s.rank, name));
  },
  peft: { kind: 'adapter', build: deltaAdapter, note: PISSA_EXPORT_NOTE },
  python: (_settings, py) => ({
    notes: [
      'OLoRA: B = Q[:, :r], A = R[:r, :] from the QR of each weight; the base keeps W - s*B*A.',
      "PEFT's olora_init takes the QR of the weight as stored (no fan_in_fan_out transpose), so it",
      "does not handle GPT-2's Conv1D layers (stored [in, out]).",
      'To share the result as a plain LoRA on the original weights, save with',
      'model.save_pretrained(OUT, path_initial_model_for_weight_conversion=...) (PiSSA/CorDA/OLoRA).',
    ],
    body: [py.load(false), py.loraConfig('"olora"'), py.wrap],
  }),
  claims: [{ against: 'lora', claim: 'OLoRA converges faster than LoRA at the same rank (orthonormal init)' }],
};
