// Step 7: the results, one row per method, filled in as the run goes: final training loss,
// final and best validation loss, trainable parameters, memory (measured: adapter tensors, owned
// bases and optimizer state), init and training time, tokens/s. Sortable by any column.

import { useMemo, useState } from 'react';
import { summaryRows, type MethodSummaryRow } from '../io/runRecord';
import { useDiagnosticsStore } from '../state/diagnosticsStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { formatBytes, formatCount, formatLoss, formatMs, formatRate } from './format';
import { methodColor } from './methodColors';

type Row = MethodSummaryRow;

type Key = Exclude<keyof Row, 'halted'>;

const COLUMNS: readonly { key: Key; label: string; format: (r: Row) => string; numeric: boolean }[] = [
  { key: 'label', label: 'Method', format: (r) => r.label, numeric: false },
  { key: 'steps', label: 'Steps', format: (r) => String(r.steps), numeric: true },
  { key: 'finalLoss', label: 'Final train loss', format: (r) => formatLoss(r.finalLoss), numeric: true },
  { key: 'finalVal', label: 'Final val loss', format: (r) => formatLoss(r.finalVal), numeric: true },
  { key: 'bestVal', label: 'Best val loss', format: (r) => formatLoss(r.bestVal), numeric: true },
  { key: 'accuracy', label: 'Accuracy', format: (r) => (Number.isFinite(r.accuracy) ? `${(100 * r.accuracy).toFixed(0)} %` : '—'), numeric: true },
  { key: 'trainable', label: 'Trainable params', format: (r) => formatCount(r.trainable), numeric: true },
  { key: 'bytes', label: 'Memory', format: (r) => (Number.isFinite(r.bytes) ? formatBytes(r.bytes) : '—'), numeric: true },
  { key: 'initMs', label: 'Init', format: (r) => formatMs(r.initMs), numeric: true },
  { key: 'trainMs', label: 'Train time', format: (r) => formatMs(r.trainMs), numeric: true },
  { key: 'tokensPerS', label: 'Tokens/s', format: (r) => formatRate(r.tokensPerS), numeric: true },
];

/** Exact-match fraction per method whose questions have all been answered. */
function finishedAccuracy(progress: Readonly<Record<string, { correct: number; done: number; total: number }>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, a] of Object.entries(progress)) if (a.total > 0 && a.done === a.total) out[id] = a.correct / a.total;
  return out;
}

function compare(a: Row, b: Row, key: Key): number {
  const x = a[key];
  const y = b[key];
  if (typeof x === 'string' || typeof y === 'string') return String(x).localeCompare(String(y));
  const fx = Number.isFinite(x) ? x : Infinity;
  const fy = Number.isFinite(y) ? y : Infinity;
  return fx - fy;
}

export function ResultsTable() {
  const methods = useRunStore((s) => s.methods);
  const ready = useRunStore((s) => s.ready);
  const series = useRunStore((s) => s.series);
  const evals = useRunStore((s) => s.evals);
  const halted = useRunStore((s) => s.halted);
  const accuracy = useDiagnosticsStore((s) => s.accuracy);
  const infos = useSettingsStore((s) => s.methods);
  const [sort, setSort] = useState<{ key: Key; dir: 1 | -1 }>({ key: 'bestVal', dir: 1 });

  const rows = useMemo(() => {
    const out = summaryRows({
      methods: methods.map((id) => ({ id, label: infos.find((m) => m.id === id)?.label ?? id })),
      series,
      evals,
      ready,
      halted,
      accuracy: finishedAccuracy(accuracy),
    });
    return out.sort((a, b) => sort.dir * compare(a, b, sort.key));
  }, [methods, series, evals, ready, halted, accuracy, infos, sort]);

  if (methods.length === 0) return null;
  const order = infos.map((m) => m.id);
  return (
    <section className="panel" aria-labelledby="results-title" data-testid="results">
      <h2 id="results-title">Results</h2>
      <div className="table-scroll">
        <table className="grid results" data-testid="results-table">
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th
                  key={c.key}
                  scope="col"
                  className={c.numeric ? 'num' : undefined}
                  aria-sort={sort.key === c.key ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}
                >
                  <button type="button" className="sort" onClick={() => setSort({ key: c.key, dir: sort.key === c.key ? (-sort.dir as 1 | -1) : 1 })}>
                    {c.label}
                    <span aria-hidden>{sort.key === c.key ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}</span>
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-testid={`result-${r.id}`} title={r.halted}>
                {COLUMNS.map((c) => (
                  <td key={c.key} className={c.numeric ? 'num' : undefined}>
                    {c.key === 'label' && <span className="swatch" style={{ background: methodColor(r.id, order) }} aria-hidden />}
                    {c.format(r)}
                    {c.key === 'label' && r.halted && <span className="fail small"> (halted)</span>}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted small">
        Memory is what each method holds beyond the shared base: adapter tensors, owned bases (residuals, pruned copies) and AdamW state. Losses in nats per
        trained token.
      </p>
    </section>
  );
}
