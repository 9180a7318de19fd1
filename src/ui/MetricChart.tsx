// One live line chart: a metric against step (or training tokens), one line per method in its fixed colour, with a
// legend. Animation is off so points appear as they stream in.

import { CartesianGrid, Legend, Line, LineChart, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { ChartRow, XAxisKind } from './chartData';
import { axisFor, axisWidth, extent, formatTick } from './axisTicks';

/** A horizontal reference line (e.g. ln V, the loss of a uniform guess over the vocabulary). */
export interface ChartReference {
  readonly y: number;
  readonly label: string;
}

interface Props {
  readonly title: string;
  readonly unit: string;
  readonly rows: readonly ChartRow[];
  readonly methods: readonly { id: string; label: string; color: string; dash?: boolean }[];
  readonly log: boolean;
  readonly testId: string;
  /** Draw dots (sparse series such as validation). */
  readonly dots?: boolean;
  /** What the rows' x counts (default: step). */
  readonly xAxis?: XAxisKind;
  readonly references?: readonly ChartReference[];
  /** Said under the chart (e.g. why it is empty). */
  readonly note?: string;
}

export function MetricChart({ title, unit, rows, methods, log, testId, dots, xAxis = 'step', references = [], note }: Props) {
  const counts = methods.map((m) => `${m.id}:${rows.filter((r) => r[m.id] !== undefined).length}`).join(',');
  // Round ticks (1-2-5 steps) over domains that hold every point and reference line.
  const x = axisFor(extent(rows.map((r) => r.x)), false, true);
  const y = axisFor(extent([...rows.flatMap((r) => methods.map((m) => r[m.id])), ...references.map((r) => r.y)], log), log);
  const hasPoints = rows.some((r) => methods.some((m) => r[m.id] !== undefined));
  return (
    <figure
      className="chart"
      data-testid={testId}
      data-points={counts}
      data-x-ticks={x?.ticks.join(',')}
      data-y-ticks={y?.ticks.join(',')}
      aria-label={`${title} (${unit}) per ${xAxis === 'step' ? 'step' : 'training token'}`}
      data-x-axis={xAxis}
    >
      <figcaption>
        {title}{' '}
        <span className="muted small">
          ({unit}
          {xAxis === 'tokens' ? ', against training tokens' : ''})
        </span>
      </figcaption>
      {!hasPoints ? (
        <div className="chart-empty muted small">{note ?? 'No points yet'}</div>
      ) : (
        <ResponsiveContainer width="100%" height={190}>
          <LineChart data={rows as ChartRow[]} margin={{ top: 6, right: 12, bottom: 2, left: 0 }}>
            <CartesianGrid stroke="#2a313b" strokeDasharray="3 3" />
            <XAxis
              dataKey="x"
              type="number"
              domain={x ? [...x.domain] : ['dataMin', 'dataMax']}
              ticks={x ? [...x.ticks] : undefined}
              interval={0}
              allowDataOverflow
              allowDecimals={false}
              stroke="#98a2b0"
              fontSize={11}
              tickFormatter={formatTick}
            />
            <YAxis
              scale={log ? 'log' : 'linear'}
              domain={y ? [...y.domain] : ['auto', 'auto']}
              ticks={y ? [...y.ticks] : undefined}
              interval={0}
              allowDataOverflow
              stroke="#98a2b0"
              fontSize={11}
              width={axisWidth(y?.ticks ?? [])}
              tickFormatter={formatTick}
            />
            {references.map((r) => (
              <ReferenceLine
                key={r.label}
                y={r.y}
                stroke="#98a2b0"
                strokeDasharray="2 4"
                label={{ value: r.label, position: 'insideTopRight', fill: '#98a2b0', fontSize: 10 }}
                ifOverflow="extendDomain"
              />
            ))}
            <Tooltip
              contentStyle={{ background: '#1e232b', border: '1px solid #2a313b', fontSize: 12 }}
              labelFormatter={(x) => (xAxis === 'step' ? `step ${String(x)}` : `${String(x)} tokens`)}
              formatter={(v) => (typeof v === 'number' ? v.toPrecision(4) : String(v))}
            />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {methods.map((m) => (
              <Line
                key={m.id}
                type="linear"
                dataKey={m.id}
                name={m.label}
                stroke={m.color}
                strokeDasharray={m.dash ? '6 4' : undefined}
                dot={dots || rows.length < 12 ? { r: 2.5 } : false}
                strokeWidth={1.8}
                isAnimationActive={false}
                connectNulls
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      )}
      {note && hasPoints && <p className="muted small chart-note">{note}</p>}
    </figure>
  );
}
