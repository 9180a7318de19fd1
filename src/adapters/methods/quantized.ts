// The methods over a 4-bit NF4 base (ADAPTERS.md):
//   qlora   QLoRA (Dettmers et al. 2023): NF4(W) frozen + LoRA (A random, B = 0).
//   qpissa  QPiSSA (PiSSA paper): PiSSA's principal factors, the residual quantized; T ≥ 1
//           alternating iterations (official code; T = 5 in the paper's tables).
//   loftq   LoftQ (Li et al. 2023), the error table's reference: quantize first, then factor
//           the quantization error, alternating T times; the base is the Q the last SVD factored.
// Each layer's quantization error ‖W − (deq(Q) + sBA)‖ (Frobenius and nuclear) per iteration,
// for the studio's chart and the CLI's quant-error table, is measured OFF the init path: create()
// keeps each layer's plan (linalg/quantInit.ts: the rounds' factors, nothing of the weights'
// size) and AdaptedModel.measureQuantErrors measures pending layers when a host asks (batched by
// shape; exact or randomized nuclear norm by size), streaming every point through the create
// context's onProgress (phase 'measure') as the init did before.

import type { DenseLinear } from '../../models/linearLayer';
import { loftqInit, qloraBase, qpissaInit, QuantErrorMeasurement, type QuantInit, type QuantSettings } from '../../linalg/quantInit';
import type { Runtime } from '../../tensor/values';
import { zerosParameter } from '../../tensor/values';
import { deltaAdapter, loraAdapter } from '../export';
import { LowRankLayer } from '../forms/lowRank';
import { Nf4Base } from '../forms/nf4Base';
import { randomA } from '../init/random';
import {
  booleanSetting,
  numberSetting,
  type AdaptedLayer,
  type AdaptedModel,
  type CreateContext,
  type LayerShape,
  type MethodDefinition,
  type MethodId,
  type MethodPlan,
  type MethodSettings,
  type QuantMeasureOptions,
  type SettingSpec,
} from '../types';
import { LOW_RANK_SETTINGS, NO_CALIBRATION, adaptTargets, lowRankPlan, lowRankSettings, scalingOf } from './lowRankMethod';
import { PISSA_EXPORT_NOTE, SVD_SETTINGS, svdSettings, peftPissaInit } from './svdSettings';
import { releaseView, withDenseWeight } from '../forms/frozenBase';

const DOUBLE_QUANT: SettingSpec = {
  kind: 'boolean',
  key: 'doubleQuant',
  label: 'NF4 double quantization',
  default: true,
  help: 'Quantize the block absmax values too (~0.127 instead of 0.5 bit per weight; QLoRA default).',
};
const ITERATIONS = (fallback: number, help: string): SettingSpec => ({
  kind: 'number',
  key: 'iterations',
  label: 'Iterations T',
  default: fallback,
  min: 1,
  max: 16,
  integer: true,
  help,
});

/** The NF4 settings; the measurement will read W from the shared base (the init's may be a temporary). */
function quantSettings(rt: Runtime, settings: MethodSettings, base: DenseLinear, iterations: number): QuantSettings {
  const weight = () => {
    const view = base.denseWeight(rt);
    return { W: view.tensor.data, done: () => releaseView(rt, view) };
  };
  return { doubleQuant: booleanSetting(settings, 'doubleQuant'), iterations, weight };
}

/**
 * QPiSSA's and LoftQ's plan: the NF4 bases and the adapter, plus the factors of every round that
 * the error measurement keeps until it has run (T pairs of r·(out + in) floats per layer).
 */
function keptFactorsPlan(settings: MethodSettings, layers: readonly LayerShape[]): MethodPlan {
  const plan = lowRankPlan(settings, layers, 'nf4');
  return { ...plan, ownBaseBytes: plan.ownBaseBytes + 4 * numberSetting(settings, 'iterations') * plan.trainableParams };
}

/**
 * Adapts every target with `init` (NF4 base + factors) and returns the model with its
 * measurement: measureQuantErrors streams each measured point as an InitProgress of phase
 * 'measure' (the studio's live chart) and returns the layers measured so far.
 */
async function quantizedModel(
  ctx: CreateContext,
  method: MethodId,
  init: (name: string, base: DenseLinear, index: number) => Promise<{ layer: AdaptedLayer; q: QuantInit }>,
): Promise<AdaptedModel> {
  const job = new QuantErrorMeasurement([], { total: ctx.targets.length });
  const planned = new Set<string>();
  let adapted: AdaptedModel;
  try {
    adapted = await adaptTargets(
      ctx,
      method,
      async (name, base, index, progress) => {
        progress('quantize');
        const { layer, q } = await init(name, base, index);
        if (q.plan) {
          job.add(name, q.plan);
          planned.add(name);
        }
        return layer;
      },
      // The host is about to release this layer's shared W: its error is measured first.
      (name) => (planned.has(name) ? async (rt) => void (await measure(rt, { layers: [name] })) : undefined),
    );
  } catch (error) {
    job.release(ctx.rt);
    throw error;
  }
  async function measure(rt: Runtime, options: QuantMeasureOptions) {
    return job.measure(rt, {
      maxLayers: options.maxLayers,
      layers: options.layers,
      onLayer: (measured, done, total) => {
        for (const quantError of measured.errors) ctx.onProgress?.({ method, layer: measured.layer, done, total, phase: 'measure', quantError });
        options.onLayer?.(measured, done, total);
      },
    });
  }
  return {
    ...adapted,
    async measureQuantErrors(rt, options = {}) {
      const layers = await measure(rt, options);
      return { layers, pending: job.pending };
    },
    release(rt) {
      job.release(rt);
      adapted.release(rt);
    },
  };
}

export const qlora: MethodDefinition = {
  id: 'qlora',
  label: 'QLoRA',
  summary: 'LoRA over a frozen 4-bit NF4 copy of the weights.',
  paper: 'Dettmers et al., QLoRA: Efficient Finetuning of Quantized LLMs (2023)',
  family: 'low-rank',
  settings: [...LOW_RANK_SETTINGS, DOUBLE_QUANT],
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => lowRankPlan(settings, layers, 'nf4'),
  async create(ctx, settings) {
    const s = lowRankSettings(settings);
    return quantizedModel(ctx, 'qlora', async (name, base, index) => {
      const q = await withDenseWeight(ctx.rt, base, (W) => qloraBase(ctx.rt, W, quantSettings(ctx.rt, settings, base, 0)));
      const A = randomA(ctx.rt, [s.rank, base.inFeatures], { seed: ctx.seed, stream: index, init: 'kaiming' }, `${name}.lora_A`);
      const B = zerosParameter(ctx.rt, [base.outFeatures, s.rank], `${name}.lora_B`, true);
      const nf4 = new Nf4Base(name, q.base, base.bias);
      return { layer: new LowRankLayer(name, nf4, { A, B }, scalingOf(s), nf4), q };
    });
  },
  peft: { kind: 'adapter', build: loraAdapter, note: 'the factors as trained, for the base loaded in 4 bits', base: 'nf4' },
  python: (settings, py) => ({
    notes: ['QLoRA: the frozen base in 4-bit NF4, LoRA factors in bf16.'],
    bitsandbytes: true,
    peftImports: ['prepare_model_for_kbit_training'],
    body: [py.nf4Config(py.bool('doubleQuant', true)), py.load(true), 'model = prepare_model_for_kbit_training(model)', py.loraConfig('True'), py.wrap],
  }),
  quantError: 'baseline',
  claims: [{ against: 'lora', claim: 'QLoRA matches LoRA with a 4-bit base' }],
};

function alternating(method: string, label: string, init: typeof qpissaInit): MethodDefinition['create'] {
  return async (ctx, settings) => {
    const s = lowRankSettings(settings);
    const scaling = scalingOf(s);
    return quantizedModel(ctx, method, async (name, base, index) => {
      const quant = quantSettings(ctx.rt, settings, base, numberSetting(settings, 'iterations'));
      const svd = { ...svdSettings(settings, s.rank, ctx.seed + index), purpose: `${label}'s init of ${name}` };
      const q = await withDenseWeight(ctx.rt, base, (W) => init(ctx.rt, W, scaling, svd, quant, name));
      const nf4 = new Nf4Base(name, q.base, base.bias);
      return { layer: new LowRankLayer(name, nf4, { A: q.A!, B: q.B! }, scaling, nf4), q };
    });
  };
}

export const qpissa: MethodDefinition = {
  id: 'qpissa',
  label: 'QPiSSA',
  summary: 'PiSSA with the residual quantized to NF4; iterations shrink the quantization error.',
  paper: 'Meng, Wang, Zhang, PiSSA (NeurIPS 2024), QPiSSA section',
  family: 'low-rank',
  settings: [
    ...LOW_RANK_SETTINGS,
    ...SVD_SETTINGS,
    DOUBLE_QUANT,
    ITERATIONS(1, 'Alternating SVD/quantization rounds (paper tables: T = 5; T = 1 is plain QPiSSA).'),
  ],
  calibrationBatches: NO_CALIBRATION,
  plan: keptFactorsPlan,
  create: (ctx, settings) => alternating(qpissa.id, qpissa.label, qpissaInit)(ctx, settings),
  peft: {
    kind: 'adapter',
    build: deltaAdapter,
    note: `${PISSA_EXPORT_NOTE}; the trained 4-bit residual's quantization error is not in it`,
    base: 'original-lossy',
  },
  python(settings, py) {
    const iterations = py.num('iterations', 1);
    return {
      imports: ['import os'],
      bitsandbytes: true,
      peftImports: ['prepare_model_for_kbit_training', 'PeftModel'],
      notes: [
        "QPiSSA, PEFT's two-stage recipe (examples/pissa_finetuning): PiSSA on the full-precision",
        'model, save the residual model and the initial adapter, reload the residual in NF4.',
        ...(iterations > 1
          ? [
              `The studio ran T = ${iterations} alternating SVD/quantization rounds; PEFT has no such option (T = 1 here).`,
              'The official code does the multi-round init: https://github.com/GraphPKU/PiSSA',
            ]
          : []),
      ],
      body: [
        '# Stage 1: PiSSA init on the full-precision model; keep the residual W - B A.',
        py.load(false),
        py.loraConfig(peftPissaInit(py)),
        'peft_model = get_peft_model(model, lora_config)',
        'peft_model.peft_config["default"].init_lora_weights = True  # saved adapter reloads as plain LoRA',
        'peft_model.save_pretrained(os.path.join(OUT, "pissa_init"))',
        'residual = peft_model.unload()',
        'residual.save_pretrained(os.path.join(OUT, "residual"))',
        'tokenizer.save_pretrained(os.path.join(OUT, "residual"))',
        'del peft_model, residual, model',
        'torch.cuda.empty_cache()',
        '',
        '# Stage 2: the residual in NF4, the principal adapter trainable.',
        py.nf4Config(py.bool('doubleQuant', true)),
        'model = AutoModelForCausalLM.from_pretrained(os.path.join(OUT, "residual"), torch_dtype=torch.bfloat16, quantization_config=bnb_config, device_map="auto")',
        'model = prepare_model_for_kbit_training(model)',
        'model = PeftModel.from_pretrained(model, os.path.join(OUT, "pissa_init"), is_trainable=True)',
      ],
    };
  },
  quantError: 'reduced',
  claims: [
    { against: 'qlora', claim: 'QPiSSA has a smaller quantization error and a lower loss than QLoRA' },
    { against: 'loftq', claim: 'QPiSSA reduces the quantization error more than LoftQ at the same T' },
    { against: 'pissa', claim: 'QPiSSA stays close to PiSSA' },
  ],
};

export const loftq: MethodDefinition = {
  id: 'loftq',
  label: 'LoftQ',
  summary: 'Quantize first, then fit the adapter to the quantization error (reference for the error table).',
  paper: 'Li et al., LoftQ: LoRA-Fine-Tuning-Aware Quantization for Large Language Models (2023)',
  family: 'low-rank',
  settings: [
    ...LOW_RANK_SETTINGS,
    ...SVD_SETTINGS,
    DOUBLE_QUANT,
    ITERATIONS(1, 'Alternating quantization/SVD rounds (LoftQ default 1; the PiSSA paper compares T = 1 and 5).'),
  ],
  calibrationBatches: NO_CALIBRATION,
  plan: keptFactorsPlan,
  create: (ctx, settings) => alternating(loftq.id, loftq.label, loftqInit)(ctx, settings),
  peft: { kind: 'adapter', build: loraAdapter, note: 'the factors as trained, for the LoftQ-quantized base (NF4(W) when T = 1)', base: 'nf4' },
  python: (_settings, py) => ({
    notes: [
      'LoftQ: PEFT quantizes W to NF4 and initialises A, B from the SVD of the quantization error,',
      'alternating loftq_iter times. Load the base unquantized here (PEFT docs, "LoftQ").',
    ],
    peftImports: ['LoftQConfig'],
    pip: ['bitsandbytes'],
    body: [py.load(false), py.loraConfig('"loftq"', [`loftq_config=LoftQConfig(loftq_bits=4, loftq_iter=${py.num('iterations', 1)})`]), py.wrap],
  }),
  quantError: 'reduced',
};
