// A model folder's generation_config.json: the defaults transformers' generate() uses. What
// matters here is where generation stops (Llama 3 instruct models list several end ids there and
// only one in config.json) and the sampling defaults. Fields we do not use are ignored; fields we
// use are checked, so a damaged file is refused by name instead of stopping generation at a wrong id.
// Not here: generating (models/generate.ts), config.json (hfConfig.ts).

import { readJsonFile, type ByteSource } from './byteSource';
import { showJson } from './json';
import { ModelFormatError } from '../errors';

export interface GenerationConfig {
  readonly bosTokenId: number | null;
  /** One or several end-of-sequence ids; empty when the file names none. */
  readonly eosTokenIds: readonly number[];
  readonly padTokenId: number | null;
  readonly doSample: boolean | null;
  readonly temperature: number | null;
  readonly topK: number | null;
  readonly topP: number | null;
  readonly repetitionPenalty: number | null;
  readonly maxNewTokens: number | null;
}

/** Checks generation_config.json's contents; `vocabSize` (from config.json) bounds the token ids. */
export function parseGenerationConfig(raw: unknown, fileName = 'generation_config.json', vocabSize?: number): GenerationConfig {
  const fail = (message: string): never => {
    throw new ModelFormatError(message, fileName);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail('must be a JSON object');
  const c = raw as Record<string, unknown>;
  const present = (key: string): boolean => c[key] !== undefined && c[key] !== null;
  const id = (value: unknown, key: string): number => {
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      return fail(`"${key}" must be a token id (a whole number ≥ 0) or a list of them, found ${showJson(value)}`);
    }
    if (vocabSize !== undefined && value >= vocabSize) {
      fail(`"${key}" is ${value}, outside the vocabulary (config.json says vocab_size ${vocabSize}); the file belongs to another model`);
    }
    return value;
  };
  const oneId = (key: string): number | null => (present(key) ? id(c[key], key) : null);
  const ids = (key: string): number[] => {
    if (!present(key)) return [];
    const v = c[key];
    return Array.isArray(v) ? v.map((x) => id(x, key)) : [id(v, key)];
  };
  const number = (key: string, ok: (n: number) => boolean, what: string): number | null => {
    if (!present(key)) return null;
    const v = c[key];
    return typeof v === 'number' && Number.isFinite(v) && ok(v) ? v : fail(`"${key}" must be ${what}, found ${showJson(v)}`);
  };
  if (present('do_sample') && typeof c.do_sample !== 'boolean') fail(`"do_sample" must be true or false, found ${showJson(c.do_sample)}`);
  return {
    bosTokenId: oneId('bos_token_id'),
    eosTokenIds: ids('eos_token_id'),
    padTokenId: oneId('pad_token_id'),
    doSample: present('do_sample') ? (c.do_sample as boolean) : null,
    temperature: number('temperature', (n) => n >= 0, 'a number ≥ 0'),
    topK: number('top_k', (n) => Number.isSafeInteger(n) && n >= 0, 'a whole number ≥ 0'),
    topP: number('top_p', (n) => n > 0 && n <= 1, 'a number in (0, 1]'),
    repetitionPenalty: number('repetition_penalty', (n) => n > 0, 'a number > 0'),
    maxNewTokens: number('max_new_tokens', (n) => Number.isSafeInteger(n) && n > 0, 'a whole number > 0'),
  };
}

/** Reads and checks a generation_config.json (at most 1 MiB: it is a handful of fields). */
export async function readGenerationConfig(source: ByteSource, vocabSize?: number): Promise<GenerationConfig> {
  return parseGenerationConfig(await readJsonFile(source, 1024 * 1024), source.name, vocabSize);
}
