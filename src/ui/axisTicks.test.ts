import { describe, expect, it } from 'vitest';
import { axisWidth, extent, formatTick, linearAxis, logAxis, niceStep, tickLabeller } from './axisTicks';

describe('axis ticks', () => {
  it('picks 1-2-5 steps', () => {
    expect(niceStep(190, 5)).toBe(50);
    expect(niceStep(9, 5)).toBe(2);
    expect(niceStep(0.0005, 5)).toBeCloseTo(1e-4, 15);
    expect(niceStep(3, 5, 1)).toBe(1);
  });

  it('puts step and token ticks at round values, not at the data minimum plus a stride', () => {
    const steps = linearAxis(17, 207, { integer: true });
    expect(steps.ticks).toEqual([0, 50, 100, 150, 200, 250]);
    expect(steps.domain).toEqual([0, 250]);
    const tokens = linearAxis(0, 11_700, { integer: true });
    expect(tokens.ticks).toEqual([0, 2000, 4000, 6000, 8000, 10_000, 12_000]);
    const few = linearAxis(1, 3, { integer: true });
    expect(few.ticks.every(Number.isInteger)).toBe(true);
    expect(few.domain[0]).toBeLessThanOrEqual(1);
    expect(few.domain[1]).toBeGreaterThanOrEqual(3);
  });

  it('covers the data with clean decimals (no 0.30000000000000004)', () => {
    const a = linearAxis(0.12, 0.97);
    expect(a.ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    const lr = linearAxis(0, 5.04e-4);
    expect(lr.domain[1]).toBeGreaterThanOrEqual(5.04e-4);
    expect(lr.ticks.map(formatTick)).toEqual(['0', '1e-4', '2e-4', '3e-4', '4e-4', '5e-4', '6e-4']);
    expect(linearAxis(2, 2).ticks.length).toBeGreaterThanOrEqual(2);
  });

  it('makes a log axis whose ticks are round, distinct and inside a domain that holds all the data', () => {
    for (const [lo, hi] of [
      [11_700, 74_800],
      [2.1, 3.9],
      [1_000, 8e6],
      [0.5, 11],
      [3e-5, 1e-3],
    ] as const) {
      const a = logAxis(lo, hi);
      expect(a.domain[0]).toBeLessThanOrEqual(lo);
      expect(a.domain[1]).toBeGreaterThanOrEqual(hi);
      expect(new Set(a.ticks).size).toBe(a.ticks.length);
      expect(a.ticks.length).toBeGreaterThanOrEqual(2);
      expect(a.ticks.length).toBeLessThanOrEqual(7);
      for (const t of a.ticks) {
        expect(t).toBeGreaterThanOrEqual(a.domain[0]);
        expect(t).toBeLessThanOrEqual(a.domain[1]);
      }
    }
    const params = logAxis(11_700, 74_800);
    expect(params.domain).toEqual([10_000, 80_000]);
    expect(params.ticks.map(formatTick)).toEqual(['10k', '20k', '50k']);
    expect(logAxis(11_700, 74_800).ticks).not.toContain(74_752);
    expect(logAxis(1_000, 8e6).ticks.map(formatTick)).toEqual(['1k', '10k', '100k', '1M']);
    // Narrow ranges get linear round ticks (trainable parameters 14.3k … 17.2k).
    expect(logAxis(14_300, 17_200)).toEqual({ domain: [14_000, 17_500], ticks: [14_000, 14_500, 15_000, 15_500, 16_000, 16_500, 17_000, 17_500] });
    expect(logAxis(2.1, 3.9).ticks).toEqual([2, 2.5, 3, 3.5, 4]);
    expect(linearAxis(0, 0).domain).toEqual([0, 1]);
  });

  it('formats labels short enough for the axis width', () => {
    expect(formatTick(5.04e-4)).toBe('5.04e-4');
    expect(formatTick(0.25)).toBe('0.25');
    expect(formatTick(1500)).toBe('1.5k');
    expect(formatTick(2_000_000)).toBe('2M');
    expect(axisWidth([0, 5.04e-4])).toBeGreaterThanOrEqual(7 * 6.8);
    expect(extent([3, undefined, Number.NaN, -1, 7], true)).toEqual([3, 7]);
    expect(extent([])).toBeNull();
  });

  it('adds digits until no two tick labels read the same', () => {
    const narrow = linearAxis(15.93, 16.14);
    const labels = narrow.ticks.map(tickLabeller(narrow.ticks));
    expect(new Set(labels).size).toBe(labels.length);
    expect(labels).toContain('16.05');
    // Three digits were enough before: unchanged.
    expect(tickLabeller([0, 1e-4, 2e-4])(2e-4)).toBe('2e-4');
    expect(tickLabeller([1.0001e-4, 1.0002e-4])(1.0002e-4)).toBe('1.0002e-4');
    expect(axisWidth(narrow.ticks)).toBeGreaterThanOrEqual(5 * 6.8);
  });
});
