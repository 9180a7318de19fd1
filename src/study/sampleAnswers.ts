// A few generated answers of one task's first run, prompt by prompt, every method of that run side
// by side: what the report (docs/RESULTS.md) and the studio's Study view both show. Pure.

import type { StudyRun } from './results';

export interface SampleAnswer {
  readonly method: string;
  /** Undefined where this method's run kept fewer samples. */
  readonly generated: string | undefined;
  readonly correct: boolean;
}

export interface SamplePrompt {
  readonly prompt: string;
  readonly reference: string;
  readonly answers: readonly SampleAnswer[];
}

/**
 * The first `n` accuracy prompts of `runs[0]` (the run's first method, the base model in a study,
 * sets the prompts; every method answered the same prompts in the same order), or none.
 */
export function sampleAnswers(runs: readonly StudyRun[], n: number): { seed: number; prompts: SamplePrompt[] } | undefined {
  const run = runs[0];
  const first = run?.methods[0];
  if (!run || !first) return undefined;
  const prompts = first.accuracy.samples.slice(0, n).map((item, i) => ({
    prompt: item.prompt,
    reference: item.reference,
    answers: run.methods.map((m) => {
      const s = m.accuracy.samples[i];
      return { method: m.id, generated: s?.generated, correct: s?.correct ?? false };
    }),
  }));
  return { seed: run.seed, prompts };
}
