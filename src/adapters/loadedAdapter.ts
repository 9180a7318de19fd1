// A Hugging Face PEFT LoRA adapter read from files (io/peftAdapterReader.ts: the studio's own
// exports, or adapters from the Hub) as a method: create() puts its factors beside the shared
// base's projections (whatever targets the run names: the adapter's own modules), so it can be evaluated, generated with, compared with the other methods,
// and trained further (A and B are trainable), then exported again.
//   y = x Wᵀ + s·(x Aᵀ) Bᵀ  per adapted module, with s = lora_alpha / r (rsLoRA: / √r) and
//   rank_pattern / alpha_pattern already resolved per module by the reader.
// Module names: the reader strips PEFT's `base_model.model.`; GPT-2 files then still carry
// transformers' `transformer.` prefix, which our module paths do not.
// Mismatches (a module the base lacks, a factor shape that does not fit) are refused by name.
// DoRA adapters (use_dora) load into the DoRA form with the file's magnitude vector.

import type { PeftLoraAdapter, PeftLoraLayer } from '../io/peftAdapterReader';
import type { CausalLM } from '../models/causalLM';
import { parameterFromArray, releaseTensors } from '../tensor/values';
import { UnsupportedModelError } from '../errors';
import { doraInitialMagnitude } from '../tensor/ops/doraLinear';
import { doraAdapter, loraAdapter } from './export';
import { DoraLayer } from './forms/doraLayer';
import { LowRankLayer } from './forms/lowRank';
import { qloraBase } from '../linalg/quantInit';
import { Nf4Base } from './forms/nf4Base';
import { NF4_BYTES_PER_WEIGHT, NO_CALIBRATION, adaptTargets } from './methods/lowRankMethod';
import { choiceSetting, type MethodDefinition } from './types';

/** Our module path for a module named in an adapter file. */
function modulePath(model: CausalLM, module: string): string {
  return model.config.family === 'gpt2' ? module.replace(/^transformer\./, '') : module;
}

/** Why the adapter does not fit this model, or undefined. */
export function adapterMismatch(adapter: PeftLoraAdapter, model: CausalLM): string | undefined {
  const names = new Set(model.linearNames());
  for (const layer of adapter.layers.values()) {
    const path = modulePath(model, layer.module);
    if (!names.has(path))
      return `the adapter targets ${layer.module}, which this model does not have (its projections are named like ${model.linearNames()[0] ?? '—'}); load the base model the adapter was trained on`;
    const slot = model.linear(path);
    if (slot.inFeatures !== layer.inFeatures || slot.outFeatures !== layer.outFeatures) {
      return `${layer.module}: the adapter's factors are for a [${layer.outFeatures}, ${layer.inFeatures}] layer, the model's is [${slot.outFeatures}, ${slot.inFeatures}]; load the base model the adapter was trained on`;
    }
  }
  return undefined;
}

/** The modules a loaded adapter adapts, as the model names them. */
export function adapterTargets(adapter: PeftLoraAdapter, model: CausalLM): string[] {
  return [...adapter.layers.values()].map((l) => modulePath(model, l.module));
}

export function loadedAdapterMethod(adapter: PeftLoraAdapter, name: string): MethodDefinition {
  const layers = [...adapter.layers.values()];
  const byPath = (model: CausalLM) => new Map<string, PeftLoraLayer>(layers.map((l) => [modulePath(model, l.module), l]));
  const id = `adapter:${name}`;
  return {
    id,
    label: `${name} (loaded adapter)`,
    summary: `A PEFT LoRA adapter loaded from ${adapter.configFile}: ${layers.length} modules, rank ${adapter.config.r}${adapter.config.useRslora ? ', rsLoRA' : ''}.`,
    paper: 'Loaded from files (Hugging Face PEFT format).',
    settings: [
      {
        kind: 'choice',
        key: 'base',
        label: 'Base weights',
        default: 'original',
        options: ['original', 'nf4', 'nf4-double'],
        help: 'The base the adapter was trained on: the original weights, or their NF4 copy (QLoRA/LoftQ adapters; nf4-double: with double quantization, the QLoRA default).',
      },
    ],
    family: 'low-rank',
    calibrationBatches: NO_CALIBRATION,
    plan: (settings) => {
      const trainableParams = layers.reduce((n, l) => n + l.rank * (l.inFeatures + l.outFeatures), 0);
      const weights = layers.reduce((n, l) => n + l.inFeatures * l.outFeatures, 0);
      return { trainableParams, ownBaseBytes: settings.base === 'original' ? 0 : Math.ceil(NF4_BYTES_PER_WEIGHT * weights) };
    },
    async create(ctx, settings) {
      const problem = adapterMismatch(adapter, ctx.model);
      if (problem) throw new UnsupportedModelError(problem);
      const own = byPath(ctx.model);
      const baseKind = choiceSetting<'original' | 'nf4' | 'nf4-double'>(settings, 'base');
      return adaptTargets({ ...ctx, targets: [...own.keys()] }, id, async (path, base, _index, progress) => {
        const layer = own.get(path)!;
        const A = parameterFromArray(ctx.rt, layer.A, [layer.rank, layer.inFeatures], `${path}.lora_A`, true);
        const B = parameterFromArray(ctx.rt, layer.B, [layer.outFeatures, layer.rank], `${path}.lora_B`, true);
        if (layer.magnitude) {
          if (baseKind !== 'original')
            throw new UnsupportedModelError(`${adapter.configFile}: a DoRA adapter applies to the original weights here, not to an NF4 copy`);
          // ‖W_i‖² comes with the init magnitude; the file's trained magnitude replaces the latter.
          const init = doraInitialMagnitude(ctx.rt, base.weight, `${path}.lora_magnitude_vector`);
          releaseTensors(ctx.rt, init.m);
          const m = parameterFromArray(ctx.rt, layer.magnitude, [layer.outFeatures], `${path}.lora_magnitude_vector`, true);
          return new DoraLayer(path, base, A, B, m, layer.scale, init.wsq);
        }
        if (baseKind === 'original') return new LowRankLayer(path, base, { A, B }, layer.scale);
        progress('quantize');
        const q = await qloraBase(ctx.rt, base.weight, { doubleQuant: baseKind === 'nf4-double', iterations: 0, measure: false });
        const nf4 = new Nf4Base(path, q.base, base.bias);
        return new LowRankLayer(path, nf4, { A, B }, layer.scale, nf4);
      });
    },
    peft: adapter.config.useDora
      ? { kind: 'adapter', build: doraAdapter, note: 'the loaded DoRA factors and magnitude, as trained here' }
      : { kind: 'adapter', build: loraAdapter, note: 'the loaded factors, as trained here' },
    python: (settings, py) => {
      const quantized = settings.base !== 'original';
      return {
        notes: [`The adapter loaded from ${adapter.configFile}, trained further (is_trainable=True).`],
        peftImports: ['PeftModel', ...(quantized ? ['prepare_model_for_kbit_training'] : [])],
        bitsandbytes: quantized,
        body: [
          ...(quantized ? [py.nf4Config(settings.base === 'nf4-double'), py.load(true), 'model = prepare_model_for_kbit_training(model)'] : [py.load(false)]),
          'model = PeftModel.from_pretrained(model, "path/to/adapter", is_trainable=True)',
        ],
      };
    },
  };
}
