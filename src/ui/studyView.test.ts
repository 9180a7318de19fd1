import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { claimResults, methodLabel, seedBands, summarize } from '../study/aggregate';
import type { StudyJson } from '../study/results';
import { fixtureMethod as method, fixtureRun as run, fixtureStudy as study } from '../study/studyFixture';
import { bandHighKey, bandLowKey } from './chartData';
import { parseStudy } from './studyLoad';
import { bandRows, claimTally, formatSigned, formatStat, sortBy, sortValue, studyOrder, studyParetoPoints, withRegistryInfo } from './studyView';

const info = (id: string, label: string, claims: { against: string; claim: string }[] = []) => ({ id, label, family: 'low-rank', claims });

describe('studyOrder', () => {
  it('keeps the registry order and appends the study’s other ids (runs, quantization) once', () => {
    const s = study([run('math', 1, [method('base', 6), method('m2', 3), method('m9', 4)])], undefined, {
      quant: { seed: 1, settings: {}, methods: [{ id: 'm7', iterations: 1, initMs: 1, layers: [] }] },
    });
    expect(studyOrder(['m1', 'm2'], s)).toEqual(['m1', 'm2', 'm9', 'base', 'm7']);
  });
});

describe('withRegistryInfo', () => {
  const s = study([run('math', 1, [method('m1', 3), method('m2', 2)]), run('math', 2, [method('m1', 3.2), method('m2', 2.4)])]);

  it('fills labels, families and claims from the registry for a file without methodInfo, so claims can be checked', () => {
    expect(claimResults(s)).toEqual([]);
    const filled = withRegistryInfo(s, [info('m1', 'One'), info('m2', 'Two', [{ against: 'm1', claim: 'Two ends lower than One' }]), info('m3', 'Three')]);
    expect(methodLabel(filled, 'm2')).toBe('Two');
    expect(Object.keys(filled.config.methodInfo ?? {})).toEqual(['m1', 'm2']);
    const claims = claimResults(filled);
    expect(claims).toHaveLength(1);
    expect(claims[0]).toMatchObject({ method: 'm2', against: 'm1', pairs: 2, wins: 2, verdict: 'supports' });
  });

  it('keeps what the file says of its own methods, and returns the same object when there is nothing to add', () => {
    const own = study([run('math', 1, [method('m1', 3)])], { m1: { label: 'Own label', family: 'dense', claims: [] } });
    expect(withRegistryInfo(own, [info('m1', 'Registry label')])).toBe(own);
    expect(withRegistryInfo(s, [])).toBe(s);
  });
});

describe('formatStat and formatSigned', () => {
  const f = (v: number) => v.toFixed(2);
  it('shows mean ± sd for two or more values, the mean alone for one, and – when not measured', () => {
    expect(formatStat({ mean: 1.5, sd: 0.25, n: 2 }, f)).toBe('1.50 ± 0.25');
    expect(formatStat({ mean: -0.5, sd: 0.25, n: 3 }, formatSigned, f)).toBe('−0.500 ± 0.25');
    expect(formatStat({ mean: 1.5, sd: Number.NaN, n: 1 }, f)).toBe('1.50');
    expect(formatStat({ mean: Number.NaN, sd: Number.NaN, n: 0 }, f)).toBe('–');
    expect(formatStat(undefined, f)).toBe('–');
    expect(formatSigned(0.0394)).toBe('+0.039');
  });
});

describe('sortBy', () => {
  const rows = [
    { id: 'a', v: { mean: 2, sd: 0, n: 1 } },
    { id: 'b', v: undefined },
    { id: 'c', v: { mean: 1, sd: 0, n: 2 } },
    { id: 'd', v: { mean: 3, sd: 0, n: 2 } },
  ];
  it('sorts by the mean either way with the unmeasured last', () => {
    expect(sortBy(rows, (r) => sortValue(r.v), 1).map((r) => r.id)).toEqual(['c', 'a', 'd', 'b']);
    expect(sortBy(rows, (r) => sortValue(r.v), -1).map((r) => r.id)).toEqual(['d', 'a', 'c', 'b']);
    expect(sortBy(rows, (r) => sortValue(r.id), -1).map((r) => r.id)).toEqual(['d', 'c', 'b', 'a']);
  });
});

describe('bandRows', () => {
  it('puts each mean at its step and mean ± sd as the band where two or more seeds ran', () => {
    const rows = bandRows(
      [
        {
          method: 'k',
          points: [
            { step: 0, mean: 5, sd: 0, n: 2 },
            { step: 2, mean: 3, sd: 0.5, n: 2 },
            { step: 4, mean: 2, sd: Number.NaN, n: 1 },
          ],
        },
      ],
      false,
    );
    expect(rows).toEqual([
      { x: 0, k: 5, [bandLowKey('k')]: 5, [bandHighKey('k')]: 5 },
      { x: 2, k: 3, [bandLowKey('k')]: 2.5, [bandHighKey('k')]: 3.5 },
      { x: 4, k: 2 },
    ]);
  });

  it('leaves the bands out when asked', () => {
    const rows = bandRows([{ method: 'k', points: [{ step: 2, mean: 3, sd: 0.5, n: 2 }] }], false, false);
    expect(rows).toEqual([{ x: 2, k: 3 }]);
  });

  it('draws the aggregate’s seed bands of a study', () => {
    const s = study([run('math', 1, [method('base', 6), method('m1', 3)]), run('math', 2, [method('base', 6), method('m1', 4)])]);
    const rows = bandRows(seedBands(s, 'math', 'validation'), false);
    expect(rows.map((r) => r.x)).toEqual([0, 2, 4]);
    expect(rows[2]!.m1).toBeCloseTo(3.5, 12);
    expect(rows[2]![bandHighKey('m1')]! - rows[2]![bandLowKey('m1')]!).toBeCloseTo(2 * Math.SQRT1_2, 12);
  });
});

describe('claimTally', () => {
  const c = { wins: 1, atParity: 2, pairs: 3, paramRatio: 41.7 };
  it('says what the seeds show in the claim’s terms', () => {
    expect(claimTally({ ...c, kind: 'lower' })).toBe('lower in 1 of 3 seeds');
    expect(claimTally({ ...c, kind: 'parity' })).toBe('within 5 % in 2 of 3 seeds');
    expect(claimTally({ ...c, kind: 'parameters' })).toBe('within 5 % in 2 of 3 seeds, 41.7× fewer params');
    expect(claimTally({ ...c, pairs: 0, kind: 'lower' })).toBe('no seed ran both');
  });
});

describe('the reference study (docs/results.json)', () => {
  const file = parseStudy(readFileSync('docs/results.json', 'utf8'), 'docs/results.json');
  const rows = summarize(file);

  it('gives Pareto points for every trained method with parameters and a final loss, and none for the frozen base', () => {
    for (const task of new Set(rows.map((r) => r.dataset))) {
      const ofTask = rows.filter((r) => r.dataset === task);
      const points = studyParetoPoints(ofTask);
      expect(points.length).toBe(ofTask.filter((r) => r.trainableParams > 0).length);
      expect(points.every((p) => p.x > 0 && Number.isFinite(p.y))).toBe(true);
    }
  });

  it('draws a curve for every trained method of each task, with bands only where two seeds ran', () => {
    const tasks = [...new Set(file.runs.map((r) => r.dataset))];
    for (const task of tasks) {
      const seeds = file.runs.filter((r) => r.dataset === task).length;
      const bands = seedBands(file as StudyJson, task, 'validation');
      const rows = bandRows(bands, false);
      for (const b of bands) {
        expect(rows.some((r) => r[b.method] !== undefined)).toBe(true);
        expect(rows.some((r) => r[bandLowKey(b.method)] !== undefined)).toBe(seeds >= 2);
      }
    }
  });
});
