import { describe, expect, it } from 'vitest';
import type { StepPoint } from '../worker/protocol';
import { cumulativeTokens, evalRows, smooth, stepRows } from './chartData';

const point = (step: number, loss: number, tokens: number): StepPoint => ({ step, loss, gradNorm: 1, lr: 1e-3, tokens, ms: 10 });

// Method ids are opaque keys here (the real ones belong to the registry).
describe('chart rows', () => {
  const series = {
    early: [point(1, 4, 100), point(2, 3, 80), point(3, 2, 120)],
    // Added mid-run: joined before step 3, so it has seen only that batch.
    late: [point(3, 5, 120)],
  };

  it('puts each method on the step axis by step', () => {
    const rows = stepRows(series, ['early', 'late'], (p) => p.loss, 0, false);
    expect(rows).toEqual([{ x: 1, early: 4 }, { x: 2, early: 3 }, { x: 3, early: 2, late: 5 }]);
  });

  it('puts each method on the token axis by the tokens it has trained on', () => {
    const rows = stepRows(series, ['early', 'late'], (p) => p.loss, 0, false, 'tokens');
    expect(rows).toEqual([{ x: 100, early: 4 }, { x: 120, late: 5 }, { x: 180, early: 3 }, { x: 300, early: 2 }]);
  });

  it('places validation points at the tokens seen at their step, step 0 at 0 tokens', () => {
    const evals = { early: [{ step: 0, loss: 6 }, { step: 2, loss: 3.5 }], late: [{ step: 7, loss: 1 }] };
    expect(evalRows(evals, ['early', 'late'], false, 'tokens', series)).toEqual([{ x: 0, early: 6 }, { x: 180, early: 3.5 }]);
    expect(evalRows(evals, ['early'], false)).toEqual([{ x: 0, early: 6 }, { x: 2, early: 3.5 }]);
  });

  it('leaves out values a log axis cannot show', () => {
    const rows = stepRows({ a: [point(1, 0, 1), point(2, Number.NaN, 1), point(3, 2, 1)] }, ['a'], (p) => p.loss, 0, true);
    expect(rows).toEqual([{ x: 1 }, { x: 2 }, { x: 3, a: 2 }]);
  });

  it('sums tokens per step and debiases the smoothing', () => {
    expect([...cumulativeTokens(series.early)]).toEqual([[1, 100], [2, 180], [3, 300]]);
    const s = smooth([2, 2, 2], 0.9);
    for (const v of s) expect(v).toBeCloseTo(2, 12);
  });
});
