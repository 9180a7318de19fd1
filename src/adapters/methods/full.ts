// Full fine-tuning, the reference line: every parameter of an own copy of the model trains
// with AdamW (weight decay on the projection matrices only). Memory: a second copy of the
// weights plus two optimizer moments per parameter.

import { DenseLinear } from '../../models/linearLayer';
import { cloneCausalLM, releaseModel } from '../../models/load';
import type { CausalLM } from '../../models/causalLM';
import { NO_CALIBRATION } from './lowRankMethod';
import type { Runtime } from '../../tensor/values';
import type { MethodDefinition, WeightView } from '../types';
import { InternalError } from '../../errors';

function denseOf(rt: Runtime, model: CausalLM, name: string): WeightView {
  const layer = model.linear(name);
  if (!(layer instanceof DenseLinear)) throw new InternalError(`${name} is not a dense projection`);
  return layer.denseWeight(rt);
}

export const full: MethodDefinition = {
  id: 'full',
  label: 'Full fine-tuning',
  summary: 'Trains every weight of its own copy of the model (the reference line).',
  paper: 'Reference: all parameters trainable, same data and schedule.',
  family: 'dense',
  settings: [],
  calibrationBatches: NO_CALIBRATION,
  plan: (_settings, _layers, modelParams) => ({ trainableParams: modelParams, ownBaseBytes: 4 * modelParams }),
  async create(ctx) {
    ctx.onProgress?.({ method: 'full', layer: '', done: 0, total: 1, phase: 'init' });
    const model = cloneCausalLM(ctx.rt, ctx.model, true);
    ctx.onProgress?.({ method: 'full', layer: '', done: 1, total: 1, phase: 'init' });
    const parameters = model.parameters();
    const shared = ctx.model;
    return {
      method: 'full',
      linears: new Map(),
      trainable: parameters.map((p) => ({ tensor: p.tensor, weightDecay: p.kind === 'linear' })),
      model,
      extraBytes: parameters.reduce((n, p) => n + p.tensor.data.size * 4, 0),
      // Its own copy now; the shared original is what it started from.
      effectiveWeight: (rt, name, when) => denseOf(rt, when === 'init' ? shared : model, name),
      release(rt) {
        releaseModel(rt, model);
      },
    };
  },
  peft: { kind: 'none', reason: 'Full fine-tuning changes every weight, so there is no adapter to export. Export the merged model instead.' },
  python: (_settings, py) => ({ notes: ['Full fine-tuning: every weight trains; no adapter.'], body: [py.load(false)], usesPeft: false }),
};
