// Tests for loading tokenizer.json: a tiny GPT-2 style byte-level BPE built in memory, with its
// merges written both ways ("a b" strings and ["a", "b"] pairs); Llama-style BOS from a
// TemplateProcessing post-processor; special tokens from tokenizer_config.json,
// special_tokens_map.json and config.json; the chat template; a model folder; and every refusal
// with the exact message the user sees.

import { describe, expect, it } from 'vitest';
import { bytesSource, type ByteSource } from './byteSource';
import { openModelFiles } from './modelFiles';
import { tinyConfigJson, tinyModelFolder } from './testModels';
import { byteLevelAlphabet, byteLevelBpeTokenizerJson, checkTokenizerFitsModel, loadModelTokenizer, loadTokenizer, tokenizerVocabWarning } from './tokenizer';
import { DatasetError, ModelFormatError } from '../errors';

const MERGES: [string, string][] = [
  ['h', 'e'],
  ['l', 'l'],
  ['he', 'll'],
  ['hell', 'o'],
  [' ', 'w'],
  ['o', 'r'],
  [' w', 'or'],
];

function tiny(format: 'strings' | 'pairs' = 'pairs', specialTokens?: string[]): Record<string, unknown> {
  return byteLevelBpeTokenizerJson({ merges: MERGES, mergesFormat: format, specialTokens });
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error('expected a throw');
}

function model(json: Record<string, unknown>): Record<string, unknown> {
  return json.model as Record<string, unknown>;
}

describe('byte-level BPE tokenizer.json', () => {
  it('loads merges written as "a b" strings and as ["a", "b"] pairs, with identical results', () => {
    const strings = tiny('strings');
    const pairs = tiny('pairs');
    expect(model(strings).merges).toContain('Ġ w');
    expect(model(pairs).merges).toContainEqual(['Ġ', 'w']);
    const a = loadTokenizer(strings);
    const b = loadTokenizer(pairs);
    const text = 'hello world, hello wor\nünïcode 😀';
    expect(a.encode(text)).toEqual(b.encode(text));
    const vocab = model(pairs).vocab as Record<string, number>;
    // 'hello' is one merged token; ' wor' one token; 'l', 'd' bytes.
    expect(a.encode('hello world')).toEqual([vocab.hello, vocab['Ġwor'], vocab.l, vocab.d]);
    expect(a.decode(a.encode(text))).toBe(text);
    expect(b.decode(b.encode(text))).toBe(text);
    expect(a.kind).toBe('BPE');
  });

  it('gives GPT-2 byte order: "!" is 0, space is Ġ (220), newline is Ċ (198)', () => {
    const alphabet = byteLevelAlphabet();
    expect(alphabet[32]).toBe('Ġ');
    expect(alphabet[10]).toBe('Ċ');
    const tok = loadTokenizer(tiny());
    expect(tok.encode('!')).toEqual([0]);
    expect(tok.encode(' ')).toEqual([220]);
    expect(tok.encode('\n')).toEqual([198]);
    expect(tok.vocabSize).toBe(256 + MERGES.length + 1);
  });

  it('accepts the JSON text as well as the parsed object', () => {
    const tok = loadTokenizer(JSON.stringify(tiny()));
    expect(tok.decode(tok.encode('hello'))).toBe('hello');
  });

  it('treats added special tokens as single ids and can skip them when decoding', () => {
    const tok = loadTokenizer(tiny('pairs', ['<|endoftext|>', '<|pad|>']), {
      eos_token: '<|endoftext|>',
      bos_token: { content: '<|endoftext|>', lstrip: false },
      pad_token: '<|pad|>',
    });
    const eos = tok.eosId!;
    expect(tok.eosToken).toBe('<|endoftext|>');
    expect(tok.bosId).toBe(eos);
    expect(tok.padId).toBe(eos + 1);
    expect(tok.addsBos).toBe(false); // GPT-2 adds nothing
    const ids = tok.encode('hello<|endoftext|>');
    expect(ids[ids.length - 1]).toBe(eos);
    expect(tok.encode('hello', { addSpecialTokens: true })).toEqual(tok.encode('hello', { addSpecialTokens: false }));
    expect(tok.decode(ids)).toBe('hello<|endoftext|>');
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('hello');
  });

  it('finds special tokens in special_tokens_map.json, config.json ids, or well-known names', () => {
    const json = tiny('pairs', ['<s>', '</s>', '<unused>']);
    const base = 256 + MERGES.length;
    expect(loadTokenizer(json, {}, { specialTokensMap: { eos_token: { content: '<unused>' } } }).eosId).toBe(base + 2);
    const fromIds = loadTokenizer(json, {}, { bosTokenId: base + 2, eosTokenIds: [base + 2] });
    expect([fromIds.bosId, fromIds.eosId]).toEqual([base + 2, base + 2]);
    const known = loadTokenizer(json);
    expect([known.bosToken, known.eosToken, known.padId]).toEqual(['<s>', '</s>', undefined]);
  });

  it('knows when the post-processor adds BOS (Llama style TemplateProcessing)', () => {
    const json = tiny('pairs', ['<s>', '</s>']);
    json.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [256 + MERGES.length], tokens: ['<s>'] } },
    };
    const tok = loadTokenizer(json, { bos_token: '<s>', eos_token: '</s>' });
    expect(tok.addsBos).toBe(true);
    expect(tok.encode('hello')).toEqual([tok.bosId, tok.tokenToId('hello')]);
    expect(tok.encode('hello', { addSpecialTokens: false })).toEqual([tok.tokenToId('hello')]);
  });

  it('decodes nothing to "" and drops ids the vocabulary does not hold', () => {
    const tok = loadTokenizer(tiny());
    expect(tok.decode([])).toBe('');
    expect(tok.decode([tok.tokenToId('hello')!, 100000, -1])).toBe('hello');
    expect(tok.idToToken(0)).toBe('!');
  });

  it('renders its chat template, and says so when it has none', () => {
    const template =
      "{{ bos_token }}{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}{{ eos_token }}{% endfor %}" +
      '{% if add_generation_prompt %}assistant:{% endif %}';
    const tok = loadTokenizer(tiny('pairs', ['<s>', '</s>']), { chat_template: template, bos_token: '<s>', eos_token: '</s>' });
    expect(tok.chatTemplate).toBe(template);
    expect(tok.applyChatTemplate([{ role: 'user', content: 'hi' }], { addGenerationPrompt: true })).toBe('<s>user: hi</s>assistant:');
    const none = loadTokenizer(tiny());
    expect(none.chatTemplate).toBeUndefined();
    const error = errorOf(() => none.applyChatTemplate([{ role: 'user', content: 'hi' }]));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      'the data holds a chat conversation ("messages"), but this model\'s tokenizer has no chat template ' +
        '(no "chat_template" in tokenizer_config.json), so conversations cannot be formatted. Use a chat ' +
        'or instruct model, or convert the data to "prompt"/"completion" rows.',
    );
  });

  it('uses a chat template given separately (chat_template.jinja) over the config', () => {
    const tok = loadTokenizer(tiny(), { chat_template: 'config' }, { chatTemplate: '{{ messages[0].content }}!' });
    expect(tok.applyChatTemplate([{ role: 'user', content: 'x' }])).toBe('x!');
  });
});

describe('other tokenizer models', () => {
  it('loads a Unigram (SentencePiece style) tokenizer', () => {
    const tok = loadTokenizer(
      {
        model: {
          type: 'Unigram',
          unk_id: 0,
          vocab: [
            ['<unk>', 0],
            ['▁a', -1],
            ['b', -2],
            ['▁ab', -0.5],
            ['</s>', 0],
          ],
        },
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
        decoder: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
        added_tokens: [{ id: 4, content: '</s>', special: true }],
      },
      { eos_token: '</s>' },
    );
    expect(tok.kind).toBe('Unigram');
    expect(tok.encode('ab a')).toEqual([3, 1]);
    expect(tok.decode([3, 1, 4], { skipSpecialTokens: true })).toBe('ab a');
    expect(tok.eosId).toBe(4);
    expect(tok.vocabSize).toBe(5);
  });
});

describe('tokenizer.json refusals', () => {
  const cases: [string, () => unknown, string][] = [
    ['not JSON', () => loadTokenizer('{"model": '), 'tokenizer.json: is not valid JSON ('],
    ['not an object', () => loadTokenizer([] as unknown as object), 'tokenizer.json: must be a JSON object with a "model" section'],
    [
      'no model',
      () => loadTokenizer({ version: '1.0' }),
      'tokenizer.json: has no "model" object; expected a tokenizer.json saved by the Hugging Face tokenizers library',
    ],
    [
      'unsupported model type',
      () => loadTokenizer({ model: { type: 'WordLevel', vocab: { a: 0 } } }),
      'tokenizer.json: model type "WordLevel" is not supported (BPE, Unigram and WordPiece are)',
    ],
    [
      'empty vocab',
      () => loadTokenizer({ model: { type: 'BPE', vocab: {}, merges: [] } }),
      'tokenizer.json: "model.vocab" must be a non-empty object mapping each token to its id',
    ],
    [
      'bad id',
      () => loadTokenizer({ model: { type: 'BPE', vocab: { a: 0, b: 1.5 }, merges: [] } }),
      'tokenizer.json: "model.vocab" gives token "b" the id 1.5; ids must be non-negative integers',
    ],
    [
      'malformed merge',
      () => loadTokenizer({ model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b', 'ab'] } }),
      'tokenizer.json: "model.merges" entry 1 must be a string "a b" or a pair ["a", "b"], found "ab"',
    ],
    [
      'merge of a token not in the vocab (strings)',
      () => loadTokenizer({ model: { type: 'BPE', vocab: { a: 0, b: 1, ab: 2 }, merges: ['a b', 'ab c'] } }),
      'tokenizer.json: "model.merges" entry 1 ("ab c") needs the token "c", which is not in "model.vocab"; ' +
        'the file is damaged or its vocab and merges do not belong together',
    ],
    [
      'merge result not in the vocab (pairs)',
      () => loadTokenizer({ model: { type: 'BPE', vocab: { a: 0, b: 1 }, merges: [['a', 'b']] } }),
      'tokenizer.json: "model.merges" entry 0 (["a","b"]) needs the token "ab", which is not in "model.vocab"; ' +
        'the file is damaged or its vocab and merges do not belong together',
    ],
    [
      'bad added token',
      () => loadTokenizer({ ...tiny(), added_tokens: [{ id: -1, content: '<x>' }] }),
      'tokenizer.json: "added_tokens" entry 0 must have an integer "id" and a non-empty "content", found {"id":-1,"content":"<x>"}',
    ],
    [
      'a component the library does not know',
      () => loadTokenizer({ ...tiny(), pre_tokenizer: { type: 'Imaginary' } }),
      'tokenizer.json: could not be loaded as a tokenizer (Unknown PreTokenizer type: Imaginary); ' +
        'the file is damaged or uses a feature the tokenizer library does not support',
    ],
    [
      'a special token missing from the vocabulary',
      () => loadTokenizer(tiny(), { eos_token: '</s>' }),
      'tokenizer_config.json: "eos_token" is "</s>", which is not in tokenizer.json\'s vocabulary; the files do not belong together',
    ],
    ['a config that is not an object', () => loadTokenizer(tiny(), [] as unknown as object), 'tokenizer_config.json: must be a JSON object'],
    [
      'a chat template Jinja cannot parse',
      () => loadTokenizer(tiny(), { chat_template: '{% for m in messages %}' }),
      'tokenizer_config.json: "chat_template" could not be parsed as Jinja (',
    ],
  ];
  for (const [name, fn, message] of cases) {
    it(`refuses ${name}`, () => {
      const error = errorOf(fn);
      expect(error).toBeInstanceOf(ModelFormatError);
      if (message.endsWith('(')) expect(error.message.startsWith(message)).toBe(true);
      else expect(error.message).toBe(message);
    });
  }

  it('names a text it cannot encode when the vocabulary lacks a byte and there is no unk_token', () => {
    const tok = loadTokenizer({
      model: { type: 'BPE', vocab: { h: 0, i: 1, hi: 2 }, merges: ['h i'] },
      pre_tokenizer: { type: 'WhitespaceSplit' },
    });
    expect(tok.encode('hi hi')).toEqual([2, 2]);
    const error = errorOf(() => tok.encode('hi x'));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toBe(
      'tokenizer.json: cannot encode "x": it is not in the vocabulary and the tokenizer has no "unk_token", so it would be dropped from the text',
    );
  });

  it('uses the file name it is given', () => {
    expect(errorOf(() => loadTokenizer({}, undefined, { fileName: 'my-model/tokenizer.json' })).message).toMatch(
      /^my-model\/tokenizer\.json: has no "model" object/,
    );
  });
});

describe('a model folder', () => {
  function folder(vocabSize: number, extra: ByteSource[]): ByteSource[] {
    const files = tinyModelFolder(
      { ...tinyConfigJson('gpt2'), vocab_size: vocabSize, bos_token_id: 256 + MERGES.length, eos_token_id: 256 + MERGES.length },
      { folder: 'm/' },
    );
    const names = new Set(extra.map((f) => f.name));
    return [...files.filter((f) => !names.has(f.name)), ...extra];
  }
  const text = (name: string, value: unknown): ByteSource => bytesSource(name, new TextEncoder().encode(JSON.stringify(value)));

  it('loads tokenizer.json with tokenizer_config.json and config.json ids', async () => {
    const source = await openModelFiles(
      folder(320, [text('m/tokenizer.json', tiny()), text('m/tokenizer_config.json', { chat_template: '{{ messages[0].content }}' })]),
    );
    const tok = await loadModelTokenizer(source);
    expect(tok.eosId).toBe(256 + MERGES.length);
    expect(tok.eosToken).toBe('<|endoftext|>');
    expect(tok.chatTemplate).toBe('{{ messages[0].content }}');
  });

  it('refuses a tokenizer with more ids than the model has embedding rows', async () => {
    const source = await openModelFiles(folder(32, [text('m/tokenizer.json', tiny())]));
    const error = await loadModelTokenizer(source).then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ModelFormatError);
    expect((error as Error).message).toBe(
      "m/tokenizer.json: has 264 token ids (0 to 263) but config.json says the model's vocab_size is 32; " + 'the tokenizer does not belong to this model',
    );
  });

  it('says when a damaged tokenizer.json is not JSON', async () => {
    const source = await openModelFiles(folder(320, [bytesSource('m/tokenizer.json', new TextEncoder().encode('{"model":'))]));
    await expect(loadModelTokenizer(source)).rejects.toThrow(/^m\/tokenizer\.json: is not valid JSON/);
  });

  it('says when tokenizer.json is missing', async () => {
    const files = folder(320, []).filter((f) => f.name !== 'm/tokenizer.json');
    const error = await loadModelTokenizer(await openModelFiles(files)).then(
      () => null,
      (e: unknown) => e,
    );
    expect((error as Error).message).toBe(
      'no tokenizer.json in the model folder m/; Adapter Studio needs the tokenizer.json that Hugging Face ' +
        'models ship (save it with tokenizer.save_pretrained(folder) in Python)',
    );
  });

  it('checkTokenizerFitsModel accepts a model vocabulary padded beyond the tokenizer', () => {
    const tok = loadTokenizer(tiny());
    expect(() => checkTokenizerFitsModel(tok, 320)).not.toThrow();
    expect(() => checkTokenizerFitsModel(tok, tok.vocabSize)).not.toThrow();
    expect(() => checkTokenizerFitsModel(tok, tok.vocabSize - 1)).toThrow(ModelFormatError);
  });
});

describe('tokenizer against the model vocabulary', () => {
  it('warns, naming both sizes, when the tokenizer has more ids or leaves over 10 % of the rows unused', () => {
    expect(tokenizerVocabWarning(50257, 50257)).toBeUndefined();
    expect(tokenizerVocabWarning(151665, 151936)).toBeUndefined(); // Qwen2.5's padded embedding
    expect(tokenizerVocabWarning(257, 272)).toBeUndefined();
    expect(tokenizerVocabWarning(32000, 49152)).toBe(
      "the tokenizer has 32000 token ids but the model's vocab_size is 49152: 17152 embedding rows (35 %) are never used; check that the tokenizer belongs to this model",
    );
    expect(tokenizerVocabWarning(50258, 50257)).toMatch(/^the tokenizer has 50258 token ids but the model's vocab_size is 50257/);
  });
});
