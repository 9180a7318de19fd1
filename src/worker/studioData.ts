// The studio's data in the worker: the built-in math set (public/datasets/math, fetched by
// same-origin URL, with its own validation file) or a dropped JSONL/JSON/CSV/TXT file. Parsing,
// tokenising, truncation and the split are io/datasets.ts's; this file keeps the current text,
// maps GSM8K-style {question, answer} rows onto prompt/completion (loss on the answer only) and
// builds the preview the Data panel shows.
//
// Not here: batching for a run (studioRun.ts asks `prepareForRun` for the examples).

import {
  prepareDataset,
  splitTrainValidation,
  type PreparedData,
  type TokenizedExample,
} from '../io/datasets';
import type { TextTokenizer } from '../io/tokenizer';
import { DatasetError, formatBytes } from '../errors';
import type { DatasetParams, DatasetPreview, PreviewRow } from './protocol';

interface DataText {
  readonly name: string;
  readonly builtin: boolean;
  readonly train: string;
  /** The data's own validation file, when it has one. */
  readonly validation: string | null;
  readonly note?: string;
}

let current: DataText | undefined;

const MAX_FILE_BYTES = 256 * 1024 * 1024;
const PREVIEW_ROWS = 6;
const PREVIEW_SKIPPED = 20;

/** Prompt/completion rendering of a {question, answer} row (as public/datasets/math/README.md says). */
export function questionPrompt(question: string): string {
  return `Question: ${question}\nAnswer:`;
}

const SUPPORTED_FIELDS = ['text', 'prompt', 'completion', 'instruction', 'output', 'messages'];

/**
 * JSONL rows of {question, answer} (GSM8K, MetaMathQA style) become {prompt, completion}; other
 * text is returned as is. Only applied when no row uses a field datasets.ts already reads.
 */
export function mapQuestionAnswer(text: string): { text: string; mapped: boolean } {
  const lines = text.split(/\r?\n/);
  const rows: unknown[] = [];
  for (const line of lines) {
    if (line.trim() === '') continue;
    try {
      rows.push(JSON.parse(line));
    } catch {
      return { text, mapped: false };
    }
  }
  const isQa = (r: unknown): r is { question: unknown; answer: unknown } =>
    typeof r === 'object' && r !== null && 'question' in r && 'answer' in r && !SUPPORTED_FIELDS.some((f) => f in r);
  if (rows.length === 0 || !rows.some(isQa)) return { text, mapped: false };
  const out = lines.map((line) => {
    if (line.trim() === '') return line;
    const row = JSON.parse(line) as unknown;
    if (!isQa(row)) return line;
    return JSON.stringify({ prompt: questionPrompt(String(row.question)), completion: ` ${String(row.answer)}` });
  });
  return { text: out.join('\n'), mapped: true };
}

const QA_NOTE = 'Rows {question, answer} are trained as prompt "Question: …\\nAnswer:" and completion " …" (loss on the answer only).';

async function fetchText(url: string, label: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new DatasetError(`${label} could not be fetched (${error instanceof Error ? error.message : String(error)})`);
  }
  const html = (response.headers.get('content-type') ?? '').includes('text/html');
  if (!response.ok || html) throw new DatasetError(`${label} is missing from the built-in data (HTTP ${response.status})`);
  return response.text();
}

/** Makes `data` current if `check` (the preview) accepts it; otherwise keeps the previous data. */
function adopt<T>(data: DataText, check: () => T): T {
  const previous = current;
  current = data;
  try {
    return check();
  } catch (error) {
    current = previous;
    throw error;
  }
}

export async function loadBuiltinData<T>(name: string, check: () => T): Promise<T> {
  const base = `${import.meta.env.BASE_URL}datasets/${name}/`;
  const train = mapQuestionAnswer(await fetchText(`${base}train.jsonl`, `${name}/train.jsonl`));
  const validation = mapQuestionAnswer(await fetchText(`${base}validation.jsonl`, `${name}/validation.jsonl`));
  return adopt({ name: `${name} (built-in)`, builtin: true, train: train.text, validation: validation.text, note: train.mapped ? QA_NOTE : undefined }, check);
}

export async function loadDataFile<T>(file: File, check: () => T): Promise<T> {
  if (file.size > MAX_FILE_BYTES) throw new DatasetError(`${file.name} is ${formatBytes(file.size)}; the studio reads data files up to ${formatBytes(MAX_FILE_BYTES)}`);
  let text: string;
  try {
    text = await file.text();
  } catch (error) {
    throw new DatasetError(`${file.name} could not be read (${error instanceof Error ? error.message : String(error)}); pick it again`);
  }
  const mapped = /\.jsonl?$/i.test(file.name) ? mapQuestionAnswer(text) : { text, mapped: false };
  return adopt({ name: file.name, builtin: false, train: mapped.text, validation: null, note: mapped.mapped ? QA_NOTE : undefined }, check);
}

export function hasData(): boolean {
  return current !== undefined;
}

export interface RunData {
  readonly prepared: PreparedData;
  readonly train: readonly TokenizedExample[];
  readonly validation: readonly TokenizedExample[];
  readonly splitFrom: 'file' | 'fraction';
}

function fileNameOf(data: DataText): string {
  return data.builtin ? `${data.name.replace(' (built-in)', '')}/train.jsonl` : data.name;
}

export function prepareForRun(tokenizer: TextTokenizer, params: DatasetParams): RunData {
  const data = current;
  if (!data) throw new DatasetError('No data is loaded: pick the built-in set or drop a file.');
  const prepared = prepareDataset(data.train, tokenizer, { fileName: fileNameOf(data), seqLen: params.seqLen });
  if (data.validation !== null) {
    const held = prepareDataset(data.validation, tokenizer, { fileName: fileNameOf(data).replace('train', 'validation'), seqLen: params.seqLen });
    return { prepared, train: prepared.examples, validation: held.examples, splitFrom: 'file' };
  }
  const { train, validation } = splitTrainValidation(prepared.examples, params.validationFraction, params.seed);
  return { prepared, train, validation, splitFrom: 'fraction' };
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

/** Tokenises the current data with these settings and describes it for the Data panel. */
export function previewData(tokenizer: TextTokenizer, params: DatasetParams): DatasetPreview {
  const data = current;
  if (!data) throw new DatasetError('No data is loaded: pick the built-in set or drop a file.');
  const run = prepareForRun(tokenizer, params);
  const { prepared } = run;
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
    splitFrom: run.splitFrom,
    seqLen: params.seqLen,
    note: data.note,
  };
}
