// The studio's data in the worker: the built-in math set (StudioAssets, with its own validation
// file) or a dropped JSONL/JSON/CSV/TXT file. Parsing, tokenising, truncation and the split are
// io/datasets.ts's; StudioData keeps the current text, maps GSM8K-style {question, answer} rows
// onto prompt/completion (io/questionAnswer.ts) and builds the preview the Data panel shows.
// A file that the preview refuses leaves the previous data current.
//
// Not here: batching for a run (studioRun.ts takes `examplesForRun` to train/runData.ts).

import { prepareDataset, splitTrainValidation, type PreparedData, type TokenizedExample } from '../io/datasets';
import { questionAnswerRows } from '../io/questionAnswer';
import { packingSummary } from '../train/packing';
import { textHash } from '../io/runIdentity';
import type { TextTokenizer } from '../io/tokenizer';
import { errorMessage, DatasetError, formatBytes } from '../errors';
import type { DatasetParams, DatasetPreview, PreviewRow } from './protocol';

interface DataText {
  readonly name: string;
  readonly builtin: boolean;
  readonly train: string;
  /** The data's own validation file, when it has one. */
  readonly validation: string | null;
  readonly note?: string;
}

const MAX_FILE_BYTES = 256 * 1024 * 1024;
const PREVIEW_ROWS = 6;
const PREVIEW_SKIPPED = 20;

const QA_NOTE = 'Rows {question, answer} are trained as prompt "Question: …\\nAnswer:" and completion " …" (loss on the answer only).';

/** The current data tokenised for a run: its examples, and its own validation examples (or null: split). */
export interface RunExamples {
  readonly prepared: PreparedData;
  readonly examples: readonly TokenizedExample[];
  readonly heldOut: readonly TokenizedExample[] | null;
}

function fileNameOf(data: DataText): string {
  return data.builtin ? `${data.name.replace(' (built-in)', '')}/train.jsonl` : data.name;
}

function previewRow(e: TokenizedExample, tokenizer: TextTokenizer): PreviewRow {
  return {
    line: e.line,
    format: e.format,
    prompt: e.promptText,
    completion: e.completionText,
    tokens: e.ids.map((id, i) => ({ text: tokenizer.decode([id]), counted: e.lossMask[i] ?? false })),
    fullLength: e.fullLength,
  };
}

export class StudioData {
  private current: DataText | undefined;

  /** A built-in set: its train.jsonl and validation.jsonl, read by `readText(file)`. */
  async loadBuiltin<T>(name: string, readText: (file: string) => Promise<string>, check: () => T): Promise<T> {
    const train = questionAnswerRows(await readText('train.jsonl'), 'train.jsonl');
    const validation = questionAnswerRows(await readText('validation.jsonl'), 'validation.jsonl');
    return this.adopt(
      { name: `${name} (built-in)`, builtin: true, train: train.text, validation: validation.text, note: train.mapped ? QA_NOTE : undefined },
      check,
    );
  }

  async loadFile<T>(file: File, check: () => T): Promise<T> {
    if (file.size > MAX_FILE_BYTES)
      throw new DatasetError(`${file.name} is ${formatBytes(file.size)}; the studio reads data files up to ${formatBytes(MAX_FILE_BYTES)}`);
    let text: string;
    try {
      text = await file.text();
    } catch (error) {
      throw new DatasetError(`${file.name} could not be read (${errorMessage(error)}); pick it again`);
    }
    const mapped = questionAnswerRows(text, file.name);
    return this.adopt({ name: file.name, builtin: false, train: mapped.text, validation: null, note: mapped.mapped ? QA_NOTE : undefined }, check);
  }

  get loaded(): boolean {
    return this.current !== undefined;
  }

  examplesForRun(tokenizer: TextTokenizer, seqLen: number): RunExamples {
    const data = this.require();
    const prepared = prepareDataset(data.train, tokenizer, { fileName: fileNameOf(data), seqLen });
    const heldOut =
      data.validation === null
        ? null
        : prepareDataset(data.validation, tokenizer, { fileName: fileNameOf(data).replace('train', 'validation'), seqLen }).examples;
    return { prepared, examples: prepared.examples, heldOut };
  }

  /** Tokenises the current data with these settings and describes it for the Data panel. */
  preview(tokenizer: TextTokenizer, params: DatasetParams): DatasetPreview {
    const data = this.require();
    const { prepared, heldOut } = this.examplesForRun(tokenizer, params.seqLen);
    const run = heldOut ? { train: prepared.examples, validation: heldOut } : splitTrainValidation(prepared.examples, params.validationFraction, params.seed);
    return {
      name: data.name,
      builtin: data.builtin,
      kind: prepared.kind,
      formats: prepared.formats,
      rows: prepared.examples.slice(0, PREVIEW_ROWS).map((e) => previewRow(e, tokenizer)),
      stats: prepared.stats,
      skipped: prepared.skipped.slice(0, PREVIEW_SKIPPED),
      skippedCount: prepared.skipped.length,
      truncatedCount: prepared.truncated.length,
      train: run.train.length,
      validation: run.validation.length,
      splitFrom: heldOut ? 'file' : 'fraction',
      seqLen: params.seqLen,
      note: data.note,
      textHash: textHash(data.train, data.validation ?? ''),
      packing: packingSummary(run.train, params.seqLen),
    };
  }

  private require(): DataText {
    if (!this.current) throw new DatasetError('No data is loaded: pick the built-in set or drop a file.');
    return this.current;
  }

  /** Makes `data` current if `check` (the preview) accepts it; otherwise keeps the previous data. */
  private adopt<T>(data: DataText, check: () => T): T {
    const previous = this.current;
    this.current = data;
    try {
      return check();
    } catch (error) {
      this.current = previous;
      throw error;
    }
  }
}
