// Tests for user data: every row format in JSONL, JSON, CSV and plain text; the loss mask (prompt
// tokens off, completion and assistant tokens on); skipped and truncated rows with the exact
// reasons shown to users; the seeded train/validation split; and batches ([B, T] ids and shifted
// targets, padding, packing) that depend only on (seed, step).

import { describe, expect, it } from 'vitest';
import {
  ALPACA_PROMPT_NO_INPUT,
  IGNORE_INDEX,
  alpacaPrompt,
  createBatcher,
  datasetStats,
  makeBatch,
  packBatches,
  parseDataset,
  prepareDataset,
  seededPermutation,
  splitTrainValidation,
  tokenizeExamples,
  type TokenizedExample,
} from './datasets';
import { byteLevelBpeTokenizerJson, loadTokenizer, type TextTokenizer } from './tokenizer';
import { DatasetError } from '../errors';
import { CHATML } from './testChatTemplates';

const SPECIAL = ['<|endoftext|>', '<|im_start|>', '<|im_end|>'];

function gpt2Like(chatTemplate?: string): TextTokenizer {
  const json = byteLevelBpeTokenizerJson({
    merges: [
      ['t', 'h'],
      ['th', 'e'],
      [' ', 'the'],
      ['i', 's'],
    ],
    specialTokens: SPECIAL,
  });
  return loadTokenizer(json, { eos_token: '<|endoftext|>', bos_token: '<|endoftext|>', ...(chatTemplate ? { chat_template: chatTemplate } : {}) });
}

/** Same vocabulary, but the post-processor prepends BOS (Llama style). */
function llamaLike(): TextTokenizer {
  const json = byteLevelBpeTokenizerJson({ specialTokens: ['<s>', '</s>'] });
  json.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [256], tokens: ['<s>'] } },
  };
  return loadTokenizer(json, { bos_token: '<s>', eos_token: '</s>' });
}

const tok = gpt2Like(CHATML);
const EOS = tok.eosId!;

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return error;
  }
  throw new Error('expected a throw');
}

function jsonl(...rows: unknown[]): string {
  return rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n');
}

/** The text of the counted tokens of one example. */
function countedText(e: TokenizedExample, t: TextTokenizer = tok): string {
  return t.decode(e.ids.filter((_, i) => e.lossMask[i]));
}

describe('JSONL rows', () => {
  it('reads text rows: every token counts, EOS appended, blank lines ignored', () => {
    const data = prepareDataset(jsonl({ text: 'the cat' }, '', { text: 'is the dog' }), tok, { fileName: 'd.jsonl', seqLen: 64 });
    expect(data.kind).toBe('jsonl');
    expect(data.formats).toEqual({ text: 2 });
    const [a, b] = data.examples;
    expect(a!.line).toBe(1);
    expect(b!.line).toBe(3);
    expect(a!.promptText).toBe('');
    expect(a!.completionText).toBe('the cat');
    expect(a!.ids).toEqual([...tok.encode('the cat', { addSpecialTokens: false }), EOS]);
    expect(a!.lossMask.every((m) => m)).toBe(true);
    expect(data.skipped).toEqual([]);
  });

  it('reads prompt/completion rows: the loss counts only the completion and EOS', () => {
    const data = prepareDataset(jsonl({ prompt: 'Q: the sky? A:', completion: ' blue' }), tok, { fileName: 'd.jsonl', seqLen: 64 });
    const e = data.examples[0]!;
    expect(e.format).toBe('prompt-completion');
    expect([e.promptText, e.completionText]).toEqual(['Q: the sky? A:', ' blue']);
    const prompt = tok.encode('Q: the sky? A:', { addSpecialTokens: false });
    const completion = tok.encode(' blue', { addSpecialTokens: false });
    expect(e.ids).toEqual([...prompt, ...completion, EOS]);
    expect(e.lossMask).toEqual([...prompt.map(() => false), ...completion.map(() => true), true]);
    expect(countedText(e)).toBe(' blue<|endoftext|>');
    expect(data.stats.countedTokens).toBe(completion.length + 1);
  });

  it('formats instruction/input/output rows with the Alpaca prompt', () => {
    const data = parseDataset(jsonl({ instruction: 'Add the numbers.', input: '2 and 3', output: 5 }, { instruction: 'Say hi.', output: 'hi' }), {
      fileName: 'alpaca.jsonl',
    });
    const [a, b] = data.examples;
    expect(a!.promptText).toBe(
      'Below is an instruction that describes a task, paired with an input that provides further context. ' +
        'Write a response that appropriately completes the request.\n\n### Instruction:\nAdd the numbers.\n\n' +
        '### Input:\n2 and 3\n\n### Response:\n',
    );
    expect(a!.completionText).toBe('5');
    expect(b!.promptText).toBe(ALPACA_PROMPT_NO_INPUT.replace('{instruction}', 'Say hi.'));
    expect(b!.promptText).toBe(alpacaPrompt('Say hi.', ''));
    expect(data.formats).toEqual({ instruction: 2 });
  });

  it('renders chat rows with the template and counts only the assistant turns', () => {
    const messages = [
      { role: 'user', content: 'the?' },
      { role: 'assistant', content: 'is' },
      { role: 'user', content: 'more' },
      { role: 'assistant', content: 'the end' },
    ];
    const data = prepareDataset(jsonl({ messages }), tok, { fileName: 'chat.jsonl', seqLen: 128 });
    const e = data.examples[0]!;
    expect(e.format).toBe('chat');
    expect(e.completionText).toBe('the end<|im_end|>\n');
    expect(e.promptText + e.completionText).toBe(tok.applyChatTemplate(messages));
    // Template text as is (no extra BOS/EOS); counted tokens are exactly the two assistant turns.
    expect(tok.decode(e.ids)).toBe(tok.applyChatTemplate(messages));
    expect(countedText(e)).toBe('is<|im_end|>\nthe end<|im_end|>\n');
    const imEnd = tok.tokenToId('<|im_end|>')!;
    expect(e.ids.filter((id, i) => id === imEnd && e.lossMask[i])).toHaveLength(2);
    expect(e.ids.filter((id, i) => id === imEnd && !e.lossMask[i])).toHaveLength(2);
  });

  it('accepts text-part lists as message content', () => {
    const data = parseDataset(
      jsonl({
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'a' },
              { type: 'text', text: 'b' },
            ],
          },
          { role: 'assistant', content: 'c' },
        ],
      }),
      { chatTemplate: tok.compiledChatTemplate },
    );
    expect(data.examples[0]!.promptText).toBe('<|im_start|>user\nab<|im_end|>\n<|im_start|>assistant\n');
  });

  it('refuses chat data when the model has no chat template', () => {
    const error = errorOf(() =>
      prepareDataset(
        jsonl(
          { text: 'x' },
          {
            messages: [
              { role: 'user', content: 'a' },
              { role: 'assistant', content: 'b' },
            ],
          },
        ),
        gpt2Like(),
        {
          fileName: 'chat.jsonl',
          seqLen: 32,
        },
      ),
    );
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      'chat.jsonl line 2 holds a chat conversation ("messages"), but this model\'s tokenizer has no chat template ' +
        '(no "chat_template" in tokenizer_config.json), so conversations cannot be formatted. Use a chat or ' +
        'instruct model, or convert the data to "prompt"/"completion" rows.',
    );
  });

  it('skips unusable rows, each with its line and reason, and keeps the rest', () => {
    const text = jsonl(
      { text: 'ok' },
      '{"text": "unterminated',
      '[1, 2]',
      { text: '   ' },
      { prompt: 'p' },
      { completion: 'c' },
      { instruction: 'i' },
      { output: 'o', input: 'x' },
      { question: 'q', answer: 'a' },
      { messages: [{ role: 'user', content: 'hi' }] },
      { messages: 'hello' },
      { messages: [{ role: 'user' }, { role: 'assistant', content: 'x' }] },
      { text: { nested: true } },
      {
        messages: [
          { role: 'assistant', content: 'a' },
          { role: 'assistant', content: 'b' },
        ],
        extra: 1,
      },
    );
    const data = parseDataset(text, { fileName: 'mixed.jsonl', chatTemplate: tok.compiledChatTemplate });
    expect(data.examples.map((e) => e.line)).toEqual([1, 14]);
    const reasons = data.skipped.map((s) => [s.line, s.reason.replace(/\(.*\)$/, '(…)')]);
    expect(reasons).toEqual([
      [2, 'not valid JSON (…)'],
      [3, 'must be a JSON object, found a list'],
      [4, '"text" is empty'],
      [5, '"completion" is missing'],
      [6, '"prompt" is missing'],
      [7, '"output" is missing'],
      [8, '"instruction" is missing'],
      [
        9,
        'has none of the known fields (found "question", "answer"); a row needs "text", or "prompt" and "completion", ' +
          'or "instruction" and "output" (and optionally "input"), or "messages"',
      ],
      [10, 'the conversation has no "assistant" message, so there is nothing to learn'],
      [11, '"messages" must be a list of { "role", "content" } objects'],
      [12, 'message 1 ("user") has no text "content"'],
      [13, '"text" must be a string, found object'],
    ]);
  });

  it('lists a row the chat template refuses as skipped', () => {
    const strict = gpt2Like(
      "{% for m in messages %}{% if m.role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{{ m.content }}{% endfor %}",
    );
    const data = parseDataset(
      jsonl(
        {
          messages: [
            { role: 'system', content: 's' },
            { role: 'assistant', content: 'a' },
          ],
        },
        {
          messages: [
            { role: 'user', content: 'u' },
            { role: 'assistant', content: 'a' },
          ],
        },
      ),
      { chatTemplate: strict.compiledChatTemplate },
    );
    expect(data.skipped).toEqual([
      { line: 1, reason: "the model's chat template (tokenizer_config.json) refused this conversation: System role not supported" },
    ]);
    expect(data.examples).toHaveLength(1);
  });

  it('says why a file has no usable rows', () => {
    const error = errorOf(() => parseDataset(jsonl('not json', { a: 1 }, { text: '' }, { text: '' }), { fileName: 'bad.jsonl' }));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message.replace(/\(Unexpected[^)]*\)/, '(…)')).toBe(
      'bad.jsonl has no usable rows: all 4 were skipped (line 1: not valid JSON (…); line 2: has none of the known ' +
        'fields (found "a"); a row needs "text", or "prompt" and "completion", or "instruction" and "output" (and ' +
        'optionally "input"), or "messages"; line 3: "text" is empty; and 1 more); a row needs "text", or "prompt" ' +
        'and "completion", or "instruction" and "output" (and optionally "input"), or "messages"',
    );
  });

  it('says when the file is empty', () => {
    expect(errorOf(() => parseDataset(' \n\n', { fileName: 'empty.jsonl' })).message).toBe('empty.jsonl is empty');
    expect(errorOf(() => parseDataset('\uFEFF')).message).toBe('the data is empty');
  });
});

describe('JSON, CSV and plain text files', () => {
  it('reads a JSON list, numbering items', () => {
    const data = parseDataset(JSON.stringify([{ text: 'a' }, 3, { prompt: 'p', completion: 'c' }]), { fileName: 'rows.json' });
    expect(data.kind).toBe('json');
    expect(data.examples.map((e) => [e.line, e.format])).toEqual([
      [1, 'text'],
      [3, 'prompt-completion'],
    ]);
    expect(data.skipped).toEqual([{ line: 2, reason: 'must be a JSON object, found number' }]);
    expect(errorOf(() => parseDataset('[{"text": 1}', { fileName: 'rows.json' })).message).toMatch(
      /^rows\.json is not valid JSON \(.*\); expected a list of rows or JSON Lines$/,
    );
  });

  it('reads CSV with quoted fields, line breaks and doubled quotes', () => {
    const csv = 'Prompt,completion,extra\r\n"Say ""hi""","hi, there",x\r\n"two\nlines",done,y\r\nonly,two\r\n,,\r\n';
    const data = parseDataset(csv, { fileName: 'd.csv' });
    expect(data.kind).toBe('csv');
    expect(data.examples.map((e) => [e.line, e.promptText, e.completionText])).toEqual([
      [2, 'Say "hi"', 'hi, there'],
      [3, 'two\nlines', 'done'],
    ]);
    expect(data.skipped).toEqual([
      { line: 5, reason: 'has 2 fields but the header has 3; is a quote or delimiter missing?' },
      { line: 6, reason: '"completion" is empty' },
    ]);
  });

  it('reads CSV instruction/input/output and text columns, and TSV', () => {
    const alpaca = parseDataset('instruction,input,output\nDo it.,,ok\n', { fileName: 'a.csv' });
    expect(alpaca.examples[0]!.promptText).toBe(alpacaPrompt('Do it.'));
    const text = parseDataset('id,text\n1,hello\n2,world\n', { fileName: 'a.csv' });
    expect(text.examples.map((e) => e.completionText)).toEqual(['hello', 'world']);
    const tsv = parseDataset('prompt\tcompletion\na, b\tc\n', { fileName: 'a.tsv' });
    expect(tsv.examples[0]!.promptText).toBe('a, b');
  });

  it('refuses a CSV header without usable columns', () => {
    const error = errorOf(() => parseDataset('question,answer\nq,a\n', { fileName: 'qa.csv' }));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      'qa.csv: the CSV header ("question", "answer") needs a "text" column, or "prompt" and "completion" columns, ' +
        'or "instruction" and "output" columns (and optionally "input")',
    );
  });

  it('splits plain text at blank lines, keeping line numbers', () => {
    const data = parseDataset('First para\ncontinues.\n\n\n  Second.\r\n\r\nThird\n', { fileName: 'book.txt' });
    expect(data.kind).toBe('text');
    expect(data.examples.map((e) => [e.line, e.completionText])).toEqual([
      [1, 'First para\ncontinues.'],
      [5, 'Second.'],
      [7, 'Third'],
    ]);
  });

  it('splits plain text by length at word breaks', () => {
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`).join(' ');
    const data = parseDataset(words, { fileName: 'a.txt', textSplit: 'length', chunkChars: 30 });
    const chunks = data.examples.map((e) => e.completionText);
    expect(chunks.join(' ')).toBe(words);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThanOrEqual(30);
    expect(chunks.every((c) => /^w\d+( w\d+)*$/.test(c))).toBe(true);
  });

  it('guesses the kind from the content when the name does not say', () => {
    expect(parseDataset('{"text": "a"}').kind).toBe('jsonl');
    expect(parseDataset('[{"text": "a"}]').kind).toBe('json');
    expect(parseDataset('prompt,completion\na,b').kind).toBe('csv');
    expect(parseDataset('Just some prose, with a comma.').kind).toBe('text');
    expect(parseDataset('{"text": "a"}', { kind: 'text' }).examples[0]!.completionText).toBe('{"text": "a"}');
  });
});

describe('tokenizing', () => {
  it('truncates long rows to the sequence length and says which', () => {
    const long = 'the '.repeat(40).trim();
    const data = prepareDataset(jsonl({ text: 'short' }, { text: long }), tok, { fileName: 'd.jsonl', seqLen: 16 });
    expect(data.examples[1]!.ids).toHaveLength(16);
    expect(data.examples[1]!.fullLength).toBe(41); // 'the' + 39 × ' the' + EOS;
    expect(data.truncated).toEqual([{ line: 2, tokens: 41, kept: 16 }]);
    expect(data.skipped).toEqual([]);
  });

  it('skips a row whose prompt alone fills the sequence', () => {
    const data = prepareDataset(jsonl({ prompt: 'the '.repeat(20).trim(), completion: ' is' }, { text: 'ok' }), tok, {
      fileName: 'd.jsonl',
      seqLen: 8,
    });
    expect(data.skipped).toEqual([
      {
        line: 1,
        reason:
          'the prompt alone is 20 tokens, at least the sequence length (8), so no completion token would be trained; ' +
          'raise the sequence length or shorten the prompt',
      },
    ]);
    expect(data.examples.map((e) => e.line)).toEqual([2]);
    const all = errorOf(() => prepareDataset(jsonl({ prompt: 'the '.repeat(20).trim(), completion: ' is' }), tok, { fileName: 'd.jsonl', seqLen: 8 }));
    expect(all.message).toBe(
      'd.jsonl has no usable rows: all 1 were skipped (line 1: the prompt alone is 20 tokens, at least the sequence ' +
        'length (8), so no completion token would be trained; raise the sequence length or shorten the prompt)',
    );
  });

  it('prepends BOS for tokenizers that add it (not for chat), never counting it', () => {
    const llama = llamaLike();
    expect(llama.addsBos).toBe(true);
    const { examples } = tokenizeExamples(parseDataset(jsonl({ prompt: 'a', completion: 'b' })).examples, llama, { seqLen: 16 });
    expect(examples[0]!.ids).toEqual([
      llama.bosId,
      ...llama.encode('a', { addSpecialTokens: false }),
      ...llama.encode('b', { addSpecialTokens: false }),
      llama.eosId,
    ]);
    expect(examples[0]!.lossMask).toEqual([false, false, true, true]);
  });

  it('skips rows the tokenizer cannot encode, with its message', () => {
    const narrow = loadTokenizer({
      model: { type: 'BPE', vocab: { a: 0, b: 1, '</s>': 2 }, merges: [] },
      pre_tokenizer: { type: 'WhitespaceSplit' },
      added_tokens: [{ id: 2, content: '</s>', special: true }],
    });
    const data = tokenizeExamples(parseDataset(jsonl({ text: 'a b' }, { text: 'a c' })).examples, narrow, { seqLen: 8 });
    expect(data.examples.map((e) => e.ids)).toEqual([[0, 1, 2]]);
    expect(data.skipped).toEqual([
      {
        line: 2,
        reason: 'tokenizer.json: cannot encode "c": it is not in the vocabulary and the tokenizer has no "unk_token", so it would be dropped from the text',
      },
    ]);
  });

  it('refuses a sequence length below 2', () => {
    expect(errorOf(() => tokenizeExamples([], tok, { seqLen: 1 })).message).toBe('sequence length must be a whole number of at least 2 tokens, got 1');
  });

  it('counts tokens for the preview', () => {
    const stats = datasetStats([
      { ids: [1, 2, 3], lossMask: [true, true, true], segments: [{ text: 'abc', counted: true }] },
      { ids: [1, 2, 3, 4, 5], lossMask: [false, false, false, true, true], segments: [] },
    ]);
    expect(stats).toEqual({ rows: 2, tokens: 8, countedTokens: 4, minTokens: 3, meanTokens: 4, maxTokens: 5, chars: 3 });
  });
});

describe('splitTrainValidation', () => {
  const items = Array.from({ length: 50 }, (_, i) => i);

  it('is deterministic for a seed, disjoint, complete, and keeps order', () => {
    const a = splitTrainValidation(items, 0.2, 7);
    const b = splitTrainValidation(items, 0.2, 7);
    expect(a).toEqual(b);
    expect(a.validation).toHaveLength(10);
    expect([...a.train, ...a.validation].sort((x, y) => x - y)).toEqual(items);
    expect(a.train).toEqual([...a.train].sort((x, y) => x - y));
    expect(splitTrainValidation(items, 0.2, 8).validation).not.toEqual(a.validation);
  });

  it('keeps at least one row on each side, and none for validation when asked', () => {
    expect(splitTrainValidation([1, 2], 0.01, 1).validation).toHaveLength(1);
    expect(splitTrainValidation([1, 2], 0.99, 1).train).toHaveLength(1);
    expect(splitTrainValidation([1], 0.5, 1)).toEqual({ train: [1], validation: [] });
    expect(splitTrainValidation(items, 0, 1).validation).toEqual([]);
  });

  it('refuses a fraction outside [0, 1)', () => {
    expect(errorOf(() => splitTrainValidation(items, 1, 1)).message).toBe('the validation fraction must be at least 0 and below 1, got 1');
  });

  it('permutations are seeded permutations', () => {
    const p = seededPermutation(100, 3, 1);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(seededPermutation(100, 3, 1)).toEqual(p);
    expect(seededPermutation(100, 3, 2)).not.toEqual(p);
  });
});

describe('batches', () => {
  const seq = (ids: number[], mask?: boolean[]): { ids: number[]; lossMask: boolean[] } => ({ ids, lossMask: mask ?? ids.map(() => true) });
  const examples = [seq([10, 11, 12], [false, true, true]), seq([20, 21]), seq([30, 31, 32, 33, 34, 35, 36, 37, 38, 39]), seq([40, 41, 42, 43])];

  it('one example per row: ids padded, targets shifted where they count', () => {
    const batch = makeBatch(examples, 4, 6, 1, 0, { shuffle: false, padId: 99 });
    expect(batch.ids).toBeInstanceOf(Int32Array);
    expect(Array.from(batch.ids)).toEqual([
      10,
      11,
      12,
      99,
      99,
      99,
      20,
      21,
      99,
      99,
      99,
      99,
      30,
      31,
      32,
      33,
      34,
      35, // cut to T = 6
      40,
      41,
      42,
      43,
      99,
      99,
    ]);
    const X = IGNORE_INDEX;
    expect(Array.from(batch.targets)).toEqual([11, 12, X, X, X, X, 21, X, X, X, X, X, 31, 32, 33, 34, 35, X, 41, 42, 43, X, X, X]);
    expect(batch.countedTokens).toBe(2 + 1 + 5 + 3);
    expect(batch.tokens).toBe(3 + 2 + 6 + 4);
  });

  it('does not train on the prompt: targets are IGNORE_INDEX where the next token is not counted', () => {
    const b = makeBatch([seq([1, 2, 3, 4, 5], [false, false, false, true, true])], 1, 8, 0, 0);
    expect(Array.from(b.targets.slice(0, 5))).toEqual([IGNORE_INDEX, IGNORE_INDEX, 4, 5, IGNORE_INDEX]);
  });

  it('packs whole examples into rows and never lets targets cross them', () => {
    expect(packBatches(examples, 6, true)).toEqual([[0, 1], [2], [3]]);
    expect(packBatches(examples, 6, false)).toEqual([[0], [1], [2], [3]]);
    const batch = makeBatch(examples, 1, 6, 0, 0, { packing: true, shuffle: false });
    expect(Array.from(batch.ids)).toEqual([10, 11, 12, 20, 21, 0]);
    expect(Array.from(batch.targets)).toEqual([11, 12, IGNORE_INDEX, 21, IGNORE_INDEX, IGNORE_INDEX]);
  });

  it('is a pure function of (seed, step) and visits every row once per epoch', () => {
    const many = Array.from({ length: 12 }, (_, i) => seq([i, i + 100]));
    const batcher = createBatcher(many, { batchSize: 3, seqLen: 4, seed: 42 });
    expect(batcher.stepsPerEpoch).toBe(4);
    const again = createBatcher(many, { batchSize: 3, seqLen: 4, seed: 42 });
    for (let step = 0; step < 6; step++) {
      expect(again.batch(step)).toEqual(batcher.batch(step));
      expect(makeBatch(many, 3, 4, 42, step)).toEqual(batcher.batch(step));
    }
    const firstEpoch = [0, 1, 2, 3].flatMap((s) => batcher.batch(s).rows);
    expect([...firstEpoch].sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    const secondEpoch = [4, 5, 6, 7].flatMap((s) => batcher.batch(s).rows);
    expect(secondEpoch).not.toEqual(firstEpoch);
    expect(batcher.batch(4).epoch).toBe(1);
    expect(createBatcher(many, { batchSize: 3, seqLen: 4, seed: 43 }).batch(0).rows).not.toEqual(batcher.batch(0).rows);
    // Row i holds ids [i, i + 100].
    const b0 = batcher.batch(0);
    b0.rows.forEach((row, b) => expect(Array.from(b0.ids.slice(b * 4, b * 4 + 2))).toEqual([row, row + 100]));
  });

  it('wraps into the next epoch when the batch does not divide the rows', () => {
    const batcher = createBatcher(examples, { batchSize: 3, seqLen: 8, seed: 5 });
    expect(batcher.stepsPerEpoch).toBe(2);
    const rows = [0, 1, 2, 3].flatMap((s) => batcher.batch(s).rows);
    expect([...rows.slice(0, 4)].sort()).toEqual([0, 1, 2, 3]);
    expect([...rows.slice(4, 8)].sort()).toEqual([0, 1, 2, 3]);
    expect(batcher.fill).toBeCloseTo((3 + 2 + 8 + 4) / (4 * 8));
  });

  it('refuses bad sizes with clear messages', () => {
    expect(errorOf(() => createBatcher(examples, { batchSize: 0, seqLen: 8, seed: 1 })).message).toBe('batch size must be a positive whole number, got 0');
    expect(errorOf(() => createBatcher([], { batchSize: 1, seqLen: 8, seed: 1 })).message).toBe('there are no examples to make batches from');
    expect(errorOf(() => makeBatch(examples, 1, 8, 1, -1)).message).toBe('step must be a whole number ≥ 0, got -1');
  });

  it('feeds prepared data end to end', () => {
    const data = prepareDataset(jsonl({ prompt: 'the', completion: ' is' }, { text: 'the the' }), tok, { fileName: 'd.jsonl', seqLen: 8 });
    const { train, validation } = splitTrainValidation(data.examples, 0.5, 1);
    expect(train.length + validation.length).toBe(2);
    const batch = makeBatch(data.examples, 2, 8, 1, 0, { padId: EOS, shuffle: false });
    const first = data.examples[0]!;
    // prompt/completion: targets are ' is' then EOS, at the positions before them.
    const counted = Array.from(batch.targets.slice(0, 8)).filter((t) => t !== IGNORE_INDEX);
    expect(counted).toEqual(first.ids.filter((_, i) => first.lossMask[i]));
  });
});
