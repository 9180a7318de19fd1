// LoRA-GA (Wang, Yu, Li 2024, "LoRA-GA: Low-Rank Adaptation with Gradient Approximation";
// official code github.com/Outsider565/LoRA-GA, PEFT init_lora_weights="lora_ga" with
// LoraGAConfig and preprocess_loraga, lora_ga_init in src/peft/tuners/lora/layer.py):
//   G = mean over a few batches of ∇_W L (the full model's weight gradient, as LoRA-SB's estimate)
//   G ≈ U S Vᵀ, the first 2r triplets (randomized SVD, q = min(4r, out, in), niter 4)
//   direction ArB2r (default, paper §3.2): A = V[:, :r]ᵀ, B = U[:, r:2r] (disjoint triplets)
//   stable scale (paper §3.3): A, B × out^¼/√γ, γ = 16
//   W_res = W − s·B·A frozen, so the model starts at W (the paper's W_init = W − η B A).
// The official code and the paper keep A and B orthonormal up to that scale; PEFT's
// lora_ga_init also multiplies B by the gradient's singular values S_B and applies the stable
// scale to B only. 'Scaling reference' chooses (default: the official code; 'peft' for PEFT's).
// Both codes average the gradient over batches; only PEFT's B depends on its size.

import type { LoraGaDirection, LoraGaReference, LoraGaScale } from '../../linalg/lowRankInits';
import { loragaInit } from '../../linalg/lowRankInits';
import { deltaAdapter } from '../export';
import { estimateGradients, releaseGradients } from '../init/gradientEstimate';
import { choiceSetting, numberSetting, type MethodDefinition, type SettingSpec } from '../types';
import { LOW_RANK_SETTINGS, adaptTargets, calibrationFrom, lowRankPlan, lowRankSettings, residualLayer, scalingOf } from './lowRankMethod';
import { PISSA_EXPORT_NOTE } from './svdSettings';
import { withDenseWeight } from '../forms/frozenBase';
import { InputError, InternalError } from '../../errors';

export const loraga: MethodDefinition = {
  id: 'loraga',
  label: 'LoRA-GA',
  summary: 'LoRA initialised from disjoint singular vectors of the estimated full fine-tuning gradient; W − sBA is frozen.',
  paper: 'Wang, Yu, Li, LoRA-GA: Low-Rank Adaptation with Gradient Approximation (NeurIPS 2024)',
  family: 'low-rank',
  settings: [
    ...LOW_RANK_SETTINGS.map((s): SettingSpec =>
      s.key === 'alpha' && s.kind === 'number' ? { ...s, default: 16, help: 'Scale numerator: s = alpha / r (PEFT’s LoRA-GA example: r = 8, alpha = 16).' } : s,
    ),
    {
      kind: 'number',
      key: 'estimationBatches',
      label: 'Estimation batches',
      default: 2,
      min: 1,
      max: 256,
      integer: true,
      help: 'Training batches whose gradients are averaged for the init (official LoraGAConfig: iters = 2 batches of bsz = 2; PEFT’s example: 64).',
    },
    {
      kind: 'choice',
      key: 'direction',
      label: 'Direction',
      default: 'ArB2r',
      options: ['ArB2r', 'A2rBr', 'ArBr'],
      help: 'Which of the first 2r gradient triplets go to A and B: ArB2r (default) A ← 1..r, B ← r+1..2r; A2rBr the reverse; ArBr alternating (A odd, B even).',
    },
    {
      kind: 'choice',
      key: 'scale',
      label: 'Scale',
      default: 'stable',
      options: ['stable', 'unit', 'gd'],
      help: 'stable (default): × out^¼/√γ; unit: none; gd: ÷ s.',
    },
    { kind: 'number', key: 'gamma', label: 'Stable γ', default: 16, min: 0.01, max: 1e6, help: 'γ of the stable scale (both codes: 16).' },
    {
      kind: 'choice',
      key: 'reference',
      label: 'Scaling reference',
      default: 'official',
      options: ['official', 'peft'],
      help: 'official: the paper and its code (A, B orthonormal × the scale). peft: PEFT’s lora_ga_init (B also × the gradient’s singular values; stable scales B only).',
    },
    {
      kind: 'number',
      key: 'niter',
      label: 'rSVD power iterations',
      default: 4,
      min: 0,
      max: 64,
      integer: true,
      help: 'Both codes: torch.svd_lowrank(G, q = min(4r, out, in), niter = 4).',
    },
  ],
  calibrationBatches: calibrationFrom('estimationBatches'),
  plan: (settings, layers) => lowRankPlan(settings, layers, 'dense'),
  check(settings, layers) {
    const rank = numberSetting(settings, 'rank');
    const narrow = layers.find((l) => 2 * rank > Math.min(l.out, l.in));
    return narrow ? `LoRA-GA takes 2r ≤ min(out, in); ${narrow.name} is [${narrow.out}, ${narrow.in}]` : undefined;
  },
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const scaling = scalingOf(s);
    const batches = ctx.calibration?.(numberSetting(settings, 'estimationBatches')) ?? [];
    if (batches.length === 0) throw new InputError('LoRA-GA needs training batches for its gradient estimate.');
    ctx.onProgress?.({ method: 'loraga', layer: '', done: 0, total: ctx.targets.length, phase: 'estimate' });
    const estimate = await estimateGradients(ctx.rt, ctx.model, ctx.targets, batches);
    const options = {
      rank: s.rank,
      direction: choiceSetting<LoraGaDirection>(settings, 'direction'),
      scale: choiceSetting<LoraGaScale>(settings, 'scale'),
      gamma: numberSetting(settings, 'gamma'),
      reference: choiceSetting<LoraGaReference>(settings, 'reference'),
      niter: numberSetting(settings, 'niter'),
    };
    try {
      return await adaptTargets(ctx, 'loraga', async (name, base, index, progress) => {
        progress('svd');
        const gradient = estimate.weights.get(name)?.grad;
        if (!gradient) throw new InternalError(`${name} received no gradient in LoRA-GA's estimate`);
        const init = await withDenseWeight(ctx.rt, base, (W) =>
          loragaInit(ctx.rt, W, gradient, estimate.batches, scaling, { ...options, seed: ctx.seed + index }, name),
        );
        return residualLayer(name, base, init.residual, { A: init.A, B: init.B }, scaling);
      });
    } finally {
      releaseGradients(ctx.rt, estimate);
    }
  },
  peft: { kind: 'adapter', build: deltaAdapter, note: PISSA_EXPORT_NOTE },
  python: (settings, py) => {
    const text = (key: string, fallback: string) => (typeof settings[key] === 'string' ? (settings[key] as string) : fallback);
    const scale = text('scale', 'stable') === 'gd' ? 'gd_scale' : text('scale', 'stable');
    const official = text('reference', 'official') === 'official';
    return {
      notes: [
        `LoRA-GA: PEFT's preprocess_loraga averages each target's weight gradient over a few batches (the studio used ${py.num('estimationBatches', 2)}),`,
        'then get_peft_model initialises A and B from disjoint singular vectors of it; the base keeps W - s*B*A.',
        ...(official
          ? [
              "PEFT's lora_ga_init also multiplies B by the gradient's singular values and applies the stable scale to B only;",
              "the studio followed the official code (https://github.com/Outsider565/LoRA-GA). Set the studio's scaling reference",
              'to "peft" for an exact match with the lines below.',
            ]
          : []),
        'To share the result as a plain LoRA on the original weights, save with',
        'model.save_pretrained(OUT, path_initial_model_for_weight_conversion=...).',
      ],
      peftImports: ['LoraGAConfig', 'preprocess_loraga'],
      body: [
        py.load(false),
        `estimation = split["train"].select(range(min(${py.num('estimationBatches', 2)} * 2, len(split["train"]))))  # official LoraGAConfig: batches of 2`,
        '',
        'def train_step():',
        '    for row in estimation:',
        '        text = row["text"] if "text" in row else row["prompt"] + row["completion"]',
        '        ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)',
        '        model(input_ids=ids, labels=ids).loss.backward()',
        '',
        py.loraConfig('"lora_ga"', [
          `lora_ga_config=LoraGAConfig(direction=${py.py(text('direction', 'ArB2r'))}, scale=${py.py(scale)}, stable_gamma=${py.py(py.num('gamma', 16))})`,
        ]),
        'preprocess_loraga(model, lora_config, train_step)',
        py.wrap,
      ],
    };
  },
  claims: [
    { against: 'lora', claim: 'LoRA-GA converges 2–4× faster than LoRA at the same rank' },
    { against: 'full', claim: 'LoRA-GA’s loss follows full fine-tuning’s closely from the first steps' },
  ],
};
