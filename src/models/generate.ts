// Autoregressive generation for one sequence: the prompt, then one token at a time until an
// end-of-sequence id or the token limit. With the KV cache (default) the prompt is run once and
// each new token attends to the cached keys and values; without it the whole sequence is run
// again for every token (the reference the cache is tested against). Logits of the last
// position are read back each step and sampled on the CPU (sampling.ts).

import { Graph } from '../tensor/graph';
import { KvCache } from '../tensor/kvCache';
import { readTensor, tokenIds, type Runtime } from '../tensor/values';
import type { CausalLM, ForwardOptions } from './causalLM';
import { sampleToken, seededRandom, type SamplingOptions } from './sampling';

export interface GenerateOptions extends SamplingOptions {
  readonly maxNewTokens: number;
  /** Stop after emitting any of these (default: the config's eos ids). */
  readonly eosIds?: readonly number[];
  readonly seed?: number;
  readonly useCache?: boolean;
  /** Called with each new token as it is chosen. */
  readonly onToken?: (id: number) => void;
  /** A method's adapted projections (see ForwardOptions.linears). */
  readonly linears?: ForwardOptions['linears'];
}

export async function generate(rt: Runtime, model: CausalLM, promptIds: readonly number[], options: GenerateOptions): Promise<number[]> {
  if (promptIds.length === 0) throw new Error('generation needs at least one prompt token');
  const maxPositions = model.config.maxPositions;
  const maxNew = Math.max(0, Math.min(options.maxNewTokens, maxPositions - promptIds.length));
  if (promptIds.length > maxPositions) throw new Error(`the prompt has ${promptIds.length} tokens; the model takes at most ${maxPositions}`);
  const eos = new Set(options.eosIds ?? model.config.eosTokenIds);
  const random = seededRandom(options.seed ?? 0);
  const useCache = options.useCache ?? true;
  const V = model.config.vocabSize;
  const { numLayers, numKvHeads, headDim } = model.config;
  const cache = useCache ? new KvCache(rt, { layers: numLayers, batch: 1, maxTokens: promptIds.length + maxNew, kvDim: numKvHeads * headDim }) : undefined;
  const sequence = [...promptIds];
  const generated: number[] = [];
  try {
    let pending: readonly number[] = promptIds;
    let start = 0;
    while (generated.length < maxNew) {
      const g = new Graph(rt, false);
      let row: Float32Array;
      try {
        const input = cache ? pending : sequence;
        const logits = model.forward(g, tokenIds(g, input, [1, input.length]), cache ? { cache, start, linears: options.linears } : { linears: options.linears });
        const all = await readTensor(rt, logits);
        row = all.subarray((input.length - 1) * V, input.length * V);
      } finally {
        g.destroy();
      }
      const next = sampleToken(row, options, random);
      if (cache) {
        start += pending.length;
        pending = [next];
      }
      sequence.push(next);
      generated.push(next);
      options.onToken?.(next);
      if (eos.has(next)) break;
    }
  } finally {
    cache?.destroy();
  }
  return generated;
}
