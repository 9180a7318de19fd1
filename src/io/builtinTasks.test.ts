// The built-in data sets (public/datasets/<id>/, each written by a generator in scripts/) and the
// built-in model's held-out pretraining sample (public/models/kjv-llama-1m/heldout.txt), read the
// way the studio reads them: {question, answer} rows mapped by questionAnswerRows, then
// prepareDataset with the built-in model's tokenizer. Checks what the cards promise: every row
// usable and uncut, small files, validation disjoint from train, answers the scorer can read.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { prepareDataset, type PreparedData } from './datasets';
import { finalAnswer, questionAnswerRows } from './questionAnswer';
import { loadTokenizer } from './tokenizer';

const DATASETS = 'public/datasets';
const MODEL = 'public/models/kjv-llama-1m';
// The longest sequence length a card asks for (math: 96); every built-in row fits it.
const SEQ_LEN = 96;
const MAX_FILE_BYTES = 1024 * 1024;

const tokenizer = loadTokenizer(
  readFileSync(join(MODEL, 'tokenizer.json'), 'utf8'),
  JSON.parse(readFileSync(join(MODEL, 'tokenizer_config.json'), 'utf8')) as object,
);
const sets = readdirSync(DATASETS).filter((name) => statSync(join(DATASETS, name)).isDirectory());

function read(id: string, file: string): { raw: string; prepared: PreparedData; mapped: boolean } {
  const raw = readFileSync(join(DATASETS, id, file), 'utf8');
  const { text, mapped } = questionAnswerRows(raw, file);
  return { raw, prepared: prepareDataset(text, tokenizer, { fileName: file, seqLen: SEQ_LEN }), mapped };
}

function lineCount(text: string): number {
  return text.split('\n').filter((line) => line.trim() !== '').length;
}

describe('built-in data sets', () => {
  it('include the numeric and KJV tasks besides math and words', () => {
    expect(sets).toEqual(expect.arrayContaining(['arithmetic', 'math', 'verses', 'words']));
  });

  describe.each(sets)('%s', (id) => {
    const train = read(id, 'train.jsonl');
    const validation = read(id, 'validation.jsonl');

    it('has a card and train/validation files under 1 MB', () => {
      expect(readFileSync(join(DATASETS, id, 'README.md'), 'utf8')).toMatch(/^# /);
      for (const file of ['train.jsonl', 'validation.jsonl']) expect(statSync(join(DATASETS, id, file)).size).toBeLessThan(MAX_FILE_BYTES);
    });

    it("states the base model's measured loss and accuracy in its card's Baseline section", () => {
      const card = readFileSync(join(DATASETS, id, 'README.md'), 'utf8');
      const section = /^## Baseline\n([\s\S]*?)(?=^## )/m.exec(card)?.[1] ?? '';
      expect(section).not.toMatch(/TBD/);
      expect(section).toMatch(/validation loss \*\*\d+\.\d+\*\*/i);
      expect(section).toMatch(/\*\*\d+\/\d+\*\*/);
      expect(section).toContain('npm run study');
    });

    it('parses every row with the studio reader, none skipped and none cut', () => {
      for (const { raw, prepared } of [train, validation]) {
        expect(prepared.skipped).toEqual([]);
        expect(prepared.truncated).toEqual([]);
        expect(prepared.examples.length).toBe(lineCount(raw));
        expect(prepared.formats).toEqual({ 'prompt-completion': prepared.examples.length });
      }
      expect(validation.prepared.examples.length).toBeGreaterThanOrEqual(100);
    });

    it('has no validation prompt that is also a train prompt', () => {
      const trainPrompts = new Set(train.prepared.examples.map((e) => e.promptText));
      const shared = validation.prepared.examples.filter((e) => trainPrompts.has(e.promptText));
      expect(shared.map((e) => e.promptText)).toEqual([]);
      expect(new Set(validation.prepared.examples.map((e) => e.promptText)).size).toBe(validation.prepared.examples.length);
    });

    it('gives {question, answer} rows exactly one "####" answer line, at the end', () => {
      if (!train.mapped) return; // prompt/completion rows (words) are scored on the whole answer
      for (const e of [...train.prepared.examples, ...validation.prepared.examples]) {
        expect(e.completionText.split('####').length).toBe(2);
        const answer = finalAnswer(e.completionText);
        expect(answer).toBeTruthy();
        expect(e.completionText.trimEnd().endsWith(`#### ${answer!}`)).toBe(true);
      }
    });
  });
});

describe('the held-out pretraining sample (heldout.txt)', () => {
  const raw = readFileSync(join(MODEL, 'heldout.txt'), 'utf8');
  const prepared = prepareDataset(raw, tokenizer, { fileName: 'heldout.txt', seqLen: 256 });
  const verses = raw.split('\n\n').map((v) => v.trim());

  it('is a few KB to ~50 KB, one verse per paragraph, each read as <|bos|> verse <|eos|>', () => {
    expect(raw.length).toBeGreaterThan(4000);
    expect(raw.length).toBeLessThan(52_000);
    expect(prepared.skipped).toEqual([]);
    expect(prepared.truncated).toEqual([]);
    expect(prepared.formats).toEqual({ text: verses.length });
    expect(prepared.examples.map((e) => e.completionText)).toEqual(verses);
    for (const e of prepared.examples) {
      expect(e.ids[0]).toBe(tokenizer.bosId);
      expect(e.ids[e.fullLength - 1]).toBe(tokenizer.eosId);
    }
  });

  it('shares no verse with the verse-ending task', () => {
    const questions = ['train.jsonl', 'validation.jsonl'].flatMap((file) =>
      readFileSync(join(DATASETS, 'verses', file), 'utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => (JSON.parse(line) as { question: string }).question.replace(/^Complete the verse: /, '')),
    );
    const held = new Set(verses);
    const overlapping = questions.filter((prefix) => verses.some((v) => v.startsWith(`${prefix} `)));
    expect(overlapping).toEqual([]);
    expect(questions.some((q) => held.has(q))).toBe(false);
  });
});
