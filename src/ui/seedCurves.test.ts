// Mean curves over seeds as chart rows: per step the mean and the min–max band edges, each
// seed's curve smoothed before averaging, against step or the mean training tokens; merged rows.

import { describe, expect, it } from 'vitest';
import type { StepPoint } from '../worker/protocol';
import { bandHighKey, bandLowKey, meanKey, mergeRows, seedEvalRows, seedStepRows, smooth } from './chartData';

function points(losses: readonly number[], tokens: number): StepPoint[] {
  return losses.map((loss, i) => ({ step: i + 1, loss, gradNorm: 1, lr: 1e-3, tokens, ms: 10 }));
}

describe('seed mean curves', () => {
  it('gives the mean and min–max per step, against step or mean tokens', () => {
    const seeds = [{ alpha: points([4, 2, 1], 10) }, { alpha: points([6, 4, 3], 30) }];
    const rows = seedStepRows(seeds, ['alpha'], (p) => p.loss, 0, false, 'step');
    const key = meanKey('alpha');
    expect(rows.map((r) => [r.x, r[key], r[bandLowKey(key)], r[bandHighKey(key)]])).toEqual([
      [1, 5, 4, 6],
      [2, 3, 2, 4],
      [3, 2, 1, 3],
    ]);
    expect(seedStepRows(seeds, ['alpha'], (p) => p.loss, 0, false, 'tokens').map((r) => r.x)).toEqual([20, 40, 60]);
  });

  it('smooths each seed before averaging', () => {
    const a = [5, 1, 4];
    const b = [2, 6, 3];
    const rows = seedStepRows([{ m: points(a, 1) }, { m: points(b, 1) }], ['m'], (p) => p.loss, 0.6, false);
    const sa = smooth(a, 0.6);
    const sb = smooth(b, 0.6);
    rows.forEach((r, i) => {
      expect(r[meanKey('m')]).toBeCloseTo((sa[i]! + sb[i]!) / 2, 12);
      expect(r[bandLowKey(meanKey('m'))]).toBeCloseTo(Math.min(sa[i]!, sb[i]!), 12);
    });
  });

  it('averages validation losses per step and merges rows by x', () => {
    const seeds = [
      { series: { alpha: points([3, 2], 5) }, evals: { alpha: [{ step: 2, loss: 2.5 }] } },
      { series: { alpha: points([3, 2], 7) }, evals: { alpha: [{ step: 2, loss: 3.5 }] } },
    ];
    const val = seedEvalRows(seeds, ['alpha'], false, 'tokens');
    expect(val).toEqual([{ x: 12, [meanKey('alpha')]: 3, [bandLowKey(meanKey('alpha'))]: 2.5, [bandHighKey(meanKey('alpha'))]: 3.5 }]);
    expect(
      mergeRows(
        [
          { x: 1, a: 1 },
          { x: 3, a: 3 },
        ],
        [
          { x: 2, b: 2 },
          { x: 3, b: 4 },
        ],
      ),
    ).toEqual([
      { x: 1, a: 1 },
      { x: 2, b: 2 },
      { x: 3, a: 3, b: 4 },
    ]);
  });
});
