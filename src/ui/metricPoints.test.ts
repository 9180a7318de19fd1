// The two-metric plots' points (metricPoints.ts): accuracy from the live progress, or from the
// run's result when the run was reopened (0 % included), and NaN where it was never measured.

import { describe, expect, it } from 'vitest';
import { metricPoints, type MetricRun } from './metricPoints';

const point = (step: number, loss: number) => ({ step, loss, gradNorm: 0.5, lr: 1e-3, tokens: 100, ms: 50 });

const run = (result: MetricRun['result']): MetricRun => ({
  methods: ['a', 'b', 'c'],
  series: { a: [point(1, 3)], b: [point(1, 2.5)], c: [point(1, 2)] },
  evals: { a: [{ step: 1, loss: 2.9 }], b: [{ step: 1, loss: 2.4 }], c: [] },
  ready: {
    a: { trainableParams: 100, bytes: 1024, initMs: 3 },
    b: { trainableParams: 7, bytes: 512, initMs: 1 },
    c: { trainableParams: 33, bytes: 64, initMs: 1 },
  },
  result,
});

describe('metricPoints', () => {
  it('reads accuracy from a reopened run’s result, 0 % included, when there is no live progress', () => {
    const reopened = run({
      methods: [
        {
          id: 'a',
          accuracy: 0.25,
          trainableParams: 100,
          bytes: 1024,
          initMs: 3,
          trainMs: 50,
          steps: 1,
          tokens: 100,
          finalLoss: 3,
          finalValLoss: 2.9,
          bestValLoss: 2.9,
        },
        {
          id: 'b',
          accuracy: 0,
          trainableParams: 7,
          bytes: 512,
          initMs: 1,
          trainMs: 50,
          steps: 1,
          tokens: 100,
          finalLoss: 2.5,
          finalValLoss: 2.4,
          bestValLoss: 2.4,
        },
        {
          id: 'c',
          accuracy: null,
          trainableParams: 33,
          bytes: 64,
          initMs: 1,
          trainMs: 50,
          steps: 1,
          tokens: 100,
          finalLoss: 2,
          finalValLoss: null,
          bestValLoss: null,
        },
      ],
    });
    const points = metricPoints(reopened, {}, 'trainable', 'accuracy');
    expect(points.map((p) => [p.id, p.x, p.y])).toEqual([
      ['a', 100, 25],
      ['b', 7, 0],
      ['c', 33, Number.NaN],
    ]);
  });

  it('prefers the live progress once all questions are answered, and has no accuracy while they are', () => {
    const live = metricPoints(run(null), { a: { correct: 3, done: 4, total: 4 }, b: { correct: 1, done: 2, total: 4 } }, 'bestVal', 'accuracy');
    expect(live[0]).toEqual({ id: 'a', x: 2.9, y: 75 });
    expect(live[1]!.y).toBeNaN();
    expect(live[2]!.x).toBeNaN();
  });
});
