// SHiRA (Bhardwaj et al., Sparse High Rank Adapters, NeurIPS 2024; PEFT `shira`, ShiraConfig):
// train a fixed sparse subset of each target weight's entries directly,
//   W_eff = W + ΔW,  ΔW [out, in] zero off a mask of k = r·(in + out) entries (LoRA's parameter
//   count at rank r: PEFT's ShiraLayer.update_layer; r does not bound ΔW's rank, which is high),
// ΔW = 0 at init (PEFT init_weights=True: zeros), scale 1. The mask is chosen once per layer:
//   random     a uniformly random k-subset (PEFT's default mask_type "random", mask_functions.py
//              random_mask: torch.randperm(in·out)[:k]); here the k largest of in·out seeded
//              uniform keys from the studio's Philox generator (the same distribution, not the
//              same draws as torch's generator).
//   magnitude  the k entries of largest |W_ij| over the whole layer (the paper's SHiRA-WM).
// PEFT refuses k > in·out. W is the shared model's; the layer owns k values and k u32 positions.
// Forward and backward: tensor/ops/sparseDeltaLinear.ts (a dense W + ΔW temporary per use for
// the matmul; the values' gradient (Gᵀx) gathered at the mask without forming Gᵀx).
// Export: PEFT's SHiRA format (io/peftShira.ts: shira_weight + shira_indices per module), Llama
// family only (PEFT's SHiRA wraps nn.Linear, not GPT-2's Conv1D); the merged export works for both.

import { shiraAdapterFiles } from '../../io/peftShira';
import type { DenseLinear } from '../../models/linearLayer';
import { randomUniform } from '../../tensor/ops/random';
import { Tensor } from '../../tensor/tensor';
import { readTensor, zerosParameter, type Runtime } from '../../tensor/values';
import { SparseDeltaLayer } from '../forms/sparseDeltaLayer';
import { choiceSetting, numberSetting, type LayerShape, type MethodDefinition, type MethodSettings } from '../types';
import { NO_CALIBRATION, adaptTargets, layersOf } from './lowRankMethod';
import { InputError, InternalError } from '../../errors';

type MaskType = 'random' | 'magnitude';

/** k = r·(in + out), PEFT's count. */
export function shiraCount(rank: number, layer: Pick<LayerShape, 'in' | 'out'>): number {
  return rank * (layer.in + layer.out);
}

function shapeProblem(rank: number, layers: readonly LayerShape[]): string | undefined {
  const bad = layers.find((l) => shiraCount(rank, l) > l.in * l.out);
  return bad
    ? `SHiRA with r = ${rank} needs r·(in + out) = ${shiraCount(rank, bad)} entries, more than ${bad.name} [${bad.out}, ${bad.in}] has (PEFT refuses it too); lower r`
    : undefined;
}

/** Value at ascending rank `m` of `a` (reorders `a`): iterative quickselect, O(n) on average. */
function selectInPlace(a: Float32Array, m: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const pivot = [a[lo]!, a[mid]!, a[hi]!].sort((x, y) => x - y)[1]!;
    let i = lo;
    let j = hi;
    while (i <= j) {
      while (a[i]! < pivot) i++;
      while (a[j]! > pivot) j--;
      if (i <= j) {
        const t = a[i]!;
        a[i] = a[j]!;
        a[j] = t;
        i++;
        j--;
      }
    }
    if (m <= j) hi = j;
    else if (m >= i) lo = i;
    else return a[m]!;
  }
  return a[m]!;
}

/** The flat positions of the k largest scores, ascending; ties at the threshold go to lower positions. */
export function topKPositions(scores: Float32Array, k: number): Uint32Array {
  const n = scores.length;
  if (!Number.isInteger(k) || k < 0 || k > n) throw new InternalError(`cannot pick ${k} of ${n} entries`);
  const out = new Uint32Array(k);
  if (k === 0) return out;
  const threshold = selectInPlace(Float32Array.from(scores), n - k);
  let above = 0;
  for (let p = 0; p < n; p++) if (scores[p]! > threshold) above++;
  let ties = k - above;
  let m = 0;
  for (let p = 0; p < n && m < k; p++) {
    const s = scores[p]!;
    if (s > threshold || (s === threshold && ties-- > 0)) out[m++] = p;
  }
  return out;
}

/** Mask scores for one layer: seeded uniform keys (random) or |W| (magnitude), on the host. */
async function maskScores(rt: Runtime, base: DenseLinear, mask: MaskType, seed: number, stream: number): Promise<Float32Array> {
  if (mask === 'magnitude') return (await readTensor(rt, base.weight)).map(Math.abs);
  const keys = randomUniform(rt, [base.outFeatures, base.inFeatures], seed, 0, 1, stream);
  try {
    return await rt.read(keys);
  } finally {
    rt.release(keys);
  }
}

/** The sparse form with what the export writes into adapter_config.json. */
class ShiraLayer extends SparseDeltaLayer {
  constructor(
    name: string,
    base: DenseLinear,
    values: Tensor,
    indices: Tensor,
    hostIndices: Uint32Array,
    readonly rank: number,
    readonly mask: MaskType,
    readonly seed: number,
  ) {
    super(name, base, values, indices, hostIndices);
  }
}

function rankOf(settings: MethodSettings): number {
  return numberSetting(settings, 'rank');
}

export const shira: MethodDefinition = {
  id: 'shira',
  label: 'SHiRA',
  summary: 'Trains a fixed sparse set of r·(in + out) entries of each weight directly (LoRA’s parameter count, high rank).',
  paper: 'Bhardwaj et al., Sparse High Rank Adapters (NeurIPS 2024)',
  family: 'sparse',
  settings: [
    {
      kind: 'number',
      key: 'rank',
      label: 'Rank-equivalent r',
      default: 32,
      min: 1,
      max: 4096,
      integer: true,
      help: 'Each layer trains r·(in + out) of its entries, LoRA’s count at rank r; r does not limit the update’s rank (PEFT ShiraConfig r, default 32). PEFT’s MetaMathQA benchmark trains it with lr 3e-4.',
    },
    {
      kind: 'choice',
      key: 'mask',
      label: 'Mask',
      default: 'random',
      options: ['random', 'magnitude'],
      help: 'random: a seeded uniformly random subset (PEFT mask_type "random", the default); magnitude: the largest |W_ij| of the layer (the paper’s SHiRA-WM).',
    },
  ],
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => {
    const rank = rankOf(settings);
    const trainableParams = layers.reduce((n, l) => n + shiraCount(rank, l), 0);
    // The u32 positions are frozen bytes this method holds; W itself is shared.
    return { trainableParams, ownBaseBytes: 4 * trainableParams };
  },
  check: (settings, layers) => shapeProblem(rankOf(settings), layers),
  async create(ctx, settings) {
    const rank = rankOf(settings);
    const mask = choiceSetting<MaskType>(settings, 'mask');
    const shapes = ctx.targets.map((name) => ({ name, out: ctx.model.linear(name).outFeatures, in: ctx.model.linear(name).inFeatures }));
    const problem = shapeProblem(rank, shapes);
    if (problem) throw new InputError(problem);
    return adaptTargets(ctx, 'shira', async (name, base, index, progress) => {
      progress('init');
      const k = shiraCount(rank, { in: base.inFeatures, out: base.outFeatures });
      const positions = topKPositions(await maskScores(ctx.rt, base, mask, ctx.seed, index), k);
      const indices = Tensor.leaf(ctx.rt.upload(positions, [k], 'u32', `${name}.shira_indices`), false, `${name}.shira_indices`);
      const values = zerosParameter(ctx.rt, [k], `${name}.shira_weight`, true);
      return new ShiraLayer(name, base, values, indices, positions, rank, mask, ctx.seed);
    });
  },
  peft: {
    kind: 'adapter',
    peftType: 'SHIRA',
    note: 'PEFT SHiRA: the trained values and their positions per module (Llama family; GPT-2’s Conv1D has no PEFT SHiRA)',
    async build(rt, adapted, baseModel) {
      const shiraOf = layersOf(adapted, ShiraLayer, 'SHiRA');
      const layers = [];
      for (const layer of shiraOf) {
        layers.push({
          module: layer.name,
          inFeatures: layer.inFeatures,
          outFeatures: layer.outFeatures,
          indices: layer.hostIndices,
          values: await readTensor(rt, layer.values),
        });
      }
      const { rank, mask, seed } = shiraOf[0]!;
      return shiraAdapterFiles({ family: adapted.model.config.family, baseModel, rank, maskType: mask, randomSeed: seed, layers });
    },
  },
  python(settings, py) {
    const rank = rankOf(settings);
    const magnitude = choiceSetting<MaskType>(settings, 'mask') === 'magnitude';
    const config = [
      'shira_config = ShiraConfig(',
      `    r=${rank},`,
      `    mask_type=${magnitude ? '"magnitude"' : '"random"'},`,
      '    random_seed=SEED,',
      `    target_modules=${py.targetModules},`,
      '    task_type="CAUSAL_LM",',
      ')',
    ];
    const magnitudeMask = [
      'def magnitude_mask(base_layer, r, **kwargs):',
      '    # SHiRA-WM: the r*(in + out) entries of largest |W| in the layer.',
      '    w = base_layer.weight',
      '    k = r * (w.shape[0] + w.shape[1])',
      '    mask = torch.zeros(w.numel(), dtype=w.dtype, device=w.device)',
      '    mask[torch.topk(w.detach().abs().flatten().float(), k).indices] = 1',
      '    return mask.view(w.shape)',
      '',
    ];
    return {
      notes: [
        `SHiRA: each layer trains r*(in + out) of its own weight entries (r = ${rank}), chosen ${magnitude ? 'by magnitude' : 'at random'}; the rest stay frozen.`,
        ...(magnitude ? ['PEFT ships only the random mask; magnitude_mask below is passed as ShiraConfig.mask_fn.'] : []),
        ...(py.family === 'gpt2' ? ["PEFT's SHiRA adapts torch.nn.Linear layers only: GPT-2's Conv1D projections are refused there."] : []),
      ],
      peftConfigClass: 'ShiraConfig',
      body: [
        py.load(false),
        ...(magnitude ? magnitudeMask : []),
        ...config,
        ...(magnitude ? ['shira_config.mask_fn = magnitude_mask'] : []),
        'model = get_peft_model(model, shira_config)',
      ],
    };
  },
  claims: [
    { against: 'lora', claim: 'SHiRA, a sparse high-rank update with LoRA’s parameter count, reaches LoRA’s loss or lower' },
    {
      against: 'spp',
      claim:
        'SHiRA trains a sparse update on the dense weights, so at a similar trainable budget it ends below SPP, which must also recover from pruning (the studio’s pairing, not a claim of either paper)',
    },
  ],
};
