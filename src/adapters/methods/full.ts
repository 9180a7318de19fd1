// Full fine-tuning, the reference line: every parameter of an own copy of the model trains
// with AdamW (weight decay on the projection matrices only). Memory: a second copy of the
// weights plus two optimizer moments per parameter.

import { cloneCausalLM, releaseModel } from '../../models/load';
import type { MethodDefinition } from '../types';

export const full: MethodDefinition = {
  id: 'full',
  label: 'Full fine-tuning',
  summary: 'Trains every weight of its own copy of the model (the reference line).',
  paper: 'Reference: all parameters trainable, same data and schedule.',
  settings: [],
  async create(ctx) {
    ctx.onProgress?.({ method: 'full', layer: '', done: 0, total: 1, phase: 'init' });
    const model = cloneCausalLM(ctx.rt, ctx.model, true);
    ctx.onProgress?.({ method: 'full', layer: '', done: 1, total: 1, phase: 'init' });
    const parameters = model.parameters();
    return {
      method: 'full',
      linears: new Map(),
      trainable: parameters.map((p) => ({ tensor: p.tensor, weightDecay: p.kind === 'linear' })),
      model,
      extraBytes: parameters.reduce((n, p) => n + p.tensor.data.size * 4, 0),
      release(rt) {
        releaseModel(rt, model);
      },
    };
  },
};
