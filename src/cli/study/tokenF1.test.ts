import { describe, expect, it } from 'vitest';
import { normalizeAnswer, tokenF1 } from './tokenF1';

describe('tokenF1', () => {
  it("normalises as SQuAD's script: lower case, no punctuation, no articles, single spaces", () => {
    expect(normalizeAnswer('  The LORD is my shepherd; I shall not want.  ')).toBe('lord is my shepherd i shall not want');
    expect(normalizeAnswer('An apple, a day')).toBe('apple day');
    expect(normalizeAnswer('theme another')).toBe('theme another'); // articles only as whole words
  });

  it('scores exact, partial, reordered and empty answers', () => {
    expect(tokenF1('The Lord is my shepherd.', 'the lord is my shepherd')).toBe(1);
    expect(tokenF1('shepherd my is lord', 'the lord is my shepherd')).toBe(1); // a bag of tokens
    // 2 shared of 3 predicted and 4 expected: P = 2/3, R = 1/2, F1 = 4/7.
    expect(tokenF1('lord my king', 'lord is my shepherd')).toBeCloseTo(4 / 7, 12);
    expect(tokenF1('seven', 'five')).toBe(0);
    expect(tokenF1(null, 'five')).toBe(0);
    expect(tokenF1('', '')).toBe(1);
    expect(tokenF1('the', 'a')).toBe(1); // both empty once normalised
  });

  it('counts repeated tokens with multiplicity', () => {
    // predicted 'one one one', expected 'one two one': 2 shared; P = 2/3, R = 2/3.
    expect(tokenF1('one one one', 'one two one')).toBeCloseTo(2 / 3, 12);
  });
});
