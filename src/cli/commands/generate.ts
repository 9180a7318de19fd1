// `generate <model-dir> --prompt "…"`: tokenizes the prompt with the model's tokenizer (BOS
// added when the tokenizer adds one), runs models/generate.ts (KV cache unless --no-cache) and
// streams the continuation to stdout as tokens arrive. Decoding is of prompt + continuation
// minus the decoded prompt, so tokenizers that drop a leading space on the first token
// (SentencePiece) still print the right spacing; text ending in an incomplete UTF-8 character
// (U+FFFD) is held back until the character completes. Timing goes to stderr.

import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { loadModelTokenizer, type TextTokenizer } from '../../io/tokenizer';
import { generate } from '../../models/generate';
import { loadCausalLM, releaseModel } from '../../models/load';
import { StudioError } from '../../errors';
import type { AdaptedModel } from '../../adapters/types';
import { ADAPTER_BASE_FLAG, ADAPTER_FLAG, adapterSettings, openAdapterDir, openModelDir, type CliEnv, type CliIo } from './common';

export const generateSpec: CommandSpec = {
  name: 'generate',
  summary: "Continue a prompt with the model (streams the text; uses the model folder's tokenizer.json).",
  positionals: [{ name: 'model-dir', description: 'model folder with tokenizer.json' }],
  flags: {
    prompt: { type: 'string', value: 'TEXT', description: 'the text to continue (required)' },
    'max-new-tokens': { type: 'int', value: 'N', min: 1, default: 32, description: 'stop after N new tokens (or at end of sequence)' },
    temperature: { type: 'number', value: 'T', min: 0, description: '0 = greedy; default 0, or 1 when --top-k or --top-p is given' },
    'top-k': { type: 'int', value: 'K', min: 0, description: 'sample from the K most likely tokens (0: all)' },
    'top-p': { type: 'number', value: 'P', above: 0, max: 1, description: 'nucleus sampling: smallest set with probability ≥ P' },
    seed: { type: 'int', value: 'S', min: 0, default: 0, description: 'sampling seed' },
    'no-cache': { type: 'boolean', description: 'recompute the whole sequence for each token (no KV cache)' },
    adapter: ADAPTER_FLAG,
    'adapter-base': ADAPTER_BASE_FLAG,
  },
  examples: ['generate path/to/model --prompt "Once upon a time" --max-new-tokens 40 --temperature 0.8 --top-p 0.95 --seed 1'],
};

/** Turns a growing list of generated ids into text increments (see the file header). */
export class StreamingDecoder {
  private readonly generated: number[] = [];
  private readonly promptText: string;
  private printed = '';

  constructor(
    private readonly tokenizer: Pick<TextTokenizer, 'decode'>,
    private readonly promptIds: readonly number[],
  ) {
    this.promptText = tokenizer.decode(promptIds, { skipSpecialTokens: true });
  }

  /** Text to print after `id`, possibly ''. */
  push(id: number): string {
    this.generated.push(id);
    return this.take(false);
  }

  /** Whatever was held back (an incomplete character at the very end). */
  finish(): string {
    return this.take(true);
  }

  get text(): string {
    return this.printed;
  }

  private take(final: boolean): string {
    const full = this.tokenizer.decode([...this.promptIds, ...this.generated], { skipSpecialTokens: true });
    const continuation = full.startsWith(this.promptText)
      ? full.slice(this.promptText.length)
      : this.tokenizer.decode(this.generated, { skipSpecialTokens: true });
    if (!final && continuation.endsWith('\uFFFD')) return '';
    if (!continuation.startsWith(this.printed)) {
      // Decoding changed text already printed (rare: normalizing decoders); print only what is new.
      const add = continuation.length > this.printed.length ? continuation.slice(this.printed.length) : '';
      this.printed = continuation;
      return add;
    }
    const add = continuation.slice(this.printed.length);
    this.printed = continuation;
    return add;
  }
}

export interface GenerateRun {
  readonly promptIds: readonly number[];
  readonly ids: readonly number[];
  readonly text: string;
  readonly stoppedAtEos: boolean;
  readonly ms: number;
}

export async function runGenerate(args: ParsedArgs, env: CliEnv): Promise<GenerateRun> {
  const prompt = args.string('prompt');
  if (prompt === undefined) throw new UsageError('\'generate\' needs --prompt "text"', 'generate');
  const sampling = args.has('top-k') || args.has('top-p');
  const temperature = args.number('temperature', sampling ? 1 : 0);
  if (temperature === 0 && sampling) {
    env.io.err('note: --temperature 0 is greedy decoding; --top-k and --top-p have no effect\n');
  }
  const source = await openModelDir(args.positionals[0]!);
  const tokenizer = await loadModelTokenizer(source);
  let promptIds = tokenizer.encode(prompt, { addSpecialTokens: true });
  if (promptIds.length === 0 && tokenizer.bosId !== undefined) promptIds = [tokenizer.bosId];
  if (promptIds.length === 0) throw new StudioError('the prompt encodes to no tokens; give some text to continue');
  const P = source.config.maxPositions;
  if (promptIds.length >= P) {
    throw new StudioError(`the prompt is ${promptIds.length} tokens; the model takes at most ${P} positions, so there is no room to generate`);
  }
  const wanted = args.number('max-new-tokens', 32);
  if (promptIds.length + wanted > P) {
    env.io.err(`note: only ${P - promptIds.length} new tokens fit in the model's ${P} positions after a ${promptIds.length}-token prompt\n`);
  }
  const eosIds = [...source.config.eosTokenIds];
  if (tokenizer.eosId !== undefined && !eosIds.includes(tokenizer.eosId)) eosIds.push(tokenizer.eosId);

  const adapterDir = args.string('adapter');
  const adapterMethod = adapterDir === undefined ? undefined : await openAdapterDir(adapterDir);
  const rt = await env.gpu();
  const model = await loadCausalLM(rt, source);
  let adapted: AdaptedModel | undefined;
  const decoder = new StreamingDecoder(tokenizer, promptIds);
  const io: CliIo = env.io;
  const started = performance.now();
  let ids: number[];
  try {
    if (adapterMethod)
      adapted = await adapterMethod.create({ rt, model, targets: [], seed: 0, learningRate: 0 }, adapterSettings(adapterMethod, args, 'generate'));
    ids = await generate(rt, adapted?.model ?? model, promptIds, {
      linears: adapted?.linears,
      maxNewTokens: wanted,
      temperature,
      ...(args.has('top-k') ? { topK: args.number('top-k', 0) } : {}),
      ...(args.has('top-p') ? { topP: args.number('top-p', 1) } : {}),
      seed: args.number('seed', 0),
      useCache: !args.bool('no-cache'),
      eosIds,
      onToken: (id) => {
        const text = decoder.push(id);
        if (text) io.out(text);
      },
    });
  } finally {
    adapted?.release(rt);
    releaseModel(rt, model);
  }
  const ms = performance.now() - started;
  io.out(`${decoder.finish()}\n`);
  const stoppedAtEos = ids.length > 0 && eosIds.includes(ids[ids.length - 1]!);
  io.err(
    `[${ids.length} tokens in ${(ms / 1000).toFixed(2)} s, ${((ids.length * 1000) / Math.max(ms, 1e-3)).toFixed(1)} tokens/s; ` +
      `prompt ${promptIds.length} tokens; ${stoppedAtEos ? 'stopped at end of sequence' : 'stopped at the token limit'}; ` +
      `${temperature === 0 ? 'greedy' : `temperature ${temperature}`}${args.bool('no-cache') ? ', no KV cache' : ''}]\n`,
  );
  return { promptIds, ids, text: decoder.text, stoppedAtEos, ms };
}
