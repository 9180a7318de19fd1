// `logits <model-dir> --ids 1,2,3`: one forward pass of the model on the GPU for a single
// sequence (B = 1) and its logits [T, V]. With --json: {"logits": number[][]}, one row per
// position, for comparison with a reference (e.g. transformers in Python); otherwise the top 5
// tokens per position. The ids are given as is: no BOS is added.

import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import type { ModelSource } from '../../io/modelFiles';
import { loadCausalLM, releaseModel } from '../../models/load';
import type { CausalLM } from '../../models/causalLM';
import { Graph } from '../../tensor/graph';
import { readTensor, tokenIds, type Runtime } from '../../tensor/values';
import { StudioError } from '../../errors';
import type { AdaptedModel, MethodDefinition, MethodSettings } from '../../adapters/types';
import type { ForwardOptions } from '../../models/causalLM';
import { ADAPTER_BASE_FLAG, ADAPTER_FLAG, adapterSettings, openAdapterDir, openModelDir, showToken, tryTokenizer, type CliEnv } from './common';

export const logitsSpec: CommandSpec = {
  name: 'logits',
  summary: 'Run one forward pass on token ids and print the logits [T, V] (B = 1).',
  positionals: [{ name: 'model-dir', description: 'model folder (a tokenizer is optional: used only to show tokens)' }],
  flags: {
    ids: { type: 'string', value: 'I,J,…', description: 'token ids, comma-separated (required)' },
    json: { type: 'boolean', description: 'print {"logits": [[…], …]}, one row per position' },
    top: { type: 'int', value: 'K', min: 1, default: 5, description: 'tokens shown per position without --json' },
    adapter: ADAPTER_FLAG,
    'adapter-base': ADAPTER_BASE_FLAG,
  },
  examples: ['logits test/fixtures/tiny-llama --ids 1,2,3 --json', 'logits test/fixtures/tiny-llama --ids 1,2,3 --adapter my-lora-adapter --json'],
};

/** "1, 2,3" → [1, 2, 3]; UsageError for anything that is not a list of whole numbers ≥ 0. */
export function parseIds(text: string, flag = 'ids'): number[] {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.every((p) => p === '')) throw new UsageError(`--${flag} needs at least one token id`, 'logits');
  return parts.map((p) => {
    if (!/^\d+$/.test(p) || !Number.isSafeInteger(Number(p))) {
      throw new UsageError(`--${flag} must be whole numbers ≥ 0 separated by commas (e.g. 1,2,3); '${p}' is not one`, 'logits');
    }
    return Number(p);
  });
}

/** Throws a StudioError (exit 3) when the ids do not fit the model's vocabulary or positions. */
export function checkIdsFitModel(source: ModelSource, ids: readonly number[]): void {
  const { vocabSize: V, maxPositions: P } = source.config;
  const outside = ids.filter((id) => id >= V);
  if (outside.length > 0) {
    throw new StudioError(`token id ${outside[0]} is outside the model's vocabulary (ids 0 to ${V - 1}; vocab_size ${V} in config.json)`);
  }
  if (ids.length > P) {
    throw new StudioError(`${ids.length} token ids are more than the model's ${P} positions (max_position_embeddings / n_positions)`);
  }
}

/** logits [T, V] of one sequence, as rows; `linears`: an adapter's projections. */
export async function forwardLogits(rt: Runtime, model: CausalLM, ids: readonly number[], linears?: ForwardOptions['linears']): Promise<number[][]> {
  const V = model.config.vocabSize;
  const g = new Graph(rt, false);
  let flat: Float32Array;
  try {
    const logits = model.forward(g, tokenIds(g, ids, [1, ids.length]), { linears });
    flat = await readTensor(rt, logits);
  } finally {
    g.destroy();
  }
  return ids.map((_, t) => Array.from(flat.subarray(t * V, (t + 1) * V)));
}

/** Loads `source` on the GPU (with `adapter` applied), runs `ids`, releases everything. */
export async function logitsFor(
  rt: Runtime,
  source: ModelSource,
  ids: readonly number[],
  adapter?: { method: MethodDefinition; settings: MethodSettings },
): Promise<number[][]> {
  checkIdsFitModel(source, ids);
  const model = await loadCausalLM(rt, source);
  let adapted: AdaptedModel | undefined;
  try {
    if (adapter) adapted = await adapter.method.create({ rt, model, targets: [], seed: 0, learningRate: 0 }, adapter.settings);
    return await forwardLogits(rt, adapted?.model ?? model, ids, adapted?.linears);
  } finally {
    adapted?.release(rt);
    releaseModel(rt, model);
  }
}

function topK(row: readonly number[], k: number): { id: number; logit: number; prob: number }[] {
  let max = -Infinity;
  for (const v of row) if (v > max) max = v;
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  return row
    .map((logit, id) => ({ id, logit, prob: Math.exp(logit - max) / sum }))
    .sort((a, b) => b.logit - a.logit || a.id - b.id)
    .slice(0, k);
}

export async function runLogits(args: ParsedArgs, env: CliEnv): Promise<void> {
  const idsText = args.string('ids');
  if (idsText === undefined) throw new UsageError("'logits' needs --ids (e.g. --ids 1,2,3)", 'logits');
  const ids = parseIds(idsText);
  const source = await openModelDir(args.positionals[0]!);
  checkIdsFitModel(source, ids);
  const adapterDir = args.string('adapter');
  const adapterMethod = adapterDir === undefined ? undefined : await openAdapterDir(adapterDir);
  const adapter = adapterMethod ? { method: adapterMethod, settings: adapterSettings(adapterMethod, args, 'logits') } : undefined;
  const rows = await logitsFor(await env.gpu(), source, ids, adapter);
  const nonFinite = rows.reduce((n, r) => n + r.filter((v) => !Number.isFinite(v)).length, 0);
  if (nonFinite > 0) env.io.err(`warning: ${nonFinite} logits are NaN or infinite (JSON shows them as null)\n`);
  if (args.bool('json')) {
    env.io.out(`${JSON.stringify({ logits: rows })}\n`);
    return;
  }
  const { tokenizer } = source.tokenizer.tokenizerJson ? await tryTokenizer(source) : {};
  const name = (id: number): string => (tokenizer ? ` ${showToken(tokenizer.decode([id]))}` : '');
  const k = Math.min(args.number('top', 5), source.config.vocabSize);
  env.io.out(`logits [T=${ids.length}, V=${source.config.vocabSize}] (B = 1); top ${k} per position (logit, softmax probability):\n`);
  rows.forEach((row, t) => {
    const best = topK(row, k)
      .map((e) => `${e.id}${name(e.id)} ${e.logit.toFixed(3)} (${(100 * e.prob).toFixed(1)}%)`)
      .join(', ');
    env.io.out(`  ${String(t).padStart(3)} id ${ids[t]}${name(ids[t]!)} → ${best}\n`);
  });
}
