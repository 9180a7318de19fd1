import { describe, expect, it } from 'vitest';
import { htmlReport } from './report';
import { parseRunRecord, type RunRecord, type RunSample } from './runRecord';
import { diffRuns, settingsRows } from './runSettings';
import { addSample, lastSamples, sampleAt, samplesUpTo, sampleSteps, shownStep, type SamplesByMethod } from './runSamples';

const at = (step: number, text = `t${step}`): RunSample => ({ step, text, tokens: text.length, ms: 1, end: 'length' });

describe('run samples', () => {
  it('collects samples per method in step order; a second sample for a step (the next seed) replaces the first', () => {
    let by: SamplesByMethod = {};
    for (const [m, s] of [
      ['m1', 2],
      ['m2', 2],
      ['m1', 4],
      ['m1', 3],
    ] as const)
      by = addSample(by, m, at(s));
    expect(by.m1!.map((s) => s.step)).toEqual([2, 3, 4]);
    by = addSample(by, 'm1', at(3, 'again'));
    expect(by.m1!.map((s) => s.text)).toEqual(['t2', 'again', 't4']);
    expect(sampleAt(by, 'm1', 3)?.text).toBe('again');
    expect(sampleAt(by, 'm2', 4)).toBeUndefined();
    expect(samplesUpTo(by, 3).m1!.map((s) => s.step)).toEqual([2, 3]);
  });

  it("lists the steps any shown method has, and each method's newest sample in the methods' order", () => {
    const by: SamplesByMethod = { m1: [at(5), at(10)], m3: [at(10), at(15)], gone: [at(99)] };
    expect(sampleSteps(by, ['m1', 'm3'])).toEqual([5, 10, 15]);
    expect(sampleSteps(by, [])).toEqual([]);
    expect(lastSamples(by, ['m3', 'm1', 'm2']).map((x) => [x.method, x.sample.step])).toEqual([
      ['m3', 15],
      ['m1', 10],
    ]);
  });

  it('shows the newest step while following, else the chosen one, or the newest before it when it has none', () => {
    const steps = [5, 10, 15];
    expect(shownStep([], 5, false)).toBeNull();
    expect(shownStep(steps, null, false)).toBe(15);
    expect(shownStep(steps, 5, true)).toBe(15);
    expect(shownStep(steps, 10, false)).toBe(10);
    expect(shownStep(steps, 12, false)).toBe(10);
    expect(shownStep(steps, 1, false)).toBe(5);
  });
});

describe('samples in saved runs and reports', () => {
  const base: RunRecord = {
    id: 'run-2',
    name: 'A, B · 4 steps',
    startedAt: 0,
    savedAt: 1,
    status: 'done',
    model: 'm',
    dataset: 'd',
    params: { steps: 4, seed: 1, samplesOn: true, sampleMaxTokens: 8, sampleStop: '\n', methods: [{ id: 'a', settings: {} }] },
    methods: [
      { id: 'a', label: 'A' },
      { id: 'b', label: 'B <b>' },
    ],
    series: {},
    evals: {},
    ready: {},
    halted: {},
  };
  const samples = {
    prompt: 'Question: 2 + 2?\nAnswer:',
    source: 'validation' as const,
    byMethod: { a: [at(2, 'x'), at(4, '<b>four</b>')], b: [at(2, 'two')] },
  };

  it('keep their samples through a save; records without samples still open; damaged samples are refused by field', () => {
    const back = parseRunRecord(structuredClone({ ...base, samples }));
    expect(back.samples).toEqual(samples);
    expect(parseRunRecord(structuredClone(base)).samples).toBeUndefined();
    expect(() => parseRunRecord({ ...base, samples: { ...samples, source: 'elsewhere' } })).toThrow(
      /"samples" "source" must be one of validation, training, custom/,
    );
    expect(() => parseRunRecord({ ...base, samples: { ...samples, byMethod: { a: [{ ...at(2), end: 'never' }] } } })).toThrow(
      /"samples" "byMethod.a" item 1 "end"/,
    );
    expect(() => parseRunRecord({ ...base, samples: { ...samples, byMethod: { a: [{ ...at(2), text: 3 }] } } })).toThrow(/item 1 "text" must be a string/);
  });

  it("report each method's newest sample and the prompt once, escaped; the settings table has a Samples section", () => {
    const html = htmlReport({ ...base, samples }, [], new Date(0));
    const section = html.slice(html.indexOf('<h2>Samples</h2>'), html.indexOf('<h2>Settings</h2>'));
    expect(section).toContain('last validation step (4)');
    expect(section.match(/Question: 2 \+ 2\?/g)).toHaveLength(1);
    expect(section).toContain('&lt;b&gt;four&lt;/b&gt;');
    expect(section).toContain('B &lt;b&gt; <span class="meta">3 tokens, reached the token limit, at step 2 (its last sample)</span>');
    expect(section).not.toContain('<b>four');
    expect(htmlReport(base, [], new Date(0))).toContain('No samples were generated from this run.');
    const rows = settingsRows(base).filter((r) => r.section === 'Samples');
    expect(rows.map((r) => [r.key, r.value])).toEqual([
      ['samplesOn', 'true'],
      ['sampleMaxTokens', '8'],
      ['sampleStop', '"\\n"'],
    ]);
    expect(diffRuns(base, { ...base, params: { ...base.params, sampleMaxTokens: 16 } })).toEqual([
      { section: 'Samples', key: 'sampleMaxTokens', a: '8', b: '16' },
    ]);
  });
});
