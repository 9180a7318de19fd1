// Tests of learningRate(): values at step 0, the end of warmup, the middle of the decay and the
// last step for each kind, against the formulas written out by hand in the schedule's header.

import { describe, expect, it } from 'vitest';
import { learningRate, type Schedule } from './schedule';

const base = { peak: 1e-3, warmupSteps: 10, totalSteps: 110 } as const; // decay over steps 10..109, p = (step − 10)/100

describe('learningRate', () => {
  it('warms up linearly from peak/W at step 0 to peak at step W − 1, for every kind', () => {
    for (const kind of ['constant', 'linear', 'cosine'] as const) {
      const s: Schedule = { ...base, kind };
      expect(learningRate(s, 0)).toBeCloseTo(1e-4, 15);
      expect(learningRate(s, 4)).toBeCloseTo(5e-4, 15);
      expect(learningRate(s, 9)).toBeCloseTo(1e-3, 15);
      expect(learningRate(s, 10)).toBeCloseTo(1e-3, 15); // first decay step: p = 0
    }
  });

  it('constant stays at peak to the last step and beyond', () => {
    const s: Schedule = { ...base, kind: 'constant' };
    for (const step of [10, 60, 109, 500]) expect(learningRate(s, step)).toBe(1e-3);
  });

  it('linear decays to minRatio·peak at step T (last step T − 1 still moves)', () => {
    const s: Schedule = { ...base, kind: 'linear' };
    expect(learningRate(s, 60)).toBeCloseTo(0.5e-3, 15); // p = 0.5
    expect(learningRate(s, 109)).toBeCloseTo(1e-5, 15); // p = 0.99
    expect(learningRate(s, 110)).toBe(0);
    expect(learningRate(s, 200)).toBe(0);
    const floor: Schedule = { ...s, minRatio: 0.1 };
    expect(learningRate(floor, 60)).toBeCloseTo(1e-3 * (1 - 0.9 * 0.5), 15);
    expect(learningRate(floor, 109)).toBeCloseTo(1e-3 * (1 - 0.9 * 0.99), 15);
    expect(learningRate(floor, 110)).toBeCloseTo(1e-4, 15);
  });

  it('cosine follows ½(1 + cos πp) between peak and minRatio·peak', () => {
    const s: Schedule = { ...base, kind: 'cosine', minRatio: 0.1 };
    expect(learningRate(s, 10)).toBeCloseTo(1e-3, 15);
    expect(learningRate(s, 35)).toBeCloseTo(1e-3 * (0.1 + 0.9 * 0.5 * (1 + Math.SQRT1_2)), 15); // p = 0.25
    expect(learningRate(s, 60)).toBeCloseTo(1e-3 * 0.55, 15); // p = 0.5: halfway between peak and floor
    expect(learningRate(s, 109)).toBeCloseTo(1e-3 * (0.1 + 0.9 * 0.5 * (1 + Math.cos(0.99 * Math.PI))), 15);
    expect(learningRate(s, 110)).toBeCloseTo(1e-4, 15);
    const toZero: Schedule = { ...s, minRatio: 0 };
    expect(learningRate(toZero, 60)).toBeCloseTo(0.5e-3, 15);
  });

  it('is monotone: non-decreasing in warmup, non-increasing after', () => {
    for (const kind of ['linear', 'cosine'] as const) {
      const s: Schedule = { ...base, kind, minRatio: 0.05 };
      for (let step = 1; step < 10; step++) expect(learningRate(s, step)).toBeGreaterThan(learningRate(s, step - 1));
      for (let step = 11; step < 120; step++) expect(learningRate(s, step)).toBeLessThanOrEqual(learningRate(s, step - 1));
    }
  });

  it('works without warmup and with a one-step run', () => {
    expect(learningRate({ kind: 'linear', peak: 2, warmupSteps: 0, totalSteps: 4 }, 0)).toBe(2);
    expect(learningRate({ kind: 'linear', peak: 2, warmupSteps: 0, totalSteps: 4 }, 3)).toBeCloseTo(0.5, 15);
    expect(learningRate({ kind: 'cosine', peak: 2, warmupSteps: 0, totalSteps: 1 }, 0)).toBe(2);
    expect(learningRate({ kind: 'cosine', peak: 2, warmupSteps: 1, totalSteps: 1 }, 0)).toBe(2);
  });

  it('rejects bad settings with a message naming the setting', () => {
    const s: Schedule = { ...base, kind: 'linear' };
    expect(() => learningRate({ ...s, peak: -1 }, 0)).toThrow(/peak/);
    expect(() => learningRate({ ...s, warmupSteps: 1.5 }, 0)).toThrow(/warmupSteps/);
    expect(() => learningRate({ ...s, totalSteps: 0 }, 0)).toThrow(/totalSteps/);
    expect(() => learningRate({ ...s, minRatio: 2 }, 0)).toThrow(/minRatio/);
    expect(() => learningRate(s, -1)).toThrow(/step/);
  });
});
