// Forgetting: how much of what the base model knew a fine-tuned method has lost, measured as the
// change of its loss on a held-out sample of the base model's own pretraining text (the built-in
// model's public/models/kjv-llama-1m/heldout.txt, or a text file the user gives for a dropped
// model):
//   forgetting = loss(method after training) − loss(base model)      nats per predicted token
// Positive: the method does worse on the base's own text than the base did (it forgot); negative:
// training also helped there.
//
// The text: each paragraph (blank-line separated) tokenised as BOS + paragraph + EOS, the format
// the built-in model was pretrained in, concatenated into one stream of at most `maxTokens` tokens
// and packed into rows of T tokens; every token after the first is predicted (targets = the next
// token of the stream), so only the last row has padding. The loss is the validation's: the base
// through baseEval.ts, each method through its trainer's `evaluate` (same forward, same
// per-token mean).
//
// Not here: when it runs (studioRun.ts: the base before any method is initialised, the methods
// after the last step), or where the text comes from (the page).

import { IGNORE_INDEX } from '../io/datasets';
import type { TextTokenizer } from '../io/tokenizer';
import type { CausalLM } from '../models/causalLM';
import type { Runtime } from '../tensor/values';
import type { StartedMethod } from '../train/methodRun';
import type { Batch } from '../train/trainer';
import { DatasetError } from '../errors';
import { baseValidationLoss } from './baseEval';
import type { ForgettingReport } from './protocol';

/** Tokens of the held-out text read per measurement: enough for a stable mean, few enough to take seconds on software WebGPU. */
export const FORGETTING_TOKENS = 4096;

export interface ForgettingText {
  /** Shown with the figures ("kjv-llama-1m/heldout.txt"). */
  readonly name: string;
  readonly text: string;
}

/** One stream of BOS + paragraph + EOS for each paragraph of `text`, cut at `maxTokens`. */
export function forgettingStream(tokenizer: TextTokenizer, text: string, maxTokens: number): number[] {
  const stream: number[] = [];
  for (const paragraph of text.replace(/\r\n?/g, '\n').split(/\n[ \t]*\n/)) {
    const trimmed = paragraph.trim();
    if (trimmed === '' || stream.length >= maxTokens) continue;
    if (tokenizer.bosId !== undefined) stream.push(tokenizer.bosId);
    stream.push(...tokenizer.encode(trimmed, { addSpecialTokens: false }));
    if (tokenizer.eosId !== undefined) stream.push(tokenizer.eosId);
  }
  return stream.slice(0, maxTokens);
}

/** `stream` packed into batches of `rows` × T; each position's target is the stream's next token. */
export function packStream(stream: readonly number[], seqLen: number, rows: number, padId: number): Batch[] {
  const windows = Math.ceil((stream.length - 1) / seqLen);
  const batches: Batch[] = [];
  for (let first = 0; first < windows; first += rows) {
    const batchSize = Math.min(rows, windows - first);
    const ids = new Int32Array(batchSize * seqLen).fill(padId); // [B, T]
    const targets = new Int32Array(batchSize * seqLen).fill(IGNORE_INDEX); // [B, T]
    for (let b = 0; b < batchSize; b++) {
      const start = (first + b) * seqLen;
      for (let t = 0; t < seqLen && start + t + 1 < stream.length; t++) {
        ids[b * seqLen + t] = stream[start + t]!;
        targets[b * seqLen + t] = stream[start + t + 1]!;
      }
    }
    batches.push({ batchSize, seqLen, ids, targets });
  }
  return batches;
}

/** The held-out text as batches for `model`; refuses a text with fewer than two tokens. */
export function forgettingBatches(tokenizer: TextTokenizer, source: ForgettingText, seqLen: number, rows: number, maxTokens = FORGETTING_TOKENS): Batch[] {
  const stream = forgettingStream(tokenizer, source.text, maxTokens);
  if (stream.length < 2) throw new DatasetError(`${source.name} has no text to measure forgetting on; give a plain-text file with a few paragraphs`);
  return packStream(stream, seqLen, Math.max(1, rows), tokenizer.padId ?? tokenizer.eosId ?? 0);
}

/** Predicted tokens in `batches`. */
function predicted(batches: readonly Batch[]): number {
  let n = 0;
  for (const b of batches) for (let i = 0; i < b.targets.length; i++) if (b.targets[i]! >= 0) n++;
  return n;
}

/** The base model's loss on the held-out text, then each method's after training. */
export class ForgettingProbe {
  private constructor(
    private readonly source: ForgettingText,
    private readonly batches: readonly Batch[],
    private readonly baseLoss: number,
  ) {}

  /** Measures the frozen base (call before any method trains: full fine-tuning has its own copy, but adapters share it). */
  static async measureBase(
    rt: Runtime,
    model: CausalLM,
    tokenizer: TextTokenizer,
    source: ForgettingText,
    seqLen: number,
    rows: number,
  ): Promise<ForgettingProbe> {
    const batches = forgettingBatches(tokenizer, source, seqLen, rows);
    return new ForgettingProbe(source, batches, await baseValidationLoss(rt, model, batches));
  }

  /** Each method's loss on the same batches, and the report (methods that halted are left out). */
  async measure(
    methods: readonly (Pick<StartedMethod, 'id' | 'trainer'> & { readonly stopped: boolean })[],
    shouldStop: () => boolean,
  ): Promise<ForgettingReport> {
    const loss: Record<string, number> = {};
    for (const m of methods) {
      if (shouldStop()) break;
      if (!m.stopped) loss[m.id] = await m.trainer.evaluate(this.batches);
    }
    return { name: this.source.name, tokens: predicted(this.batches), baseLoss: this.baseLoss, loss };
  }
}
