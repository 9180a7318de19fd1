import { describe, expect, it } from 'vitest';
import type { StepPoint } from '../worker/protocol';
import { formatDuration, remainingMs, stepsDone, stepTimeMs } from './runProgress';

const at = (step: number, ms: number): StepPoint => ({ step, loss: 1, gradNorm: 1, lr: 1e-3, tokens: 10, ms });

describe('run progress', () => {
  // Two methods: a at 100 ms a step, b at 300 ms; b has not trained step 4 yet.
  const series = {
    a: [at(1, 100), at(2, 100), at(3, 100), at(4, 100)],
    b: [at(1, 300), at(2, 300), at(3, 300)],
  };

  it('counts the steps of the method furthest on', () => {
    expect(stepsDone(series)).toBe(4);
    expect(stepsDone({})).toBe(0);
  });

  it('times a comparison step as the sum over methods, leaving out the newest (partial) step', () => {
    expect(stepTimeMs(series)).toBe(400);
    expect(stepTimeMs({ a: [at(1, 50)] })).toBe(50);
    expect(stepTimeMs({})).toBeNull();
  });

  it('averages only the last few whole steps, so a slow first step fades out', () => {
    const slowStart = { a: [at(1, 5000), ...[2, 3, 4, 5, 6, 7].map((s) => at(s, 100))] };
    expect(stepTimeMs(slowStart, 5)).toBe(100);
    // Steps 1-6 are whole (7 is the newest): (5000 + 5 × 100) / 6.
    expect(stepTimeMs(slowStart, 10)).toBeCloseTo((5000 + 5 * 100) / 6, 9);
  });

  it('multiplies by the steps left, and knows nothing once done', () => {
    expect(remainingMs(series, 10)).toBe(6 * 400);
    expect(remainingMs(series, 4)).toBeNull();
    expect(remainingMs({}, 10)).toBeNull();
  });

  it('says durations in seconds, minutes or hours', () => {
    expect(formatDuration(40_400)).toBe('40 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(formatDuration(4_320_000)).toBe('1 h 12 min');
  });
});
