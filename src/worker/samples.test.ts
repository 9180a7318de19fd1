// Samples at each validation step, in Node on the built-in model (public/models/kjv-llama-1m) and
// math data: the prompt (the prompt part of the first validation row, as tokenised for training),
// the schedule (after every validation step and the last, each running method's sample after that
// step's validation losses, in the methods' order), repeatability (same seed, same samples, also
// when sampling with temperature), the stop string, and the settings' checks. The pure pieces
// (prompt selection, stop strings, settings ranges) are tested on hand-made rows.

import { afterAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { prepareDataset } from '../io/datasets';
import { CHATML } from '../io/testChatTemplates';
import { byteLevelBpeTokenizerJson, loadTokenizer } from '../io/tokenizer';
import { cutAtStop, stopOnText } from '../models/sampling';
import { InputError } from '../errors';
import type { ComparisonEvent, ComparisonParams } from './protocol';
import { promptIdsOf, samplePrompt } from './samples';
import { escapeStop, sampleDecoding, unescapeStop } from './sampleSettings';
import { destroyTestDevices, openBuiltinSession } from './testSession';

afterAll(destroyTestDevices);

function params(extra: Partial<ComparisonParams> = {}): ComparisonParams {
  return {
    methods: [lora.id, pissa.id].map((id) => ({ id, settings: { rank: 2 } })),
    targets: ['q', 'v'],
    lr: 1e-2,
    schedule: 'constant',
    warmup: 0,
    steps: 5,
    batch: 1,
    seqLen: 64,
    seed: 3,
    evalEvery: 2,
    clipNorm: 0,
    validationRows: 1,
    validationFraction: 0.1,
    accuracyQuestions: 0,
    samplesOn: true,
    sampleMaxTokens: 6,
    sampleGreedy: true,
    sampleStopAtEos: false,
    ...extra,
  };
}

describe('sample prompt and settings', () => {
  it("takes a row's ids before its last counted run; a text row (at most a BOS before it) gives its first quarter, at most 16", () => {
    const row = (mask: string) => ({ ids: [...mask].map((_, i) => 100 + i), lossMask: [...mask].map((c) => c === '1') });
    expect(promptIdsOf(row('0000111'))).toEqual([100, 101, 102, 103]);
    // Chat: two assistant turns; the prompt runs up to the last one.
    expect(promptIdsOf(row('0011000111'))).toEqual([100, 101, 102, 103, 104, 105, 106]);
    expect(promptIdsOf(row('0' + '1'.repeat(39)))).toEqual([100, 101, 102, 103, 104, 105, 106, 107, 108, 109]);
    expect(promptIdsOf(row('0' + '1'.repeat(99)))).toHaveLength(16);
    expect(promptIdsOf(row('111'))).toEqual([100]);
    expect(promptIdsOf(row('000'))).toEqual([100, 101, 102]);
  });

  it('renders the prompt as training does: chat rows and typed prompts through the chat template, BOS kept but not shown', () => {
    const chatTok = loadTokenizer(byteLevelBpeTokenizerJson({ specialTokens: ['<|endoftext|>', '<|im_start|>', '<|im_end|>'] }), {
      eos_token: '<|endoftext|>',
      chat_template: CHATML,
    });
    const chat = JSON.stringify({
      messages: [
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'yo' },
      ],
    });
    const rows = prepareDataset(chat, chatTok, { fileName: 'chat.jsonl', seqLen: 64 }).examples;
    const fromRow = samplePrompt(chatTok, { validation: rows, train: [] }, '', 256);
    expect(fromRow).toMatchObject({ text: '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n', source: 'validation' });
    expect(fromRow.ids).toEqual(rows[0]!.ids.slice(0, fromRow.ids.length));
    expect(samplePrompt(chatTok, { validation: [], train: rows }, 'hey', 256)).toMatchObject({
      text: '<|im_start|>user\nhey<|im_end|>\n<|im_start|>assistant\n',
      source: 'custom',
    });
    expect(samplePrompt(chatTok, { validation: [], train: rows }, '', 256).source).toBe('training');
    expect(() => samplePrompt(chatTok, { validation: [], train: [] }, '', 256)).toThrow(/type a sample prompt under Training/);

    const bosJson = byteLevelBpeTokenizerJson({ specialTokens: ['<s>', '</s>'] });
    bosJson.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [256], tokens: ['<s>'] } },
    };
    const bosTok = loadTokenizer(bosJson, { bos_token: '<s>', eos_token: '</s>' });
    const pc = prepareDataset(JSON.stringify({ prompt: 'Q: 1+1?\nA:', completion: ' 2' }), bosTok, { fileName: 'pc.jsonl', seqLen: 64 }).examples;
    const plain = samplePrompt(bosTok, { validation: pc, train: [] }, '', 256);
    expect(plain.ids[0]).toBe(bosTok.bosId);
    expect(plain.text).toBe('Q: 1+1?\nA:');
    expect(samplePrompt(bosTok, { validation: pc, train: [] }, 'Q: 2+2?\nA:', 256).ids).toEqual([
      bosTok.bosId,
      ...bosTok.encode('Q: 2+2?\nA:', { addSpecialTokens: false }),
    ]);
  });

  it('stops on text that spans tokens, and cuts the stop string and what follows it', () => {
    const pieces = ['4', '2', '\n', 'Q'];
    const stop = stopOnText((ids) => ids.map((i) => pieces[i]).join(''), '2\nQ');
    expect(stop?.([0, 1])).toBe(false);
    expect(stop?.([0, 1, 2, 3])).toBe(true);
    expect(stopOnText(() => 'x', '')).toBeUndefined();
    expect(cutAtStop('#### 42\nQuestion: x', '\n')).toEqual({ text: '#### 42', stopped: true });
    expect(cutAtStop('#### 42', '\n')).toEqual({ text: '#### 42', stopped: false });
    expect(cutAtStop('abc', '')).toEqual({ text: 'abc', stopped: false });
    expect(unescapeStop('\\n')).toBe('\n');
    expect(unescapeStop('a\\tb\\\\n\\x')).toBe('a\tb\\n\\x');
    for (const s of ['\n', 'a\\nb', '\t\\', '###']) expect(unescapeStop(escapeStop(s))).toBe(s);
  });

  it('is off unless asked for; greedy ignores the sampling knobs; values out of range are refused with the range', () => {
    const { samplesOn: _, ...off } = params();
    expect(sampleDecoding(off)).toBeNull();
    expect(sampleDecoding(params({ samplesOn: false }))).toBeNull();
    expect(sampleDecoding(params({ sampleTemperature: -1 }))?.decoding).toMatchObject({ temperature: 0, topK: 0, topP: 1, maxNewTokens: 6, seed: 3 });
    expect(sampleDecoding(params({ sampleGreedy: false }))?.decoding).toMatchObject({ temperature: 0.8, topK: 40, topP: 0.95 });
    expect(() => sampleDecoding(params({ sampleGreedy: false, sampleTopP: 1.5 }))).toThrow(/top-p must be a number from 0.01 to 1, is 1.5/);
    expect(() => sampleDecoding(params({ sampleMaxTokens: 0 }))).toThrow(InputError);
    expect(() => sampleDecoding(params({ sampleMaxTokens: 2.5 }))).toThrow(/whole number from 1 to 512/);
    expect(() => sampleDecoding(params({ sampleStop: 'x'.repeat(101) }))).toThrow(/at most 100/);
  });
});

describe('samples in a studio run', () => {
  it('samples each method after each validation, in order, from the validation prompt; the same seed repeats them, also sampled', async () => {
    const session = await openBuiltinSession();
    const events: ComparisonEvent[] = [];
    await session.startComparison(params(), (e) => events.push(e));
    const kinds = events.filter((e) => ['samplePrompt', 'step', 'eval', 'sample'].includes(e.type));
    // The prompt first; then after steps 2, 4 and the last (5): both validations, then both samples.
    expect(kinds[0]).toMatchObject({ type: 'samplePrompt', source: 'validation' });
    const prompt = (kinds[0] as Extract<ComparisonEvent, { type: 'samplePrompt' }>).prompt;
    expect(prompt).toMatch(/^Question: [\s\S]*\nAnswer:$/);
    const order = kinds
      .slice(1)
      .filter((e) => e.type !== 'step' || e.method === pissa.id)
      .map((e) =>
        e.type === 'step'
          ? `step ${e.point.step}`
          : e.type === 'eval'
            ? `eval ${e.method} ${e.step}`
            : e.type === 'sample'
              ? `sample ${e.method} ${e.sample.step}`
              : '',
      );
    const after = (s: number) => [`step ${s}`, `eval lora ${s}`, `eval pissa ${s}`, `sample lora ${s}`, `sample pissa ${s}`];
    expect(order).toEqual([`step 1`, ...after(2), `step 3`, ...after(4), ...after(5)]);
    const samples = events.flatMap((e) => (e.type === 'sample' ? [e.sample] : []));
    for (const s of samples) {
      expect(s.tokens).toBe(6);
      expect(s.end).toBe('length');
      expect(s.text.length).toBeGreaterThan(0);
    }

    // Again with the same seed, sampled at temperature 1.5 with a stop string: the same samples twice.
    const sampled = params({ steps: 2, sampleGreedy: false, sampleTemperature: 1.5, sampleTopK: 0, sampleTopP: 1, sampleMaxTokens: 8, sampleStop: ' ' });
    const texts = async () => {
      const out: ComparisonEvent[] = [];
      await session.startComparison(sampled, (e) => out.push(e));
      return out.flatMap((e) => (e.type === 'sample' ? [e] : []));
    };
    const first = await texts();
    const second = await texts();
    expect(first.map((e) => e.method)).toEqual([lora.id, pissa.id]);
    expect(second.map((e) => e.sample.text)).toEqual(first.map((e) => e.sample.text));
    for (const { sample } of first) {
      expect(sample.text).not.toContain(' ');
      if (sample.end === 'stop') expect(sample.tokens).toBeLessThanOrEqual(8);
      else expect(sample.tokens).toBe(8);
    }
  }, 300_000);

  it('refuses a typed prompt longer than the model takes before training starts', async () => {
    const session = await openBuiltinSession();
    const events: ComparisonEvent[] = [];
    await expect(session.startComparison(params({ samplePrompt: 'In the beginning '.repeat(200) }), (e) => events.push(e))).rejects.toThrow(
      /sample prompt has \d+ tokens, leaving no room/,
    );
    expect(events.some((e) => e.type === 'step')).toBe(false);
  }, 120_000);
});
