// The study's built-in datasets, read from public/datasets/ and prepared with the same
// data pipeline the studio uses (parseDataset → tokenizeExamples → createBatcher):
//   math, arithmetic, verses   {question, answer} rows, rendered as the math card says: prompt
//          `Question: {question}\nAnswer:`, completion ` {answer}` (+ EOS); scored by exact
//          match of the answer after `####`.
//   words  prompt/completion rows as they are; scored by exact match of the whole answer.
// Besides the batches, each dataset yields the validation items for the accuracy check:
// prompt ids (BOS + prompt, exactly as in training) and the reference answer.

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createBatcher, prepareDataset, type Batch, type Batcher, type PreparedData, type TokenizedExample } from '../../io/datasets';
import { answerLineComplete, finalAnswer, questionPrompt } from '../../io/questionAnswer';
import type { TextTokenizer } from '../../io/tokenizer';
import { padIdOf, validationBatchesOf } from '../../train/runData';
import { DatasetError } from '../../errors';

import type { DatasetId } from '../../study/results';

export type { DatasetId };
export const DATASET_IDS: readonly DatasetId[] = ['math', 'words', 'arithmetic', 'verses'];

/** Each set's title (its card's heading) and the script that generates its files. */
export const DATASET_INFO: Readonly<Record<DatasetId, { readonly title: string; readonly generator: string }>> = {
  math: { title: 'Math word problems', generator: 'scripts/make_math_dataset.py' },
  words: { title: 'Word instructions', generator: 'scripts/make_instruction_dataset.py' },
  arithmetic: { title: 'Arithmetic in words', generator: 'scripts/make_arithmetic_task.py' },
  verses: { title: 'KJV verse endings', generator: 'scripts/make_verse_task.py' },
};

/** Sets of {question, answer} rows scored on the answer after `####`; the others are prompt/completion rows scored on their first line. */
const QUESTION_ANSWER_SETS: ReadonlySet<DatasetId> = new Set<DatasetId>(['math', 'arithmetic', 'verses']);

export const DATASETS_DIR = fileURLToPath(new URL('../../../public/datasets/', import.meta.url));

export interface AccuracyItem {
  /** BOS + prompt tokens (what the model sees before its answer in training). */
  readonly promptIds: readonly number[];
  readonly prompt: string;
  /** What the scorer compares against (math: the final number; words: the answer). */
  readonly reference: string;
}

export interface StudyData {
  readonly id: DatasetId;
  readonly trainFile: string;
  readonly validationFile: string;
  readonly train: readonly TokenizedExample[];
  readonly validation: readonly TokenizedExample[];
  readonly truncatedTrain: number;
  readonly truncatedValidation: number;
  readonly batcher: Batcher;
  readonly padId: number;
  readonly items: readonly AccuracyItem[];
  /** Extracts the comparable answer from generated text (null: no answer). */
  readonly extract: (generated: string) => string | null;
  /** Generation can stop once the text so far holds a complete answer. */
  readonly complete: (generated: string) => boolean;
  readonly maxNewTokens: number;
  readonly describe: string;
}

/** The answer up to the first newline, stripped (the words card's rule). */
export function firstLine(text: string): string {
  return text.split('\n', 1)[0]!.trim();
}

interface Row {
  readonly prompt: string;
  readonly completion: string;
}

function parseJsonl(text: string, file: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l, i) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        throw new DatasetError(`${file}: line ${i + 1} is not JSON`);
      }
    });
}

/** Math rows as the card renders them. */
export function mathRow(row: Record<string, unknown>): Row {
  return { prompt: questionPrompt(String(row.question)), completion: ` ${String(row.answer)}` };
}

function wordsRow(row: Record<string, unknown>): Row {
  return { prompt: String(row.prompt), completion: String(row.completion) };
}

async function readRows(id: DatasetId, split: 'train' | 'validation'): Promise<{ file: string; rows: Row[] }> {
  const file = join(DATASETS_DIR, id, `${split}.jsonl`);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new DatasetError(`dataset file not found: ${file} (generate it with /usr/bin/python3 ${DATASET_INFO[id].generator})`);
  }
  return { file, rows: parseJsonl(text, file).map(QUESTION_ANSWER_SETS.has(id) ? mathRow : wordsRow) };
}

function prepare(rows: readonly Row[], tokenizer: TextTokenizer, seqLen: number, name: string): PreparedData {
  const jsonl = rows.map((r) => JSON.stringify(r)).join('\n');
  return prepareDataset(jsonl, tokenizer, { fileName: name, seqLen });
}

export interface DataOptions {
  readonly seqLen: number;
  readonly batch: number;
  readonly seed: number;
  /** Validation questions whose answers are generated and scored. */
  readonly accuracyItems: number;
}

export async function loadStudyData(id: DatasetId, tokenizer: TextTokenizer, options: DataOptions): Promise<StudyData> {
  const train = await readRows(id, 'train');
  const validation = await readRows(id, 'validation');
  const preparedTrain = prepare(train.rows, tokenizer, options.seqLen, `${id}/train.jsonl`);
  const preparedValidation = prepare(validation.rows, tokenizer, options.seqLen, `${id}/validation.jsonl`);
  const padId = padIdOf(tokenizer);
  const bos = tokenizer.addsBos && tokenizer.bosId !== undefined ? [tokenizer.bosId] : [];
  const items: AccuracyItem[] = validation.rows.slice(0, options.accuracyItems).map((row) => ({
    prompt: row.prompt,
    promptIds: [...bos, ...tokenizer.encode(row.prompt, { addSpecialTokens: false })],
    reference: (QUESTION_ANSWER_SETS.has(id) ? finalAnswer(row.completion) : firstLine(row.completion)) ?? '',
  }));
  const math = QUESTION_ANSWER_SETS.has(id);
  return {
    id,
    trainFile: train.file,
    validationFile: validation.file,
    train: preparedTrain.examples,
    validation: preparedValidation.examples,
    truncatedTrain: preparedTrain.truncated.length,
    truncatedValidation: preparedValidation.truncated.length,
    batcher: createBatcher(preparedTrain.examples, { batchSize: options.batch, seqLen: options.seqLen, seed: options.seed, padId }),
    padId,
    items,
    extract: math ? finalAnswer : firstLine,
    // math: stop at a newline after the `####` line has started; words: at the first newline.
    complete: math ? answerLineComplete : (text) => text.includes('\n'),
    maxNewTokens: math ? 48 : 32,
    describe: math
      ? 'prompt `Question: {question}\\nAnswer:`, completion ` {answer}` + EOS (loss on the completion only); accuracy = exact match of the answer after `####`'
      : 'prompt/completion rows as stored (`{instruction}\\nAnswer:` / ` {answer}` + EOS, loss on the completion only); accuracy = exact match of the whole answer (first line, stripped)',
  };
}

/** Validation batches visiting each of the first `rows` validation examples once, in order. */
export function validationBatches(data: StudyData, rows: number, batch: number, seqLen: number): Batch[] {
  return validationBatchesOf(rows > 0 ? data.validation.slice(0, rows) : data.validation, batch, seqLen, data.padId);
}
