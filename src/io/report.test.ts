import { describe, expect, it } from 'vitest';
import { htmlReport } from './report';
import { CURVES_CSV_HEADER, curvesCsv, curvesJson, runName, summaryRows, type RunRecord } from './runRecord';

const point = (step: number, loss: number) => ({ step, loss, gradNorm: 0.5, lr: 1e-3, tokens: 100, ms: 50 });

// Method ids are opaque keys in a run record (io/ never names a registered method).
const run: RunRecord = {
  id: 'run-1',
  name: runName([{ label: 'LoRA' }, { label: 'SPP <x>' }], 2),
  startedAt: Date.UTC(2024, 0, 1),
  savedAt: Date.UTC(2024, 0, 1, 0, 5),
  status: 'done',
  model: 'kjv-llama-1m (built-in)',
  dataset: 'math (built-in)',
  params: {
    lr: 1e-3,
    steps: 2,
    targets: ['all'],
    seed: 7,
    methods: [
      { id: 'adapter', settings: { rank: 8 } },
      { id: 'pruned', settings: {} },
    ],
  },
  methods: [
    { id: 'adapter', label: 'LoRA' },
    { id: 'pruned', label: 'SPP <x>' },
  ],
  series: { adapter: [point(1, 3), point(2, 2.5)], pruned: [point(1, 3.1), point(2, Number.NaN)] },
  evals: { adapter: [{ step: 2, loss: 2.7 }] },
  ready: { adapter: { trainableParams: 1234, bytes: 4096, initMs: 12 } },
  halted: { pruned: 'the loss became NaN at step 2' },
};

describe('run records', () => {
  it('writes long-format CSV with validation on its step', () => {
    const lines = curvesCsv(run).trim().split('\n');
    expect(lines[0]).toBe(CURVES_CSV_HEADER);
    expect(lines).toHaveLength(5);
    expect(lines[1]).toBe('adapter,1,100,100,3,,0.5,0.001,50');
    expect(lines[2]).toBe('adapter,2,100,200,2.5,2.7,0.5,0.001,50');
    expect(lines[4]).toBe('pruned,2,100,200,,,0.5,0.001,50');
  });

  it('summarises and writes JSON without NaN', () => {
    const rows = summaryRows(run);
    expect(rows[0]).toMatchObject({ steps: 2, finalLoss: 2.5, finalVal: 2.7, bestVal: 2.7, trainable: 1234, trainMs: 100, tokensPerS: 2000 });
    expect(rows[1]!.halted).toContain('NaN');
    const json = JSON.parse(curvesJson(run)) as { summary: { finalLoss: number | null }[]; series: { pruned: { loss: number | null }[] } };
    expect(json.series.pruned[1]!.loss).toBeNull();
    expect(json.summary[1]!.finalLoss).toBeNull();
    expect(run.name).toBe('LoRA, SPP <x> · 2 steps');
  });

  it('makes a self-contained HTML report with escaped text and inline charts', () => {
    const html = htmlReport(
      run,
      [{ title: 'Training loss', svg: '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L1 1"/></svg>' }],
      new Date(Date.UTC(2024, 0, 2)),
    );
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('SPP &lt;x&gt;');
    expect(html).not.toContain('SPP <x>');
    expect(html).toContain('<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0L1 1"/></svg>');
    expect(html).toContain('2.7000');
    expect(html).toContain('rank = 8');
    expect(html).toContain('(halted)');
    // Nothing is fetched from elsewhere.
    expect(html).not.toMatch(/<script|<link|src=|url\(/i);
  });
});
