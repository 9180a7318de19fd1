// Tests for JSON from user files: the nesting limit measured on the text (strings and escapes
// skipped), the caller's typed error, and quoting values in messages without ever throwing.

import { describe, expect, it } from 'vitest';
import { clipText, jsonDepth, MAX_JSON_DEPTH, parseJsonText, showJson, textNestsDeeperThan } from './json';
import { ModelFormatError } from '../errors';

const refuse = (reason: string): Error => new ModelFormatError(reason, 'x.json');

describe('parseJsonText', () => {
  it('parses ordinary JSON, nesting up to the limit included', () => {
    expect(parseJsonText('{"a":[1,{"b":null}]}', refuse)).toEqual({ a: [1, { b: null }] });
    const atLimit = `${'['.repeat(MAX_JSON_DEPTH)}${']'.repeat(MAX_JSON_DEPTH)}`;
    expect(jsonDepth(parseJsonText(atLimit, refuse))).toBe(MAX_JSON_DEPTH);
  });

  it("refuses deeper nesting before parsing, with the caller's error", () => {
    const deep = `${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}`;
    const start = performance.now();
    expect(() => parseJsonText(deep, refuse)).toThrow(
      new ModelFormatError(
        `nests more than ${MAX_JSON_DEPTH} levels deep (arrays or objects inside each other); no valid file of this kind does, ` +
          'so it is corrupt or was not written by a JSON library',
        'x.json',
      ),
    );
    expect(performance.now() - start).toBeLessThan(1000);
  });

  it('does not count brackets inside strings, escaped quotes included', () => {
    const text = JSON.stringify({ s: `${'['.repeat(1000)}\\"${'{'.repeat(1000)}` });
    expect(textNestsDeeperThan(text, 2)).toBe(false);
    expect(parseJsonText(text, refuse)).toEqual(JSON.parse(text));
  });

  it('names the file for invalid JSON', () => {
    expect(() => parseJsonText('{"a":', refuse)).toThrow(/^x\.json: is not valid JSON \(.+\)$/);
  });
});

describe('message helpers', () => {
  it('showJson is short and never throws', () => {
    expect(showJson({ a: 1 })).toBe('{"a":1}');
    expect(showJson('x'.repeat(100))).toBe(`"${'x'.repeat(56)}...`);
    expect(showJson(10n)).toBe('(a bigint)');
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(showJson(cyclic)).toBe('(an object nested too deep to show)');
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(showJson(deep)).toBe('(a list nested too deep to show)');
  });

  it('clipText keeps short text and cuts long text', () => {
    expect(clipText('abc')).toBe('abc');
    expect(clipText('x'.repeat(100), 10)).toBe('xxxxxxx...');
  });
});
