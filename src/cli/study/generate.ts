// Greedy generation for the accuracy check, for an adapted model (its own projections passed as
// `linears`, which src/models/generate.ts does not take) and for many prompts at once: prompts
// of equal token length are run as one batch with a KV cache of that batch size, so every row
// sees exactly what a one-sequence greedy run would (same positions, no padding), and a step
// costs one dispatch chain for the whole group instead of one per prompt. Argmax on the CPU
// (ties go to the lowest id, as sampling.ts's argmax).

import type { CausalLM } from '../../models/causalLM';
import type { LinearLayer } from '../../models/linearLayer';
import { argmax } from '../../models/sampling';
import { Graph } from '../../tensor/graph';
import { KvCache } from '../../tensor/kvCache';
import { readTensor, tokenIds, type Runtime } from '../../tensor/values';

export interface BatchGenerateOptions {
  readonly maxNewTokens: number;
  readonly eosIds: readonly number[];
  /** Rows whose decoded text is complete stop early (e.g. a newline after the `####` line). */
  readonly isComplete?: (ids: readonly number[]) => boolean;
  /** At most this many prompts per forward (memory; default 32). */
  readonly maxBatch?: number;
}

/** Generated ids per prompt (the EOS included when one was produced), in the prompts' order. */
export async function greedyGenerateMany(
  rt: Runtime,
  model: CausalLM,
  linears: ReadonlyMap<string, LinearLayer> | undefined,
  prompts: readonly (readonly number[])[],
  options: BatchGenerateOptions,
): Promise<number[][]> {
  const out: number[][] = prompts.map(() => []);
  const byLength = new Map<number, number[]>();
  prompts.forEach((p, i) => {
    if (p.length === 0) throw new Error('generation needs at least one prompt token');
    const list = byLength.get(p.length) ?? [];
    list.push(i);
    byLength.set(p.length, list);
  });
  const maxBatch = options.maxBatch ?? 32;
  for (const [length, all] of [...byLength.entries()].sort((a, b) => a[0] - b[0])) {
    for (let s = 0; s < all.length; s += maxBatch) {
      const group = all.slice(s, s + maxBatch);
      await generateGroup(rt, model, linears, group.map((i) => prompts[i]!), length, options, group.map((i) => out[i]!));
    }
  }
  return out;
}

async function generateGroup(
  rt: Runtime,
  model: CausalLM,
  linears: ReadonlyMap<string, LinearLayer> | undefined,
  prompts: readonly (readonly number[])[],
  length: number,
  options: BatchGenerateOptions,
  outputs: number[][],
): Promise<void> {
  const B = prompts.length;
  const { numLayers, numKvHeads, headDim, vocabSize: V, maxPositions } = model.config;
  const maxNew = Math.max(0, Math.min(options.maxNewTokens, maxPositions - length));
  if (maxNew === 0) return;
  const eos = new Set(options.eosIds);
  const done = new Array<boolean>(B).fill(false);
  const cache = new KvCache(rt, { layers: numLayers, batch: B, maxTokens: length + maxNew, kvDim: numKvHeads * headDim });
  try {
    let input: number[] = prompts.flatMap((p) => [...p]);
    let T = length;
    let start = 0;
    for (let n = 0; n < maxNew; n++) {
      const g = new Graph(rt, false);
      let logits: Float32Array;
      try {
        const result = model.forward(g, tokenIds(g, input, [B, T]), { cache, start, linears });
        logits = await readTensor(rt, result);
      } finally {
        g.destroy();
      }
      const next: number[] = [];
      for (let b = 0; b < B; b++) {
        const row = logits.subarray((b * T + T - 1) * V, (b * T + T) * V);
        const id = argmax(row);
        next.push(id);
        if (done[b]) continue;
        outputs[b]!.push(id);
        if (eos.has(id) || options.isComplete?.(outputs[b]!)) done[b] = true;
      }
      if (done.every(Boolean)) break;
      start += T;
      T = 1;
      input = next;
    }
  } finally {
    cache.destroy();
  }
}
