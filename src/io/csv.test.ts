// Tests for the RFC 4180 CSV reader: quoting, doubled quotes, line breaks inside quotes, CRLF,
// blank lines, start lines of records, delimiter guessing and the unterminated-quote refusal.

import { describe, expect, it } from 'vitest';
import { guessDelimiter, parseCsv } from './csv';
import { DatasetError } from '../errors';

describe('parseCsv', () => {
  it('reads plain and quoted fields with doubled quotes, delimiters and line breaks inside', () => {
    const text = 'a,b,c\r\n1,"two, with comma","say ""hi"""\n"multi\nline",,last\n';
    expect(parseCsv(text)).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 2, fields: ['1', 'two, with comma', 'say "hi"'] },
      { line: 3, fields: ['multi\nline', '', 'last'] },
    ]);
  });

  it('skips blank lines, keeps the line each record starts on, and reads a last line without a break', () => {
    expect(parseCsv('x\n\n"a\nb"\n\nc')).toEqual([
      { line: 1, fields: ['x'] },
      { line: 3, fields: ['a\nb'] },
      { line: 6, fields: ['c'] },
    ]);
  });

  it('keeps empty fields, and stray quotes inside unquoted fields as text', () => {
    expect(parseCsv(',\nab"c,"q"x')).toEqual([
      { line: 1, fields: ['', ''] },
      { line: 2, fields: ['ab"c', 'qx'] },
    ]);
  });

  it('reads tab-separated values', () => {
    expect(parseCsv('a\tb\n"x\ty"\tz', '\t')).toEqual([
      { line: 1, fields: ['a', 'b'] },
      { line: 2, fields: ['x\ty', 'z'] },
    ]);
  });

  it('refuses an unterminated quoted field, naming the line it opens on', () => {
    const error = (() => {
      try {
        parseCsv('a,b\n1,2\n3,"never closed\n4,5\n', ',', 'data.csv');
      } catch (e) {
        return e as Error;
      }
      throw new Error('expected a throw');
    })();
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(`data.csv: line 3: a quoted field is never closed (a '"' is missing), so the rest of the file cannot be read`);
  });
});

describe('guessDelimiter', () => {
  it('uses tabs for .tsv or a tab-only header, commas otherwise', () => {
    expect(guessDelimiter('a,b', 'x.tsv')).toBe('\t');
    expect(guessDelimiter('a\tb\n1\t2')).toBe('\t');
    expect(guessDelimiter('a,b\tc')).toBe(',');
    expect(guessDelimiter('a')).toBe(',');
  });
});
