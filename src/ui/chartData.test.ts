import { describe, expect, it } from 'vitest';
import type { StepPoint } from '../worker/protocol';
import { cumulativeTokens, evalRows, processedPerSecond, rawKey, runTokens, smooth, stepRows, tokensPerSecond, uniformLoss, withBasePoint } from './chartData';

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
    expect(rows).toEqual([
      { x: 1, early: 4 },
      { x: 2, early: 3 },
      { x: 3, early: 2, late: 5 },
    ]);
  });

  it("puts each method on the token axis by the run's tokens at its step: a method that joined late starts where it joined", () => {
    const rows = stepRows(series, ['early', 'late'], (p) => p.loss, 0, false, 'tokens');
    expect(rows).toEqual([
      { x: 100, early: 4 },
      { x: 180, early: 3 },
      { x: 300, early: 2, late: 5 },
    ]);
  });

  it('starts a method that joined at step 7 at step 8, on both axes', () => {
    const long = { a: Array.from({ length: 10 }, (_, i) => point(i + 1, 5 - i * 0.1, 10)), b: [point(8, 3, 10), point(9, 2.9, 10), point(10, 2.8, 10)] };
    for (const axis of ['step', 'tokens'] as const) {
      const rows = stepRows(long, ['a', 'b'], (p) => p.loss, 0, false, axis);
      const first = rows.find((r) => r.b !== undefined)!;
      expect(first.x).toBe(axis === 'step' ? 8 : 80);
      expect(rows.filter((r) => r.b !== undefined)).toHaveLength(3);
    }
    // Saved runs overlaid ("~saved") keep their own token axis.
    expect(
      runTokens({ a: [point(1, 1, 5)], 'a~saved': [point(1, 1, 7)] }, ['a', 'a~saved'])
        .get('~saved')!
        .get(1),
    ).toBe(7);
  });

  it('adds the base model at step 0, the uniform-guess loss and both throughputs', () => {
    expect(withBasePoint([{ x: 2, m: 3 }], 'base', 6, false)).toEqual([
      { x: 0, base: 6 },
      { x: 2, m: 3 },
    ]);
    expect(
      withBasePoint(
        [
          { x: 0, m: 6.1 },
          { x: 2, m: 3 },
        ],
        'base',
        6,
        false,
      ),
    ).toEqual([
      { x: 0, m: 6.1, base: 6 },
      { x: 2, m: 3 },
    ]);
    expect(withBasePoint([{ x: 2, m: 3 }], 'base', null, false)).toEqual([{ x: 2, m: 3 }]);
    expect(uniformLoss(50_257)).toBeCloseTo(10.8249, 4);
    expect(uniformLoss(1)).toBeNull();
    const p = { step: 1, loss: 1, gradNorm: 1, lr: 1, tokens: 100, ms: 500 };
    expect(tokensPerSecond(p)).toBe(200);
    expect(processedPerSecond(2, 128)(p)).toBe(512);
  });

  it('places validation points at the tokens seen at their step, step 0 at 0 tokens', () => {
    const evals = {
      early: [
        { step: 0, loss: 6 },
        { step: 2, loss: 3.5 },
      ],
      late: [{ step: 7, loss: 1 }],
    };
    expect(evalRows(evals, ['early', 'late'], false, 'tokens', series)).toEqual([
      { x: 0, early: 6 },
      { x: 180, early: 3.5 },
    ]);
    expect(evalRows(evals, ['early'], false)).toEqual([
      { x: 0, early: 6 },
      { x: 2, early: 3.5 },
    ]);
  });

  it('leaves out values a log axis cannot show', () => {
    const rows = stepRows({ a: [point(1, 0, 1), point(2, Number.NaN, 1), point(3, 2, 1)] }, ['a'], (p) => p.loss, 0, true);
    expect(rows).toEqual([{ x: 1 }, { x: 2 }, { x: 3, a: 2 }]);
  });

  it('keeps the unsmoothed values beside the smoothed ones when smoothing, and only then', () => {
    const rows = stepRows({ a: [point(1, 4, 1), point(2, 2, 1)] }, ['a'], (p) => p.loss, 0.5, false);
    // EMA with weight 0.5, debiased: s1 = 0.5·4 / 0.5 = 4; s2 = (0.5·0.5·4 + 0.5·2) / (1 − 0.25) = 2 / 0.75.
    expect(rows[0]).toEqual({ x: 1, a: 4, [rawKey('a')]: 4 });
    expect(rows[1]![rawKey('a')]).toBe(2);
    expect(rows[1]!.a).toBeCloseTo(2 / 0.75, 12);
    expect(Object.keys(stepRows({ a: [point(1, 4, 1)] }, ['a'], (p) => p.loss, 0, false)[0]!)).toEqual(['x', 'a']);
  });

  it('sums tokens per step and debiases the smoothing', () => {
    expect([...cumulativeTokens(series.early)]).toEqual([
      [1, 100],
      [2, 180],
      [3, 300],
    ]);
    const s = smooth([2, 2, 2], 0.9);
    for (const v of s) expect(v).toBeCloseTo(2, 12);
  });
});
