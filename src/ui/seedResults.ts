// The page's run over its seeds, for the results table, the Pareto plot and the CSV: once a run
// with several seeds has at least one seed that ran all its steps, each method's numbers are the
// mean over those seeds with their sample standard deviation and n (io/seedStats.ts). Before
// that (and for a one-seed run) the panels show the current seed's own numbers.

import { useMemo } from 'react';
import { aggregateSeeds, completeSeeds, SUMMARY_KEYS, type SeedAggregate, type SummaryKey } from '../io/seedStats';
import type { RunRecord } from '../io/runRecord';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import type { CsvRow } from './resultsCsv';

export interface SeedView {
  /** Per method, in the run's order. */
  readonly aggregates: readonly SeedAggregate[];
  /** The seeds averaged (those that ran all their steps) and how many the run has. */
  readonly seeds: readonly number[];
  readonly count: number;
}

/** The page's run over its complete seeds; null for a one-seed run or before its first seed ends. */
export function useSeedView(): SeedView | null {
  const seeds = useRunStore((s) => s.seeds);
  const seedRun = useRunStore((s) => s.seedRun);
  const methods = useRunStore((s) => s.methods);
  const params = useRunStore((s) => s.params);
  const infos = useSettingsStore((s) => s.methods);
  return useMemo(() => {
    const count = seedRun?.count ?? 1;
    const complete = completeSeeds(seeds);
    if (count < 2 || complete.length === 0) return null;
    const labelled = methods.map((id) => ({ id, label: infos.find((m) => m.id === id)?.label ?? id }));
    return {
      aggregates: aggregateSeeds(labelled, complete, params ? (params as unknown as RunRecord['params']) : undefined),
      seeds: complete.map((s) => s.seed),
      count,
    };
  }, [seeds, seedRun, methods, params, infos]);
}

/** "mean ± sd over 3 seeds (0, 1, 2)" or, while seeds remain, "… over 2 of 3 seeds (0, 1) so far". */
export function seedCaption(view: SeedView): string {
  const which = `(${view.seeds.join(', ')})`;
  const over = view.seeds.length === view.count ? `${view.count} seeds ${which}` : `${view.seeds.length} of ${view.count} seeds ${which} so far`;
  return view.seeds.length > 1
    ? `Mean ± standard deviation (n − 1) over ${over}; a seed stopped early is not counted.`
    : `The one seed done so far ${which} of ${view.count}: no spread yet.`;
}

/** A results row whose numbers are means over seeds, with each one's standard deviation (`sd`) and the seeds counted (`n`). */
export type SpreadRow = CsvRow & { readonly sd?: Readonly<Partial<Record<keyof CsvRow, number>>>; readonly n?: number };

/** One row per method: means in the row's own fields (so sorting and formatting work as for one seed), sd and n beside. */
export function seedRows(view: SeedView): SpreadRow[] {
  return view.aggregates.map((a) => {
    const mean = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, a.stats[k].mean])) as Record<SummaryKey, number>;
    const sd: Partial<Record<keyof CsvRow, number>> = Object.fromEntries(SUMMARY_KEYS.map((k) => [k, a.stats[k].sd]));
    sd.forgetting = a.forgetting.sd;
    return {
      id: a.id,
      label: a.label,
      ...mean,
      forgettingLoss: Number.NaN,
      forgetting: a.forgetting.mean,
      ...(a.halted.length > 0 ? { halted: a.halted.join('; ') } : {}),
      sd,
      n: a.perSeed.filter((p) => p.row !== undefined && p.row.steps > 0).length,
    };
  });
}

/** A cell as "mean ± sd" through the column's own `format`; just the mean where there is no spread (one seed, or the same in every seed). */
export function spreadCell<K extends keyof CsvRow>(row: SpreadRow, key: K, format: (r: SpreadRow) => string): string {
  const sd = row.sd?.[key];
  if (sd === undefined || !Number.isFinite(sd) || sd === 0) return format(row);
  return `${format(row)} ± ${format({ ...row, [key]: sd }).replace(/^[+−]/, '')}`;
}
