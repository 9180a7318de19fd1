import { describe, expect, it } from 'vitest';
import { numberProblem, rangeText } from './numberRange';

describe('number range', () => {
  it('accepts values in range and names the range otherwise', () => {
    const lr = { min: 1e-7, max: 1 };
    expect(numberProblem('0.0002', lr)).toBeNull();
    expect(numberProblem('1000', lr)).toBe('Enter a number from 1e-7 to 1');
    expect(numberProblem('', lr)).toBe('Enter a number from 1e-7 to 1');
    expect(numberProblem('abc', lr)).not.toBeNull();
    expect(numberProblem('2.5', { min: 1, max: 64, integer: true })).toBe('Enter a whole number from 1 to 64');
    expect(rangeText({ min: 0 })).toBe('a number of at least 0');
    expect(rangeText({})).toBe('a number');
  });
});
