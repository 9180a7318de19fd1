// LoRA-SB (Ponkshe et al. 2024): W_eff = W + s·B R A with B [out, r], A [r, in] frozen and only
// R [r, r] trained (r² parameters per layer), s = 1. Init approximates the first step of full
// fine-tuning: G = Σ_b ∇_W L_b over a few calibration batches, ΔW = −η sign(G) with
// η = lr / (warmup_ratio × batches), truncated SVD ΔW ≈ U_r diag(σ_r) V_rᵀ (niter 10):
// B = U_r, A = V_rᵀ, R = diag(σ_r). The model starts at W + trunc_r(ΔW); W itself is shared.

import { lorasbInit } from '../../linalg/principal';
import { loraAdapter } from '../export';
import { LowRankLayer } from '../forms/lowRank';
import { estimateGradients, releaseGradients } from '../init/gradientEstimate';
import { booleanSetting, numberSetting, type MethodDefinition } from '../types';
import { adaptTargets, calibrationFrom, lowRankActivations, planOver } from './lowRankMethod';
import { InputError, InternalError } from '../../errors';

export const lorasb: MethodDefinition = {
  id: 'lorasb',
  label: 'LoRA-SB',
  summary: 'Trains only an r×r matrix between frozen factors from an estimate of the first full fine-tuning step.',
  paper: 'Ponkshe et al., Initialization using Update Approximation is a Silver Bullet for Extreme Efficient Low-Rank Fine-Tuning (2024)',
  family: 'low-rank',
  settings: [
    {
      kind: 'number',
      key: 'rank',
      label: 'Rank r',
      default: 8,
      min: 1,
      max: 1024,
      integer: true,
      help: 'r² trainable parameters per layer (paper math default r = 96).',
    },
    {
      kind: 'number',
      key: 'estimationBatches',
      label: 'Estimation batches',
      default: 4,
      min: 1,
      max: 256,
      integer: true,
      help: 'Training batches whose gradients are summed for the init (official math: 50 examples in batches of 3).',
    },
    {
      kind: 'number',
      key: 'warmupRatio',
      label: 'Warmup ratio for η',
      default: 0.1,
      min: 0.001,
      max: 1,
      help: 'η = lr / (warmup_ratio × batches), as in the official code.',
    },
    { kind: 'number', key: 'niter', label: 'rSVD power iterations', default: 10, min: 0, max: 64, integer: true, help: 'Official code: 10.' },
    { kind: 'boolean', key: 'exactSvd', label: 'Exact SVD', default: false, help: 'One-sided Jacobi instead of the randomized SVD.' },
  ],
  calibrationBatches: calibrationFrom('estimationBatches'),
  plan: (settings, layers) => {
    const rank = numberSetting(settings, 'rank');
    return planOver(layers, () => rank * rank, 'shared', lowRankActivations(rank, { R: true }));
  },
  async create(ctx, settings) {
    const rank = numberSetting(settings, 'rank');
    const batchesWanted = numberSetting(settings, 'estimationBatches');
    if (!ctx.calibration) throw new InputError('LoRA-SB needs training batches for its gradient estimate.');
    const batches = ctx.calibration(batchesWanted);
    if (batches.length === 0) throw new InputError('LoRA-SB needs at least one training batch for its gradient estimate.');
    ctx.onProgress?.({ method: 'lorasb', layer: '', done: 0, total: ctx.targets.length, phase: 'estimate' });
    const estimate = await estimateGradients(ctx.rt, ctx.model, ctx.targets, batches);
    const eta = ctx.learningRate / (numberSetting(settings, 'warmupRatio') * estimate.batches);
    try {
      return await adaptTargets(ctx, 'lorasb', async (name, base, index, progress) => {
        progress('svd');
        const gradient = estimate.weights.get(name)?.grad;
        if (!gradient) throw new InternalError(`${name} received no gradient in LoRA-SB's estimate`);
        const svd = { rank, niter: numberSetting(settings, 'niter'), oversample: 0, exact: booleanSetting(settings, 'exactSvd'), seed: ctx.seed + index };
        const { A, B, R } = await lorasbInit(ctx.rt, gradient, eta, svd, name);
        return new LowRankLayer(name, base, { A, B, R }, 1);
      });
    } finally {
      releaseGradients(ctx.rt, estimate);
    }
  },
  peft: { kind: 'adapter', build: loraAdapter, note: 'B R stored as lora_B' },
  python: (_settings, py) => ({
    notes: [
      'LoRA-SB has no PEFT equivalent. It trains only an r x r matrix R between frozen A and B',
      `initialised from the SVD of the first update estimated over ${py.num('estimationBatches', 4)} batches. Official code: https://github.com/RaghavSinghal10/lora-sb`,
      'Below: the closest PEFT setup, plain LoRA with the same rank (all of A and B train).',
    ],
    body: [py.load(false), py.loraConfig('True', [], { rank: py.num('rank', 8), alpha: py.num('rank', 8) }), py.wrap],
  }),
  claims: [{ against: 'lora', claim: 'LoRA-SB reaches LoRA’s loss with far fewer trainable parameters' }],
};
