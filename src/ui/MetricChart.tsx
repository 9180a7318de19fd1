// One live line chart: a metric against step (or training tokens), one line per method in its fixed colour, with a
// legend. Animation is off so points appear as they stream in.

import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { ChartRow, XAxisKind } from './chartData';

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
}

function tick(v: number): string {
  if (!Number.isFinite(v)) return '';
  const a = Math.abs(v);
  if (a >= 1000) return `${Number((v / 1000).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

export function MetricChart({ title, unit, rows, methods, log, testId, dots, xAxis = 'step' }: Props) {
  const counts = methods.map((m) => `${m.id}:${rows.filter((r) => r[m.id] !== undefined).length}`).join(',');
  return (
    <figure className="chart" data-testid={testId} data-points={counts} aria-label={`${title} (${unit}) per ${xAxis === 'step' ? 'step' : 'training token'}`} data-x-axis={xAxis}>
      <figcaption>
        {title} <span className="muted small">({unit}{xAxis === 'tokens' ? ', against training tokens' : ''})</span>
      </figcaption>
      {rows.length === 0 ? (
        <div className="chart-empty muted small">No points yet</div>
      ) : (
        <ResponsiveContainer width="100%" height={190}>
          <LineChart data={rows as ChartRow[]} margin={{ top: 6, right: 12, bottom: 2, left: 0 }}>
            <CartesianGrid stroke="#2a313b" strokeDasharray="3 3" />
            <XAxis dataKey="x" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} stroke="#98a2b0" fontSize={11} tickFormatter={tick} />
            <YAxis scale={log ? 'log' : 'linear'} domain={['auto', 'auto']} allowDataOverflow={log} stroke="#98a2b0" fontSize={11} width={48} tickFormatter={tick} />
            <Tooltip contentStyle={{ background: '#1e232b', border: '1px solid #2a313b', fontSize: 12 }} labelFormatter={(x) => (xAxis === 'step' ? `step ${String(x)}` : `${String(x)} tokens`)} formatter={(v) => (typeof v === 'number' ? v.toPrecision(4) : String(v))} />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {methods.map((m) => (
              <Line key={m.id} type="linear" dataKey={m.id} name={m.label} stroke={m.color} strokeDasharray={m.dash ? '6 4' : undefined} dot={dots || rows.length < 12 ? { r: 2.5 } : false} strokeWidth={1.8} isAnimationActive={false} connectNulls />
            ))}
          </LineChart>
        </ResponsiveContainer>
      )}
    </figure>
  );
}
