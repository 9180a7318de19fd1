// CorDA (Yang et al. 2024, "CorDA: Context-Oriented Decomposition Adaptation of Large Language
// Models"; PEFT init_lora_weights="corda" with CordaConfig(corda_method), preprocess_corda in
// src/peft/tuners/lora/corda.py, corda_init in layer.py):
//   C = mean over calibration samples of X̂ᵀX̂ (X̂ = X/|max X|, the layer's inputs; init/inputCovariance.ts)
//   C_fix = C + d·mean(diag C)·I (d = 0.01, doubled until it factors; linalg/covariance.ts)
//   W C_fix = U Σ Vᵀ (exact SVD, as PEFT's torch.linalg.svd), so W = U Σ (Vᵀ C_fix⁻¹)
//   IPM (instruction-previewed): the top r triplets; KPM (knowledge-preserved): the bottom r
//   σ' = σ/s, B = U_r diag(√σ'), A = diag(√σ') (Vᵀ C_fix⁻¹)_r, frozen base W − s·B·A (starts at W).
// Limits: one [in, in] covariance per distinct target input on the GPU during calibration; the
// damping's Cholesky runs on the host in float64, in³/3 per layer (≈ 1 s at in = 1536, ≈ 20 s at
// 4096; refused beyond CORDA_MAX_INPUTS); the exact SVD takes min(out, in) ≤ 1024 (slow when wide).

import { cordaInit, type CordaMode } from '../../linalg/lowRankInits';
import { deltaAdapter } from '../export';
import { inputCovariances, releaseCovariances } from '../init/inputCovariance';
import { choiceSetting, numberSetting, type MethodDefinition } from '../types';
import { adaptByResidualSplit, calibrationFrom, LOW_RANK_SETTINGS, lowRankPlan, lowRankSettings, scalingOf } from './lowRankMethod';
import { PISSA_EXPORT_NOTE, exactSvdCheck } from './svdSettings';
import { InputError } from '../../errors';

/** Inputs beyond which the host Cholesky of the covariance takes too long (in³/3 in JavaScript). */
export const CORDA_MAX_INPUTS = 4096;

export const corda: MethodDefinition = {
  id: 'corda',
  label: 'CorDA',
  summary: 'LoRA initialised from the SVD of W times the input covariance of calibration data (top r: IPM, bottom r: KPM); the rest is frozen.',
  paper: 'Yang et al., CorDA: Context-Oriented Decomposition Adaptation of Large Language Models for Task-Aware Parameter-Efficient Fine-tuning (NeurIPS 2024)',
  family: 'low-rank',
  settings: [
    ...LOW_RANK_SETTINGS,
    {
      kind: 'choice',
      key: 'mode',
      label: 'Mode',
      default: 'ipm',
      options: ['ipm', 'kpm'],
      help: 'IPM (instruction-previewed, PEFT default): adapt the top r components of W·C. KPM (knowledge-preserved): adapt the bottom r, freezing what the calibration data uses most (the paper calibrates KPM on the knowledge to keep, e.g. NQ open questions; here it is the training batches).',
    },
    {
      kind: 'number',
      key: 'calibrationBatches',
      label: 'Calibration batches',
      default: 4,
      min: 1,
      max: 256,
      integer: true,
      help: `Training batches whose inputs form the covariance, one sequence at a time (PEFT's example: 256 samples). Host Cholesky per layer, in ≤ ${CORDA_MAX_INPUTS}; exact SVD, min(out, in) ≤ 1024 (slow when wide).`,
    },
  ],
  calibrationBatches: calibrationFrom('calibrationBatches'),
  plan: (settings, layers) => lowRankPlan(settings, layers, 'dense'),
  check(settings, layers) {
    const wide = layers.find((l) => l.in > CORDA_MAX_INPUTS);
    if (wide) return `CorDA factors an [in, in] covariance on the host; ${wide.name} has ${wide.in} inputs (at most ${CORDA_MAX_INPUTS})`;
    return exactSvdCheck('CorDA', settings, layers);
  },
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const scaling = scalingOf(s);
    const mode = choiceSetting<CordaMode>(settings, 'mode');
    const batches = ctx.calibration?.(numberSetting(settings, 'calibrationBatches')) ?? [];
    if (batches.length === 0) throw new InputError('CorDA needs training batches for its input covariances.');
    ctx.onProgress?.({ method: 'corda', layer: '', done: 0, total: ctx.targets.length, phase: 'calibrate' });
    const covariances = await inputCovariances(ctx.rt, ctx.model, ctx.targets, batches);
    try {
      return await adaptByResidualSplit(ctx, 'corda', 'svd', scaling, (W, name) => cordaInit(ctx.rt, W, covariances.get(name)!, mode, scaling, s.rank, name));
    } finally {
      releaseCovariances(ctx.rt, covariances);
    }
  },
  peft: { kind: 'adapter', build: deltaAdapter, note: PISSA_EXPORT_NOTE },
  python: (settings, py) => {
    const mode = typeof settings.mode === 'string' ? settings.mode : 'ipm';
    return {
      notes: [
        `CorDA (${mode.toUpperCase()}): PEFT's preprocess_corda collects each target's input covariance over`,
        `calibration samples (the studio used ${py.num('calibrationBatches', 4)} training batches, one sequence at a time), then`,
        'get_peft_model splits the SVD of W*C as the mode says. To share the result as a plain LoRA on the',
        'original weights, save with model.save_pretrained(OUT, path_initial_model_for_weight_conversion=...).',
      ],
      imports: ['from peft.tuners.lora.config import CordaConfig', 'from peft.tuners.lora.corda import preprocess_corda'],
      body: [
        py.load(false),
        'calibration = split["train"].select(range(min(256, len(split["train"]))))  # PEFT\'s example: 256 samples',
        '',
        'def run_model():',
        '    for row in calibration:',
        '        text = row["text"] if "text" in row else row["prompt"] + row["completion"]',
        '        model(tokenizer(text, return_tensors="pt").input_ids.to(model.device))',
        '',
        py.loraConfig('"corda"', [`corda_config=CordaConfig(corda_method=${py.py(mode)})`]),
        'preprocess_corda(model, lora_config, run_model=run_model)',
        py.wrap,
      ],
    };
  },
  claims: [
    { against: 'pissa', claim: 'CorDA (IPM) ends lower than PiSSA at the same rank: the covariance orients the principal components to the task' },
    { against: 'lora', claim: 'CorDA (KPM) learns the task as well as LoRA while forgetting less of what the calibration data covers' },
  ],
};
