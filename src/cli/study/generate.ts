// Greedy generation for the accuracy check, for an adapted model (its own projections passed as
// `linears`, which src/models/generate.ts does not take) and for many prompts at once, in
// lockstep: every row of the batch is at the same position at every step. The positions that all
// prompts share are run as one chunk; after that each step feeds one token per row, the next
// prompt token for a row whose prompt is not finished, else the row's own last greedy choice.
// With a KV cache of that batch size this is exactly what a one-sequence greedy run gives for
// each row (same positions, no padding, causal attention), at the cost of max prompt length +
// new tokens forward passes for the whole batch instead of that many per prompt. Argmax on the
// CPU (ties go to the lowest id, as sampling.ts's argmax).
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
  if (prompts.some((p) => p.length === 0)) throw new Error('generation needs at least one prompt token');
  const maxBatch = options.maxBatch ?? 32;
  // Similar lengths together, so a batch wastes few steps on its longest prompt.
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a]!.length - prompts[b]!.length || a - b);
  for (let s = 0; s < order.length; s += maxBatch) {
    const group = order.slice(s, s + maxBatch);
    await generateLockstep(rt, model, linears, group.map((i) => prompts[i]!), options, group.map((i) => out[i]!));
  }
  return out;
}

async function generateLockstep(
  rt: Runtime,
  model: CausalLM,
  linears: ReadonlyMap<string, LinearLayer> | undefined,
  prompts: readonly (readonly number[])[],
  options: BatchGenerateOptions,
  outputs: number[][],
): Promise<void> {
  const B = prompts.length;
  const { numLayers, numKvHeads, headDim, vocabSize: V, maxPositions } = model.config;
  const shortest = Math.min(...prompts.map((p) => p.length));
  const longest = Math.max(...prompts.map((p) => p.length));
  const total = Math.min(maxPositions, longest + options.maxNewTokens);
  const eos = new Set(options.eosIds);
  const done = prompts.map((p) => p.length + 0 >= total);
  const sequences = prompts.map((p) => [...p]);
  const cache = new KvCache(rt, { layers: numLayers, batch: B, maxTokens: total, kvDim: numKvHeads * headDim });
  try {
    // First the shared prefix positions 0 .. shortest − 1 as one chunk, then one position a step.
    let start = 0;
    let T = shortest;
    while (start + T <= total - 1 && !done.every(Boolean)) {
      const input: number[] = [];
      for (let b = 0; b < B; b++) for (let j = start; j < start + T; j++) input.push(sequences[b]![j]!);
      const g = new Graph(rt, false);
      let logits: Float32Array;
      try {
        logits = await readTensor(rt, model.forward(g, tokenIds(g, input, [B, T]), { cache, start, linears }));
      } finally {
        g.destroy();
      }
      const position = start + T; // the position whose token the logits predict
      for (let b = 0; b < B; b++) {
        if (position < prompts[b]!.length) continue; // still reading its prompt
        const seq = sequences[b]!;
        if (done[b]) {
          seq.push(seq[seq.length - 1]!); // keeps the row in step; never read
          continue;
        }
        const id = argmax(logits.subarray((b * T + T - 1) * V, (b * T + T) * V));
        seq.push(id);
        outputs[b]!.push(id);
        if (eos.has(id) || outputs[b]!.length >= options.maxNewTokens || options.isComplete?.(outputs[b]!)) done[b] = true;
      }
      start = position;
      T = 1;
    }
  } finally {
    cache.destroy();
  }
}
