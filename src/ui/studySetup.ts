// What the Study view says about how the reference study was run (docs/results.json's config):
// model, training, seeds per task, learning rates and how they were chosen, hardware, and whether
// the file holds every planned run. Pure functions over StudyJson; method names come from the
// caller (the file's methodInfo, or the registry's labels for older files).

import { studyDatasets } from '../study/aggregate';
import type { DatasetId, StudyJson } from '../study/results';
import { formatBytes, formatCount } from './format';

export interface SetupFact {
  readonly label: string;
  readonly value: string;
  /** A shell command, shown as code. */
  readonly command?: boolean;
  /** Another process's command whose runs were merged into the file (a study trained in slices). */
  readonly merged?: boolean;
}

/** The seeds each task ran, the tasks in the order the task picker shows them (studyDatasets). */
export function seedsByTask(study: Pick<StudyJson, 'runs' | 'datasets'>): { dataset: DatasetId; seeds: number[] }[] {
  return studyDatasets(study).map((dataset) => ({
    dataset,
    seeds: [...new Set(study.runs.filter((r) => r.dataset === dataset).map((r) => r.seed))].sort((a, b) => a - b),
  }));
}

/** Methods grouped by learning rate, largest group first: "5e-4: LoRA, PiSSA; 4e-3: SPP". */
export function learningRateGroups(rates: Readonly<Record<string, number>>, label: (id: string) => string): string {
  const groups = new Map<number, string[]>();
  for (const [id, rate] of Object.entries(rates)) groups.set(rate, [...(groups.get(rate) ?? []), label(id)]);
  return [...groups]
    .sort((a, b) => b[1].length - a[1].length || a[0] - b[0])
    .map(([rate, ids]) => `${formatRateValue(rate)}: ${ids.join(', ')}`)
    .join('; ');
}

/** "2026-12-03 13:06 UTC" from an ISO time; other text as it is. */
export function formatWhen(iso: string): string {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d)/.exec(iso);
  return m ? `${m[1]} ${m[2]} UTC` : iso;
}

/** A learning rate as "3e−3" (a true minus sign). */
export function formatRateValue(rate: number): string {
  return rate.toExponential(0).replace('e-', 'e−');
}

/** "3 of 9 planned runs" when partial; otherwise how many runs; for a file holding the sweep alone, how far the sweep got. */
export function completeness(study: Pick<StudyJson, 'partial' | 'runs' | 'config' | 'lrSweep'>): string {
  const planned = study.config.plannedRuns?.length ?? study.runs.length;
  const sweep = study.lrSweep;
  if (planned === 0 && study.runs.length === 0 && sweep) {
    const trials = `${sweep.trials.length}${sweep.planned !== undefined ? ` of ${sweep.planned}` : ''} trials`;
    const finished = sweep.planned === undefined || sweep.trials.length >= sweep.planned;
    return `The learning-rate sweep alone (${trials}${finished ? '' : ' so far'}); no main runs yet.`;
  }
  const runs = `${study.runs.length} of ${planned} planned ${planned === 1 ? 'run' : 'runs'} (task × seed)`;
  return study.partial ? `Partial: ${runs}; the rest had not run when the file was written.` : `Complete: ${runs}.`;
}

export function setupFacts(study: StudyJson, label: (id: string) => string): SetupFact[] {
  const c = study.config;
  const sweep = study.lrSweep;
  const chosen = sweep
    ? `Chosen by a sweep on ${sweep.dataset}, seed ${sweep.seed}, ${sweep.steps} steps, ${sweep.trials.length} trials, one rate per ${sweep.scope === 'family' ? 'method family' : 'method'}, fixed before the main runs. ${sweep.rule}`
    : c.lrFamilies;
  const tasks = study.datasets.map((d) => `${d.id} (${formatCount(d.trainRows)} train / ${formatCount(d.validationRows)} validation rows, ${d.seqLen} tokens)`);
  const seeds = seedsByTask(study).map((t) => `${t.dataset}: ${t.seeds.join(', ')}`);
  const methods = c.methods.map(label);
  return [
    { label: 'Status', value: `${completeness(study)} Updated ${formatWhen(study.updated || study.started)}.` },
    { label: 'Model', value: `${c.model} (${formatCount(c.modelParams)} parameters, ${formatBytes(c.baseBytes)} base)` },
    { label: 'Methods', value: `${methods.length}: ${methods.join(', ')}` },
    {
      label: 'Training',
      value: `${c.steps} steps, batch ${c.batch}, ${c.schedule} schedule (${c.warmupSteps} warm-up), clip ${c.clip}, weight decay ${c.weightDecay}; rank ${c.rank}, alpha ${c.alpha}`,
    },
    { label: 'Tasks', value: tasks.join('; ') || 'none' },
    { label: 'Seeds', value: seeds.join('; ') || 'no runs yet' },
    { label: 'Learning rates', value: `${learningRateGroups(c.learningRates, label)}. ${chosen}` },
    {
      label: 'Evaluation',
      value: `validation loss on ${c.evalRows} rows every ${c.evalEvery} steps, on ${c.finalValRows || 'all'} rows at the end; accuracy on ${c.accuracyItems} prompts`,
    },
    { label: 'GPU', value: c.gpu },
    { label: 'Host', value: c.host },
    { label: 'Command', value: c.command, command: true },
    ...(c.merged ?? []).map((m) => ({ label: `Merged in (${m.runs.join(', ')})`, value: m.command, command: true, merged: true })),
  ];
}
