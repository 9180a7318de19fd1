// A run's health in its saved record and report: the step each method was flagged as diverging at
// and where a non-finite value stopped one (train/health.ts) survive a save and a read back, show in
// the HTML report, and records saved before these fields existed still load.

import { describe, expect, it } from 'vitest';
import { htmlReport } from './report';
import { parseRunRecord, type RunRecord } from './runRecord';

const point = (step: number, loss: number) => ({ step, loss, gradNorm: 0.5, lr: 1e-3, tokens: 100, ms: 50 });

// Method ids are opaque keys here (io/ never names a registered method).
const older: RunRecord = {
  id: 'run-7',
  name: 'A, B · 3 steps',
  startedAt: Date.UTC(2026, 0, 1),
  savedAt: Date.UTC(2026, 0, 1, 0, 5),
  status: 'done',
  model: 'kjv-llama-1m (built-in)',
  dataset: 'math (built-in)',
  params: {
    lr: 1,
    steps: 3,
    methods: [
      { id: 'a', settings: {} },
      { id: 'b<', settings: {} },
    ],
  },
  methods: [
    { id: 'a', label: 'Full <FT>' },
    { id: 'b<', label: 'LoRA' },
  ],
  series: { a: [point(1, 3), point(2, 9), point(3, 20)], 'b<': [point(1, 3), point(2, Number.NaN)] },
  evals: {},
  ready: {},
  halted: { 'b<': 'stopped at step 2: the output of model.layers.0.self_attn.q_proj holds Infinity (forward activation)' },
};

const withHealth: RunRecord = {
  ...older,
  diverging: { a: 2 },
  nonFinite: { 'b<': { step: 2, source: 'forward activation', layer: 'model.layers.0.self_attn.q_proj', tensor: 'output <x>' } },
};

/** As IndexedDB gives it back: a structured clone. */
const stored = (record: RunRecord): unknown => structuredClone(record);

describe('run health in saved records', () => {
  it('keeps the diverging step and the non-finite stop through a save and a read back', () => {
    const read = parseRunRecord(stored(withHealth));
    expect({ ...read.diverging }).toEqual({ a: 2 });
    expect({ ...read.nonFinite }).toEqual({ 'b<': { step: 2, source: 'forward activation', layer: 'model.layers.0.self_attn.q_proj', tensor: 'output <x>' } });
  });

  it('loads a record saved before the fields existed, without them', () => {
    const read = parseRunRecord(stored(older));
    expect(read.diverging).toBeUndefined();
    expect(read.nonFinite).toBeUndefined();
    expect(read.halted['b<']).toContain('stopped at step 2');
    expect(htmlReport(read, [])).not.toContain('data-report="diverging"');
  });

  it('refuses damaged fields, naming them', () => {
    expect(() => parseRunRecord({ ...withHealth, diverging: { a: 'soon' } })).toThrow(/"diverging\.a" must be a whole number of steps/);
    expect(() => parseRunRecord({ ...withHealth, nonFinite: { a: { step: 1, source: 'gradient', layer: 'x' } } })).toThrow(
      /"nonFinite\.a" "tensor" must be a string/,
    );
    expect(() => parseRunRecord({ ...withHealth, nonFinite: { a: { step: -1, source: 'gradient', layer: 'x', tensor: 'y' } } })).toThrow(
      /"step" must be a whole number/,
    );
  });

  it('shows both in the HTML report, escaped', () => {
    const html = htmlReport(parseRunRecord(stored(withHealth)), [], new Date(Date.UTC(2026, 0, 2)));
    expect(html).toContain('<p data-report="diverging"><strong>Diverging loss</strong> (flagged, training went on): Full &lt;FT&gt; from step 2</p>');
    expect(html).toContain('<td>LoRA</td><td>2</td><td>forward activation</td><td>model.layers.0.self_attn.q_proj</td><td>output &lt;x&gt;</td>');
    expect(html).not.toContain('output <x>');
  });
});
