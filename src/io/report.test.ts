import { describe, expect, it } from 'vitest';
import { htmlReport } from './report';
import { CURVES_CSV_HEADER, curvesCsv, curvesJson, parseRunRecord, runName, summaryRows, type RunRecord } from './runRecord';
import { diffRuns, settingsRows } from './runSettings';

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
    expect(html).toContain('<th scope="row">rank</th><td>8</td>');
    expect(html).toContain('(halted)');
    // Nothing is fetched from elsewhere.
    expect(html).not.toMatch(/<script|<link|src=|url\(/i);
  });

  it('shows what the run trained on, its notes, its settings table, samples, and the diff against another run', () => {
    const record: RunRecord = {
      ...run,
      notes: 'first <try>',
      modelInfo: { name: 'kjv-llama-1m (built-in)', fingerprint: '0123456789abcdef'.repeat(4), layers: 4, hidden: 128, vocab: 1024 },
      dataInfo: { name: 'math (built-in)', hash: 'fedcba9876543210'.repeat(4), train: 900, validation: 100 },
    };
    const other: RunRecord = {
      ...record,
      id: 'run-2',
      name: 'rank 16',
      params: { ...record.params, lr: 2e-3, methods: [{ id: 'adapter', settings: { rank: 16 } }] },
      methods: [{ id: 'adapter', label: 'LoRA' }],
    };
    const wide = '<svg xmlns="http://www.w3.org/2000/svg" width="900" height="250" viewBox="0 0 900 250"></svg>';
    const narrow = '<svg xmlns="http://www.w3.org/2000/svg" width="440" height="250" viewBox="0 0 440 250"></svg>';
    const html = htmlReport(
      record,
      [
        { title: 'Quantization error', svg: wide },
        { title: 'Training loss', svg: narrow },
      ],
      new Date(0),
      { compare: other, samples: [{ label: 'LoRA', prompt: 'Q: 1+1?', text: ' 2 <b>' }] },
    );
    expect(html).toContain('<h1>LoRA, SPP &lt;x&gt; · 2 steps</h1>');
    expect(html).toContain('kjv-llama-1m (built-in) · L 4, C 128, V 1024 · 0123456789ab');
    expect(html).toContain('math (built-in) · 900 train / 100 validation rows · fedcba987654');
    expect(html).toContain('first &lt;try&gt;');
    // Each chart at its own pixel width, so all text is the same size.
    expect(html).toContain('<figure aria-label="Quantization error" style="width: 900px">');
    expect(html).toContain('<figure aria-label="Training loss" style="width: 440px">');
    expect(html).not.toMatch(/figure svg \{[^}]*[^-]width: 100%/);
    expect(html).toContain('<pre> 2 &lt;b&gt;</pre>');
    // The settings table by section, and only the differing rows in the diff.
    expect(html).toMatch(
      /<tr class="section"><th colspan="2" scope="rowgroup">Training<\/th><\/tr>\n<tr><th scope="row">targets<\/th><td>all<\/td><\/tr>\n<tr><th scope="row">lr<\/th><td>0.001<\/td><\/tr>/,
    );
    const diff = html.slice(html.indexOf('<table class="diff">'));
    expect(diff).toContain('<th scope="row">lr</th><td class="changed">0.001</td><td class="changed">0.002</td>');
    expect(diff).toContain('<th scope="row">rank</th><td class="changed">8</td><td class="changed">16</td>');
    expect(diff).not.toContain('<th scope="row">seed</th>');
    expect(html).not.toMatch(/<script|<link|src=|url\(/i);
  });
});

describe('run settings and diffs', () => {
  const base: RunRecord = {
    ...run,
    modelInfo: { name: 'm', fingerprint: 'a'.repeat(64), layers: 2, hidden: 8, vocab: 10 },
    dataInfo: { name: 'd', hash: 'b'.repeat(64), train: 9, validation: 1 },
  };

  it('lists model, data, shared settings in the panel order and each method, with unknowns as —', () => {
    const rows = settingsRows(base);
    expect(rows.slice(0, 6).map((r) => `${r.section}.${r.key}=${r.value}`)).toEqual([
      'Model.name=m',
      'Model.fingerprint=aaaaaaaaaaaa',
      'Model.shape=L 2, C 8, V 10',
      'Data.name=d',
      'Data.hash=bbbbbbbbbbbb',
      'Data.split=9 train / 1 validation rows',
    ]);
    // A run saved before the seeds setting reads as one seed.
    expect(rows.filter((r) => r.section === 'Training').map((r) => r.key)).toEqual(['targets', 'lr', 'steps', 'seed', 'seeds']);
    expect(rows.find((r) => r.key === 'targets')?.value).toBe('all');
    expect(rows.find((r) => r.section === 'LoRA' && r.key === 'rank')?.value).toBe('8');
    expect(rows.find((r) => r.section === 'SPP <x>')?.value).toBe('(none)');
    // A record saved before identities: its model row from the name, the rest unknown.
    const old = settingsRows(run);
    expect(old[0]).toEqual({ section: 'Model', key: 'name', value: 'kjv-llama-1m (built-in)' });
    expect(old[1]).toEqual({ section: 'Model', key: 'fingerprint', value: '—' });
  });

  it('diffs two runs: only differing rows, rows one run lacks as —, nothing for identical runs', () => {
    expect(diffRuns(base, base)).toEqual([]);
    const other: RunRecord = {
      ...base,
      modelInfo: { ...base.modelInfo!, fingerprint: 'c'.repeat(64) },
      params: { ...base.params, seed: 8, warmup: 5, methods: [{ id: 'adapter', settings: { rank: 8 } }] },
      methods: [{ id: 'adapter', label: 'LoRA' }],
    };
    expect(diffRuns(base, other)).toEqual([
      { section: 'Model', key: 'fingerprint', a: 'aaaaaaaaaaaa', b: 'cccccccccccc' },
      { section: 'Training', key: 'seed', a: '7', b: '8' },
      { section: 'Methods', key: 'methods', a: 'LoRA, SPP <x>', b: 'LoRA' },
      { section: 'SPP <x>', key: '(settings)', a: '(none)', b: '—' },
      { section: 'Training', key: 'warmup', a: '—', b: '5' },
    ]);
  });

  it('reads back the fields added later, and refuses them damaged by name', () => {
    const back = parseRunRecord(
      structuredClone({
        ...base,
        notes: 'n',
        baseVal: 3.5,
        quant: {
          points: [{ method: 'q', layer: 'l', iteration: 1, frobenius: 1, nuclear: 2, nuclearMethod: 'exact' }],
          layers: [{ name: 'l', role: 'q', out: 4, in: 4 }],
        },
      }),
    );
    expect(back).toMatchObject({ notes: 'n', baseVal: 3.5, modelInfo: base.modelInfo, dataInfo: base.dataInfo });
    expect(back.quant?.points[0]?.nuclearMethod).toBe('exact');
    expect(() => parseRunRecord({ ...base, modelInfo: { name: 'm', layers: '2', hidden: 8, vocab: 10 } })).toThrow('"modelInfo" "layers" must be a number');
    expect(() => parseRunRecord({ ...base, quant: { points: [{}], layers: [] } })).toThrow('"quant" "points" item 1 "method" must be a string');
    expect(() => parseRunRecord({ ...base, notes: 5 })).toThrow('"notes" must be a string');
  });

  it('keeps forgetting per method: saved, read back, in the report; older records without it still open', () => {
    const forgetting = { name: 'kjv/heldout.txt', tokens: 4096, baseLoss: 3.25, loss: { adapter: 3.375, pruned: 3.1875 } };
    const back = parseRunRecord(structuredClone({ ...run, series: { adapter: run.series.adapter }, halted: {}, forgetting }));
    expect(back.forgetting).toEqual(forgetting);
    expect(parseRunRecord(structuredClone({ ...run, series: { adapter: run.series.adapter }, halted: {} })).forgetting).toBeUndefined();
    expect(() => parseRunRecord({ ...run, forgetting: { ...forgetting, loss: { adapter: 'x' } } })).toThrow('"forgetting" "loss.adapter" must be a number');
    const html = htmlReport({ ...run, forgetting }, []);
    expect(html).toContain('<th scope="col">Forgetting</th>');
    expect(html).toContain('+0.1250');
    expect(html).toContain('−0.0625');
    expect(html).toContain('loss on kjv/heldout.txt (4.1 k tokens');
    expect(htmlReport(run, [])).not.toContain('Forgetting');
  });

  it('gives trained and processed tokens per second, processed from batch × T', () => {
    const rows = summaryRows({ ...run, params: { ...run.params, batch: 4, seqLen: 16 } });
    // 2 steps of 4 × 16 positions in 100 ms; 200 trained tokens in the same 100 ms.
    expect(rows[0]).toMatchObject({ tokensPerS: 2000, processedPerS: 1280 });
    expect(summaryRows(run)[0]!.processedPerS).toBeNaN();
    const html = htmlReport({ ...run, params: { ...run.params, batch: 4, seqLen: 16 } }, []);
    expect(html).toContain('<th scope="col">Trained tokens/s</th><th scope="col">Processed tokens/s</th>');
    expect(html).toContain('<td class="num">2000</td><td class="num">1280</td>');
  });
});
