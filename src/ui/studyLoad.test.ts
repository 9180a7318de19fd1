import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InputError } from '../errors';
import { loadStudy, parseStudy } from './studyLoad';

const text = readFileSync('docs/results.json', 'utf8');
const reply = (status: number, body: string) => async () => ({
  ok: status < 300,
  status,
  statusText: status === 404 ? 'Not Found' : 'OK',
  text: async () => body,
});

describe('parseStudy', () => {
  it('reads the reference study', () => {
    const study = parseStudy(text, 'docs/results.json');
    expect(study.runs.length).toBeGreaterThan(0);
    expect(study.config.methods.length).toBeGreaterThan(0);
  });

  it('says what is wrong with a cut, foreign or incomplete file', () => {
    expect(() => parseStudy(text.slice(0, 1000), 'f.json')).toThrow(/f\.json is not valid JSON/);
    expect(() => parseStudy('[1, 2]', 'f.json')).toThrow(/no "config" section/);
    expect(() => parseStudy('null', 'f.json')).toThrow(/no study object/);
    expect(() => parseStudy('{"config": {"model": "m"}}', 'f.json')).toThrow(/lacks config\.methods, config\.steps, config\.batch, config\.learningRates/);
    const noRuns = JSON.parse(text) as Record<string, unknown>;
    delete noRuns.runs;
    expect(() => parseStudy(JSON.stringify(noRuns), 'f.json')).toThrow(/no "runs" list/);
    expect(() => parseStudy(text.slice(0, 1000), 'f.json')).toThrow(InputError);
  });
});

describe('loadStudy', () => {
  it('fetches and parses', async () => {
    const study = await loadStudy('/r.json', reply(200, text));
    expect(study.datasets.length).toBeGreaterThan(0);
  });

  it('turns a failed request or an HTTP error into an InputError that says what to do', async () => {
    await expect(loadStudy('/r.json', reply(404, ''))).rejects.toThrow(/answered 404 Not Found.*Rebuild the studio/);
    await expect(
      loadStudy('/r.json', async () => {
        throw new TypeError('Failed to fetch');
      }),
    ).rejects.toThrow(/Could not download the study results \(Failed to fetch\)/);
  });
});
