// Joining a study run in slices: whole runs from other processes, and method groups of one run.

import { describe, expect, it } from 'vitest';
import type { StudyJson } from '../../study/results';
import { fixtureMethod, fixtureRun, fixtureStudy } from '../../study/studyFixture';
import { renderResults } from './report';
import { groupDifferences, isComplete, mergeStudy } from './merge';

const ORDER = ['m1', 'm2', 'm3'];
const planned = [
  { dataset: 'arithmetic' as const, seed: 1 },
  { dataset: 'arithmetic' as const, seed: 2 },
];

/** A part: the given methods of the given seeds, with the whole study's plan, rates and settings. */
function part(methods: string[], seeds: number[], over: Partial<StudyJson['config']> = {}): StudyJson {
  const runs = seeds.map((seed) => ({
    ...fixtureRun('arithmetic', seed, [fixtureMethod('base', 5), ...methods.map((id, i) => fixtureMethod(id, 2 + i + seed / 10))]),
    peakGpuBytes: 1000 * methods.length,
  }));
  const study = fixtureStudy(runs);
  return {
    ...study,
    config: {
      ...study.config,
      plannedRuns: planned,
      command: `npm run study -- --methods ${methods.join(',')}`,
      learningRates: Object.fromEntries(methods.map((id) => [id, id === 'm3' ? 1e-3 : 5e-3])),
      methodSettings: Object.fromEntries(methods.map((id) => [id, id === 'm3' ? {} : { rank: 8, alpha: 8 }])),
      ...over,
    },
  };
}

describe('mergeStudy', () => {
  it('joins the method groups of a run into one run, in registry order, and marks the study complete once every method of every run is there', () => {
    const a = part(['m2'], [1]);
    const b = part(['m3', 'm1'], [1]);
    const joined = mergeStudy(a, b, 'b.json', ORDER);
    expect(joined.config.methods).toEqual(['m1', 'm2', 'm3']);
    expect(joined.runs).toHaveLength(1);
    const run = joined.runs[0]!;
    expect(run.methods.map((m) => m.id)).toEqual(['base', 'm1', 'm2', 'm3']);
    // Each method's rows are the part's own, unchanged.
    expect(run.methods.find((m) => m.id === 'm2')).toEqual(a.runs[0]!.methods.find((m) => m.id === 'm2'));
    expect(run.methods.find((m) => m.id === 'm1')).toEqual(b.runs[0]!.methods.find((m) => m.id === 'm1'));
    expect(run.wallMs).toBe(a.runs[0]!.wallMs + b.runs[0]!.wallMs);
    expect(run.peakGpuBytes).toBe(2000);
    expect(run.methodGroups).toBe(2);
    expect(joined.config.learningRates).toEqual({ m2: 5e-3, m3: 1e-3, m1: 5e-3 });
    expect(joined.config.merged).toEqual([{ command: b.config.command, runs: ['arithmetic seed 1: m1, m3'] }]);
    // Seed 2 is planned and missing.
    expect(isComplete(joined)).toBe(false);
    expect(joined.partial).toBe(true);

    const seed2 = mergeStudy(joined, part(['m1', 'm2', 'm3'], [2]), 'c.json', ORDER);
    expect(seed2.runs.map((r) => r.seed)).toEqual([1, 2]);
    expect(isComplete(seed2)).toBe(true);
    // Complete but without the quantization table: still partial, as for whole runs.
    expect(seed2.partial).toBe(true);
    expect(mergeStudy(seed2, { ...part(['m1'], []), quant: { settings: {}, methods: [], seed: 1 } }, 'q.json', ORDER).partial).toBe(false);
  });

  it('lists a joined run in the report with its groups and what its peak covers', () => {
    const joined = mergeStudy(part(['m2'], [1, 2]), part(['m1'], [1, 2]), 'b.json', ORDER);
    const md = renderResults(joined);
    expect(md).toContain('seed 1 2.0 min (2 method groups, one after another)');
    expect(md).toContain('the largest of its method groups');
  });

  it('refuses parts trained differently, parts that add nothing, and parts whose base model disagrees', () => {
    const a = part(['m1'], [1]);
    expect(() => mergeStudy(a, part(['m2'], [1], { steps: 5 }), 'b.json', ORDER)).toThrow(/another steps/);
    expect(() => mergeStudy(a, part(['m1'], [1], { learningRates: { m1: 1e-2 } }), 'b.json', ORDER)).toThrow(/m1's learning rate/);
    expect(() => mergeStudy(a, part(['m1'], [1]), 'b.json', ORDER)).toThrow(/no finished run, method or quantization table/);
    const otherBase = part(['m2'], [1]);
    const run = otherBase.runs[0]!;
    const moved: StudyJson = { ...otherBase, runs: [{ ...run, methods: [fixtureMethod('base', 6), ...run.methods.slice(1)] }] };
    expect(() => mergeStudy(a, moved, 'b.json', ORDER)).toThrow(/base-model validation loss/);
    expect(groupDifferences(a.config, part(['m2'], [1]).config)).toEqual([]);
  });

  it('still adds whole runs of the same configuration (runs split across processes)', () => {
    const joined = mergeStudy(part(['m1', 'm2'], [2]), part(['m1', 'm2'], [1]), 'b.json', ORDER);
    expect(joined.runs.map((r) => r.seed)).toEqual([1, 2]);
    expect(joined.runs.every((r) => r.methodGroups === undefined)).toBe(true);
    expect(joined.config.methods).toEqual(['m1', 'm2']);
  });
});
