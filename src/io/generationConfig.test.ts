// Tests for generation_config.json: the fields generation uses, read and checked; the rest ignored.

import { describe, expect, it } from 'vitest';
import { bytesSource } from './byteSource';
import { parseGenerationConfig, readGenerationConfig } from './generationConfig';

describe('generation_config.json', () => {
  it('reads the end ids (one or several) and the sampling defaults', async () => {
    const text = JSON.stringify({
      bos_token_id: 128000,
      eos_token_id: [128001, 128008, 128009],
      do_sample: true,
      temperature: 0.6,
      top_p: 0.9,
      transformers_version: '4.45.0',
    });
    const config = await readGenerationConfig(bytesSource('m/generation_config.json', new TextEncoder().encode(text)), 128256);
    expect(config).toEqual({
      bosTokenId: 128000,
      eosTokenIds: [128001, 128008, 128009],
      padTokenId: null,
      doSample: true,
      temperature: 0.6,
      topK: null,
      topP: 0.9,
      repetitionPenalty: null,
      maxNewTokens: null,
    });
    expect(parseGenerationConfig({ eos_token_id: 2 }).eosTokenIds).toEqual([2]);
  });

  it('refuses what would stop generation at a wrong id, naming the file and the key', () => {
    expect(() => parseGenerationConfig({ eos_token_id: [2, 40000] }, 'm/generation_config.json', 32000)).toThrow(
      'm/generation_config.json: "eos_token_id" is 40000, outside the vocabulary (config.json says vocab_size 32000); the file belongs to another model',
    );
    expect(() => parseGenerationConfig({ pad_token_id: -1 })).toThrow(
      'generation_config.json: "pad_token_id" must be a token id (a whole number ≥ 0) or a list of them, found -1',
    );
    expect(() => parseGenerationConfig({ top_p: 2 })).toThrow('generation_config.json: "top_p" must be a number in (0, 1], found 2');
    expect(() => parseGenerationConfig({ do_sample: 'yes' })).toThrow('generation_config.json: "do_sample" must be true or false, found "yes"');
    expect(() => parseGenerationConfig([])).toThrow('generation_config.json: must be a JSON object');
  });
});
