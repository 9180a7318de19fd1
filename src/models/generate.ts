// Autoregressive generation: prompts, then one token at a time until an end-of-sequence id, a
// stop predicate, or the token limit. One engine for every host (studio samples, accuracy, the
// study, the CLI):
//   generateMany  many prompts in lockstep with one KV cache of batch B: every row is at the same
//                 position at every step. The positions all prompts share run as one chunk;
//                 after that each step feeds one token per row (the next prompt token of a row
//                 still reading its prompt, else its own last choice). With causal attention and
//                 no padding this is exactly what a one-sequence run gives for each row, at the
//                 cost of (longest prompt + new tokens) forwards for the whole batch.
//   generate      one prompt: generateMany of one, or, with useCache false, the whole sequence
//                 run again for every token (the reference the cache is tested against).
// Only the last position goes through the LM head (lastLogits: [B, V]); logits are read back each
// step and sampled on the CPU (sampling.ts; greedy ties go to the lowest id). Row r samples from
// its own stream seededRandom(seed + r).

import { Graph } from '../tensor/graph';
import { KvCache } from '../tensor/kvCache';
import { readTensor, tokenIds, type Runtime } from '../tensor/values';
import type { CausalLM, ForwardOptions } from './causalLM';
import { sampleToken, seededRandom, type SamplingOptions } from './sampling';
import { InputError } from '../errors';

export interface GenerateOptions extends SamplingOptions {
  readonly maxNewTokens: number;
  /** Stop after emitting any of these (default: the config's eos ids). */
  readonly eosIds?: readonly number[];
  /** A row stops once this holds for its generated ids (e.g. an answer line is complete). */
  readonly stop?: (generated: readonly number[]) => boolean;
  readonly seed?: number;
  readonly useCache?: boolean;
  /** Called with each new token of a one-prompt generate as it is chosen. */
  readonly onToken?: (id: number) => void;
  /** A method's adapted projections (see ForwardOptions.linears). */
  readonly linears?: ForwardOptions['linears'];
  /** generateMany: at most this many prompts per forward (memory; default 32). */
  readonly maxBatch?: number;
}

function checkPrompt(model: CausalLM, promptIds: readonly number[]): void {
  if (promptIds.length === 0) throw new InputError('generation needs at least one prompt token');
  const maxPositions = model.config.maxPositions;
  if (promptIds.length > maxPositions) throw new InputError(`the prompt has ${promptIds.length} tokens; the model takes at most ${maxPositions}`);
}

export async function generate(rt: Runtime, model: CausalLM, promptIds: readonly number[], options: GenerateOptions): Promise<number[]> {
  checkPrompt(model, promptIds);
  if (options.useCache ?? true) return (await generateMany(rt, model, [promptIds], options))[0]!;
  const maxNew = Math.max(0, Math.min(options.maxNewTokens, model.config.maxPositions - promptIds.length));
  const eos = new Set(options.eosIds ?? model.config.eosTokenIds);
  const random = seededRandom(options.seed ?? 0);
  const sequence = [...promptIds];
  const generated: number[] = [];
  while (generated.length < maxNew) {
    const g = new Graph(rt, false);
    let row: Float32Array;
    try {
      row = await readTensor(rt, model.lastLogits(g, tokenIds(g, sequence, [1, sequence.length]), { linears: options.linears })); // [1, V]
    } finally {
      g.destroy();
    }
    const next = sampleToken(row, options, random);
    sequence.push(next);
    generated.push(next);
    options.onToken?.(next);
    if (eos.has(next) || options.stop?.(generated)) break;
  }
  return generated;
}

/** Generated ids per prompt (the EOS included when one was produced), in the prompts' order. */
export async function generateMany(rt: Runtime, model: CausalLM, prompts: readonly (readonly number[])[], options: GenerateOptions): Promise<number[][]> {
  for (const p of prompts) checkPrompt(model, p);
  const out: number[][] = prompts.map(() => []);
  const maxBatch = Math.max(1, options.maxBatch ?? 32);
  // Similar lengths together, so a batch wastes few steps on its longest prompt.
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a]!.length - prompts[b]!.length || a - b);
  for (let s = 0; s < order.length; s += maxBatch) {
    const group = order.slice(s, s + maxBatch);
    await lockstep(
      rt,
      model,
      group.map((i) => prompts[i]!),
      group.map((i) => seededRandom((options.seed ?? 0) + i)),
      options,
      group.map((i) => out[i]!),
    );
  }
  return out;
}

async function lockstep(
  rt: Runtime,
  model: CausalLM,
  prompts: readonly (readonly number[])[],
  randoms: readonly (() => number)[],
  options: GenerateOptions,
  outputs: number[][],
): Promise<void> {
  const B = prompts.length;
  const { numLayers, numKvHeads, headDim, vocabSize: V, maxPositions } = model.config;
  const shortest = Math.min(...prompts.map((p) => p.length));
  const longest = Math.max(...prompts.map((p) => p.length));
  const total = Math.min(maxPositions, longest + Math.max(0, options.maxNewTokens));
  const eos = new Set(options.eosIds ?? model.config.eosTokenIds);
  const done = prompts.map((p) => p.length >= total || options.maxNewTokens <= 0);
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
        logits = await readTensor(rt, model.lastLogits(g, tokenIds(g, input, [B, T]), { cache, start, linears: options.linears })); // [B, V]
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
        const id = sampleToken(logits.subarray(b * V, (b + 1) * V), options, randoms[b]!);
        seq.push(id);
        outputs[b]!.push(id);
        if (B === 1) options.onToken?.(id);
        if (eos.has(id) || outputs[b]!.length >= options.maxNewTokens || options.stop?.(outputs[b]!)) done[b] = true;
      }
      start = position;
      T = 1;
    }
  } finally {
    cache.destroy();
  }
}
