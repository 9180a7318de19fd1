import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixtureMethod as method, fixtureRun as run, fixtureStudy as study } from '../study/studyFixture';
import { parseStudy } from './studyLoad';
import { completeness, formatWhen, learningRateGroups, seedsByTask, setupFacts } from './studySetup';

describe('the Study view’s setup', () => {
  const runs = [run('math', 2, [method('m1', 3)]), run('words', 1, [method('m1', 3)]), run('math', 1, [method('m1', 3)])];

  it('lists the seeds per task in task order', () => {
    expect(seedsByTask(study(runs))).toEqual([
      { dataset: 'math', seeds: [1, 2] },
      { dataset: 'words', seeds: [1] },
    ]);
  });

  it('follows the file’s task list when joined parts hold the runs in another order', () => {
    const joined = study(runs);
    const datasets = [...joined.datasets].reverse();
    expect(seedsByTask({ ...joined, datasets }).map((t) => t.dataset)).toEqual(['words', 'math']);
    const unlisted = { ...joined, datasets: datasets.filter((d) => d.id === 'words') };
    expect(seedsByTask(unlisted).map((t) => t.dataset)).toEqual(['words', 'math']);
  });

  it('groups the methods by learning rate, largest group first, with their labels', () => {
    expect(learningRateGroups({ a: 5e-4, b: 4e-3, c: 5e-4 }, (id) => id.toUpperCase())).toBe('5e−4: A, C; 4e−3: B');
  });

  it('says whether the file is complete', () => {
    const partial = study(runs, undefined, { partial: true });
    const planned = { ...partial.config, plannedRuns: [...partial.config.plannedRuns, { dataset: 'verses' as const, seed: 1 }] };
    expect(completeness({ ...partial, config: planned })).toBe('Partial: 3 of 4 planned runs (task × seed); the rest had not run when the file was written.');
    expect(completeness(study(runs))).toBe('Complete: 3 of 3 planned runs (task × seed).');
    const lrSweep = { dataset: 'math' as const, seed: 1, steps: 50, scope: 'method' as const, trials: [], chosen: {}, rule: '', wallMs: 1 };
    const alone = { ...partial, runs: [], config: { ...partial.config, plannedRuns: [] } };
    const trial = { method: 'a', learningRate: 1e-3, finalValidationLoss: 2 };
    expect(completeness({ ...alone, lrSweep: { ...lrSweep, trials: [trial], planned: 3 } })).toBe(
      'The learning-rate sweep alone (1 of 3 trials so far); no main runs yet.',
    );
    expect(completeness({ ...alone, lrSweep: { ...lrSweep, trials: [trial], planned: 1 } })).toBe(
      'The learning-rate sweep alone (1 of 1 trials); no main runs yet.',
    );
  });

  it('says how the rates were chosen: the sweep when there was one, else the written rule', () => {
    const lrSweep = { dataset: 'math' as const, seed: 1, steps: 50, scope: 'family' as const, trials: [], chosen: {}, rule: 'Lowest final loss.', wallMs: 1 };
    const rates = (s: ReturnType<typeof study>) => setupFacts(s, (id) => id).find((f) => f.label === 'Learning rates')!.value;
    expect(rates(study(runs, undefined, { lrSweep }))).toMatch(
      /Chosen by a sweep on math, seed 1, 50 steps, 0 trials, one rate per method family.*Lowest final loss\./,
    );
    const s = study(runs);
    expect(rates({ ...s, config: { ...s.config, lrFamilies: 'One rate for all.' } })).toMatch(/One rate for all\.$/);
  });

  it('describes the reference study without a missing value', () => {
    const facts = setupFacts(parseStudy(readFileSync('docs/results.json', 'utf8'), 'docs/results.json'), (id) => id);
    const file = JSON.parse(readFileSync('docs/results.json', 'utf8')) as { config: { merged?: unknown[] } };
    const merged = facts.filter((f) => f.label.startsWith('Merged in'));
    const labels = ['Status', 'Model', 'Methods', 'Training', 'Tasks', 'Seeds', 'Learning rates', 'Evaluation', 'GPU', 'Host', 'Command'];
    expect(facts.map((f) => f.label).slice(0, labels.length)).toEqual(labels);
    expect(merged.length).toBe(file.config.merged?.length ?? 0);
    expect(facts.filter((f) => f.command).length).toBe(1 + merged.length);
    // The sweep's rule itself says "NaN or infinite".
    for (const f of facts) expect(f.value, f.label).not.toMatch(/undefined|NaN(?! or infinite)/);
    expect(formatWhen('2026-12-03T13:06:49.172Z')).toBe('2026-12-03 13:06 UTC');
    expect(formatWhen('')).toBe('');
  });
});
