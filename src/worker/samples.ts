// Samples beside the curves: after each validation step of a studio run, every running method
// continues one fixed prompt with the run's decoding (sampleSettings.ts), and the continuations
// are emitted after that step's validation losses, in the methods' order. One seeded stream per
// sample (the run's seed), so the same run gives the same samples and two methods' samples
// differ only by their weights.
//
// The prompt: the user's, or else the prompt part of the first validation row (the first training
// row when there is none) exactly as training tokenised it: BOS where the tokenizer adds one, the
// chat template's turns and assistant header for chat rows, everything before the last counted
// run of tokens (the completion, the last assistant turn). A text row has no prompt part; its
// first tokens (a quarter, at most 16) stand in. A typed prompt is rendered the way its data's
// rows are: as a user turn of the chat template for chat data, else as plain text after BOS.
//
// Also the one continuation routine the Generate panel uses (studioRun.ts generateText).

import type { AdaptedModel } from '../adapters/types';
import type { TokenizedExample } from '../io/datasets';
import type { RunSample, SamplePromptSource } from '../io/runRecord';
import type { TextTokenizer } from '../io/tokenizer';
import type { CausalLM } from '../models/causalLM';
import { generate } from '../models/generate';
import { cutAtStop, stopOnText } from '../models/sampling';
import type { Runtime } from '../tensor/values';
import { InputError } from '../errors';
import type { Decoding } from './sampleSettings';

export interface SamplePrompt {
  readonly ids: readonly number[];
  /** As the model reads it (special tokens shown, a leading BOS left out). */
  readonly text: string;
  readonly source: SamplePromptSource;
}

/** A text row's stand-in prompt: its first quarter, at most this many tokens. */
const TEXT_ROW_PROMPT_TOKENS = 16;

/** The ids of a row before its last run of counted tokens; a row with no prompt before it (text; at most a BOS) gives its first tokens. */
export function promptIdsOf(example: Pick<TokenizedExample, 'ids' | 'lossMask'>): number[] {
  const { ids, lossMask } = example;
  let end = lossMask.lastIndexOf(true);
  if (end < 0) return [...ids];
  while (end > 0 && lossMask[end - 1]) end--;
  // More than a lone BOS before the counted run: a real prompt.
  if (end > 1) return ids.slice(0, end);
  return ids.slice(0, Math.max(end + 1, Math.min(TEXT_ROW_PROMPT_TOKENS, Math.floor(ids.length / 4))));
}

/** Ids a typed prompt becomes: a user turn of the chat template for chat data, else BOS (where the tokenizer adds one) and the text. */
export function typedPromptIds(tokenizer: TextTokenizer, prompt: string, chat: boolean): number[] {
  if (chat && tokenizer.compiledChatTemplate) {
    const rendered = tokenizer.compiledChatTemplate.render([{ role: 'user', content: prompt }], { addGenerationPrompt: true });
    return tokenizer.encode(rendered, { addSpecialTokens: false });
  }
  const bos = tokenizer.addsBos && tokenizer.bosId !== undefined ? [tokenizer.bosId] : [];
  return [...bos, ...tokenizer.encode(prompt, { addSpecialTokens: false })];
}

/** The run's sample prompt (see the file's head); throws an InputError when there is none or it leaves no room to generate. */
export function samplePrompt(
  tokenizer: TextTokenizer,
  rows: { readonly validation: readonly TokenizedExample[]; readonly train: readonly TokenizedExample[] },
  typed: string,
  maxPositions: number,
): SamplePrompt {
  const first = rows.validation[0] ?? rows.train[0];
  let ids: number[];
  let source: SamplePromptSource;
  if (typed.trim() !== '') {
    ids = typedPromptIds(tokenizer, typed, first?.format === 'chat');
    source = 'custom';
  } else if (first) {
    ids = promptIdsOf(first);
    source = rows.validation.length > 0 ? 'validation' : 'training';
  } else {
    throw new InputError(
      'samples need a prompt: the data has no rows left to take one from; type a sample prompt under Training, Samples, or turn samples off',
    );
  }
  if (ids.length === 0) throw new InputError('the sample prompt is empty once tokenised; type another under Training, Samples');
  if (ids.length >= maxPositions) {
    throw new InputError(
      `the sample prompt has ${ids.length} tokens, leaving no room to generate within the model's ${maxPositions} positions; shorten it under Training, Samples`,
    );
  }
  const shown = tokenizer.bosId !== undefined && ids[0] === tokenizer.bosId ? ids.slice(1) : ids;
  return { ids, text: tokenizer.decode(shown), source };
}

/** One continuation of `promptIds` by `model` (with a method's adapted projections, if given). */
export async function continuePrompt(
  rt: Runtime,
  model: CausalLM,
  linears: AdaptedModel['linears'] | undefined,
  tokenizer: TextTokenizer,
  promptIds: readonly number[],
  decoding: Decoding,
  onText?: (text: string) => void,
): Promise<Omit<RunSample, 'step'>> {
  const decode = (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: true });
  const out: number[] = [];
  const start = performance.now();
  await generate(rt, model, promptIds, {
    maxNewTokens: decoding.maxNewTokens,
    temperature: decoding.temperature,
    topK: decoding.topK,
    topP: decoding.topP,
    seed: decoding.seed,
    linears,
    ...(decoding.stopAtEos ? {} : { eosIds: [] }),
    stop: stopOnText(decode, decoding.stopString),
    onToken: (id) => {
      out.push(id);
      if (onText) onText(cutAtStop(decode(out), decoding.stopString).text);
    },
  });
  const ms = performance.now() - start;
  const cut = cutAtStop(decode(out), decoding.stopString);
  const last = out.at(-1);
  const end = cut.stopped ? 'stop' : decoding.stopAtEos && last !== undefined && model.config.eosTokenIds.includes(last) ? 'eos' : 'length';
  return { text: cut.text, tokens: out.length, ms, end };
}

/** A method the sampler continues the prompt with. */
export interface SampledMethod {
  readonly id: string;
  readonly adapted: AdaptedModel;
  /** Halted methods are skipped. */
  readonly stopped: boolean;
}

/** Takes a run's samples at its validation steps. */
export class RunSampler {
  constructor(
    private readonly rt: Runtime,
    private readonly tokenizer: TextTokenizer,
    readonly prompt: SamplePrompt,
    private readonly decoding: Decoding,
  ) {}

  /** Each running method's sample after `step`, emitted in the methods' order; `stopAsked` ends the round early. */
  async take(step: number, methods: readonly SampledMethod[], emit: (method: string, sample: RunSample) => void, stopAsked: () => boolean): Promise<void> {
    for (const m of methods) {
      if (m.stopped) continue;
      if (stopAsked()) return;
      const sample = await continuePrompt(this.rt, m.adapted.model, m.adapted.linears, this.tokenizer, this.prompt.ids, this.decoding);
      emit(m.id, { step, ...sample });
    }
  }
}
