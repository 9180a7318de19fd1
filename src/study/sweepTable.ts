// The learning-rate sweep as a table (method × rate → final validation loss), shared by the
// report (docs/RESULTS.md) and the studio's Study view so both show the same cells. Pure.

import type { LrSweep } from './results';

export interface SweepCell {
  readonly loss: number;
  /** The step at which the trial stopped (its loss became NaN or infinite); such a trial never wins. */
  readonly stoppedAt?: number;
  readonly chosen: boolean;
}

/**
 * 'top': the chosen rate is the highest this method was tried at, so its best rate may lie above
 * the grid ('bottom': below). Only for a method tried at two rates or more.
 */
export type GridEdge = 'top' | 'bottom';

export interface SweepRow {
  readonly method: string;
  readonly family: string | undefined;
  /** One cell per rate of SweepTable.rates; undefined where the method was not tried at that rate. */
  readonly cells: readonly (SweepCell | undefined)[];
  readonly chosen: number | undefined;
  readonly edge: GridEdge | undefined;
}

export interface SweepTable {
  /** Every rate any trial ran at, ascending. */
  readonly rates: readonly number[];
  /** One row per method, in the order of the sweep's trials. */
  readonly rows: readonly SweepRow[];
  /** The edges some row's choice sits at, 'top' first (what the note under the table explains). */
  readonly edges: readonly GridEdge[];
  /** Trials done and planned (planned is absent in sweeps written before it was recorded). */
  readonly done: number;
  readonly planned: number | undefined;
}

export function sweepTable(sweep: LrSweep, familyOf: (id: string) => string | undefined): SweepTable {
  const rates = [...new Set(sweep.trials.map((t) => t.learningRate))].sort((a, b) => a - b);
  const methods = [...new Set(sweep.trials.map((t) => t.method))];
  const rows = methods.map((method): SweepRow => {
    const family = familyOf(method);
    const chosen = sweep.chosen[method] ?? sweep.chosen[family ?? ''];
    const cells = rates.map((lr): SweepCell | undefined => {
      const t = sweep.trials.find((x) => x.method === method && x.learningRate === lr);
      if (!t) return undefined;
      return { loss: t.finalValidationLoss, ...(t.stoppedAt !== undefined ? { stoppedAt: t.stoppedAt } : {}), chosen: lr === chosen };
    });
    const tried = rates.filter((_, i) => cells[i] !== undefined);
    const edge: GridEdge | undefined =
      chosen === undefined || tried.length < 2 ? undefined : chosen === tried.at(-1) ? 'top' : chosen === tried[0] ? 'bottom' : undefined;
    return { method, family, cells, chosen, edge };
  });
  const edges = (['top', 'bottom'] as const).filter((e) => rows.some((r) => r.edge === e));
  return { rates, rows, edges, done: sweep.trials.length, planned: sweep.planned };
}

/** Why an edge mark is there, in words, for a note under the table. */
export const EDGE_NOTE: Readonly<Record<GridEdge, string>> = {
  top: 'the best at the highest rate tried: the best rate may lie above the grid',
  bottom: 'the best at the lowest rate tried: the best rate may lie below the grid',
};

/** The mark beside a chosen rate at the edge of its grid. */
export const EDGE_MARK: Readonly<Record<GridEdge, string>> = { top: '↑', bottom: '↓' };
