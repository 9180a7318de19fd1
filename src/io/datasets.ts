// User data → training examples → batches. Files: JSONL (or a JSON array) whose rows are `text`,
// `prompt`/`completion`, Alpaca `instruction`/`input`/`output`, or chat `messages`; CSV/TSV with a
// header naming those columns; plain text split into chunks. Each usable row becomes an Example
// (prompt text, completion text, and the exact segments whose tokens count for the loss); each
// unusable row is listed in `skipped` with its line and the reason. Tokenizing gives ids and a
// loss mask (true only on completion / assistant tokens; on every token of `text` rows), truncated
// to the sequence length (truncation is reported, never silent). Batches are ids [B, T] and
// targets [B, T] (the next id where it counts, else IGNORE_INDEX), padded, optionally packed, and
// a pure function of (examples, seed, step): every method sees identical batches in identical order.
// Not here: GPU upload, the built-in datasets' contents, reading the File (the caller passes text).
//
// Alpaca prompt format (the Stanford Alpaca template, as used by most instruction-tuning code):
//   with input:    ALPACA_PROMPT_WITH_INPUT,  "{instruction}" and "{input}" filled in
//   without input: ALPACA_PROMPT_NO_INPUT,    "{instruction}" filled in
// and the completion is `output`. Prompts and completions are joined as given (no space is
// inserted) and tokenized separately, so their boundary is always a token boundary; BOS is
// prepended when the tokenizer adds one, and EOS is appended so the model learns to stop. Chat rows are rendered with the model's chat template (which places its own special
// tokens); the loss counts each assistant turn's tokens including its end-of-turn marker.
//
// Packing places whole examples first-fit in a row of T tokens (an example never spans two rows);
// attention is causal over the whole row and positions run on across it, so a packed example can
// see the ones before it in its row (plain concatenation, as Hugging Face TRL's classic packing
// does). Targets never cross examples: an example's last token (its EOS) predicts nothing.

import { parseCsv, guessDelimiter } from './csv';
import { chatSegments, noChatTemplateError, type ChatMessage, type ChatSegment, type ChatTemplate } from './chatTemplate';
import type { TextTokenizer } from './tokenizer';
import { errorMessage, DatasetError, StudioError } from '../errors';
import { parseJsonText } from './json';

/** Target value for positions that do not count (PyTorch's cross-entropy ignore_index). */
export const IGNORE_INDEX = -100;

export const ALPACA_PROMPT_WITH_INPUT =
  'Below is an instruction that describes a task, paired with an input that provides further context. ' +
  'Write a response that appropriately completes the request.\n\n' +
  '### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n';
export const ALPACA_PROMPT_NO_INPUT =
  'Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n' +
  '### Instruction:\n{instruction}\n\n### Response:\n';

export type RowFormat = 'text' | 'prompt-completion' | 'instruction' | 'chat';
export type FileKind = 'jsonl' | 'json' | 'csv' | 'text';

export interface Example {
  /** 1-based line of the row (JSON arrays: item number; plain text: first line of the chunk). */
  readonly line: number;
  readonly format: RowFormat;
  /** Text whose tokens do not count ('' for text rows; chat: everything before the last assistant turn). */
  readonly promptText: string;
  /** Text whose tokens count (chat: the last assistant turn as rendered). */
  readonly completionText: string;
  /** The full text in order, each piece marked counted or not (chat: several assistant turns). */
  readonly segments: readonly ChatSegment[];
}

export interface SkippedRow {
  readonly line: number;
  readonly reason: string;
}

export interface TruncatedRow {
  readonly line: number;
  /** Tokens before truncation. */
  readonly tokens: number;
  /** Tokens kept (the sequence length); the end was cut. */
  readonly kept: number;
}

export interface ParsedData {
  readonly fileName: string;
  readonly kind: FileKind;
  readonly examples: readonly Example[];
  readonly skipped: readonly SkippedRow[];
  /** How many usable rows of each format. */
  readonly formats: Readonly<Partial<Record<RowFormat, number>>>;
}

export interface ParseOptions {
  /** Used for messages and to pick the file kind by extension. */
  readonly fileName?: string;
  /** Default 'auto': by extension, else by content. */
  readonly kind?: FileKind | 'auto';
  /** Needed for chat rows: the model's chat template (TextTokenizer.compiledChatTemplate). */
  readonly chatTemplate?: ChatTemplate;
  /** Plain text: chunks between blank lines (default) or of about `chunkChars` characters. */
  readonly textSplit?: 'paragraphs' | 'length';
  /** Plain text split by length: characters per chunk (default 2000). */
  readonly chunkChars?: number;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Strings as is; numbers and booleans as their text (answers are often numbers); else null. */
function asText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return null;
}

function fieldList(keys: readonly string[]): string {
  if (keys.length === 0) return 'none';
  const shown = keys
    .slice(0, 8)
    .map((k) => `"${k.length > 40 ? `${k.slice(0, 37)}...` : k}"`)
    .join(', ');
  return keys.length > 8 ? `${shown} and ${keys.length - 8} more` : shown;
}

/**
 * Most messages one conversation may have. Finding the assistant turns renders every prefix of
 * the conversation, which costs its length squared; real multi-turn data stays far below this.
 */
export const MAX_CHAT_MESSAGES = 256;

const FIELD_HELP = 'a row needs "text", or "prompt" and "completion", or "instruction" and "output" (and optionally ' + '"input"), or "messages"';

/** Row as an Example, or the reason it cannot be used. */
type RowResult = Example | { readonly reason: string };

function textExample(line: number, text: string): Example {
  return { line, format: 'text', promptText: '', completionText: text, segments: [{ text, counted: true }] };
}

function promptExample(line: number, format: RowFormat, prompt: string, completion: string): Example {
  const segments: ChatSegment[] = [];
  if (prompt !== '') segments.push({ text: prompt, counted: false });
  segments.push({ text: completion, counted: true });
  return { line, format, promptText: prompt, completionText: completion, segments };
}

/** The Alpaca prompt for an instruction and optional input (see the file header). */
export function alpacaPrompt(instruction: string, input = ''): string {
  return input.trim() === ''
    ? ALPACA_PROMPT_NO_INPUT.replace('{instruction}', instruction)
    : ALPACA_PROMPT_WITH_INPUT.replace('{instruction}', instruction).replace('{input}', input);
}

function required(row: Record<string, unknown>, key: string): string | { reason: string } {
  if (!(key in row) || row[key] === null || row[key] === undefined) return { reason: `"${key}" is missing` };
  const text = asText(row[key]);
  if (text === null) return { reason: `"${key}" must be a string, found ${Array.isArray(row[key]) ? 'a list' : typeof row[key]}` };
  if (text.trim() === '') return { reason: `"${key}" is empty` };
  return text;
}

function parseMessages(value: unknown): ChatMessage[] | { reason: string } {
  if (!Array.isArray(value)) return { reason: '"messages" must be a list of { "role", "content" } objects' };
  if (value.length === 0) return { reason: '"messages" is empty' };
  if (value.length > MAX_CHAT_MESSAGES) {
    return { reason: `"messages" has ${value.length} messages; a conversation may have at most ${MAX_CHAT_MESSAGES} (split it into several rows)` };
  }
  const messages: ChatMessage[] = [];
  for (let i = 0; i < value.length; i++) {
    const m: unknown = value[i];
    if (!isObject(m) || typeof m.role !== 'string') {
      return { reason: `message ${i + 1} must be an object with a string "role" and "content"` };
    }
    let content: string | null = asText(m.content);
    // The multimodal form: [{ "type": "text", "text": "..." }, ...]; only text parts are allowed.
    if (content === null && Array.isArray(m.content)) {
      const parts = m.content as unknown[];
      const texts = parts.map((p) => (isObject(p) && p.type === 'text' && typeof p.text === 'string' ? p.text : null));
      content = texts.every((t) => t !== null) ? texts.join('') : null;
    }
    if (content === null) return { reason: `message ${i + 1} ("${m.role}") has no text "content"` };
    messages.push({ role: m.role, content });
  }
  if (!messages.some((m) => m.role === 'assistant')) {
    return { reason: 'the conversation has no "assistant" message, so there is nothing to learn' };
  }
  return messages;
}

function chatExample(line: number, messages: ChatMessage[], template: ChatTemplate | undefined, where: string): RowResult {
  if (!template) throw noChatTemplateError(where);
  let segments: ChatSegment[];
  try {
    segments = chatSegments(template, messages);
  } catch (error) {
    // The template refusing this conversation skips the row; a template past its limits
    // (a ModelFormatError naming tokenizer_config.json) refuses the whole file.
    if (error instanceof DatasetError) return { reason: error.message };
    throw error;
  }
  let last = -1;
  segments.forEach((s, i) => {
    if (s.counted) last = i;
  });
  if (last < 0) return { reason: 'the chat template rendered no text for the assistant messages' };
  return {
    line,
    format: 'chat',
    promptText: segments
      .slice(0, last)
      .map((s) => s.text)
      .join(''),
    completionText: segments[last]!.text,
    segments,
  };
}

/** One JSON row (an object) → Example. Field priority: messages, prompt/completion, instruction/output, text. */
function objectRow(row: unknown, line: number, template: ChatTemplate | undefined, where: string): RowResult {
  if (!isObject(row)) return { reason: `must be a JSON object, found ${Array.isArray(row) ? 'a list' : typeof row}` };
  if ('messages' in row) {
    const messages = parseMessages(row.messages);
    return 'reason' in messages ? messages : chatExample(line, messages, template, where);
  }
  if ('prompt' in row || 'completion' in row) {
    if (row.prompt === undefined || row.prompt === null) return { reason: '"prompt" is missing' };
    const prompt = asText(row.prompt);
    if (prompt === null) return { reason: '"prompt" must be a string' };
    const completion = required(row, 'completion');
    if (typeof completion !== 'string') return completion;
    return promptExample(line, 'prompt-completion', prompt, completion);
  }
  if ('instruction' in row || 'output' in row) {
    const instruction = required(row, 'instruction');
    if (typeof instruction !== 'string') return instruction;
    const output = required(row, 'output');
    if (typeof output !== 'string') return output;
    const input = row.input === undefined || row.input === null ? '' : asText(row.input);
    if (input === null) return { reason: '"input" must be a string' };
    return promptExample(line, 'instruction', alpacaPrompt(instruction, input), output);
  }
  if ('text' in row) {
    const text = required(row, 'text');
    return typeof text === 'string' ? textExample(line, text) : text;
  }
  return { reason: `has none of the known fields (found ${fieldList(Object.keys(row))}); ${FIELD_HELP}` };
}

function extension(fileName: string): string {
  const base = fileName.slice(fileName.lastIndexOf('/') + 1).toLowerCase();
  const dot = base.lastIndexOf('.');
  return dot < 0 ? '' : base.slice(dot + 1);
}

const CSV_COLUMNS = ['text', 'prompt', 'completion', 'instruction', 'input', 'output'];

function detectKind(text: string, fileName: string): FileKind {
  const ext = extension(fileName);
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'json') return text.trimStart().startsWith('[') ? 'json' : 'jsonl';
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (ext === 'txt' || ext === 'md' || ext === 'text') return 'text';
  const start = text.trimStart();
  if (start.startsWith('{')) return 'jsonl';
  if (start.startsWith('[')) return 'json';
  const firstLine = start.slice(0, start.search(/\r?\n|$/));
  const columns = firstLine.split(guessDelimiter(firstLine)).map((c) => c.trim().replace(/^"|"$/g, '').toLowerCase());
  const known = columns.filter((c) => CSV_COLUMNS.includes(c));
  if (columns.length > 1 && known.length >= 1 && (columns.includes('text') || known.length >= 2)) return 'csv';
  return 'text';
}

interface Collector {
  examples: Example[];
  skipped: SkippedRow[];
}

function collect(into: Collector, line: number, result: RowResult): void {
  if ('reason' in result) into.skipped.push({ line, reason: result.reason });
  else into.examples.push(result);
}

function parseJsonl(text: string, into: Collector, options: ParseOptions, fileName: string): void {
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    if (raw.trim() === '') return;
    let row: unknown;
    try {
      row = parseJsonText(raw, (reason) => new DatasetError(reason.replace(/^is /, '')));
    } catch (error) {
      into.skipped.push({ line, reason: errorMessage(error) });
      return;
    }
    collect(into, line, objectRow(row, line, options.chatTemplate, `${fileName} line ${line}`));
  });
}

function parseJsonArray(text: string, into: Collector, options: ParseOptions, fileName: string): void {
  const rows = parseJsonText(text, (reason) => new DatasetError(`${fileName} ${reason}; expected a list of rows or JSON Lines`));
  if (!Array.isArray(rows)) throw new DatasetError(`${fileName} must hold a JSON list of rows`);
  rows.forEach((row, i) => collect(into, i + 1, objectRow(row, i + 1, options.chatTemplate, `${fileName} item ${i + 1}`)));
}

function parseCsvRows(text: string, into: Collector, fileName: string): void {
  const records = parseCsv(text, guessDelimiter(text, fileName), fileName);
  const header = records[0];
  if (!header) throw new DatasetError(`${fileName} has no rows`);
  const columns = header.fields.map((c) => c.trim().toLowerCase());
  const at = (name: string): number => columns.indexOf(name);
  const has = (name: string): boolean => at(name) >= 0;
  if (!(has('text') || (has('prompt') && has('completion')) || (has('instruction') && has('output')))) {
    throw new DatasetError(
      `${fileName}: the CSV header (${fieldList(header.fields)}) needs a "text" column, or "prompt" and ` +
        `"completion" columns, or "instruction" and "output" columns (and optionally "input")`,
    );
  }
  // Same priority as JSON rows; columns of other formats that happen to be present are ignored.
  const used =
    has('prompt') && has('completion')
      ? ['prompt', 'completion']
      : has('instruction') && has('output')
        ? ['instruction', 'output', ...(has('input') ? ['input'] : [])]
        : ['text'];
  for (const record of records.slice(1)) {
    if (record.fields.length !== columns.length) {
      into.skipped.push({
        line: record.line,
        reason: `has ${record.fields.length} fields but the header has ${columns.length}; is a quote or delimiter missing?`,
      });
      continue;
    }
    const row: Record<string, string> = {};
    for (const name of used) row[name] = record.fields[at(name)]!;
    collect(into, record.line, objectRow(row, record.line, undefined, `${fileName} line ${record.line}`));
  }
}

/** Line numbers of increasing offsets, counted incrementally (large files stay linear). */
function lineCounter(text: string): (offset: number) => number {
  let at = 0;
  let line = 1;
  return (offset) => {
    for (; at < offset; at++) if (text.charCodeAt(at) === 10) line++;
    return line;
  };
}

function parsePlainText(text: string, into: Collector, options: ParseOptions): void {
  const normalized = text.replace(/\r\n?/g, '\n');
  const lineAt = lineCounter(normalized);
  if ((options.textSplit ?? 'paragraphs') === 'paragraphs') {
    const separator = /\n[ \t]*\n\s*/g;
    let start = 0;
    const push = (end: number): void => {
      const chunk = normalized.slice(start, end);
      const lead = chunk.length - chunk.trimStart().length;
      if (chunk.trim() !== '') into.examples.push(textExample(lineAt(start + lead), chunk.trim()));
    };
    for (const match of normalized.matchAll(separator)) {
      push(match.index);
      start = match.index + match[0].length;
    }
    push(normalized.length);
    return;
  }
  const size = options.chunkChars ?? 2000;
  if (!Number.isSafeInteger(size) || size < 1) throw new DatasetError(`chunk size must be a positive whole number of characters, got ${size}`);
  let start = 0;
  while (start < normalized.length) {
    let end = Math.min(start + size, normalized.length);
    if (end < normalized.length) {
      // Prefer to cut at a paragraph, line or word break in the second half of the chunk.
      const window = normalized.slice(start, end);
      for (const brk of ['\n\n', '\n', ' ']) {
        const at = window.lastIndexOf(brk);
        if (at > size / 2) {
          end = start + at + brk.length;
          break;
        }
      }
    }
    const chunk = normalized.slice(start, end);
    const lead = chunk.length - chunk.trimStart().length;
    if (chunk.trim() !== '') into.examples.push(textExample(lineAt(start + lead), chunk.trim()));
    start = end;
  }
}

function summarizeSkipped(skipped: readonly SkippedRow[], where: 'line' | 'item'): string {
  const shown = skipped
    .slice(0, 3)
    .map((s) => `${where} ${s.line}: ${s.reason}`)
    .join('; ');
  return skipped.length > 3 ? `${shown}; and ${skipped.length - 3} more` : shown;
}

/**
 * Reads a data file's text into examples. Throws DatasetError when the file as a whole cannot be
 * used (empty, unreadable CSV header, chat rows without a chat template, no usable row at all).
 */
export function parseDataset(text: string, options: ParseOptions = {}): ParsedData {
  const fileName = options.fileName ?? 'the data';
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (body.trim() === '') throw new DatasetError(`${fileName} is empty`);
  const kind = options.kind && options.kind !== 'auto' ? options.kind : detectKind(body, fileName);
  const into: Collector = { examples: [], skipped: [] };
  if (kind === 'jsonl') parseJsonl(body, into, options, fileName);
  else if (kind === 'json') parseJsonArray(body, into, options, fileName);
  else if (kind === 'csv') parseCsvRows(body, into, fileName);
  else parsePlainText(body, into, options);
  if (into.examples.length === 0) {
    throw new DatasetError(
      `${fileName} has no usable rows: all ${into.skipped.length} were skipped (` +
        `${summarizeSkipped(into.skipped, kind === 'json' ? 'item' : 'line')})` +
        (kind === 'csv' ? '' : `; ${FIELD_HELP}`),
    );
  }
  const formats: Partial<Record<RowFormat, number>> = {};
  for (const e of into.examples) formats[e.format] = (formats[e.format] ?? 0) + 1;
  return { fileName, kind, examples: into.examples, skipped: into.skipped, formats };
}

export interface TokenizedExample extends Example {
  /** Token ids, at most the sequence length. */
  readonly ids: readonly number[];
  /** True where the token counts for the loss; same length as ids. */
  readonly lossMask: readonly boolean[];
  /** Tokens before truncation (= ids.length when not truncated). */
  readonly fullLength: number;
}

export interface TokenizeOptions {
  /** T: examples longer than this are truncated (their end is cut). */
  readonly seqLen: number;
  /** Append EOS after text and completion rows (default true; chat templates place their own). */
  readonly addEos?: boolean;
}

export interface TokenizedData {
  readonly examples: readonly TokenizedExample[];
  readonly skipped: readonly SkippedRow[];
  readonly truncated: readonly TruncatedRow[];
}

type TokenizerLike = Pick<TextTokenizer, 'encode' | 'bosId' | 'eosId' | 'addsBos'>;

/** Tokens that can be a target: counted and not first (the first token has nothing before it). */
function trainableTokens(mask: readonly boolean[]): number {
  let count = 0;
  for (let i = 1; i < mask.length; i++) if (mask[i]) count++;
  return count;
}

/**
 * Tokenizes examples: BOS first when the tokenizer adds one (not for chat, whose template places
 * its own), each segment encoded without special tokens, EOS after text and completion rows.
 * Rows that would train nothing after truncation, or hold text the tokenizer cannot encode, are
 * skipped with the reason; truncated rows are listed.
 */
export function tokenizeExamples(examples: readonly Example[], tokenizer: TokenizerLike, options: TokenizeOptions): TokenizedData {
  const T = options.seqLen;
  if (!Number.isSafeInteger(T) || T < 2) throw new DatasetError(`sequence length must be a whole number of at least 2 tokens, got ${T}`);
  const out: TokenizedExample[] = [];
  const skipped: SkippedRow[] = [];
  const truncated: TruncatedRow[] = [];
  for (const example of examples) {
    const ids: number[] = [];
    const mask: boolean[] = [];
    try {
      if (example.format !== 'chat' && tokenizer.addsBos && tokenizer.bosId !== undefined) {
        ids.push(tokenizer.bosId);
        mask.push(false);
      }
      for (const segment of example.segments) {
        for (const id of tokenizer.encode(segment.text, { addSpecialTokens: false })) {
          ids.push(id);
          mask.push(segment.counted);
        }
      }
    } catch (error) {
      if (!(error instanceof StudioError)) throw error;
      skipped.push({ line: example.line, reason: error.message });
      continue;
    }
    if (example.format !== 'chat' && (options.addEos ?? true) && tokenizer.eosId !== undefined) {
      ids.push(tokenizer.eosId);
      mask.push(true);
    }
    const fullLength = ids.length;
    const firstCounted = mask.indexOf(true);
    if (fullLength > T) {
      ids.length = T;
      mask.length = T;
    }
    if (trainableTokens(mask) === 0) {
      const promptTokens = firstCounted < 0 ? fullLength : firstCounted;
      skipped.push({
        line: example.line,
        reason:
          fullLength > T
            ? `the prompt alone is ${promptTokens} tokens, at least the sequence length (${T}), so no completion ` +
              `token would be trained; raise the sequence length or shorten the prompt`
            : 'has no tokens to train on',
      });
      continue;
    }
    if (fullLength > T) truncated.push({ line: example.line, tokens: fullLength, kept: T });
    out.push({ ...example, ids, lossMask: mask, fullLength });
  }
  return { examples: out, skipped, truncated };
}

export interface PreparedData extends TokenizedData {
  readonly fileName: string;
  readonly kind: FileKind;
  readonly formats: Readonly<Partial<Record<RowFormat, number>>>;
  readonly stats: DatasetStats;
}

/**
 * parseDataset then tokenizeExamples, with the skipped rows of both in line order. Throws
 * DatasetError when nothing usable is left.
 */
export function prepareDataset(
  text: string,
  tokenizer: TokenizerLike & Pick<TextTokenizer, 'compiledChatTemplate'>,
  options: Omit<ParseOptions, 'chatTemplate'> & TokenizeOptions,
): PreparedData {
  const parsed = parseDataset(text, { ...options, chatTemplate: tokenizer.compiledChatTemplate });
  const tokenized = tokenizeExamples(parsed.examples, tokenizer, options);
  const skipped = [...parsed.skipped, ...tokenized.skipped].sort((a, b) => a.line - b.line);
  if (tokenized.examples.length === 0) {
    throw new DatasetError(
      `${parsed.fileName} has no usable rows: all ${skipped.length} were skipped (` + `${summarizeSkipped(skipped, parsed.kind === 'json' ? 'item' : 'line')})`,
    );
  }
  return {
    fileName: parsed.fileName,
    kind: parsed.kind,
    formats: parsed.formats,
    examples: tokenized.examples,
    skipped,
    truncated: tokenized.truncated,
    stats: datasetStats(tokenized.examples),
  };
}

export interface DatasetStats {
  readonly rows: number;
  /** All tokens, after truncation. */
  readonly tokens: number;
  /** Tokens that are targets of the loss. */
  readonly countedTokens: number;
  readonly minTokens: number;
  readonly meanTokens: number;
  readonly maxTokens: number;
  readonly chars: number;
}

type Sequence = Pick<TokenizedExample, 'ids' | 'lossMask'>;

export function datasetStats(examples: readonly (Sequence & Partial<Pick<Example, 'segments'>>)[]): DatasetStats {
  let tokens = 0;
  let counted = 0;
  let min = Infinity;
  let max = 0;
  let chars = 0;
  for (const e of examples) {
    tokens += e.ids.length;
    counted += trainableTokens(e.lossMask);
    min = Math.min(min, e.ids.length);
    max = Math.max(max, e.ids.length);
    for (const s of e.segments ?? []) chars += s.text.length;
  }
  return {
    rows: examples.length,
    tokens,
    countedTokens: counted,
    minTokens: examples.length === 0 ? 0 : min,
    meanTokens: examples.length === 0 ? 0 : tokens / examples.length,
    maxTokens: max,
    chars,
  };
}

// Deterministic randomness for splits and shuffles: a 32-bit integer hash (splitmix/murmur-style
// finalizer) driving a counter. Independent of Math.random and identical in browser and Node.
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x7feb352d);
  x = Math.imul(x ^ (x >>> 15), 0x846ca68b);
  return (x ^ (x >>> 16)) >>> 0;
}

function seededRandom(seed: number, stream: number): () => number {
  let state = mix32((seed >>> 0) ^ mix32((stream >>> 0) + 0x9e3779b9));
  return () => {
    state = (state + 0x9e3779b9) | 0;
    return mix32(state) / 2 ** 32;
  };
}

/** A permutation of 0..n-1 (Fisher–Yates) fixed by (seed, stream). */
export function seededPermutation(n: number, seed: number, stream = 0): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  const random = seededRandom(seed, stream);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/**
 * Splits into train and validation: round(n·fraction) examples chosen by the seed (at least one
 * each way when fraction > 0 and n ≥ 2), both keeping the original order.
 */
export function splitTrainValidation<T>(examples: readonly T[], validationFraction: number, seed: number): { train: T[]; validation: T[] } {
  if (!(validationFraction >= 0 && validationFraction < 1)) {
    throw new DatasetError(`the validation fraction must be at least 0 and below 1, got ${validationFraction}`);
  }
  const n = examples.length;
  let count = Math.round(n * validationFraction);
  if (validationFraction > 0 && n >= 2) count = Math.min(Math.max(count, 1), n - 1);
  if (n < 2) count = 0;
  const chosen = new Set(seededPermutation(n, seed, 0x5eed).slice(0, count));
  const train: T[] = [];
  const validation: T[] = [];
  examples.forEach((e, i) => (chosen.has(i) ? validation : train).push(e));
  return { train, validation };
}

/** A row of a batch: the examples placed in it, in order (indices into the example list). */
export type PackedRow = readonly number[];

/**
 * Rows of at most T tokens: one example per row, or (packing) whole examples placed first-fit in
 * data order: each example goes into the first row, in creation order, that still has room for it,
 * else starts a new row. An example is never split; one longer than T takes a row alone, cut to T.
 * Rows come in the order they were started, so the packing is a pure function of the examples.
 * The first row with room is found in a max-tree of the rows' free space: O(n log n) for n examples.
 */
export function packBatches(examples: readonly Sequence[], seqLen: number, packing: boolean): PackedRow[] {
  if (!packing) return examples.map((_, i) => [i]);
  let leaves = 1;
  while (leaves < examples.length) leaves *= 2;
  // free[leaves + r] = room left in row r (−1: not started); free[node] = max of its two children.
  const free = new Int32Array(2 * leaves).fill(-1);
  const setFree = (row: number, room: number) => {
    let node = leaves + row;
    free[node] = room;
    for (node >>= 1; node >= 1; node >>= 1) free[node] = Math.max(free[2 * node]!, free[2 * node + 1]!);
  };
  const rows: number[][] = [];
  examples.forEach((e, i) => {
    const length = Math.min(e.ids.length, seqLen);
    if (free[1]! < length) {
      rows.push([i]);
      setFree(rows.length - 1, seqLen - length);
      return;
    }
    let node = 1;
    while (node < leaves) node = free[2 * node]! >= length ? 2 * node : 2 * node + 1;
    const row = node - leaves;
    rows[row]!.push(i);
    setFree(row, free[node]! - length);
  });
  return rows;
}

/** What a forward pass and a loss need of a batch: ids and next-token targets [B, T] row-major. */
export interface TokenBatch {
  /** B */
  readonly batchSize: number;
  /** T */
  readonly seqLen: number;
  readonly ids: ArrayLike<number>;
  /** The next token's id where it counts for the loss, else IGNORE_INDEX (−100). */
  readonly targets: ArrayLike<number>;
}

export interface Batch extends TokenBatch {
  /** [B, T] row-major token ids; padding is padId. */
  readonly ids: Int32Array;
  /** [B, T] row-major: the next token's id where it counts for the loss, else IGNORE_INDEX. */
  readonly targets: Int32Array;
  /** Positions whose target counts (the loss is averaged over these). */
  readonly countedTokens: number;
  /** Non-padding positions. */
  readonly tokens: number;
  /** Which row (of Batcher.rows) fills each batch row. */
  readonly rows: readonly number[];
  /** The epoch of the first row (0-based). */
  readonly epoch: number;
}

export interface BatchOptions {
  readonly batchSize: number;
  readonly seqLen: number;
  readonly seed: number;
  /** Place several examples per row (default false: one example per row). */
  readonly packing?: boolean;
  /** Id at padding positions (default 0; their targets are always IGNORE_INDEX). */
  readonly padId?: number;
  /** Visit rows in a new seeded order each epoch (default true); false for validation. */
  readonly shuffle?: boolean;
}

export interface Batcher {
  readonly rows: readonly PackedRow[];
  /** Steps that visit every row once (the last batch of an epoch may wrap into the next). */
  readonly stepsPerEpoch: number;
  /** Tokens in rows / (rows · T). */
  readonly fill: number;
  batch(step: number): Batch;
}

/**
 * Batches as a pure function of the step: batch row b of step s takes global slot g = s·B + b,
 * which is row perm_e[g mod R] of epoch e = ⌊g / R⌋, perm_e being the seeded permutation for
 * (seed, e). So any step can be rebuilt on its own, and all methods given the same seed see the
 * same batches.
 */
export function createBatcher(examples: readonly Sequence[], options: BatchOptions): Batcher {
  const { batchSize: B, seqLen: T, seed } = options;
  if (!Number.isSafeInteger(B) || B < 1) throw new DatasetError(`batch size must be a positive whole number, got ${B}`);
  if (!Number.isSafeInteger(T) || T < 2) throw new DatasetError(`sequence length must be a whole number of at least 2 tokens, got ${T}`);
  if (examples.length === 0) throw new DatasetError('there are no examples to make batches from');
  const rows = packBatches(examples, T, options.packing ?? false);
  const R = rows.length;
  const padId = options.padId ?? 0;
  const shuffle = options.shuffle ?? true;
  const perms = new Map<number, number[]>();
  const permutation = (epoch: number): number[] => {
    let p = perms.get(epoch);
    if (!p) {
      if (perms.size > 4) perms.clear();
      p = shuffle ? seededPermutation(R, seed, epoch) : Array.from({ length: R }, (_, i) => i);
      perms.set(epoch, p);
    }
    return p;
  };
  let filled = 0;
  for (const row of rows) for (const i of row) filled += Math.min(examples[i]!.ids.length, T);

  return {
    rows,
    stepsPerEpoch: Math.ceil(R / B),
    fill: filled / (R * T),
    batch(step) {
      if (!Number.isSafeInteger(step) || step < 0) throw new DatasetError(`step must be a whole number ≥ 0, got ${step}`);
      const ids = new Int32Array(B * T).fill(padId); // [B, T]
      const targets = new Int32Array(B * T).fill(IGNORE_INDEX); // [B, T]
      const chosen: number[] = [];
      let counted = 0;
      let tokens = 0;
      for (let b = 0; b < B; b++) {
        const g = step * B + b;
        const rowIndex = permutation(Math.floor(g / R))[g % R]!;
        chosen.push(rowIndex);
        let offset = b * T;
        for (const exampleIndex of rows[rowIndex]!) {
          const e = examples[exampleIndex]!;
          const length = Math.min(e.ids.length, T);
          for (let j = 0; j < length; j++) {
            ids[offset + j] = e.ids[j]!;
            if (j + 1 < length && e.lossMask[j + 1]) {
              targets[offset + j] = e.ids[j + 1]!;
              counted++;
            }
          }
          offset += length;
          tokens += length;
        }
      }
      return {
        batchSize: B,
        seqLen: T,
        ids,
        targets,
        countedTokens: counted,
        tokens,
        rows: chosen,
        epoch: Math.floor((step * B) / R),
      };
    },
  };
}

/** One batch (see createBatcher; use a Batcher in loops to pack once). */
export function makeBatch(
  examples: readonly Sequence[],
  batchSize: number,
  seqLen: number,
  seed: number,
  step: number,
  options: Omit<BatchOptions, 'batchSize' | 'seqLen' | 'seed'> = {},
): Batch {
  return createBatcher(examples, { ...options, batchSize, seqLen, seed }).batch(step);
}
