// A run's data, as every host prepares it (CLI train/compare/export, the study, the studio
// worker): the training examples batched by one seeded batcher (identical batches for every
// method), the validation examples (the data's own validation file, or a seeded fraction held
// out) cut to at most `validationRows` and batched once in order, the pad id, and the questions
// whose answers accuracy is scored on. Parsing, tokenising and splitting are io/datasets.ts's.
// With `packing`, training rows hold several whole examples each (train/packing.ts says what that
// means for attention); validation rows always hold one example, so validation losses do not
// depend on the packing setting.

import { createBatcher, splitTrainValidation, type Batch, type Batcher, type TokenizedExample } from '../io/datasets';
import { finalAnswer } from '../io/questionAnswer';
import { packingSummary, type PackingSummary } from './packing';

export interface RunDataOptions {
  readonly batch: number;
  readonly seqLen: number;
  readonly seed: number;
  /** Held out when the data has no validation file of its own. */
  readonly validationFraction: number;
  /** At most this many validation rows (0 or absent: all). */
  readonly validationRows?: number;
  /** Pack whole training examples into rows of T (default false: one example per row). */
  readonly packing?: boolean;
}

export interface RunData {
  readonly train: readonly TokenizedExample[];
  readonly validation: readonly TokenizedExample[];
  readonly splitFrom: 'file' | 'fraction';
  readonly batcher: Batcher;
  readonly validationBatches: readonly Batch[];
  readonly padId: number;
  /** Padding of the training rows with and without packing. */
  readonly packing: PackingSummary;
}

/** The pad id batches use: the tokenizer's pad token, else EOS, else 0. */
export function padIdOf(tokenizer: { readonly padId?: number; readonly eosId?: number }): number {
  return tokenizer.padId ?? tokenizer.eosId ?? 0;
}

/** Validation batches that visit each example exactly once (no shuffling, no wrap-around). */
export function validationBatchesOf(examples: readonly TokenizedExample[], batch: number, seqLen: number, padId: number): Batch[] {
  const out: Batch[] = [];
  for (let i = 0; i < examples.length; i += batch) {
    const chunk = examples.slice(i, i + batch);
    out.push(createBatcher(chunk, { batchSize: chunk.length, seqLen, seed: 0, shuffle: false, padId }).batch(0));
  }
  return out;
}

/** Batches a run's examples; `heldOut` is the data's own validation set, or null to split. */
export function runData(examples: readonly TokenizedExample[], heldOut: readonly TokenizedExample[] | null, padId: number, options: RunDataOptions): RunData {
  let train = examples;
  let validation = heldOut ?? [];
  if (heldOut === null) ({ train, validation } = splitTrainValidation(examples, options.validationFraction, options.seed));
  const rows = options.validationRows ?? 0;
  if (rows > 0 && validation.length > rows) validation = validation.slice(0, rows);
  return {
    train,
    validation,
    splitFrom: heldOut === null ? 'fraction' : 'file',
    batcher: createBatcher(train, { batchSize: options.batch, seqLen: options.seqLen, seed: options.seed, padId, packing: options.packing ?? false }),
    validationBatches: validationBatchesOf(validation, options.batch, options.seqLen, padId),
    padId,
    packing: packingSummary(train, options.seqLen),
  };
}

export interface AccuracyQuestion {
  readonly promptIds: readonly number[];
  readonly answer: string;
  /** Tokens to allow: the reference completion's length plus a margin. */
  readonly maxNewTokens: number;
}

/** The first `limit` examples whose completion has a `####` answer and whose prompt fits. */
export function accuracyQuestions(examples: readonly TokenizedExample[], limit: number): AccuracyQuestion[] {
  const out: AccuracyQuestion[] = [];
  for (const e of examples) {
    if (out.length >= limit) break;
    const answer = finalAnswer(e.completionText);
    const first = e.lossMask.indexOf(true);
    if (answer === null || answer === '' || first <= 0) continue;
    const completionTokens = e.fullLength - first;
    out.push({ promptIds: e.ids.slice(0, first), answer, maxNewTokens: Math.min(256, completionTokens + 16) });
  }
  return out;
}
