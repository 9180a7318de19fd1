// ADAPTERS.md invariant 4 on real pretrained weights (the built-in model): QPiSSA's nuclear-norm
// quantization error is below QLoRA's (reduction ratio > 0), more so with more iterations, and
// QLoRA's own ratio is 0 by definition. Few layers keep the Jacobi SVDs short on SwiftShader.

import { describe, expect, it } from 'vitest';
import { qlora, qpissa } from '../adapters/methods/quantized';
import { resolveSettings, type AdaptedModel, type MethodDefinition, type MethodSettings } from '../adapters/types';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import type { CausalLM } from '../models/causalLM';
import { loadCausalLM, releaseModel } from '../models/load';
import type { Runtime } from '../tensor/values';
import { testContext } from '../test/gpu';

const TARGETS = ['model.layers.0.self_attn.q_proj', 'model.layers.0.self_attn.k_proj', 'model.layers.2.mlp.down_proj'];

async function errors(rt: Runtime, model: CausalLM, method: MethodDefinition, settings: MethodSettings): Promise<Map<string, number[]>> {
  const adapted: AdaptedModel = await method.create({ rt, model, targets: TARGETS, seed: 1, learningRate: 1e-3 }, resolveSettings(method, settings));
  try {
    const { layers, pending } = await adapted.measureQuantErrors!(rt);
    expect(pending).toBe(0);
    return new Map(layers.map((l) => [l.layer, l.errors.map((e) => e.nuclear)]));
  } finally {
    adapted.release(rt);
  }
}

describe('quantization error on the pretrained built-in model', () => {
  it('QPiSSA reduces the nuclear-norm error against QLoRA, more with more iterations', async () => {
    const rt = await testContext();
    const model = await loadCausalLM(rt, await openModelFiles(await nodeDirectorySources('public/models/kjv-llama-1m')));
    try {
      const common = { rank: 8, alpha: 8, doubleQuant: false };
      const baseline = await errors(rt, model, qlora, common);
      const reduced = await errors(rt, model, qpissa, { ...common, niter: 4, iterations: 3 });
      for (const layer of TARGETS) {
        const base = baseline.get(layer)![0]!;
        const [t1, , t3] = reduced.get(layer)!.slice(-3) as [number, number, number];
        const ratio1 = 1 - t1 / base;
        const ratio3 = 1 - t3 / base;
        expect(ratio1, layer).toBeGreaterThan(0);
        expect(ratio3, layer).toBeGreaterThan(ratio1);
      }
    } finally {
      releaseModel(rt, model);
    }
  });
});
