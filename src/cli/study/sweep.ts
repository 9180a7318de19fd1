// The study's learning-rate sweep (`npm run study -- --sweep`, issue 16): one seed of one task,
// a few rates per method family, every method at every rate of its family's grid, and the rate
// per method with the lowest final validation loss. One InterleavedRun (run.ts's runStudy) per
// grid point holds every method at that point's rate, so the methods of a point see identical
// batches. Also the rule by which the main study takes its rates (from a sweep, or given
// explicitly), and the comparison of study configurations that --resume and --merge rely on.

import { vera } from '../../adapters/methods/vera';
import { METHODS, isMethodId, methodById } from '../../adapters/registry';
import type { MethodFamily, MethodId } from '../../adapters/types';
import type { LrSweep, StudyJson } from '../../study/results';
import { UsageError } from '../args';

/**
 * Each family's rates, and optionally rates added for single methods beyond their family's (for a
 * method whose best sat at its family's edge): a method is tried at its family's rates and its own.
 */
export type SweepGrid = Readonly<Record<MethodFamily, readonly number[]>> & { readonly extra?: Readonly<Partial<Record<MethodId, readonly number[]>>> };
export type SweepTrial = LrSweep['trials'][number];

const FAMILIES: readonly MethodFamily[] = ['low-rank', 'sparse', 'dense'];

/**
 * Half-decade grids around the rates the task cards measured (public/datasets/arithmetic/README.md,
 * "Learnability": full fine-tuning learned the task at 1e-3; PiSSA and LoRA reached a lower loss at
 * 5e-3 than at 2e-3) and the papers' defaults, with room on both sides.
 */
export const DEFAULT_SWEEP_GRID: SweepGrid = {
  'low-rank': [1e-3, 3e-3, 1e-2, 3e-2],
  sparse: [1e-3, 4e-3, 1e-2, 3e-2, 1e-1, 3e-1],
  dense: [3e-4, 1e-3, 3e-3, 1e-2],
  extra: { [vera.id]: [1e-1, 3e-1] },
};

export const GRID_REASONS =
  "Grids (log-spaced, about ×3 apart): low-rank 1e-3, 3e-3, 1e-2, 3e-2, around the arithmetic card's measurement (PiSSA and LoRA at 5e-3 beat PiSSA at 2e-3 after 100 steps), " +
  "with 1e-3 below for LoRA+ (its B factor runs at 16× the rate; its authors advise about half of LoRA's rate) and 1e-2 above for the methods with few trainable parameters " +
  "(PEFT's MetaMathQA benchmark trains VeRA at 10× LoRA's rate; LoRA-SB trains only r×r per layer), and 3e-2 added after the 1e-2 point put the best of LoRA and six other low-rank methods at the top of the grid; VeRA alone also at 1e-1 and 3e-1, added after 3e-2 beat its 1e-2 (it trains only two scaling vectors per layer over a frozen random basis); sparse 1e-3 to 3e-1: SPP's official 4e-3 with room above, because SPP changes each kept weight by a fraction of itself " +
  "(W ⊙ (1 + s·Wcol·Wrow)), which moves far slower than an additive update at this scale (at 4e-3 on arithmetic its training loss went from 8.3 to 6.0 in 30 steps while LoRA's went from 9.1 to 2.2), " +
  "and down to full fine-tuning's scale for SHiRA (which updates entries of W directly); 3e-1 was added after the first points put SPP's best at 1e-1, then the grid's top " +
  "(a best rate at the edge of a grid says only that the best lies there or beyond); the fourth point trains every family, the fifth and sixth the sparse methods and VeRA only; dense 3e-4, 1e-3, 3e-3 around the card's 1e-3, at which full fine-tuning reached 16 % exact match in 100 steps, and 1e-2 added after 3e-3 put full fine-tuning's best at the grid's top. " +
  "The papers' own rates (mostly 2e-5 to 2e-4, on 7B models over epochs of data) are far too small for a 1M-parameter model trained for a few hundred steps.";

/** The choice rule in words, for a sweep whose final validation loss is on `finalValRows` rows (0: all). */
export function choiceRule(finalValRows: number): string {
  return (
    `Each method takes the rate of its grid (its family's and any added for it) with the lowest final validation loss (${finalValRows > 0 ? `the first ${finalValRows}` : 'all'} validation rows) after the sweep's steps; ` +
    'a trial that stopped (its loss became NaN or infinite) never wins; ties go to the lower rate.'
  );
}

/**
 * `low-rank=1e-3:3e-3:1e-2,dense=3e-4:1e-3` → the default grid with those families' rates replaced
 * (and the rates the default adds for their methods dropped); `FAMILY=none` sweeps none of that
 * family's methods; `METHOD=1e-1:3e-1` adds rates for one method (`METHOD=none`: none added).
 */
export function parseSweepGrid(raw: string | undefined, base: SweepGrid = DEFAULT_SWEEP_GRID): SweepGrid {
  if (raw === undefined) return base;
  const grid: Record<MethodFamily, readonly number[]> = { 'low-rank': base['low-rank'], sparse: base.sparse, dense: base.dense };
  const extra: Partial<Record<MethodId, readonly number[]>> = {};
  const seen = new Set<string>();
  for (const part of raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = part.indexOf('=');
    const key = eq < 0 ? '' : part.slice(0, eq).trim();
    const isFamily = (FAMILIES as readonly string[]).includes(key);
    if (!isFamily && !isMethodId(key)) {
      throw new UsageError(
        `--sweep-grid: '${part}' must be FAMILY=RATE:RATE:… with FAMILY one of ${FAMILIES.join(', ')} (e.g. low-rank=1e-3:3e-3:1e-2), ` +
          `or METHOD=RATE:… for rates added to one method's family grid (e.g. ${METHODS[0]!.id}=1e-1)`,
        'study',
      );
    }
    if (seen.has(key)) throw new UsageError(`--sweep-grid: ${key} is given twice`, 'study');
    seen.add(key);
    if (part.slice(eq + 1).trim() === 'none') {
      if (isFamily) grid[key as MethodFamily] = [];
      continue;
    }
    const rates = part
      .slice(eq + 1)
      .split(':')
      .map((s) => s.trim());
    const values = rates.map((s) => (s === '' ? Number.NaN : Number(s)));
    const bad = rates.find((_, i) => !(Number.isFinite(values[i]) && values[i]! > 0));
    if (bad !== undefined) throw new UsageError(`--sweep-grid: ${key}: '${bad}' is not a learning rate > 0`, 'study');
    if (new Set(values).size !== values.length) throw new UsageError(`--sweep-grid: ${key} lists a rate twice`, 'study');
    const sorted = [...values].sort((a, b) => a - b);
    if (isFamily) grid[key as MethodFamily] = sorted;
    else extra[key as MethodId] = sorted;
  }
  if (seen.size === 0) throw new UsageError('--sweep-grid needs at least one FAMILY=RATE:RATE:… entry', 'study');
  // The base's added rates stay for the methods whose family and own entry were not given.
  for (const m of METHODS) {
    const kept = base.extra?.[m.id];
    if (kept && !seen.has(m.family) && !seen.has(m.id)) extra[m.id] = kept;
  }
  return Object.keys(extra).length > 0 ? { ...grid, extra } : grid;
}

/** A method's rates in a grid: its family's and those added for it, ascending. */
export function methodRates(id: MethodId, grid: SweepGrid): number[] {
  return [...new Set([...grid[methodById(id).family], ...(grid.extra?.[id] ?? [])])].sort((a, b) => a - b);
}

/** The grid as --sweep-grid takes it (the families, then the methods with added rates in the registry's order). */
export function gridFlag(grid: SweepGrid): string {
  const rates = (r: readonly number[]) => r.map((x) => x.toExponential()).join(':');
  const families = FAMILIES.map((f) => `${f}=${grid[f].length === 0 ? 'none' : rates(grid[f])}`);
  const extra = METHODS.filter((m) => (grid.extra?.[m.id]?.length ?? 0) > 0).map((m) => `${m.id}=${rates(grid.extra![m.id]!)}`);
  return [...families, ...extra].join(',');
}

/** The sweep's runs: point i trains every method that has an i-th rate (methodRates), at that rate. */
export function gridPoints(methods: readonly MethodId[], grid: SweepGrid): { method: MethodId; learningRate: number }[][] {
  const ratesOf = new Map(methods.map((id) => [id, methodRates(id, grid)]));
  const longest = Math.max(0, ...[...ratesOf.values()].map((r) => r.length));
  return Array.from({ length: longest }, (_, i) =>
    methods.flatMap((id) => {
      const rate = ratesOf.get(id)![i];
      return rate === undefined ? [] : [{ method: id, learningRate: rate }];
    }),
  );
}

/** A trial that ran to the end with a finite final validation loss (JSON turns NaN into null). */
export function trialCounts(t: SweepTrial): boolean {
  return t.stoppedAt === undefined && typeof t.finalValidationLoss === 'number' && Number.isFinite(t.finalValidationLoss);
}

/** Each method's rate with the lowest final validation loss among its trials that count (choiceRule); methods with none are left out. */
export function chooseRates(trials: readonly SweepTrial[]): Record<string, number> {
  const best = new Map<string, SweepTrial>();
  for (const t of trials) {
    if (!trialCounts(t)) continue;
    const b = best.get(t.method);
    if (!b || t.finalValidationLoss < b.finalValidationLoss || (t.finalValidationLoss === b.finalValidationLoss && t.learningRate < b.learningRate))
      best.set(t.method, t);
  }
  return Object.fromEntries([...best].map(([m, t]) => [m, t.learningRate]));
}

/** The study's log table: one row per method, its family's rates with their final losses (* chosen, "stopped at k" for stopped trials). */
export function sweepTable(sweep: Pick<LrSweep, 'trials' | 'chosen'>, methods: readonly MethodId[]): string[] {
  const rows = methods.map((id) => {
    const cells = sweep.trials
      .filter((t) => t.method === id)
      .sort((a, b) => a.learningRate - b.learningRate)
      .map((t) => {
        const mark = sweep.chosen[id] === t.learningRate ? '*' : ' ';
        const value = trialCounts(t) ? t.finalValidationLoss.toFixed(4) : t.stoppedAt !== undefined ? `stopped at ${t.stoppedAt}` : 'no loss';
        return `${t.learningRate.toExponential(0)} ${value}${mark}`;
      });
    const chosen = sweep.chosen[id];
    return [methodById(id).label, methodById(id).family, ...cells, chosen === undefined ? 'none' : chosen.toExponential(0)];
  });
  const width = Math.max(0, ...rows.map((r) => r.length));
  const header = ['method', 'family', ...Array.from({ length: width - 3 }, (_, i) => `rate ${i + 1}: final validation loss`), 'chosen'];
  const all = [header, ...rows.map((r) => [...r.slice(0, -1), ...Array<string>(width - r.length).fill(''), r[r.length - 1]!])];
  const widths = header.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  return all.map((r) =>
    r
      .map((cell, c) => cell.padEnd(widths[c]!))
      .join('  ')
      .trimEnd(),
  );
}

/** The learning rates given on the command line, per family (--full-lr falls back to --lr, as before). */
export interface ExplicitRates {
  readonly lr?: number;
  readonly fullLr?: number;
  readonly sppLr?: number;
}

const FLAG_OF: Readonly<Record<MethodFamily, string>> = { 'low-rank': '--lr', dense: '--full-lr (or --lr)', sparse: '--spp-lr' };

function explicitRate(family: MethodFamily, given: ExplicitRates): number | undefined {
  if (family === 'low-rank') return given.lr;
  if (family === 'dense') return given.fullLr ?? given.lr;
  return given.sppLr;
}

/**
 * The main study's rate per method: a family's rate given explicitly wins; otherwise the sweep's
 * choice. Refused when a method has neither (no sweep, or the sweep found no rate for it).
 */
export function studyRates(
  methods: readonly MethodId[],
  sweep: Pick<LrSweep, 'chosen' | 'trials' | 'planned'> | undefined,
  given: ExplicitRates,
  sweepSource: string,
): { rates: Record<string, number>; fromSweep: MethodId[]; explicit: MethodId[] } {
  const unfinished = sweep?.planned !== undefined && sweep.trials.length < sweep.planned;
  const rates: Record<string, number> = {};
  const fromSweep: MethodId[] = [];
  const explicit: MethodId[] = [];
  const missing: MethodId[] = [];
  for (const id of methods) {
    const family = methodById(id).family;
    const flag = explicitRate(family, given);
    const swept = sweep?.chosen[id];
    if (flag !== undefined) {
      rates[id] = flag;
      explicit.push(id);
    } else if (swept !== undefined && unfinished) {
      throw new UsageError(
        `the learning-rate sweep in ${sweepSource} is not finished (${sweep.trials.length} of ${sweep.planned} trials): its choice may still change. ` +
          'Finish it with `npm run study -- --sweep --resume` (same --json), or give the rates with --lr, --full-lr and --spp-lr.',
        'study',
      );
    } else if (swept !== undefined) {
      rates[id] = swept;
      fromSweep.push(id);
    } else {
      missing.push(id);
    }
  }
  if (missing.length > 0) {
    const families = [...new Set(missing.map((id) => methodById(id).family))];
    const names =
      missing.length === methods.length && methods.length > 2 ? `any of the ${methods.length} methods` : missing.map((id) => methodById(id).label).join(', ');
    const why = sweep
      ? `the learning-rate sweep in ${sweepSource} chose no rate for ${names} (every trial stopped, or the sweep did not include them)`
      : `no learning-rate sweep found in ${sweepSource}, and no rate was given for ${names}`;
    throw new UsageError(
      `${why}. Run \`npm run study -- --sweep\` first (it writes the chosen rates into the --json file; --lrs FILE reads them from another results file), ` +
        `or give the rates explicitly: ${families.map((f) => `${FLAG_OF[f]} for the ${f} family`).join(', ')}.`,
      'study',
    );
  }
  return { rates, fromSweep, explicit };
}

/** config.lrFamilies: how the rates were chosen, in words. */
export function describeRates(
  sweep: LrSweep | undefined,
  sweepSource: string,
  fromSweep: readonly MethodId[],
  explicit: readonly MethodId[],
  rates: Readonly<Record<string, number>>,
): string {
  const parts: string[] = [];
  if (sweep && fromSweep.length > 0) {
    parts.push(
      `Chosen per method, as the papers tune each method (not one rate per family), by a learning-rate sweep run before the main study and fixed for it (${sweepSource}): ` +
        `${sweep.dataset}, seed ${sweep.seed}, ${sweep.steps} steps, each method at every rate of its family's grid and any rates added for it (${gridText(sweep)}). ${sweep.rule}`,
    );
    if (isDefaultGrid(sweep)) parts.push(GRID_REASONS);
  }
  if (explicit.length > 0) {
    parts.push(`Given on the command line, not swept: ${explicit.map((id) => `${methodById(id).label} ${rates[id]}`).join(', ')}.`);
  }
  return parts.join(' ');
}

/** Whether every method's trials ran exactly its rates in the default grid (so GRID_REASONS explains them). */
function isDefaultGrid(sweep: LrSweep): boolean {
  return [...ratesByMethod(sweep)].every(([id, rates]) => JSON.stringify(rates) === JSON.stringify(methodRates(id, DEFAULT_SWEEP_GRID)));
}

/** Each method's rates in the sweep's trials, ascending (methods in the order of their first trial). */
function ratesByMethod(sweep: LrSweep): Map<MethodId, number[]> {
  const byMethod = new Map<MethodId, number[]>();
  for (const t of sweep.trials) {
    const id = methodById(t.method).id;
    byMethod.set(
      id,
      [...(byMethod.get(id) ?? []), t.learningRate].sort((a, b) => a - b),
    );
  }
  return byMethod;
}

/** The sweep's grid in words: per family the rates all its methods were tried at, then the rates some method was tried at beyond them. */
function gridText(sweep: LrSweep): string {
  const byMethod = ratesByMethod(sweep);
  const list = (rates: readonly number[]) => rates.map((r) => String(r)).join(', ');
  const families = FAMILIES.flatMap((f) => {
    const members = [...byMethod].filter(([id]) => methodById(id).family === f).map(([, rates]) => rates);
    if (members.length === 0) return [];
    const shared = members[0]!.filter((r) => members.every((rates) => rates.includes(r)));
    return [{ family: f, shared }];
  });
  const sharedOf = new Map(families.map((f) => [f.family, f.shared]));
  const added = [...byMethod].flatMap(([id, rates]) => {
    const more = rates.filter((r) => !sharedOf.get(methodById(id).family)!.includes(r));
    return more.length === 0 ? [] : [`${methodById(id).label} also ${list(more)}`];
  });
  return [...families.map((f) => `${f.family} ${list(f.shared)}`), ...added].join('; ');
}

/** The configuration keys that decide how a run trains, apart from its steps and rates: what a sweep and the study it serves must share. */
const SETUP_KEYS = ['model', 'targets', 'batch', 'schedule', 'clip', 'weightDecay', 'rank', 'methodSettings', 'calibrationBatches'] as const;

/** Whether two study configurations train and evaluate the same way (so their runs belong in one table). */
export function sameConfiguration(x: StudyJson['config'], y: StudyJson['config']): boolean {
  return (
    differingKeys(x, y, [...SETUP_KEYS, 'methods', 'steps', 'warmupSteps', 'learningRates', 'evalEvery', 'evalRows', 'finalValRows', 'accuracyItems'])
      .length === 0
  );
}

/** The setup keys in which a sweep's configuration and a study's differ (none: the sweep's rates apply to the study); settings only of the methods both have. */
export function setupDifferences(x: StudyJson['config'], y: StudyJson['config']): string[] {
  const shared = x.methods.filter((id) => y.methods.includes(id));
  const settingsOf = (c: StudyJson['config']) => ({ ...c, methodSettings: Object.fromEntries(shared.map((id) => [id, c.methodSettings[id]])) });
  return differingKeys(settingsOf(x), settingsOf(y), SETUP_KEYS);
}

function differingKeys(x: StudyJson['config'], y: StudyJson['config'], keys: readonly (keyof StudyJson['config'])[]): string[] {
  return keys.filter((k) => JSON.stringify(x[k]) !== JSON.stringify(y[k]));
}

/** One grid point's methods, at their rates, trained together; returns each method's final validation loss and where it stopped. */
export type RunPoint = (
  point: readonly { method: MethodId; learningRate: number }[],
) => Promise<readonly { finalValidationLoss: number; stoppedAt?: { step: number } }[]>;

export interface SweepOptions {
  readonly methods: readonly MethodId[];
  readonly grid: SweepGrid;
  readonly dataset: LrSweep['dataset'];
  readonly seed: number;
  readonly steps: number;
  /** The choice rule in words (choiceRule). */
  readonly rule: string;
  /** The sweep found in the --json file with --resume: its trials of the same task, seed and steps are kept. */
  readonly previous?: LrSweep;
  /** Run only these grid points (1-based) now; the others stay planned for a later --resume. */
  readonly points?: readonly number[];
  /** Run only these methods' trials now (of every point, or of `points`); the others stay planned. */
  readonly onlyMethods?: readonly MethodId[];
  readonly runPoint: RunPoint;
  /** Called after every grid point with the sweep so far (its choice from the trials so far). */
  readonly save: (sweep: LrSweep) => Promise<void>;
  readonly log: (line: string) => void;
}

/** Runs the grid points (only the trials a resumed sweep lacks) and returns the sweep with its choice. */
export async function runSweep(o: SweepOptions): Promise<LrSweep> {
  const reusable =
    o.previous && o.previous.dataset === o.dataset && o.previous.seed === o.seed && o.previous.steps === o.steps && o.previous.scope === 'method';
  const points = gridPoints(o.methods, o.grid);
  const planned = points.flat();
  const trials: SweepTrial[] = reusable
    ? o.previous!.trials.filter((t) => planned.some((p) => p.method === t.method && p.learningRate === t.learningRate))
    : [];
  if (o.previous && !reusable) o.log(`--resume: the sweep in the --json file ran on another task, seed or number of steps; starting over`);
  else if (trials.length > 0) o.log(`resuming the sweep: ${trials.length} of ${planned.length} trials reused`);
  let wallMs = reusable && trials.length > 0 ? o.previous!.wallMs : 0;
  const sweepOf = (): LrSweep => {
    const ordered = planned.flatMap((p) => trials.filter((t) => t.method === p.method && t.learningRate === p.learningRate));
    return {
      dataset: o.dataset,
      seed: o.seed,
      steps: o.steps,
      scope: 'method',
      trials: ordered,
      chosen: chooseRates(ordered),
      rule: o.rule,
      wallMs,
      planned: planned.length,
    };
  };
  const outside = (o.points ?? []).filter((p) => !(Number.isSafeInteger(p) && p >= 1 && p <= points.length));
  if (outside.length > 0) throw new UsageError(`--sweep-points: the grid has points 1 to ${points.length}, not ${outside.join(', ')}`, 'study');
  const strangers = (o.onlyMethods ?? []).filter((id) => !o.methods.includes(id));
  if (strangers.length > 0) throw new UsageError(`--sweep-methods: ${strangers.join(', ')} not among the sweep's methods (${o.methods.join(', ')})`, 'study');
  for (const [i, point] of points.entries()) {
    if (o.points && !o.points.includes(i + 1)) continue;
    const todo = point.filter(
      (p) => (!o.onlyMethods || o.onlyMethods.includes(p.method)) && !trials.some((t) => t.method === p.method && t.learningRate === p.learningRate),
    );
    if (todo.length === 0) continue;
    o.log(
      `sweep point ${i + 1}/${points.length}: ${todo.map((p) => `${p.method} ${p.learningRate}`).join(', ')}; ${o.steps} steps on ${o.dataset}, seed ${o.seed}`,
    );
    const start = performance.now();
    const results = await o.runPoint(todo);
    wallMs += performance.now() - start;
    todo.forEach((p, j) => {
      const r = results[j]!;
      trials.push({
        method: p.method,
        learningRate: p.learningRate,
        finalValidationLoss: r.finalValidationLoss,
        ...(r.stoppedAt ? { stoppedAt: r.stoppedAt.step } : {}),
      });
    });
    await o.save(sweepOf());
  }
  return sweepOf();
}
