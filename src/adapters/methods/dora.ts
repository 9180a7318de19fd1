// DoRA (Liu et al. 2024, "DoRA: Weight-Decomposed Low-Rank Adaptation", ICML 2024; PEFT
// LoraConfig(use_dora=True)): the weight split into magnitude and direction, the direction
// adapted by LoRA (eq. 5):
//   W' = diag(m / ‖W + sBA‖_row) (W + sBA),   y = x W'ᵀ + b
// m [out] trainable, initialised to the row norms ‖W_i‖ over the input dimension (PEFT
// DoraLinearLayer.get_weight_norm: torch.linalg.norm(W + s·BA, dim=1) on nn.Linear's [out, in],
// with B = 0 at update_layer); A, B as LoRA (PEFT's default Kaiming-uniform A, zero B), so the
// model equals the base at step 0 (and does so exactly here: forms/doraLayer.ts). ‖W + sBA‖ is
// a constant in backward (paper §4.3, PEFT detaches weight_norm). The bias is not rescaled.
// Export: PEFT LoRA with use_dora = true, lora_A/lora_B as trained and the magnitude under
// `base_model.model.<module>.lora_magnitude_vector` (no `.weight`: LoraModel._get_adapter_state_dict).

import { randomA } from '../init/random';
import { doraInitialMagnitude } from '../../tensor/ops/doraLinear';
import { zerosParameter } from '../../tensor/values';
import { doraAdapter } from '../export';
import { DoraLayer } from '../forms/doraLayer';
import { choiceSetting, type MethodDefinition } from '../types';
import { LOW_RANK_SETTINGS, NO_CALIBRATION, adaptTargets, lowRankSettings, planOver, scalingOf } from './lowRankMethod';

export const dora: MethodDefinition = {
  id: 'dora',
  label: 'DoRA',
  summary: 'Splits each weight into a trained magnitude per output row and a direction adapted by LoRA.',
  paper: 'Liu et al., DoRA: Weight-Decomposed Low-Rank Adaptation (ICML 2024)',
  family: 'low-rank',
  settings: [
    ...LOW_RANK_SETTINGS,
    {
      kind: 'choice',
      key: 'init',
      label: 'A initialisation',
      default: 'kaiming',
      options: ['kaiming', 'gaussian'],
      help: 'As LoRA (PEFT default Kaiming-uniform; B = 0). m starts at ‖W‖ per output row, so the model starts as the base.',
    },
  ],
  calibrationBatches: NO_CALIBRATION,
  // A [r, in], B [out, r] and m [out] per layer; ‖W_i‖² [out] is counted in the layer's bytes.
  plan: (settings, layers) => {
    const rank = lowRankSettings(settings).rank;
    return planOver(layers, (l) => rank * (l.in + l.out) + l.out, 'shared');
  },
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    const init = choiceSetting<'kaiming' | 'gaussian'>(settings, 'init');
    return adaptTargets(ctx, 'dora', (name, base, index) => {
      const A = randomA(ctx.rt, [s.rank, base.inFeatures], { seed: ctx.seed, stream: index, init }, `${name}.lora_A`);
      const B = zerosParameter(ctx.rt, [base.outFeatures, s.rank], `${name}.lora_B`, true);
      const { wsq, m } = doraInitialMagnitude(ctx.rt, base.weight, `${name}.lora_magnitude_vector`);
      return new DoraLayer(name, base, A, B, m, scalingOf(s), wsq);
    });
  },
  peft: { kind: 'adapter', build: doraAdapter, note: 'a LoRA with use_dora: the factors and the magnitude as trained' },
  python(settings, py) {
    const gaussian = settings.init === 'gaussian';
    return {
      notes: [
        'DoRA: LoRA on the direction of W plus a trained magnitude per output row (m = ‖W‖ at init);',
        'the norm ‖W + sBA‖ is detached in backward, as in the paper (§4.3) and PEFT.',
      ],
      body: [py.load(false), py.loraConfig(gaussian ? '"gaussian"' : 'True', ['use_dora=True']), py.wrap],
    };
  },
  claims: [{ against: 'lora', claim: 'DoRA learns more like full fine-tuning and ends lower than LoRA at the same rank' }],
};
