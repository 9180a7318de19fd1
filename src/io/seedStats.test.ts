// Aggregation over seeds (mean, sample sd with n − 1, n; one seed has no spread; stopped seeds
// and non-finite values left out), mean curves with min–max bands, and saved records with seeds:
// a round trip through JSON keeps every seed, a damaged seed is refused naming it, and a record
// saved before seeds opens as one seed.

import { describe, expect, it } from 'vitest';
import { htmlReport } from './report';
import { parseRunRecord, type RunPoint, type RunRecord, type RunSeed } from './runRecord';
import { diffRuns, settingsRows } from './runSettings';
import { aggregateSeeds, completeSeeds, formatSpread, meanBand, spreadOf } from './seedStats';
import { rng as random } from '../test/reference';

/** Two-pass float64 reference. */
function reference(values: readonly number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return { mean, sd: Math.sqrt(ss / (values.length - 1)) };
}

function points(losses: readonly number[], tokens = 10, ms = 100): RunPoint[] {
  return losses.map((loss, i) => ({ step: i + 1, loss, gradNorm: 1, lr: 1e-3, tokens, ms }));
}

function seedOf(seed: number, finalVal: number, extra: Partial<RunSeed> = {}): RunSeed {
  return {
    seed,
    stopped: false,
    series: { alpha: points([3, 2.5, 2]), beta: points([3, 2.2, 1.9]) },
    evals: { alpha: [{ step: 3, loss: finalVal }], beta: [{ step: 3, loss: finalVal - 0.1 }] },
    ready: { alpha: { trainableParams: 100, bytes: 1200, initMs: 5 }, beta: { trainableParams: 100, bytes: 1200, initMs: 9 } },
    halted: {},
    accuracy: { alpha: 0.1 * seed, beta: 0.2 },
    ...extra,
  };
}

const METHODS = [
  { id: 'alpha', label: 'Alpha' },
  { id: 'beta', label: 'Beta' },
];

describe('spreadOf', () => {
  it('gives the mean and the sample standard deviation (n − 1) of random values, n = 2, 7, 33, 100', () => {
    const next = random(7);
    for (const n of [2, 7, 33, 100]) {
      const values = Array.from({ length: n }, () => 5 + 3 * next());
      const s = spreadOf(values);
      const r = reference(values);
      expect(s.n).toBe(n);
      expect(Math.abs(s.mean - r.mean)).toBeLessThan(1e-12);
      expect(Math.abs(s.sd - r.sd)).toBeLessThan(1e-12);
    }
    expect(spreadOf([1, 2, 3, 4]).sd).toBeCloseTo(Math.sqrt(5 / 3), 14);
  });

  it('has no spread for one value, no mean for none, and leaves non-finite values out', () => {
    expect(spreadOf([2.5])).toEqual({ mean: 2.5, sd: Number.NaN, n: 1 });
    expect(spreadOf([])).toEqual({ mean: Number.NaN, sd: Number.NaN, n: 0 });
    expect(spreadOf([1, Number.NaN, 3, Infinity])).toEqual({ mean: 2, sd: Math.SQRT2, n: 2 });
    const fmt = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '—');
    expect(formatSpread(spreadOf([1, 3]), fmt)).toBe('2.00 ± 1.41');
    expect(formatSpread(spreadOf([1]), fmt)).toBe('1.00');
    expect(formatSpread(spreadOf([]), fmt)).toBe('—');
  });
});

describe('aggregateSeeds', () => {
  it('averages each method over the seeds that ran all their steps', () => {
    const seeds = [seedOf(1, 2.0), seedOf(2, 2.2), seedOf(3, 2.6), seedOf(4, 9, { stopped: true })];
    const complete = completeSeeds(seeds);
    expect(complete.map((s) => s.seed)).toEqual([1, 2, 3]);
    const [alpha, beta] = aggregateSeeds(METHODS, complete, { batch: 2, seqLen: 8, methods: [] });
    expect(alpha!.stats.finalVal.n).toBe(3);
    expect(alpha!.stats.finalVal.mean).toBeCloseTo(2.2666666666666666, 14);
    expect(alpha!.stats.finalVal.sd).toBeCloseTo(reference([2.0, 2.2, 2.6]).sd, 14);
    expect(beta!.stats.bestVal.mean).toBeCloseTo(2.1666666666666666, 14);
    expect(alpha!.stats.accuracy.mean).toBeCloseTo(0.2, 14);
    expect(beta!.stats.accuracy.mean).toBeCloseTo(0.2, 14);
    expect(beta!.stats.accuracy.sd).toBeLessThan(1e-15);
    // 30 trained tokens in 0.3 s; 3 steps × 16 processed tokens in 0.3 s.
    expect(alpha!.stats.tokensPerS.mean).toBeCloseTo(100, 10);
    expect(alpha!.stats.processedPerS.mean).toBeCloseTo(160, 10);
    expect(alpha!.perSeed.map((p) => p.seed)).toEqual([1, 2, 3]);
    expect(alpha!.forgetting.n).toBe(0);
  });

  it('has n = 1 and no spread with one seed, and counts forgetting and halts per seed', () => {
    const forgetting = { name: 'held-out', tokens: 50, baseLoss: 4, loss: { alpha: 4.25, beta: 4.5 } };
    const [alpha] = aggregateSeeds(METHODS, [seedOf(1, 2.0, { forgetting, halted: { alpha: 'stopped at step 2: NaN' } })]);
    expect(alpha!.stats.finalVal).toEqual({ mean: 2.0, sd: Number.NaN, n: 1 });
    expect(alpha!.forgetting).toEqual({ mean: 0.25, sd: Number.NaN, n: 1 });
    expect(alpha!.halted).toEqual(['seed 1: stopped at step 2: NaN']);
  });
});

describe('meanBand', () => {
  it('averages per step over the seeds that reached it, with their min and max', () => {
    const band = meanBand([points([3, 2, 1]), points([5, 4]), points([4, 3, 2])], (p) => p.loss);
    expect(band.map((b) => [b.step, b.mean, b.min, b.max, b.n])).toEqual([
      [1, 4, 3, 5, 3],
      [2, 3, 2, 4, 3],
      [3, 1.5, 1, 2, 2],
    ]);
    expect(band[0]!.tokens).toBe(10);
    expect(band[2]!.tokens).toBe(30);
  });

  it('transforms each curve before averaging (smoothing needs the whole curve)', () => {
    const doubled = meanBand(
      [points([1, 2]), points([3, 4])],
      (p) => p.loss,
      (vs) => vs.map((v, i) => v + (i === 0 ? 0 : vs[i - 1]!)),
    );
    expect(doubled.map((b) => b.mean)).toEqual([2, 5]);
  });
});

function record(extra: Partial<RunRecord> = {}): RunRecord {
  const last = seedOf(4, 2.4);
  return {
    id: 'run-1',
    name: 'Alpha, Beta · 3 steps',
    startedAt: 1_700_000_000_000,
    savedAt: 1_700_000_100_000,
    status: 'done',
    model: 'm',
    dataset: 'd',
    params: { steps: 3, seed: 3, seeds: 2, methods: METHODS.map((m) => ({ id: m.id, settings: { rank: 2 } })) },
    methods: METHODS,
    series: last.series,
    evals: last.evals,
    ready: last.ready,
    halted: last.halted,
    accuracy: last.accuracy!,
    seeds: [seedOf(3, 2.2, { baseVal: 6.5, forgetting: { name: 'h', tokens: 9, baseLoss: 4, loss: { alpha: 4.1 } } }), last],
    ...extra,
  };
}

describe('saved records with seeds', () => {
  it('keeps every seed through JSON and gives the same aggregates', () => {
    const saved = record();
    const back = parseRunRecord(JSON.parse(JSON.stringify(saved)));
    expect(back.seeds).toEqual(saved.seeds);
    expect(aggregateSeeds(back.methods, completeSeeds(back.seeds), back.params)).toEqual(
      aggregateSeeds(saved.methods, completeSeeds(saved.seeds), saved.params),
    );
  });

  it('opens a record saved before seeds with none, and refuses a damaged seed naming it', () => {
    const { seeds: _seeds, ...older } = record();
    expect(parseRunRecord(JSON.parse(JSON.stringify(older))).seeds).toBeUndefined();
    const bad = JSON.parse(JSON.stringify(record())) as { seeds: { series: { alpha: unknown[] } }[] };
    bad.seeds[1]!.series.alpha[0] = { step: 1 };
    expect(() => parseRunRecord(bad)).toThrow(/saved run 'run-1' \(seed 4\) is damaged: "series\.alpha" item 1 "loss" must be a number/);
    const noFlag = JSON.parse(JSON.stringify(record())) as { seeds: { stopped?: unknown }[] };
    delete noFlag.seeds[0]!.stopped;
    expect(() => parseRunRecord(noFlag)).toThrow(/"seeds" item 1 "stopped" must be true or false/);
  });
});

describe('seeds in the settings and the report', () => {
  it('lists the seeds in the settings (a record without them ran one) and diffs them', () => {
    const seeds = settingsRows(record()).find((r) => r.key === 'seeds');
    expect(seeds?.value).toBe('2 (seeds 3, 4)');
    const { seeds: _seeds, ...older } = record({ params: { steps: 3, seed: 3, methods: [] } });
    expect(settingsRows(older).find((r) => r.key === 'seeds')?.value).toBe('1');
    expect(diffRuns(record(), older).find((r) => r.key === 'seeds')).toEqual({ section: 'Training', key: 'seeds', a: '2 (seeds 3, 4)', b: '1' });
  });

  it('shows mean ± sd over the seeds in the HTML report, with n', () => {
    const html = htmlReport(record(), []);
    expect(html).toContain('<h2>Over 2 seeds</h2>');
    // Alpha's final validation losses 2.2 and 2.4: mean 2.3, sd 0.1414.
    expect(html).toContain('2.3000 ± 0.1414');
    expect(html).toMatch(/<td>Alpha<\/td><td class="num">2<\/td>/);
    const { seeds: _seeds, ...single } = record();
    expect(htmlReport(single, [])).not.toContain('Over 2 seeds');
  });
});
