// Pure helpers of the Study view (StudyView.tsx): the colour order of the study's methods, the
// registry's labels, families and claims filled in for results files written before they carried
// their own, mean ± sd cells, sorting, and chart rows of seed bands.

import { PARITY_TOLERANCE, type ClaimResult, type MethodSummary } from '../study/aggregate';
import type { StudyJson, StudyMethodInfo } from '../study/results';
import { bandHighKey, bandLowKey, collectRows, type ChartRow } from './chartData';

/** A mean over seeds, as src/study/aggregate.ts gives it. */
export interface StatLike {
  readonly mean: number;
  readonly sd: number;
  readonly n: number;
}

/** What the registry says of a method (the studio's MethodInfo has these fields). */
export interface RegistryInfo extends StudyMethodInfo {
  readonly id: string;
}

/** Registry order first (the studio's colours follow it), then the study's other methods and ids (e.g. the frozen base). */
export function studyOrder(registry: readonly string[], study: Pick<StudyJson, 'config' | 'runs' | 'quant'>): string[] {
  return [...new Set([...registry, ...studyMethodIds(study)])];
}

/** Every method id the study names: its configured methods, those of its runs and of its quantization measurement. */
export function studyMethodIds(study: Pick<StudyJson, 'config' | 'runs' | 'quant'>): string[] {
  const ids = [...study.config.methods, ...study.runs.flatMap((r) => r.methods.map((m) => m.id)), ...(study.quant?.methods.map((m) => m.id) ?? [])];
  return [...new Set(ids)];
}

/** The study with config.methodInfo completed from the registry for every method the file does not describe itself. */
export function withRegistryInfo(study: StudyJson, registry: readonly RegistryInfo[]): StudyJson {
  const own = study.config.methodInfo ?? {};
  const ids = new Set(studyMethodIds(study));
  const filled: Record<string, StudyMethodInfo> = { ...own };
  for (const info of registry) {
    if (!ids.has(info.id) || own[info.id]) continue;
    filled[info.id] = { label: info.label, family: info.family, claims: info.claims.map((c) => ({ against: c.against, claim: c.claim })) };
  }
  return Object.keys(filled).length === Object.keys(own).length ? study : { ...study, config: { ...study.config, methodInfo: filled } };
}

/** "mean ± sd" with the sd where there are two or more values, the mean alone for one, '–' for none; `spread` formats the sd (default: as the mean). */
export function formatStat(s: StatLike | undefined, format: (v: number) => string, spread: (v: number) => string = format): string {
  if (!s || s.n === 0 || !Number.isFinite(s.mean)) return '–';
  return s.n >= 2 && Number.isFinite(s.sd) ? `${format(s.mean)} ± ${spread(s.sd)}` : format(s.mean);
}

/** A signed difference in nats: "+0.039", "−5.434". */
export function formatSigned(v: number, digits = 3): string {
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;
}

/** The number a cell sorts by: a stat's mean, a plain number, or NaN (not measured). */
export function sortValue(v: StatLike | number | string | undefined): number | string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return v;
  return v && v.n > 0 ? v.mean : Number.NaN;
}

/** Ascending (dir 1) or descending (−1) by `pick`; values not measured go last either way. */
export function sortBy<T>(rows: readonly T[], pick: (row: T) => number | string, dir: 1 | -1): T[] {
  return [...rows].sort((a, b) => {
    const x = pick(a);
    const y = pick(b);
    if (typeof x === 'string' || typeof y === 'string') return dir * String(x).localeCompare(String(y));
    const nx = !Number.isFinite(x);
    const ny = !Number.isFinite(y);
    if (nx || ny) return Number(nx) - Number(ny);
    return dir * (x - y);
  });
}

export interface BandCurve {
  readonly method: string;
  readonly points: readonly { readonly step: number; readonly mean: number; readonly sd: number; readonly n: number }[];
}

/** Chart rows: per method its mean at each step, and (unless `bands` is false) mean ± sd as the band's edges where two or more seeds are in. */
export function bandRows(curves: readonly BandCurve[], log: boolean, bands = true): ChartRow[] {
  return collectRows(
    curves.flatMap((c) => {
      const spread = bands ? c.points.filter((p) => p.n >= 2 && Number.isFinite(p.sd)) : [];
      return [
        { id: c.method, points: c.points.map((p) => ({ x: p.step, value: p.mean })) },
        { id: bandLowKey(c.method), points: spread.map((p) => ({ x: p.step, value: p.mean - p.sd })) },
        { id: bandHighKey(c.method), points: spread.map((p) => ({ x: p.step, value: p.mean + p.sd })) },
      ];
    }),
    log,
  );
}

/** What the seeds say of a claim, in its own terms. */
export function claimTally(c: Pick<ClaimResult, 'kind' | 'wins' | 'atParity' | 'pairs' | 'paramRatio'>): string {
  if (c.pairs === 0) return 'no seed ran both';
  const of = `of ${c.pairs} ${c.pairs === 1 ? 'seed' : 'seeds'}`;
  const within = `within ${(100 * PARITY_TOLERANCE).toFixed(0)} % in ${c.atParity} ${of}`;
  if (c.kind === 'parity') return within;
  if (c.kind === 'parameters') return `${within}, ${Number.isFinite(c.paramRatio) ? `${c.paramRatio.toFixed(1)}× fewer params` : 'params unknown'}`;
  return `lower in ${c.wins} ${of}`;
}

export interface ParetoStudyPoint {
  readonly id: string;
  readonly label: string;
  readonly x: number;
  readonly y: number;
  readonly sd: number;
  readonly n: number;
}

/** Pareto points of a task: trainable parameters against mean final loss; the frozen base (no parameters) and methods without a final loss left out. */
export function studyParetoPoints(rows: readonly MethodSummary[]): ParetoStudyPoint[] {
  return rows
    .map((r) => ({ id: r.method, label: r.label, x: r.trainableParams, y: r.finalLoss.mean, sd: r.finalLoss.sd, n: r.finalLoss.n }))
    .filter((p) => p.x > 0 && Number.isFinite(p.y));
}
