// The Study view's learning-rate sweep: every method's final validation loss at every rate it was
// tried at, the chosen rate in bold, a mark where the choice sits at the edge of the grid
// (src/study/sweepTable.ts, the same cells as docs/RESULTS.md's sweep table).

import type { LrSweep } from '../study/results';
import { EDGE_MARK, EDGE_NOTE, sweepTable, type SweepCell } from '../study/sweepTable';
import { methodStyle } from './methodColors';
import { SeriesSwatch } from './SeriesSwatch';
import { formatRateValue } from './studySetup';

interface Props {
  readonly sweep: LrSweep;
  readonly label: (id: string) => string;
  readonly family: (id: string) => string | undefined;
  readonly order: readonly string[];
}

function cellText(c: SweepCell): string {
  return c.stoppedAt !== undefined ? `stopped at ${c.stoppedAt}` : c.loss.toFixed(3);
}

export function StudySweep({ sweep, label, family, order }: Props) {
  const { rates, rows, edges, done, planned } = sweepTable(sweep, family);
  const unfinished = planned !== undefined && done < planned;
  return (
    <section className="panel" aria-labelledby="study-sweep-title" data-testid="study-sweep">
      <h2 id="study-sweep-title">Learning-rate sweep</h2>
      <p className="muted small">
        On {sweep.dataset}, seed {sweep.seed}, {sweep.steps} steps per trial; {done}
        {planned !== undefined ? ` of ${planned}` : ''} trials, {(sweep.wallMs / 60000).toFixed(1)} min of training. One rate{' '}
        {sweep.scope === 'family' ? 'per method family' : 'per method'}, fixed before the main runs.
        {unfinished && <strong> The sweep is not finished: a choice may still change.</strong>}
      </p>
      <p className="muted small">Final validation loss (nats per completion token) per learning rate; bold: the chosen rate.</p>
      <div className="table-scroll">
        <table className="grid results study-plain study-sweep" data-testid="study-sweep-table">
          <thead>
            <tr>
              <th scope="col">Method</th>
              <th scope="col">Family</th>
              {rates.map((lr) => (
                <th key={lr} scope="col" className="num">
                  {formatRateValue(lr)}
                </th>
              ))}
              <th scope="col" className="num">
                Chosen
              </th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr key={row.method} data-testid={`study-sweep-row-${row.method}`}>
                <th scope="row">
                  <SeriesSwatch series={methodStyle(row.method, order)} width={20} /> {label(row.method)}
                </th>
                <td>{row.family ?? '–'}</td>
                {row.cells.map((c, i) =>
                  c ? (
                    <td key={rates[i]} className={c.chosen ? 'num chosen' : 'num'}>
                      {c.chosen ? <strong>{cellText(c)}</strong> : cellText(c)}
                    </td>
                  ) : (
                    <td key={rates[i]} className="num muted" title="not tried at this rate">
                      ·
                    </td>
                  ),
                )}
                <td className="num" title={row.edge ? EDGE_NOTE[row.edge] : undefined}>
                  {row.chosen === undefined ? '–' : formatRateValue(row.chosen)}
                  {row.edge && ` ${EDGE_MARK[row.edge]}`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted small">
        {edges.map((e) => `${EDGE_MARK[e]}: ${EDGE_NOTE[e]}. `).join('')}
        {sweep.rule}
      </p>
    </section>
  );
}
