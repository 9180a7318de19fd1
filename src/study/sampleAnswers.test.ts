import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { StudyJson, StudyRun } from './results';
import { sampleAnswers } from './sampleAnswers';

const study = JSON.parse(readFileSync('docs/results.json', 'utf8')) as StudyJson;

describe('sampleAnswers', () => {
  it("takes the first run's first prompts, every method's answer to each in the run's method order", () => {
    const runs = study.runs.filter((r) => r.dataset === study.runs[0]!.dataset);
    const s = sampleAnswers(runs, 2)!;
    const run = runs[0]!;
    expect(s.seed).toBe(run.seed);
    expect(s.prompts).toHaveLength(Math.min(2, run.methods[0]!.accuracy.samples.length));
    s.prompts.forEach((p, i) => {
      expect(p.prompt).toBe(run.methods[0]!.accuracy.samples[i]!.prompt);
      expect(p.answers.map((a) => a.method)).toEqual(run.methods.map((m) => m.id));
      p.answers.forEach((a, j) => {
        const own = run.methods[j]!.accuracy.samples[i]!;
        expect(own.prompt).toBe(p.prompt);
        expect([a.generated, a.correct]).toEqual([own.generated, own.correct]);
      });
    });
  });

  it('marks a method that kept fewer samples, and has nothing for no runs', () => {
    const run = study.runs[0]!;
    const [first, second, ...rest] = run.methods;
    const short: StudyRun = { ...run, methods: [first!, { ...second!, accuracy: { ...second!.accuracy, samples: [] } }, ...rest] };
    const s = sampleAnswers([short], 1)!;
    expect(s.prompts[0]!.answers[1]).toEqual({ method: second!.id, generated: undefined, correct: false });
    expect(sampleAnswers([], 2)).toBeUndefined();
  });
});
