// Tokenizers: a Hugging Face tokenizer.json (+ tokenizer_config.json) behind our own small
// TextTokenizer interface, built on @huggingface/tokenizers (pure JS, browser and Node). We check
// the parts of tokenizer.json that the library trusts blindly (vocab ids, merges in either format:
// "a b" strings or ["a", "b"] pairs, added tokens) so a damaged file fails here with a message
// naming tokenizer.json rather than later with undefined ids. Also the special tokens (BOS, EOS,
// PAD) resolved from tokenizer_config.json, special_tokens_map.json or config.json, the chat
// template, and a generator for a byte-level BPE tokenizer.json (GPT-2 style) used by tests and
// the built-in model. Not here: SentencePiece tokenizer.model files, vocab.json + merges.txt
// without tokenizer.json, training tokenizers.

import { BPE, Tokenizer } from '@huggingface/tokenizers';
import { readJsonFile, type ByteSource } from './byteSource';
import { compileChatTemplate, noChatTemplateError, selectChatTemplate, type ChatMessage, type ChatTemplate, type RenderOptions } from './chatTemplate';
import type { ModelSource } from './modelFiles';
import { ModelFormatError } from '../errors';
import { parseJsonText, showJson } from './json';

export interface EncodeOptions {
  /** Add what the tokenizer's post-processor adds (e.g. Llama's BOS); default true, as transformers. */
  readonly addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (BOS, EOS, chat markers); default false. */
  readonly skipSpecialTokens?: boolean;
}

export interface TextTokenizer {
  encode(text: string, options?: EncodeOptions): number[];
  /** Ids the vocabulary does not hold (beyond it, or holes in it) decode to nothing. */
  decode(ids: readonly number[], options?: DecodeOptions): string;
  /** Largest id + 1 (added tokens included); the model's vocab_size must be at least this. */
  readonly vocabSize: number;
  readonly bosId?: number;
  readonly eosId?: number;
  readonly padId?: number;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly padToken?: string;
  /** encode(..., { addSpecialTokens: true }) puts BOS first (Llama style; GPT-2 adds nothing). */
  readonly addsBos: boolean;
  /** The model type in tokenizer.json ("BPE", "Unigram", "WordPiece"), for the model card. */
  readonly kind: string;
  readonly chatTemplate?: string;
  /** Renders with the chat template; throws DatasetError when the tokenizer has none. */
  applyChatTemplate(messages: readonly ChatMessage[], options?: RenderOptions): string;
  /** The compiled template, or undefined when the tokenizer has none. */
  readonly compiledChatTemplate?: ChatTemplate;
  tokenToId(token: string): number | undefined;
  idToToken(id: number): string | undefined;
}

export interface LoadTokenizerOptions {
  /** Name used in error messages (default "tokenizer.json"). */
  readonly fileName?: string;
  readonly configFileName?: string;
  /** special_tokens_map.json, consulted when tokenizer_config.json does not name a token. */
  readonly specialTokensMap?: object;
  /** A chat template that overrides tokenizer_config.json's (e.g. from chat_template.jinja). */
  readonly chatTemplate?: string;
  /** config.json's vocab_size: token ids at or beyond it are refused before the tokenizer is built. */
  readonly vocabSize?: number;
  /** From config.json, used when no file names the BOS / EOS token. */
  readonly bosTokenId?: number | null;
  readonly eosTokenIds?: readonly number[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function show(value: unknown): string {
  return showJson(value, 60);
}

function isId(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Checks the model section and returns a copy the library can take (merges defaulted). */
/** Largest id a tokenizer may use when no model bounds it (the library keeps an array indexed by id). */
export const MAX_TOKEN_ID = 2 ** 24;

/** Token-id bound while checking a tokenizer.json: the limit, and config.json's vocab_size when known. */
interface IdBound {
  readonly limit: number;
  readonly vocabSize?: number;
}

/** Refuses an id at or beyond the bound: ids index an array in the library and embedding rows later. */
function checkIdBound(id: number, bound: IdBound, what: string, fail: (message: string) => never): void {
  if (id >= bound.limit) {
    fail(
      `${what} has the id ${id}, ` +
        `${bound.vocabSize === undefined ? `but ids must be below ${bound.limit}` : `far beyond config.json's vocab_size of ${bound.vocabSize}`}; ` +
        `the file is damaged or belongs to another model`,
    );
  }
}

function checkModel(model: unknown, fail: (message: string) => never, bound: IdBound): Json {
  if (!isObject(model)) {
    fail('has no "model" object; expected a tokenizer.json saved by the Hugging Face tokenizers library');
  }
  const m = model as Json;
  const type = m.type;
  if (type !== undefined && type !== 'BPE' && type !== 'Unigram' && type !== 'WordPiece') {
    fail(`model type ${show(type)} is not supported (BPE, Unigram and WordPiece are)`);
  }
  const copy: Json = { ...m };
  if (type === 'Unigram' || Array.isArray(m.vocab)) {
    if (!Array.isArray(m.vocab) || m.vocab.length === 0) fail('"model.vocab" must be a non-empty list of [piece, score]');
    (m.vocab as unknown[]).forEach((entry, i) => {
      if (!Array.isArray(entry) || typeof entry[0] !== 'string' || typeof entry[1] !== 'number') {
        fail(`"model.vocab" entry ${i} must be [piece, score], found ${show(entry)}`);
      }
    });
    return copy;
  }
  if (!isObject(m.vocab) || Object.keys(m.vocab).length === 0) {
    fail('"model.vocab" must be a non-empty object mapping each token to its id');
  }
  const vocab = m.vocab as Json;
  for (const [token, id] of Object.entries(vocab)) {
    if (!isId(id)) fail(`"model.vocab" gives token ${show(token)} the id ${show(id)}; ids must be non-negative integers`);
    checkIdBound(id as number, bound, `"model.vocab" token ${show(token)}`, fail);
  }
  if (type === 'BPE' || 'merges' in m) {
    const merges = m.merges ?? [];
    if (!Array.isArray(merges)) fail('"model.merges" must be a list');
    const prefix = typeof m.continuing_subword_prefix === 'string' ? m.continuing_subword_prefix : '';
    const pairs: [string, string][] = [];
    (merges as unknown[]).forEach((entry, i) => {
      let pair: [string, string] | null = null;
      if (typeof entry === 'string') {
        const space = entry.indexOf(' ');
        if (space > 0 && space < entry.length - 1 && entry.indexOf(' ', space + 1) < 0) {
          pair = [entry.slice(0, space), entry.slice(space + 1)];
        }
      } else if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === 'string' && typeof entry[1] === 'string') {
        pair = [entry[0], entry[1]];
      }
      if (!pair) {
        fail(`"model.merges" entry ${i} must be a string "a b" or a pair ["a", "b"], found ${show(entry)}`);
      }
      const [a, b] = pair!;
      const merged = a + (prefix && b.startsWith(prefix) ? b.slice(prefix.length) : b);
      for (const token of [a, b, merged]) {
        if (!Object.hasOwn(vocab, token)) {
          fail(
            `"model.merges" entry ${i} (${show(entry)}) needs the token ${show(token)}, which is not in ` +
              `"model.vocab"; the file is damaged or its vocab and merges do not belong together`,
          );
        }
      }
      pairs.push(pair!);
    });
    // One format for the library, whatever the file used ("a b" strings are split the same way).
    copy.merges = pairs;
  }
  return copy;
}

function checkAddedTokens(value: unknown, fail: (message: string) => never, bound: IdBound): Json[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail('"added_tokens" must be a list');
  return (value as unknown[]).map((token, i) => {
    if (!isObject(token) || !isId(token.id) || typeof token.content !== 'string' || token.content === '') {
      fail(`"added_tokens" entry ${i} must have an integer "id" and a non-empty "content", found ${show(token)}`);
    }
    checkIdBound((token as Json).id as number, bound, `"added_tokens" entry ${i}`, fail);
    return token as Json;
  });
}

/**
 * The library's BPE, like the Rust one, silently drops a piece that is not in the vocabulary when
 * there is no unk_token (and byte fallback cannot spell it). Training data must not lose text
 * unseen, so encoding such a piece throws instead. The pieces come from the library's own cached
 * `bpe()`, so the check repeats no merging work.
 */
function refuseSilentDrops(tokenizer: Tokenizer, fileName: string): void {
  const model = tokenizer.model;
  if (!(model instanceof BPE) || model.unk_token != null) return;
  const utf8 = new TextEncoder();
  const byteToken = (b: number): string => `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
  const original = model.encode.bind(model);
  model.encode = (tokens: string[]): string[] => {
    for (const token of tokens) {
      if (model.ignore_merges && model.tokens_to_ids.has(token)) continue;
      for (const piece of model.bpe(token)) {
        if (model.tokens_to_ids.has(piece)) continue;
        if (model.byte_fallback && Array.from(utf8.encode(piece)).every((b) => model.tokens_to_ids.has(byteToken(b)))) continue;
        throw new ModelFormatError(
          `cannot encode ${show(piece)}: it is not in the vocabulary and the tokenizer has no "unk_token", ` + `so it would be dropped from the text`,
          fileName,
        );
      }
    }
    return original(tokens);
  };
}

/** A special-token setting: "<s>", { "content": "<s>", ... } or null. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value === '' ? undefined : value;
  if (isObject(value) && typeof value.content === 'string' && value.content !== '') return value.content;
  return undefined;
}

/** tokenizer_config.json with token objects flattened to strings, as the library expects. */
function libraryConfig(config: Json): Json {
  const copy: Json = { ...config };
  for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
    if (key in copy) {
      const text = tokenText(copy[key]);
      if (text === undefined) delete copy[key];
      else copy[key] = text;
    }
  }
  if (Array.isArray(copy.additional_special_tokens)) {
    copy.additional_special_tokens = copy.additional_special_tokens.map(tokenText).filter((t) => t !== undefined);
  } else {
    delete copy.additional_special_tokens;
  }
  // Decode exactly what was encoded unless the config asks for transformers' old space clean-up.
  copy.clean_up_tokenization_spaces = copy.clean_up_tokenization_spaces === true;
  return copy;
}

const KNOWN_BOS = ['<|begin_of_text|>', '<s>', '<bos>', '<|startoftext|>'];
const KNOWN_EOS = ['<|endoftext|>', '<|end_of_text|>', '</s>', '<eos>'];

function parseJson(text: string, fileName: string): unknown {
  return parseJsonText(text, (reason) => new ModelFormatError(reason, fileName));
}

/**
 * Runs a call into the tokenizer library. The library trusts tokenizer.json's pipeline (normalizer,
 * pre-tokenizer, decoder): a damaged one throws its own TypeError or overflows the stack, which
 * becomes a ModelFormatError naming the file. Our own errors pass through.
 */
function libraryCall<T>(fileName: string, what: string, call: () => T): T {
  try {
    return call();
  } catch (error) {
    if (error instanceof ModelFormatError) throw error;
    const reason =
      error instanceof RangeError && /call stack/i.test(error.message)
        ? 'its pipeline nests too deeply'
        : error instanceof Error
          ? error.message
          : String(error);
    throw new ModelFormatError(`${what} (${reason}); the file is damaged or uses a feature the tokenizer library does not support`, fileName);
  }
}

/**
 * Builds a TextTokenizer from tokenizer.json contents (parsed, or the JSON text) and optionally
 * tokenizer_config.json. Throws ModelFormatError naming the file, with the reason.
 */
export function loadTokenizer(tokenizerJson: object | string, tokenizerConfig?: object, options: LoadTokenizerOptions = {}): TextTokenizer {
  const fileName = options.fileName ?? 'tokenizer.json';
  const configFileName = options.configFileName ?? 'tokenizer_config.json';
  const fail = (message: string): never => {
    throw new ModelFormatError(message, fileName);
  };
  const raw = typeof tokenizerJson === 'string' ? parseJson(tokenizerJson, fileName) : tokenizerJson;
  if (!isObject(raw)) fail('must be a JSON object with a "model" section');
  const json = raw as Json;
  if (tokenizerConfig !== undefined && !isObject(tokenizerConfig)) {
    throw new ModelFormatError('must be a JSON object', configFileName);
  }
  const config = (tokenizerConfig ?? {}) as Json;
  // Ids somewhat beyond the model's vocabulary get checkTokenizerFitsModel's message later; ids far
  // beyond it (or beyond MAX_TOKEN_ID) are refused before the library allocates by them.
  const bound: IdBound =
    options.vocabSize === undefined
      ? { limit: MAX_TOKEN_ID }
      : { limit: Math.min(MAX_TOKEN_ID, Math.max(4 * options.vocabSize, 65_536)), vocabSize: options.vocabSize };
  const model = checkModel(json.model, fail, bound);
  const addedTokens = checkAddedTokens(json.added_tokens, fail, bound);
  const libraryJson: Json = {
    ...json,
    model,
    added_tokens: addedTokens,
    normalizer: json.normalizer ?? null,
    pre_tokenizer: json.pre_tokenizer ?? null,
    post_processor: json.post_processor ?? null,
    decoder: json.decoder ?? null,
  };

  const tokenizer = libraryCall(fileName, 'could not be loaded as a tokenizer', () => new Tokenizer(libraryJson, libraryConfig(config)));
  refuseSilentDrops(tokenizer, fileName);

  let vocabSize = 0;
  for (const id of tokenizer.get_vocab(true).values()) vocabSize = Math.max(vocabSize, id + 1);
  const kind = typeof model.type === 'string' ? model.type : Array.isArray(model.vocab) ? 'Unigram' : 'BPE';

  const specialMap = isObject(options.specialTokensMap) ? (options.specialTokensMap as Json) : {};
  const named = (key: string): string | undefined => tokenText(config[key]) ?? tokenText(specialMap[key]);
  const resolve = (key: string, fallbackIds: readonly number[], known: readonly string[]): { id?: number; token?: string } => {
    const token = named(key);
    if (token !== undefined) {
      const id = tokenizer.token_to_id(token);
      if (id === undefined) {
        throw new ModelFormatError(`"${key}" is ${show(token)}, which is not in ${fileName}'s vocabulary; the files do not belong together`, configFileName);
      }
      return { id, token };
    }
    for (const id of fallbackIds) {
      const text = tokenizer.id_to_token(id);
      if (text !== undefined) return { id, token: text };
    }
    for (const text of known) {
      const id = tokenizer.token_to_id(text);
      if (id !== undefined) return { id, token: text };
    }
    return {};
  };
  const bos = resolve('bos_token', options.bosTokenId == null ? [] : [options.bosTokenId], KNOWN_BOS);
  const eos = resolve('eos_token', options.eosTokenIds ?? [], KNOWN_EOS);
  const pad = resolve('pad_token', [], []);

  const templateSource = options.chatTemplate ?? selectChatTemplate(config.chat_template, configFileName);
  const compiled =
    templateSource === undefined
      ? undefined
      : compileChatTemplate(
          templateSource,
          {
            bosToken: bos.token,
            eosToken: eos.token,
            padToken: pad.token,
            unkToken: named('unk_token'),
          },
          configFileName,
        );

  const encode = (text: string, encodeOptions: EncodeOptions = {}): number[] => {
    const encoding = libraryCall(fileName, 'failed to encode text', () =>
      tokenizer.encode(text, { add_special_tokens: encodeOptions.addSpecialTokens ?? true }),
    );
    const ids = encoding.ids;
    for (let i = 0; i < ids.length; i++) {
      if (!isId(ids[i])) {
        throw new ModelFormatError(
          `cannot encode ${show(encoding.tokens[i])}: it is not in the vocabulary and the tokenizer has no ` + `usable "unk_token"`,
          fileName,
        );
      }
    }
    return ids;
  };

  let addsBos = false;
  if (bos.id !== undefined) {
    const withSpecial = encode('a', { addSpecialTokens: true });
    const without = encode('a', { addSpecialTokens: false });
    addsBos = withSpecial[0] === bos.id && without[0] !== bos.id;
  }

  return {
    encode,
    decode(ids, decodeOptions = {}) {
      const known: number[] = [];
      for (const id of ids) {
        if (!Number.isSafeInteger(id)) throw new ModelFormatError(`cannot decode ${show(id)}: token ids are integers`, fileName);
        if (id >= 0 && tokenizer.id_to_token(id) !== undefined) known.push(id);
      }
      if (known.length === 0) return '';
      return libraryCall(fileName, 'failed to decode token ids', () =>
        tokenizer.decode(known, { skip_special_tokens: decodeOptions.skipSpecialTokens ?? false }),
      );
    },
    vocabSize,
    bosId: bos.id,
    eosId: eos.id,
    padId: pad.id,
    bosToken: bos.token,
    eosToken: eos.token,
    padToken: pad.token,
    addsBos,
    kind,
    chatTemplate: templateSource,
    compiledChatTemplate: compiled,
    applyChatTemplate(messages, renderOptions) {
      if (!compiled) throw noChatTemplateError('the data');
      return compiled.render(messages, renderOptions);
    },
    tokenToId: (token) => tokenizer.token_to_id(token),
    idToToken: (id) => tokenizer.id_to_token(id),
  };
}

/**
 * The tokenizer of an opened model folder: tokenizer.json, tokenizer_config.json and
 * special_tokens_map.json when present, config.json's BOS/EOS ids as a fallback. Throws
 * ModelFormatError when tokenizer.json is missing or holds ids beyond config.json's vocab_size.
 */
export async function loadModelTokenizer(model: ModelSource): Promise<TextTokenizer> {
  const files = model.tokenizer;
  if (!files.tokenizerJson) {
    throw new ModelFormatError(
      `no tokenizer.json in the model folder${model.root ? ` ${model.root}` : ''}` +
        `${files.vocabJson ? ' (vocab.json and merges.txt alone are not read)' : ''}; ` +
        `Adapter Studio needs the tokenizer.json that Hugging Face models ship (save it with ` +
        `tokenizer.save_pretrained(folder) in Python)`,
    );
  }
  const readObject = async (source: ByteSource | null): Promise<object | undefined> => {
    if (!source) return undefined;
    const value = await readJsonFile(source, 64 * 1024 * 1024);
    if (!isObject(value)) throw new ModelFormatError('must be a JSON object', source.name);
    return value;
  };
  const tokenizer = loadTokenizer((await readObject(files.tokenizerJson))!, await readObject(files.tokenizerConfig), {
    fileName: files.tokenizerJson.name,
    configFileName: files.tokenizerConfig?.name ?? 'tokenizer_config.json',
    specialTokensMap: await readObject(files.specialTokensMap),
    bosTokenId: model.config.bosTokenId,
    eosTokenIds: model.config.eosTokenIds,
    vocabSize: model.config.vocabSize,
  });
  checkTokenizerFitsModel(tokenizer, model.config.vocabSize, files.tokenizerJson.name);
  return tokenizer;
}

/** Throws when the tokenizer produces ids the model's embedding has no row for. */
export function checkTokenizerFitsModel(tokenizer: TextTokenizer, modelVocabSize: number, fileName = 'tokenizer.json'): void {
  if (tokenizer.vocabSize > modelVocabSize) {
    throw new ModelFormatError(
      `has ${tokenizer.vocabSize} token ids (0 to ${tokenizer.vocabSize - 1}) but config.json says the model's ` +
        `vocab_size is ${modelVocabSize}; the tokenizer does not belong to this model`,
      fileName,
    );
  }
}

/** The share of the embedding's rows a tokenizer may leave unused before tokenizerVocabWarning speaks. */
export const UNUSED_VOCAB_WARNING = 0.1;

/**
 * A warning when the tokenizer's vocabulary does not match the model's vocab_size, naming both:
 * more ids than rows is refused by checkTokenizerFitsModel; a few rows more than ids is normal
 * (vocabularies are padded to a multiple of 64 or 128 for speed), so only a tokenizer that leaves
 * more than 10 % of the rows unused is reported (it likely belongs to another model).
 */
export function tokenizerVocabWarning(tokenizerVocabSize: number, modelVocabSize: number): string | undefined {
  if (tokenizerVocabSize > modelVocabSize) {
    return `the tokenizer has ${tokenizerVocabSize} token ids but the model's vocab_size is ${modelVocabSize}: ids past ${modelVocabSize - 1} have no embedding row`;
  }
  const unused = modelVocabSize - tokenizerVocabSize;
  if (unused <= UNUSED_VOCAB_WARNING * modelVocabSize) return undefined;
  return (
    `the tokenizer has ${tokenizerVocabSize} token ids but the model's vocab_size is ${modelVocabSize}: ` +
    `${unused} embedding rows (${((100 * unused) / modelVocabSize).toFixed(0)} %) are never used; check that the tokenizer belongs to this model`
  );
}

/**
 * GPT-2's byte ↔ printable-character map: every byte gets a visible character so byte-level BPE
 * tokens are plain strings (space is 'Ġ', newline 'Ċ').
 */
export function byteLevelAlphabet(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const chars = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    chars[b] = printable.includes(b) ? String.fromCodePoint(b) : String.fromCodePoint(256 + extra++);
  }
  return chars;
}

export interface ByteLevelBpeOptions {
  /** Merges as pairs of plain text (e.g. [' ', 't'], ['h', 'e']); each adds one token, in order. */
  readonly merges?: readonly (readonly [string, string])[];
  /** How merges are written: "a b" strings (older files) or ["a", "b"] pairs (tokenizers ≥ 0.20). */
  readonly mergesFormat?: 'strings' | 'pairs';
  /** Special tokens added after the vocabulary (default ['<|endoftext|>']). */
  readonly specialTokens?: readonly string[];
}

/**
 * A GPT-2 style byte-level BPE tokenizer.json: 256 byte tokens (ids in GPT-2's order), one token
 * per merge, then the special tokens. Any text encodes without unknown tokens.
 */
export function byteLevelBpeTokenizerJson(options: ByteLevelBpeOptions = {}): Record<string, unknown> {
  const alphabet = byteLevelAlphabet();
  const utf8 = new TextEncoder();
  const toSymbols = (text: string): string => Array.from(utf8.encode(text), (b) => alphabet[b]!).join('');
  const vocab: Record<string, number> = {};
  const order = [...alphabet].sort((x, y) => x.codePointAt(0)! - y.codePointAt(0)!);
  order.forEach((symbol, i) => (vocab[symbol] = i));
  const merges: (string | [string, string])[] = [];
  for (const [a, b] of options.merges ?? []) {
    const left = toSymbols(a);
    const right = toSymbols(b);
    if (!(left + right in vocab)) vocab[left + right] = Object.keys(vocab).length;
    merges.push(options.mergesFormat === 'strings' ? `${left} ${right}` : [left, right]);
  }
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  let next = Object.keys(vocab).length;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: (options.specialTokens ?? ['<|endoftext|>']).map((content) => ({
      id: next++,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}
