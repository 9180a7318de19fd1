// LoRA+ (Hayou, Ghosh, Yu 2024, "LoRA+: Efficient Low Rank Adaptation of Large Models"; PEFT
// peft.optimizers.create_loraplus_optimizer): LoRA's form and init, trained with AdamW learning
// rates η_B = λ·η_A for the two factors (the paper's ratio λ ≫ 1, about 16 suggested; PEFT's
// docs use loraplus_lr_ratio = 16, and the argument has no default there). Here B's trainable
// tensors carry lrScale λ (train/adamw.ts multiplies the step's rate by it), A keeps 1.
// PEFT groups: lora_B and every 1-D parameter at λ·lr, LoRA on embedding layers at
// loraplus_lr_embedding (1e-6), the rest at lr; with LoRA on projections only (what the studio
// targets) that is exactly "B at λ·lr, A at lr". Export: a plain LoRA (the optimizer leaves no trace).

import { zerosParameter } from '../../tensor/values';
import { loraAdapter } from '../export';
import { LowRankLayer } from '../forms/lowRank';
import { randomA } from '../init/random';
import { choiceSetting, numberSetting, type MethodDefinition } from '../types';
import { LOW_RANK_SETTINGS, NO_CALIBRATION, adaptTargets, lowRankPlan, lowRankSettings, scalingOf } from './lowRankMethod';

export const loraplus: MethodDefinition = {
  id: 'loraplus',
  label: 'LoRA+',
  summary: 'LoRA whose B factors train at λ times the learning rate of A.',
  paper: 'Hayou, Ghosh, Yu, LoRA+: Efficient Low Rank Adaptation of Large Models (ICML 2024)',
  family: 'low-rank',
  settings: [
    ...LOW_RANK_SETTINGS,
    {
      kind: 'choice',
      key: 'init',
      label: 'A initialisation',
      default: 'kaiming',
      options: ['kaiming', 'gaussian'],
      help: 'As LoRA: PEFT default Kaiming-uniform U(−1/√in, 1/√in); gaussian: N(0, 1/r²). B = 0.',
    },
    {
      kind: 'number',
      key: 'ratio',
      label: 'Learning-rate ratio λ',
      default: 16,
      min: 1,
      max: 1024,
      help: 'η_B / η_A (PEFT loraplus_lr_ratio; 16 in PEFT’s docs and the paper’s suggestion). The authors advise a base lr about half of plain LoRA’s.',
    },
  ],
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => lowRankPlan(settings, layers, 'shared'),
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const init = choiceSetting<'kaiming' | 'gaussian'>(settings, 'init');
    const ratio = numberSetting(settings, 'ratio');
    const adapted = await adaptTargets(ctx, 'loraplus', (name, base, index) => {
      const A = randomA(ctx.rt, [s.rank, base.inFeatures], { seed: ctx.seed, stream: index, init }, `${name}.lora_A`);
      const B = zerosParameter(ctx.rt, [base.outFeatures, s.rank], `${name}.lora_B`, true);
      return new LowRankLayer(name, base, { A, B }, scalingOf(s));
    });
    const bs = new Set([...adapted.linears.values()].flatMap((l) => (l instanceof LowRankLayer ? [l.factors.B] : [])));
    return { ...adapted, trainable: adapted.trainable.map((t) => (bs.has(t.tensor) ? { ...t, lrScale: ratio } : t)) };
  },
  peft: { kind: 'adapter', build: loraAdapter, note: 'a plain LoRA: the factors as trained' },
  python(settings, py) {
    const gaussian = settings.init === 'gaussian';
    return {
      notes: [
        `LoRA+: LoRA with B trained at ${py.py(numberSetting(settings, 'ratio'))}× the learning rate of A (PEFT create_loraplus_optimizer).`,
        'The optimizer is made here and handed to the trainer, so SFTConfig’s optim is not used;',
        'its param groups have weight decay 0 (loraplus_weight_decay), as the studio trains.',
      ],
      imports: ['from peft.optimizers import create_loraplus_optimizer'],
      body: [py.load(false), py.loraConfig(gaussian ? '"gaussian"' : 'True'), py.wrap],
      trainerSetup: [
        `optimizer = create_loraplus_optimizer(model=model, optimizer_cls=torch.optim.AdamW, lr=config.learning_rate, loraplus_lr_ratio=${py.py(numberSetting(settings, 'ratio'))})`,
      ],
      trainerArgs: ['optimizers=(optimizer, None)'],
    };
  },
  claims: [{ against: 'lora', claim: 'LoRA+ reaches a lower loss than LoRA in the same number of steps' }],
};
