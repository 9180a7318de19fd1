// Step 7: the results, one row per method, filled in as the run goes: final training loss,
// final and best validation loss, trainable parameters, memory (measured: adapter tensors, owned
// bases and optimizer state), init and training time, tokens/s. Sortable by any column. Accuracy
// comes from the run's result (a reopened run's saved accuracy, 0 % included) or, while the
// questions are answered, from the live progress. A run with several seeds shows, once a seed has
// ended, each number as mean ± standard deviation over the seeds done, with n (seedResults.ts).

import { useMemo, useState } from 'react';
import { summaryRows, type RunRecord } from '../io/runRecord';
import { useDiagnosticsStore } from '../state/diagnosticsStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { formatBytes, formatCount, formatLoss, formatMs, formatRate } from './format';
import { methodStyle } from './methodColors';
import { SeriesSwatch } from './SeriesSwatch';
import { SortHeader } from './SortHeader';
import { RunTag } from './RunTag';
import { downloadText } from '../state/download';
import { resultsCsv, resultsCsvName, seedResultsCsv } from './resultsCsv';
import { seedCaption, seedRows, spreadCell, useSeedView, type SpreadRow } from './seedResults';

type Row = SpreadRow;

type Key = Exclude<keyof Row, 'halted' | 'sd' | 'n'>;

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
  { key: 'tokensPerS', label: 'Trained tokens/s', format: (r) => formatRate(r.tokensPerS), numeric: true },
  { key: 'processedPerS', label: 'Processed tokens/s', format: (r) => formatRate(r.processedPerS), numeric: true },
  {
    key: 'forgetting',
    label: 'Forgetting',
    format: (r) => formatForgetting(r.forgetting),
    numeric: true,
  },
];

/** Signed, in nats per token: 4 decimals, or 2 significant digits below 0.001 (a short run forgets in the 5th decimal). */
function formatForgetting(x: number): string {
  if (!Number.isFinite(x)) return '—';
  const a = Math.abs(x);
  return `${x >= 0 ? '+' : '−'}${a === 0 || a >= 1e-3 ? a.toFixed(4) : a.toExponential(1)}`;
}

/** Exact-match fraction per method whose questions have all been answered. */
function finishedAccuracy(progress: Readonly<Record<string, { correct: number; done: number; total: number }>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [id, a] of Object.entries(progress)) if (a.total > 0 && a.done === a.total) out[id] = a.correct / a.total;
  return out;
}

/** Accuracy the run's result carries (a reopened run's saved figures). */
function resultAccuracy(result: { readonly methods: readonly { readonly id: string; readonly accuracy?: number | null }[] } | null): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of result?.methods ?? []) if (typeof m.accuracy === 'number') out[m.id] = m.accuracy;
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
  const diverging = useRunStore((s) => s.diverging);
  const accuracy = useDiagnosticsStore((s) => s.accuracy);
  const result = useRunStore((s) => s.result);
  const params = useRunStore((s) => s.params);
  const infos = useSettingsStore((s) => s.methods);
  const [sort, setSort] = useState<{ key: Key; dir: 1 | -1 }>({ key: 'bestVal', dir: 1 });
  const seedView = useSeedView();

  const rows = useMemo(() => {
    const out = summaryRows({
      methods: methods.map((id) => ({ id, label: infos.find((m) => m.id === id)?.label ?? id })),
      series,
      evals,
      ready,
      halted,
      accuracy: { ...resultAccuracy(result), ...finishedAccuracy(accuracy) },
      ...(params ? { params: params as unknown as RunRecord['params'] } : {}),
    });
    const forgetting = result?.forgetting;
    const withForgetting = out.map((r): Row => {
      const loss = forgetting?.loss[r.id] ?? Number.NaN;
      return { ...r, forgettingLoss: loss, forgetting: forgetting ? loss - forgetting.baseLoss : Number.NaN };
    });
    const shown: Row[] = seedView ? seedRows(seedView) : withForgetting;
    return shown.sort((a, b) => sort.dir * compare(a, b, sort.key));
  }, [methods, series, evals, ready, halted, accuracy, result, params, infos, sort, seedView]);

  if (methods.length === 0) return null;
  const order = infos.map((m) => m.id);
  return (
    <section className="panel" aria-labelledby="results-title" data-testid="results">
      <div className="panel-head">
        <h2 id="results-title">Results</h2>
        <button
          type="button"
          data-testid="results-csv"
          onClick={() =>
            downloadText(resultsCsvName(useRunStore.getState().record?.name), seedView ? seedResultsCsv(seedView.aggregates) : resultsCsv(rows), 'text/csv')
          }
        >
          Download CSV
        </button>
      </div>
      <RunTag />
      {seedView && (
        <p className="muted small" data-testid="seed-caption">
          {seedCaption(seedView)}
        </p>
      )}
      <div className="table-scroll">
        <table className="grid results" data-testid="results-table">
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <SortHeader key={c.key} column={c} numeric={c.numeric} sort={sort} onSort={setSort} />
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id} data-testid={`result-${r.id}`} title={r.halted}>
                {COLUMNS.map((c) => (
                  <td key={c.key} className={c.numeric ? 'num' : undefined}>
                    {c.key === 'label' && <SeriesSwatch series={methodStyle(r.id, order)} width={20} />}
                    {spreadCell(r, c.key, c.format)}
                    {c.key === 'label' && r.n !== undefined && (
                      <span className="muted small" data-testid={`seeds-n-${r.id}`}>
                        {' '}
                        n = {r.n}
                      </span>
                    )}
                    {c.key === 'label' && r.halted && (
                      <span className="fail small" data-testid={`halted-${r.id}`}>
                        {' '}
                        halted: {r.halted}
                      </span>
                    )}
                    {c.key === 'label' && !r.halted && diverging[r.id] !== undefined && (
                      <span
                        className="warn small"
                        data-testid={`diverging-${r.id}`}
                        title="The smoothed loss rose well above its minimum and stayed there; a lower learning rate may help."
                      >
                        {' '}
                        diverging (from step {diverging[r.id]})
                      </span>
                    )}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted small">
        Memory is what each method holds beyond the shared base: adapter tensors, owned bases (residuals, pruned copies) and AdamW state. Losses in nats per
        trained token. Trained tokens/s counts the tokens whose loss counts (no padding, no prompt); processed tokens/s counts every position the model runs
        (batch × sequence length per step).
      </p>
      <p className="muted small" data-testid="forgetting-note">
        {result?.forgetting
          ? `Forgetting: loss on ${result.forgetting.name} (${formatCount(result.forgetting.tokens)} tokens of the base model's own pretraining text) after training minus the base model's ${result.forgetting.baseLoss.toFixed(4)}; positive = the method forgot some of it, negative = it also improved there.`
          : 'Forgetting is measured after the last step on held-out pretraining text of the model (the built-in model brings its own; for a dropped model give a text file under Data).'}
      </p>
    </section>
  );
}
