// CI's fuzz run: every input kind (kinds.ts), a fixed seed, 100 cases each, in this process (the
// parsers bound their own work, so no case can spin; a regression would show as a hang here or as
// the test timing out). Targets: no crash, no hang, no refusal without a file name or with a stack
// trace, and the previously loaded state untouched. Also the inputs a tester found, replayed
// exactly: huge dimensions in config.json, a chat template looping over range(10**9), JSON nested
// 100 000 deep, and a token id of 2^31 in tokenizer.json.
// `npm run fuzz` runs 1000 per kind with a watchdog thread and writes RELIABILITY.md.

import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runKind, classify, HANG_MS, type KindReport } from './harness';
import { KINDS } from './kinds';
import { caseSeed, mutateJson, Rng, writeJson, Entries, Raw } from './mutate';
import { bytesSource } from '../io/byteSource';
import { openModelFiles } from '../io/modelFiles';
import { loadModelTokenizer, byteLevelBpeTokenizerJson } from '../io/tokenizer';
import { parseDataset } from '../io/datasets';
import { tinyModelFolder, tinyConfigJson } from '../io/testModels';
import { modelInfo } from '../cli/commands/info';
import { ModelFormatError, DatasetError, StudioError } from '../errors';

const SEED = 20260101;
const CASES = 100;

function failures(report: KindReport): string {
  return report.failures.map((f) => `case ${f.index} (seed ${f.seed}) ${f.status}: ${f.op} -> ${f.message ?? ''}`).join('\n');
}

describe('fuzz: 100 cases per input kind, fixed seed', () => {
  for (const kind of KINDS) {
    it(
      kind.name,
      async () => {
        const report = await runKind(kind, { cases: CASES, seed: SEED });
        expect(report.cases).toBe(CASES);
        expect(failures(report)).toBe('');
        expect(report.accepted + report.refused).toBe(CASES);
        expect(report.slowest!.ms).toBeLessThan(HANG_MS);
      },
      120_000,
    );
  }
});

describe('the mutator', () => {
  it('is a pure function of the seed', () => {
    const value = { a: [1, 2, { b: 'c' }], d: null };
    for (let i = 0; i < 20; i++) {
      const seed = caseSeed(7, 'x', i);
      expect(mutateJson(new Rng(seed), value)).toEqual(mutateJson(new Rng(seed), value));
    }
    expect(caseSeed(1, 'config', 0)).not.toBe(caseSeed(1, 'config', 1));
    expect(caseSeed(1, 'config', 0)).not.toBe(caseSeed(2, 'config', 0));
  });

  it('writes what JSON.stringify cannot: duplicate keys, NaN, deep nesting', () => {
    expect(
      writeJson(
        new Entries([
          ['a', 1],
          ['a', new Raw('NaN')],
        ]),
      ),
    ).toBe('{"a":1,"a":NaN}');
    const deep = writeJson(new Raw(`${'['.repeat(100_000)}${']'.repeat(100_000)}`));
    expect(deep.length).toBe(200_000);
  });
});

describe('classification', () => {
  it('counts only named, stack-free StudioErrors as refusals', () => {
    const names = ['config.json'];
    expect(classify(new ModelFormatError('bad', 'model/config.json'), { names }).status).toBe('refused');
    expect(classify(new ModelFormatError('bad'), { names }).status).toBe('message');
    expect(classify(new StudioError('config.json: x\n    at foo (a.ts:1:2)'), { names }).status).toBe('message');
    expect(classify(new ModelFormatError(`the name ${'x'.repeat(5000)} is bad`, 'config.json'), { names }).status).toBe('message');
    expect(classify(new RangeError('Maximum call stack size exceeded'), { names }).status).toBe('crash');
    expect(classify(new TypeError("Cannot read properties of undefined (reading 'x')"), { names }).status).toBe('crash');
  });
});

/** A model folder (tiny Llama, V 300, a byte-level tokenizer) with some files replaced. */
function folder(replace: Record<string, string>): ReturnType<typeof bytesSource>[] {
  const config = { ...tinyConfigJson('llama'), vocab_size: 300 };
  const files = tinyModelFolder(config, { folder: 'm/' }).filter((f) => !(f.name.slice(2) in replace));
  for (const [name, text] of Object.entries(replace)) files.push(bytesSource(`m/${name}`, new TextEncoder().encode(text)));
  return files;
}

async function refusalOf(promise: Promise<unknown>): Promise<Error> {
  const start = performance.now();
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(performance.now() - start).toBeLessThan(2_000);
  if (!(error instanceof Error)) throw new Error('expected a refusal');
  return error;
}

describe('the inputs a tester found', () => {
  it('refuses huge dimensions in config.json at once, in the folder check and in `info`', async () => {
    const config = { ...tinyConfigJson('llama'), num_hidden_layers: 1_000_000_000 };
    const error = await refusalOf(openModelFiles(folder({ 'config.json': JSON.stringify(config) })));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toBe(
      'm/config.json: "num_hidden_layers" is 1000000000, above the limit of 1024; no model Adapter Studio can load is this large, ' +
        'so the file is corrupt or describes another kind of model',
    );
    const dir = await mkdtemp(join(tmpdir(), 'fuzz-info-'));
    try {
      await mkdir(join(dir, 'm'));
      for (const f of folder({ 'config.json': JSON.stringify({ ...config, num_hidden_layers: 2, hidden_size: 2 ** 40 }) })) {
        await writeFile(join(dir, f.name), await f.read(0, f.size));
      }
      const info = await refusalOf(modelInfo(join(dir, 'm'), 4, 64));
      expect(info.message).toMatch(/config\.json: "hidden_size" is 1099511627776, above the limit of 2147483647/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a chat template that loops over range(10**9), naming tokenizer_config.json', async () => {
    const tokenizerConfig = JSON.stringify({ eos_token: '<|endoftext|>', chat_template: '{% for i in range(10**9) %}x{% endfor %}' });
    const files = folder({ 'tokenizer.json': JSON.stringify(byteLevelBpeTokenizerJson()), 'tokenizer_config.json': tokenizerConfig });
    const error = await refusalOf(openModelFiles(files).then(loadModelTokenizer));
    expect(error).toBeInstanceOf(ModelFormatError);
    expect(error.message).toBe(
      'm/tokenizer_config.json: "chat_template" went past the limits on a chat template: range() was asked for 1000000000 numbers ' +
        '(the limit is 100000). The template loops or grows without bound; use the model\'s original tokenizer_config.json, or replace its "chat_template"',
    );
  });

  it("refuses JSON nested 100 000 deep with the file's typed error, never a raw RangeError", async () => {
    const deep = `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`;
    for (const name of ['config.json', 'tokenizer.json', 'tokenizer_config.json']) {
      const error = await refusalOf(
        openModelFiles(folder({ [name]: deep, 'tokenizer.json': name === 'tokenizer.json' ? deep : JSON.stringify(byteLevelBpeTokenizerJson()) })).then(
          loadModelTokenizer,
        ),
      );
      expect(error).toBeInstanceOf(ModelFormatError);
      expect(error.message).toBe(
        `m/${name}: nests more than 512 levels deep (arrays or objects inside each other); no valid file of this kind does, so it is ` +
          'corrupt or was not written by a JSON library',
      );
    }
    expect(() => parseDataset(`[${deep}]`, { fileName: 'rows.json' })).toThrow(DatasetError);
    expect(() => parseDataset(`[${deep}]`, { fileName: 'rows.json' })).toThrow(/^rows\.json nests more than 512 levels deep/);
  });

  it('refuses a token id of 2^31 before the tokenizer library loops over it', async () => {
    const tokenizer = byteLevelBpeTokenizerJson();
    (tokenizer.model as { vocab: Record<string, number> }).vocab['Ġhuge'] = 2 ** 31;
    const error = await refusalOf(openModelFiles(folder({ 'tokenizer.json': JSON.stringify(tokenizer) })).then(loadModelTokenizer));
    expect(error.message).toBe(
      `m/tokenizer.json: "model.vocab" token "Ġhuge" has the id 2147483648, far beyond config.json's vocab_size of 300; the file is damaged or belongs to another model`,
    );
  });
});
