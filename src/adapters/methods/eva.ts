// EVA (Paischer et al., One Initialization to Rule them All: Fine-tuning via Explained Variance
// Adaptation, 2024; PEFT init_lora_weights="eva", EvaConfig, tuners/lora/eva.py): LoRA whose A
// starts from the principal directions of each layer's INPUT activations, with B = 0 and the
// shared W untouched (the model starts at the base), and ranks moved between layers to the
// directions that explain the most variance.
//   1. Over the calibration batches, per target input: the centered activations X_c [n, in]
//      (tokens whose label counts, PEFT use_label_mask) and their top-k right singular vectors
//      V_k and σ_i², k = min(round(ρ·r), in)  (eva.py max_components = round(r·rho)).
//      Computed as the top-k eigenvectors of X_cᵀ X_c = V Σ² Vᵀ accumulated over every batch
//      (linalg/inputScatter.ts): the same subspace PEFT's incremental PCA converges to (its tau
//      stopping rule has nothing to decide here), without holding the n·in activations.
//   2. Rank redistribution (eva.py _get_rank_distribution): explained-variance ratios
//      σ_i² / Σ_all σ² of every layer's first k components are pooled, sorted descending, and
//      the top r·L (L targets: the budget of uniform rank r) are counted per layer. ρ = 1 keeps
//      rank r everywhere; layers may end with more (≤ ρ·r), fewer, or none (a layer with rank 0
//      is not adapted, as PEFT removes it). Ties go to the earlier layer, then the earlier
//      component (PEFT keeps a shared-input group's largest rank on its first layer likewise).
//   3. A = the layer's first r_l directions [r_l, in] (signs as PEFT's IncrementalPCA._svd_flip:
//      each row's largest-|v| entry positive; whiten divides row i by √σ_i), B = 0 [out, r_l].
//      adjust_scaling_factors (PEFT default): lora_alpha_l = alpha·r_l / r, so s = alpha / r is
//      unchanged by the redistribution (rsLoRA: alpha_l / √r_l); off: alpha_l = alpha.
// Export: plain LoRA with PEFT's rank_pattern / alpha_pattern (io/peft.ts), rank-0 layers in
// exclude_modules. Not here: PEFT's tau-based early stop (we compute over a fixed number of
// batches exactly) and custom prepare_*_fn hooks.

import { targetModules, type PeftAdapter, type PeftLayer } from '../../io/peft';
import { readEffectiveB } from '../../linalg/merge';
import type { DenseLinear } from '../../models/linearLayer';
import { parameterFromArray, readTensor, zerosParameter, type Runtime } from '../../tensor/values';
import { LowRankLayer, type LowRankFactors } from '../forms/lowRank';
import { targetInputComponents, type InputComponents } from '../init/inputComponents';
import { booleanSetting, numberSetting, type AdaptedModel, type LayerShape, type MethodDefinition, type MethodSettings } from '../types';
import { LOW_RANK_SETTINGS, adaptTargets, calibrationFrom, layersOf, lowRankSettings, type LowRankSettings } from './lowRankMethod';
import { InputError } from '../../errors';

/** A LoRA layer that remembers the uniform rank and its scale, for PEFT's patterns. */
class EvaLayer extends LowRankLayer {
  constructor(
    name: string,
    base: DenseLinear,
    factors: LowRankFactors,
    scaling: number,
    /** r of the settings */
    readonly baseRank: number,
    /** The scale a layer of rank r gets (alpha / r, or alpha / √r with rsLoRA). */
    readonly baseScaling: number,
  ) {
    super(name, base, factors, scaling);
  }
}

/** Components considered per layer before redistribution: round(ρ·r), at most in. */
export function evaMaxComponents(rank: number, rho: number, inFeatures: number): number {
  return Math.max(1, Math.min(inFeatures, Math.round(rank * rho)));
}

/**
 * PEFT's rank distribution: pool every layer's explained-variance ratios (each list descending),
 * take the `budget` largest, count them per layer. Ties: earlier layer, then earlier component.
 */
export function evaRanks(ratios: readonly ArrayLike<number>[], budget: number): number[] {
  const pool: { layer: number; component: number; ratio: number }[] = [];
  ratios.forEach((list, layer) => {
    for (let component = 0; component < list.length; component++) {
      const ratio = list[component]!;
      pool.push({ layer, component, ratio: Number.isFinite(ratio) ? ratio : 0 });
    }
  });
  pool.sort((a, b) => b.ratio - a.ratio || a.layer - b.layer || a.component - b.component);
  const counts = ratios.map(() => 0);
  for (const entry of pool.slice(0, Math.max(0, budget))) counts[entry.layer]!++;
  return counts;
}

/** The first `rank` directions as A [rank, in], signs flipped as svd_flip, optionally whitened. */
export function evaA(components: InputComponents, rank: number, inFeatures: number, whiten: boolean): Float32Array {
  const A = components.vectors.slice(0, rank * inFeatures);
  for (let i = 0; i < rank; i++) {
    const row = A.subarray(i * inFeatures, (i + 1) * inFeatures);
    let best = 0;
    for (let j = 1; j < inFeatures; j++) if (Math.abs(row[j]!) > Math.abs(row[best]!)) best = j;
    let factor = row[best]! < 0 ? -1 : 1;
    // PEFT divides by √(singular value of X_c) = λ_i^(1/4).
    if (whiten && components.values[i]! > 0) factor /= Math.sqrt(Math.sqrt(components.values[i]!));
    if (factor !== 1) for (let j = 0; j < inFeatures; j++) row[j] = row[j]! * factor;
  }
  return A;
}

function scalingFor(s: LowRankSettings, rank: number, adjust: boolean): number {
  const alpha = adjust ? (s.alpha * rank) / s.rank : s.alpha;
  return s.rslora ? alpha / Math.sqrt(rank) : alpha / rank;
}

/** Trainable parameters: exact for ρ = 1; for ρ > 1 an upper bound (the widest layers take the most rank). */
function evaPlan(settings: MethodSettings, layers: readonly LayerShape[]) {
  const rank = numberSetting(settings, 'rank');
  const rho = numberSetting(settings, 'rho');
  let budget = rank * layers.length;
  let trainableParams = 0;
  for (const l of [...layers].sort((a, b) => b.in + b.out - (a.in + a.out))) {
    const take = Math.min(budget, evaMaxComponents(rank, rho, l.in));
    trainableParams += take * (l.in + l.out);
    budget -= take;
  }
  return { trainableParams, ownBaseBytes: 0 };
}

/** The factors as trained, each layer with its own rank and lora_alpha (PEFT's patterns). */
async function evaAdapter(rt: Runtime, adapted: AdaptedModel, baseModel: string): Promise<PeftAdapter> {
  const layers = layersOf(adapted, EvaLayer, 'EVA');
  const family = adapted.model.config.family;
  const { baseRank, baseScaling } = layers[0]!;
  const out: PeftLayer[] = [];
  for (const layer of layers) {
    const A = await readTensor(rt, layer.factors.A);
    const B = await readEffectiveB(rt, { ...layer.factors, scaling: layer.scaling });
    // lora_alpha_l = s_l · r_l, so PEFT's s = lora_alpha_l / r_l is ours exactly (use_rslora false).
    out.push({ module: layer.name, A, B, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures, rank: layer.rank, alpha: layer.scaling * layer.rank });
  }
  // Projections the suffixes in target_modules would match but EVA gave rank 0.
  const suffixes = new Set(
    targetModules(
      family,
      layers.map((l) => l.name),
    ),
  );
  const excludeModules = adapted.model.linearNames().filter((n) => !adapted.linears.has(n) && suffixes.has(targetModules(family, [n])[0]!));
  return { family, baseModel, rank: baseRank, alpha: baseScaling * baseRank, useRslora: false, layers: out, excludeModules };
}

export const eva: MethodDefinition = {
  id: 'eva',
  label: 'EVA',
  summary: 'LoRA with A from the principal directions of each layer’s input activations (B = 0), ranks moved to where the variance is.',
  paper: 'Paischer et al., One Initialization to Rule them All: Fine-tuning via Explained Variance Adaptation (2024)',
  family: 'low-rank',
  settings: [
    ...LOW_RANK_SETTINGS,
    {
      kind: 'number',
      key: 'rho',
      label: 'Redistribution ρ',
      default: 2,
      min: 1,
      max: 64,
      help: 'A layer may take up to round(ρ·r) of the r·layers budget (PEFT EvaConfig rho, default 2; 1 keeps rank r everywhere).',
    },
    {
      kind: 'number',
      key: 'calibrationBatches',
      label: 'Calibration batches',
      default: 4,
      min: 1,
      max: 256,
      integer: true,
      help: 'Training batches whose input activations are decomposed (exactly, over all their tokens; PEFT cycles its dataloader until the components stop changing, tau 0.99).',
    },
    {
      kind: 'boolean',
      key: 'labelMask',
      label: 'Completion tokens only',
      default: true,
      help: 'Use only tokens whose label counts for the loss (PEFT use_label_mask, default on); off: every position.',
    },
    {
      kind: 'boolean',
      key: 'adjustScaling',
      label: 'Keep the scale across ranks',
      default: true,
      help: 'lora_alpha_l = alpha·r_l/r so every layer keeps s = alpha/r (PEFT adjust_scaling_factors, default on).',
    },
    {
      kind: 'boolean',
      key: 'whiten',
      label: 'Whiten',
      default: false,
      help: 'Divide each direction by √σ_i (PEFT whiten, default off; helped in vision in the paper).',
    },
    {
      kind: 'number',
      key: 'niter',
      label: 'rSVD power iterations',
      default: 4,
      min: 0,
      max: 64,
      integer: true,
      help: 'Of the input scatter’s randomized eigendecomposition (PEFT’s incremental PCA: torch.svd_lowrank, niter 4, sketch 2k).',
    },
    {
      kind: 'boolean',
      key: 'exactSvd',
      label: 'Exact eigenvectors',
      default: false,
      help: 'One-sided Jacobi on the [in, in] scatter instead of the randomized SVD (slow for wide layers).',
    },
  ],
  calibrationBatches: calibrationFrom('calibrationBatches'),
  plan: (settings, layers) => evaPlan(settings, layers),
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const rho = numberSetting(settings, 'rho');
    const adjust = booleanSetting(settings, 'adjustScaling');
    const whiten = booleanSetting(settings, 'whiten');
    if (!ctx.calibration) throw new InputError('EVA needs training batches for its activation statistics.');
    const batches = ctx.calibration(numberSetting(settings, 'calibrationBatches'));
    if (batches.length === 0) throw new InputError('EVA needs at least one training batch for its activation statistics.');
    ctx.onProgress?.({ method: 'eva', layer: '', done: 0, total: ctx.targets.length, phase: 'calibrate' });
    const components = await targetInputComponents(ctx.rt, ctx.model, ctx.targets, batches, {
      components: (name) => evaMaxComponents(s.rank, rho, ctx.model.linear(name).inFeatures),
      labelMask: booleanSetting(settings, 'labelMask'),
      niter: numberSetting(settings, 'niter'),
      exact: booleanSetting(settings, 'exactSvd'),
      seed: ctx.seed,
      onProgress: (done, total) => ctx.onProgress?.({ method: 'eva', layer: '', done, total, phase: 'svd' }),
    });
    const ratios = ctx.targets.map((name) => {
      const c = components.get(name)!;
      const k = evaMaxComponents(s.rank, rho, ctx.model.linear(name).inFeatures);
      return Array.from(c.values.subarray(0, k), (v) => v / c.total);
    });
    const allocated = evaRanks(ratios, s.rank * ctx.targets.length);
    const ranks = new Map(ctx.targets.map((name, i) => [name, allocated[i]!]));
    const kept = ctx.targets.filter((name) => ranks.get(name)! > 0);
    const baseScaling = scalingFor(s, s.rank, adjust);
    return adaptTargets({ ...ctx, targets: kept }, 'eva', (name, base) => {
      const rank = ranks.get(name)!;
      const A = parameterFromArray(ctx.rt, evaA(components.get(name)!, rank, base.inFeatures, whiten), [rank, base.inFeatures], `${name}.lora_A`, true);
      const B = zerosParameter(ctx.rt, [base.outFeatures, rank], `${name}.lora_B`, true);
      return new EvaLayer(name, base, { A, B }, scalingFor(s, rank, adjust), s.rank, baseScaling);
    });
  },
  peft: { kind: 'adapter', build: evaAdapter, note: 'the factors as trained, per-layer ranks in rank_pattern' },
  python(settings, py) {
    const rho = numberSetting(settings, 'rho');
    const batches = numberSetting(settings, 'calibrationBatches');
    const evaConfig = `eva_config=EvaConfig(rho=${py.py(rho)}, tau=0.99, use_label_mask=${py.py(booleanSetting(settings, 'labelMask'))}, whiten=${py.py(booleanSetting(settings, 'whiten'))}, adjust_scaling_factors=${py.py(booleanSetting(settings, 'adjustScaling'))})`;
    return {
      notes: [
        'EVA: A from the principal directions of each layer’s input activations, B = 0, ranks redistributed',
        `by explained variance (rho = ${py.py(rho)}). PEFT computes it with an incremental PCA over the dataloader below.`,
      ],
      imports: ['from torch.utils.data import DataLoader'],
      peftImports: ['EvaConfig', 'initialize_lora_eva_weights'],
      body: [
        py.load(false),
        py.loraConfig('"eva"', [evaConfig]),
        py.wrap,
        '',
        'def eva_batch(rows):',
        '    # input_ids, attention_mask and labels (-100 on the prompt and on padding) for the SVD hooks',
        '    texts = [r["text"] if r.get("text") is not None else r["prompt"] + r["completion"] for r in rows]',
        `    enc = tokenizer(texts, padding=True, truncation=True, max_length=${py.seqLen}, return_tensors="pt")`,
        '    labels = enc["input_ids"].clone()',
        '    labels[enc["attention_mask"] == 0] = -100',
        '    for i, r in enumerate(rows):',
        '        if r.get("prompt") is not None:',
        '            labels[i, : len(tokenizer(r["prompt"])["input_ids"])] = -100',
        '    enc["labels"] = labels',
        '    return enc',
        '',
        `eva_rows = split["train"].select(range(min(len(split["train"]), ${batches * py.batch})))`,
        `initialize_lora_eva_weights(model, dataloader=DataLoader(eva_rows, batch_size=${py.batch}, collate_fn=eva_batch))`,
      ],
    };
  },
  claims: [
    { against: 'lora', claim: 'EVA converges faster than LoRA and ends lower at the same rank budget' },
    { against: 'pissa', claim: 'EVA’s data-driven init (activations) matches or beats PiSSA’s weight-driven init' },
  ],
};
