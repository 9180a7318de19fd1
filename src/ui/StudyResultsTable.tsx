// The Study view's results table for one task: per method the mean ± sample sd over its seeds of
// every number the study measured ('–' where this results file has no such measurement), sortable
// by any column (numbers not measured sort last).

import { useState } from 'react';
import type { MethodSummary, Stat } from '../study/aggregate';
import { formatBytes, formatCount, formatRate } from './format';
import { methodStyle } from './methodColors';
import { SeriesSwatch } from './SeriesSwatch';
import { SortHeader, type SortDir } from './SortHeader';
import { formatSigned, formatStat, sortBy, sortValue } from './studyView';

interface Column {
  readonly key: string;
  readonly label: string;
  readonly title?: string;
  readonly value: (r: MethodSummary) => Stat | number | string | undefined;
  readonly format: (r: MethodSummary) => string;
}

const loss = (v: number) => v.toFixed(3);
const percent = (v: number) => `${(100 * v).toFixed(1)} %`;
const fraction = (v: number) => v.toFixed(3);
/** Standard deviations to two significant digits: they are rough with three seeds, and the table stays narrow. */
const sd = (v: number) => String(Number(v.toPrecision(2)));
const isBase = (r: MethodSummary) => r.trainableParams === 0 && r.bytes === 0;
const stat =
  (pick: (r: MethodSummary) => Stat | undefined, format: (v: number) => string, spread: (v: number) => string = sd) =>
  (r: MethodSummary) =>
    formatStat(pick(r), format, spread);

const COLUMNS: readonly Column[] = [
  { key: 'label', label: 'Method', value: (r) => r.label, format: (r) => r.label },
  {
    key: 'lr',
    label: 'LR',
    title: 'Learning rate',
    value: (r) => r.learningRate ?? Number.NaN,
    format: (r) => (r.learningRate === null ? '–' : r.learningRate.toExponential(0)),
  },
  { key: 'final', label: 'Final val loss', value: (r) => r.finalLoss, format: stat((r) => r.finalLoss, loss) },
  { key: 'best', label: 'Best val loss', value: (r) => r.bestLoss, format: stat((r) => r.bestLoss, loss) },
  {
    key: 'accuracy',
    label: 'Accuracy',
    value: (r) => r.accuracy,
    format: stat(
      (r) => r.accuracy,
      percent,
      (v) => `${sd(100 * v)} %`,
    ),
  },
  { key: 'f1', label: 'F1', title: 'Mean token F1 of the answers', value: (r) => r.f1, format: stat((r) => r.f1, fraction) },
  {
    key: 'forgetting',
    label: 'Forgetting',
    title: 'Held-out pretraining loss after training minus before (nats/token; positive = forgot)',
    value: (r) => r.forgetting,
    format: stat(
      (r) => r.forgetting,
      (v) => formatSigned(v, 4),
    ),
  },
  {
    key: 'driftLeft',
    label: 'Drift U',
    title: 'Spectral drift of the top left singular vectors (0: same subspace, 1: orthogonal)',
    value: (r) => r.driftLeft,
    format: stat((r) => r.driftLeft, fraction),
  },
  {
    key: 'driftRight',
    label: 'Drift V',
    title: 'Spectral drift of the top right singular vectors',
    value: (r) => r.driftRight,
    format: stat((r) => r.driftRight, fraction),
  },
  {
    key: 'sigma',
    label: 'σ change',
    title: 'Relative change of the top singular values',
    value: (r) => r.sigmaChange,
    format: stat((r) => r.sigmaChange, fraction),
  },
  { key: 'params', label: 'Trainable params', value: (r) => r.trainableParams, format: (r) => formatCount(r.trainableParams) },
  {
    key: 'bytes',
    label: 'Memory',
    title: 'Adapter tensors, own bases and optimizer state (the shared base not counted)',
    value: (r) => (isBase(r) ? Number.NaN : r.bytes),
    format: (r) => (isBase(r) ? '–' : formatBytes(r.bytes)),
  },
  {
    key: 'peak',
    label: 'Planned peak',
    title: "The memory plan's peak for this method alone",
    value: (r) => r.plannedPeakBytes ?? Number.NaN,
    format: (r) => (r.plannedPeakBytes === undefined ? '–' : formatBytes(r.plannedPeakBytes)),
  },
  { key: 'tokens', label: 'Tokens/s', value: (r) => r.tokensPerSecond, format: stat((r) => r.tokensPerSecond, formatRate, formatRate) },
];

export function StudyResultsTable({ rows, order }: { rows: readonly MethodSummary[]; order: readonly string[] }) {
  const [sort, setSort] = useState<{ key: string; dir: SortDir } | null>(null);
  const column = COLUMNS.find((c) => c.key === sort?.key);
  const shown = column && sort ? sortBy(rows, (r) => sortValue(column.value(r)), sort.dir) : rows;
  return (
    <div className="table-scroll">
      <table className="grid results study-results" data-testid="study-results-table">
        <thead>
          <tr>
            {COLUMNS.map((c) => (
              <SortHeader key={c.key} column={c} numeric={c.key !== 'label'} sort={sort} onSort={setSort} />
            ))}
          </tr>
        </thead>
        <tbody>
          {shown.map((r) => (
            <tr key={r.method} data-testid={`study-row-${r.method}`}>
              {COLUMNS.map((c) => (
                <td key={c.key} className={c.key === 'label' ? undefined : 'num'}>
                  {c.key === 'label' && !isBase(r) && <SeriesSwatch series={methodStyle(r.method, order)} width={20} />}
                  {c.format(r)}
                  {c.key === 'label' && (
                    <span className="muted small">
                      {' '}
                      n = {r.seeds}
                      {r.stopped > 0 && <span className="fail"> ({r.stopped} stopped early)</span>}
                    </span>
                  )}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
