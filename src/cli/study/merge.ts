// Joining the results files of one study that was run in parts (`npm run study -- --render-only
// --merge FILES`): whole task × seed runs of other processes (`--only TASK:SEED`), and method groups
// of the same run (`--only TASK:SEED --methods GROUP`), so that a study too long for one sitting is
// run slice by slice and assembled. A method's results do not depend on which other methods shared
// its process: every method starts from the run's seed and trains on the run's seeded batches
// (run.test.ts checks that a method trained alone matches the same method trained beside another).

import type { MethodResult, StudyJson, StudyRun } from '../../study/results';
import { UsageError } from '../args';
import { sameConfiguration } from './sweep';

type Config = StudyJson['config'];

/** Keys that the method groups of one study share (everything but which methods ran, and their rates, settings and labels). */
const SHARED_KEYS = [
  'model',
  'targets',
  'steps',
  'batch',
  'schedule',
  'warmupSteps',
  'clip',
  'weightDecay',
  'rank',
  'alpha',
  'evalEvery',
  'evalRows',
  'finalValRows',
  'accuracyItems',
  'calibrationBatches',
] as const satisfies readonly (keyof Config)[];

/** Why two configurations cannot be joined method by method ([] when they can): a shared key differs, or a method both ran differs in rate or settings. */
export function groupDifferences(x: Config, y: Config): string[] {
  const keys: string[] = SHARED_KEYS.filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]));
  for (const id of x.methods.filter((m) => y.methods.includes(m))) {
    if (x.learningRates[id] !== y.learningRates[id]) keys.push(`${id}'s learning rate`);
    if (JSON.stringify(x.methodSettings[id]) !== JSON.stringify(y.methodSettings[id])) keys.push(`${id}'s settings`);
  }
  return keys;
}

/** `ids` in the order of `order` (the registry's), the ones it lacks after them in their own order. */
function ordered(ids: Iterable<string>, order: readonly string[]): string[] {
  const rank = (id: string) => {
    const i = order.indexOf(id);
    return i < 0 ? order.length : i;
  };
  return [...new Set(ids)].sort((a, b) => rank(a) - rank(b));
}

const sameRun = (a: { dataset: string; seed: number }, b: { dataset: string; seed: number }) => a.dataset === b.dataset && a.seed === b.seed;

/** `runs` in the order of the planned runs. */
export function sortRuns(runs: readonly StudyRun[], planned: readonly { dataset: string; seed: number }[]): StudyRun[] {
  const index = (r: StudyRun) => planned.findIndex((p) => sameRun(p, r));
  return [...runs].sort((a, b) => index(a) - index(b));
}

/** Every planned run there, and each with every configured method: nothing left to train. */
export function isComplete(json: Pick<StudyJson, 'config' | 'runs'>): boolean {
  return json.config.plannedRuns.every((p) => {
    const run = json.runs.find((r) => sameRun(r, p));
    return run !== undefined && json.config.methods.every((id) => run.methods.some((m) => m.id === id));
  });
}

/** One run's two method groups as one run: `into`'s rows, then `other`'s methods that `into` lacks. */
function joinRun(into: StudyRun, other: StudyRun, order: readonly string[], file: string): { run: StudyRun; added: string[] } {
  const added = other.methods.filter((m) => !into.methods.some((x) => x.id === m.id));
  const baseOf = (r: StudyRun) => r.methods.find((m) => m.id === 'base');
  const [mine, theirs] = [baseOf(into), baseOf(other)];
  // The frozen model on the same rows gives the same losses in every process: a mismatch means other data or another model.
  if (mine && theirs && (mine.finalValidationLoss !== theirs.finalValidationLoss || mine.validation[0]?.loss !== theirs.validation[0]?.loss)) {
    throw new UsageError(
      `--merge: ${file}'s ${into.dataset} seed ${into.seed} has another base-model validation loss (${theirs.finalValidationLoss} against ${mine.finalValidationLoss}): not the same data or model`,
      'study',
    );
  }
  if (added.length === 0) return { run: into, added: [] };
  const byId = new Map<string, MethodResult>([...into.methods, ...added].map((m) => [m.id, m]));
  const ids = ordered(byId.keys(), ['base', ...order]);
  const peaks = [into.peakGpuBytes, other.peakGpuBytes].filter((p): p is number => p !== undefined);
  const run: StudyRun = {
    dataset: into.dataset,
    seed: into.seed,
    wallMs: into.wallMs + other.wallMs,
    methods: ids.map((id) => byId.get(id)!),
    ...(peaks.length > 0 ? { peakGpuBytes: Math.max(...peaks) } : {}),
    methodGroups: (into.methodGroups ?? 1) + (other.methodGroups ?? 1),
  };
  return { run, added: ids.filter((id) => id !== 'base' && added.some((m) => m.id === id)) };
}

/**
 * `into` with what only `other` has: planned runs it lacks, and methods it lacks in runs both
 * have (a method group). Refused when the two were trained differently (groupDifferences) or
 * `other` adds nothing. `order` is the registry's method order, which the joined lists follow.
 */
export function mergeStudy(into: StudyJson, other: StudyJson, file: string, order: readonly string[]): StudyJson {
  const differ = groupDifferences(into.config, other.config);
  if (differ.length > 0) throw new UsageError(`--merge: ${file} was run with another ${differ.join(', ')}`, 'study');
  const planned = into.config.plannedRuns;
  let runs = [...into.runs];
  const gave: string[] = [];
  for (const r of other.runs) {
    if (!planned.some((p) => sameRun(p, r))) continue;
    const i = runs.findIndex((x) => sameRun(x, r));
    if (i < 0) {
      runs.push(r);
      gave.push(`${r.dataset} seed ${r.seed}`);
      continue;
    }
    const { run, added } = joinRun(runs[i]!, r, order, file);
    runs[i] = run;
    if (added.length > 0) gave.push(`${r.dataset} seed ${r.seed}: ${added.join(', ')}`);
  }
  if (!into.quant && other.quant) gave.push('the quantization-error table');
  if (gave.length === 0) throw new UsageError(`--merge: ${file} has no finished run, method or quantization table that the --json file is missing`, 'study');
  runs = sortRuns(runs, planned);
  const x = into.config;
  const y = other.config;
  const methods = sameConfiguration(x, y) ? x.methods : ordered([...x.methods, ...y.methods], order);
  const config: Config = {
    ...x,
    methods,
    learningRates: { ...y.learningRates, ...x.learningRates },
    methodSettings: { ...y.methodSettings, ...x.methodSettings },
    ...(x.methodInfo || y.methodInfo ? { methodInfo: { ...y.methodInfo, ...x.methodInfo } } : {}),
    merged: [...(x.merged ?? []), { command: y.command, runs: gave }],
  };
  const quant = into.quant ?? other.quant;
  const lrSweep = into.lrSweep ?? other.lrSweep;
  const datasets = [...into.datasets, ...other.datasets.filter((d) => !into.datasets.some((e) => e.id === d.id))];
  const joined: StudyJson = {
    ...into,
    updated: new Date().toISOString(),
    config,
    datasets,
    runs,
    ...(quant ? { quant } : {}),
    ...(lrSweep ? { lrSweep } : {}),
  };
  return { ...joined, partial: !isComplete(joined) || joined.quant === undefined };
}
