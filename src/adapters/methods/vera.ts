// VeRA (Kopiczko, Blankevoort, Asano, Vector-based Random Matrix Adaptation, ICLR 2024; PEFT
// `vera`, VeraConfig): one pair of frozen random projections shared by every adapted layer,
//   A [r, in_max], B [out_max, r]   (in_max, out_max: the largest in / out over the targets,
//                                    PEFT VeraModel._find_dim),
// Kaiming-uniform as PEFT's _kaiming_init (gain √2 over the tensor's fan_in = its dim 1):
//   A ~ U(±√(6 / in_max)),  B ~ U(±√(6 / r)),  drawn from the seed `projectionKey`;
// and per layer only two trainable vectors, d [r] = d_initial (PEFT 0.1) and b [out] = 0:
//   ΔW = diag(b) B[:out, :] diag(d) A[:, :in]      (paper eq. 2; PEFT layer.py get_delta_weight)
// so the model is unchanged at init. Trainable parameters: Σ (r + out), against LoRA's
// Σ r(in + out). Form: forms/veraLayer.ts. PEFT defaults: r = 256, d_initial = 0.1,
// projection_prng_key = 0, save_projection = True; PEFT's MetaMathQA benchmark trains it with
// lr 1e-3 (ten times LoRA's there). The projections come from the studio's Philox generator, not
// torch.Generator, so the export always saves them (save_projection = true).

import { veraAdapterFiles, type VeraLayerVectors } from '../../io/peftVera';
import { Tensor } from '../../tensor/tensor';
import { randomUniform } from '../../tensor/ops/random';
import { filledParameter, readTensor, zerosParameter, type Runtime } from '../../tensor/values';
import type { DenseLinear } from '../../models/linearLayer';
import { VeraLayer, VeraProjections } from '../forms/veraLayer';
import { numberSetting, type LayerShape, type MethodDefinition, type MethodSettings } from '../types';
import { NO_CALIBRATION, adaptTargets, layersOf } from './lowRankMethod';
import { InputError } from '../../errors';

interface VeraSettings {
  readonly rank: number;
  readonly dInitial: number;
  readonly projectionKey: number;
}

function veraSettings(settings: MethodSettings): VeraSettings {
  return { rank: numberSetting(settings, 'rank'), dInitial: numberSetting(settings, 'dInitial'), projectionKey: numberSetting(settings, 'projectionKey') };
}

/** Bytes of the shared projections and of one column copy of A per distinct narrower in. */
function projectionBytes(rank: number, layers: readonly Pick<LayerShape, 'in' | 'out'>[]): number {
  const inMax = Math.max(...layers.map((l) => l.in));
  const outMax = Math.max(...layers.map((l) => l.out));
  const narrower = new Set(layers.map((l) => l.in).filter((n) => n < inMax));
  return 4 * (rank * inMax + outMax * rank + [...narrower].reduce((n, w) => n + rank * w, 0));
}

/** The form with the d_initial its export writes (the f32 snapshot of d would not round-trip 0.1). */
class VeraMethodLayer extends VeraLayer {
  constructor(
    name: string,
    base: DenseLinear,
    projections: VeraProjections,
    rt: Runtime,
    d: Tensor,
    b: Tensor,
    readonly dInitial: number,
  ) {
    super(name, base, projections, rt, d, b);
  }
}

export const vera: MethodDefinition = {
  id: 'vera',
  label: 'VeRA',
  summary: 'Shares one pair of frozen random projections across layers and trains only two scaling vectors per layer.',
  paper: 'Kopiczko, Blankevoort, Asano, VeRA: Vector-based Random Matrix Adaptation (ICLR 2024)',
  family: 'low-rank',
  settings: [
    {
      kind: 'number',
      key: 'rank',
      label: 'Rank r',
      default: 256,
      min: 1,
      max: 4096,
      integer: true,
      help: 'Rows of the shared projections; each layer trains r + out values (PEFT VeraConfig default 256: higher than LoRA ranks, since it costs little).',
    },
    {
      kind: 'number',
      key: 'dInitial',
      label: 'Initial d',
      default: 0.1,
      min: 0,
      max: 10,
      help: 'Every entry of d starts here (PEFT d_initial 0.1; the paper recommends ≤ 0.1); b starts at 0, so ΔW = 0 at init.',
    },
    {
      kind: 'number',
      key: 'projectionKey',
      label: 'Projection seed',
      default: 0,
      min: 0,
      max: 2 ** 31 - 1,
      integer: true,
      help: 'Seed of the shared Kaiming-uniform projections (PEFT projection_prng_key, default 0).',
    },
  ],
  calibrationBatches: NO_CALIBRATION,
  plan: (settings, layers) => {
    const { rank } = veraSettings(settings);
    const trainableParams = layers.reduce((n, l) => n + rank + l.out, 0);
    // The frozen projections are this method's own (not the model's), counted once for all layers.
    return { trainableParams, ownBaseBytes: layers.length > 0 ? projectionBytes(rank, layers) : 0 };
  },
  async create(ctx, settings) {
    const s = veraSettings(settings);
    const shapes = ctx.targets.map((name) => ctx.model.linear(name));
    if (shapes.length === 0) throw new InputError('VeRA needs at least one target');
    const inMax = Math.max(...shapes.map((l) => l.inFeatures));
    const outMax = Math.max(...shapes.map((l) => l.outFeatures));
    const boundA = Math.sqrt(6 / inMax);
    const boundB = Math.sqrt(6 / s.rank);
    const projections = new VeraProjections(
      Tensor.leaf(randomUniform(ctx.rt, [s.rank, inMax], s.projectionKey, -boundA, boundA, 0), false, 'vera_A'),
      Tensor.leaf(randomUniform(ctx.rt, [outMax, s.rank], s.projectionKey, -boundB, boundB, 1), false, 'vera_B'),
      s.projectionKey,
    );
    try {
      const adapted = await adaptTargets(ctx, 'vera', (name, base) => {
        const d = filledParameter(ctx.rt, [s.rank], s.dInitial, `${name}.vera_lambda_d`, true);
        const b = zerosParameter(ctx.rt, [base.outFeatures], `${name}.vera_lambda_b`, true);
        return new VeraMethodLayer(name, base, projections, ctx.rt, d, b, s.dInitial);
      });
      return {
        ...adapted,
        extraBytes: adapted.extraBytes + projections.bytes,
        release(rt) {
          adapted.release(rt);
          projections.release(rt);
        },
      };
    } catch (error) {
      projections.release(ctx.rt);
      throw error;
    }
  },
  peft: {
    kind: 'adapter',
    peftType: 'VERA',
    note: 'PEFT VeRA: the shared projections and each layer’s d and b',
    async build(rt, adapted, baseModel) {
      const layers = layersOf(adapted, VeraMethodLayer, 'VeRA');
      const { projections } = layers[0]!;
      const vectors: VeraLayerVectors[] = [];
      for (const layer of layers) {
        vectors.push({
          module: layer.name,
          inFeatures: layer.inFeatures,
          outFeatures: layer.outFeatures,
          d: await readTensor(rt, layer.d),
          b: await readTensor(rt, layer.b),
        });
      }
      return veraAdapterFiles({
        family: adapted.model.config.family,
        baseModel,
        rank: projections.rank,
        A: await readTensor(rt, projections.A),
        B: await readTensor(rt, projections.B),
        inMax: projections.inMax,
        outMax: projections.outMax,
        projectionPrngKey: projections.seed,
        dInitial: layers[0]!.dInitial,
        layers: vectors,
      });
    },
  },
  python(settings, py) {
    const s = veraSettings(settings);
    return {
      notes: [
        `VeRA: frozen random projections A [${s.rank}, in_max] and B [out_max, ${s.rank}] shared by all layers; each layer trains d [${s.rank}] and b [out].`,
        'PEFT draws the projections with torch.Generator(projection_prng_key): the same distribution as the studio, other values.',
      ],
      peftConfigClass: 'VeraConfig',
      body: [
        py.load(false),
        'vera_config = VeraConfig(',
        `    r=${s.rank},`,
        `    target_modules=${py.targetModules},`,
        `    projection_prng_key=${s.projectionKey},`,
        '    save_projection=True,',
        '    vera_dropout=0.0,',
        `    d_initial=${py.py(s.dInitial)},`,
        `    fan_in_fan_out=${py.family === 'gpt2' ? 'True' : 'False'},`,
        '    task_type="CAUSAL_LM",',
        ')',
        'model = get_peft_model(model, vera_config)',
      ],
    };
  },
  claims: [
    { against: 'lora', claim: 'VeRA approaches LoRA’s loss with about ten times fewer trainable parameters (paper: 10× fewer at the same GLUE/E2E scores)' },
  ],
};
