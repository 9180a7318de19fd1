// The loss charts of a run with several seeds: once two seeds have run all their steps, each
// method also gets its mean curve over those seeds, with the min–max range shaded (chartData.ts
// seedStepRows, seedEvalRows; MetricChart draws a band for any series with band columns). While
// seeds remain, the current seed's lines stay live beside the means; once the run has ended, the
// means replace the last seed's lines (which they include).

import { useMemo } from 'react';
import { completeSeeds } from '../io/seedStats';
import { useRunStore } from '../state/runStore';
import { meanKey, mergeRows, seedEvalRows, seedStepRows, type ChartRow, type XAxisKind } from './chartData';
import type { ChartSeries } from './methodColors';

const ACTIVE = ['initialising', 'running', 'paused', 'stopping'];

export interface SeedCurves {
  /** The loss and validation rows with the means and bands merged in. */
  readonly loss: ChartRow[];
  readonly val: ChartRow[];
  /** The series to draw: the page's own (less the live run's when the means replace them) and the means. */
  readonly methods: readonly ChartSeries[];
  /** What the charts show, for a run with several seeds (undefined: one seed). */
  readonly note: string | undefined;
}

export function useSeedCurves(
  loss: ChartRow[],
  val: ChartRow[],
  methods: readonly ChartSeries[],
  liveIds: readonly string[],
  smoothing: number,
  log: boolean,
  axis: XAxisKind,
): SeedCurves {
  const seeds = useRunStore((s) => s.seeds);
  const seedRun = useRunStore((s) => s.seedRun);
  const active = useRunStore((s) => ACTIVE.includes(s.phase));
  const done = useMemo(() => completeSeeds(seeds), [seeds]);
  const banded = done.length >= 2;
  const meanLoss = useMemo(
    () =>
      banded
        ? seedStepRows(
            done.map((s) => s.series),
            liveIds,
            (p) => p.loss,
            smoothing,
            log,
            axis,
          )
        : [],
    [banded, done, liveIds, smoothing, log, axis],
  );
  const meanVal = useMemo(() => (banded ? seedEvalRows(done, liveIds, log, axis) : []), [banded, done, liveIds, log, axis]);
  return useMemo(() => {
    if (!seedRun) return { loss, val, methods, note: undefined };
    const which = done.map((s) => s.seed).join(', ');
    const live = active ? `seed ${seedRun.index + 1} of ${seedRun.count} (${seedRun.seed}) live` : `the last seed (${seedRun.seed})`;
    if (!banded) {
      const dn = done.length === 0 ? 'no seed has ended yet' : `1 seed done (${which})`;
      return { loss, val, methods, note: `Lines: ${live}; ${dn}. Means over the seeds appear once two have run all their steps.` };
    }
    const group = `Mean of ${done.length} seeds (${which}), shaded: min–max`;
    const means: ChartSeries[] = methods
      .filter((m) => liveIds.includes(m.id))
      .map((m) => ({ ...m, id: meanKey(m.id), label: `${m.label} mean`, group, short: m.label }));
    const shown = active ? methods : methods.filter((m) => !liveIds.includes(m.id));
    const note = active
      ? `Lines: ${live}. Grouped: each method's mean over ${done.length} seeds (${which}) with its min–max range shaded.`
      : `Each method's mean over ${done.length} seeds (${which}) with its min–max range shaded; the other charts show ${live}.`;
    return { loss: mergeRows(loss, meanLoss), val: mergeRows(val, meanVal), methods: [...shown, ...means], note };
  }, [seedRun, done, banded, active, loss, val, methods, liveIds, meanLoss, meanVal]);
}
