// Step 7, a plot of any two result metrics, one point per method in its colour (e.g. best
// validation loss against trainable parameters), and the accuracy progress where the data has
// "####" answers.

import { useMemo, useState } from 'react';
import { CartesianGrid, ResponsiveContainer, Scatter, ScatterChart, Tooltip, XAxis, YAxis } from 'recharts';
import { useDiagnosticsStore } from '../state/diagnosticsStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { ChartLegend } from './ChartLegend';
import { isOpenMarker, markerPath } from './markers';
import { methodSeries, type ChartSeries } from './methodColors';
import { METRICS, type MetricKey } from './resultMetrics';
import { metricPoints } from './metricPoints';
import { axisFor, axisWidth, extent, tickLabeller } from './axisTicks';
import { RunTag } from './RunTag';

function MetricSelect({ id, label, value, onChange }: { id: string; label: string; value: MetricKey; onChange: (k: MetricKey) => void }) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as MetricKey)}>
        {METRICS.map((m) => (
          <option key={m.key} value={m.key}>
            {m.label}
          </option>
        ))}
      </select>
    </>
  );
}

export function ScatterPanel() {
  const methods = useRunStore((s) => s.methods);
  const series = useRunStore((s) => s.series);
  const evals = useRunStore((s) => s.evals);
  const ready = useRunStore((s) => s.ready);
  const result = useRunStore((s) => s.result);
  const accuracy = useDiagnosticsStore((s) => s.accuracy);
  const infos = useSettingsStore((s) => s.methods);
  const hidden = useSettingsStore((s) => s.hiddenSeries);
  const [x, setX] = useState<MetricKey>('trainable');
  const [y, setY] = useState<MetricKey>('bestVal');
  const [logX, setLogX] = useState(true);
  const points = useMemo(
    () => metricPoints({ methods, series, evals, ready, result }, accuracy, x, y),
    [methods, series, evals, ready, result, accuracy, x, y],
  );
  if (methods.length === 0) return null;
  const order = infos.map((m) => m.id);
  const label = (id: string) => infos.find((m) => m.id === id)?.label ?? id;
  const meta = (k: MetricKey) => METRICS.find((m) => m.key === k)!;
  const drawable = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!logX || p.x > 0));
  const plotted = drawable.filter((p) => !hidden.includes(p.id));
  const legend: ChartSeries[] = drawable.map((p) => methodSeries(p.id, label(p.id), order));
  // Our own round ticks and domains (recharts' automatic log ticks repeat and land off the data).
  const xAxis = axisFor(
    extent(
      plotted.map((p) => p.x),
      logX,
    ),
    logX,
  );
  // Accuracy is read against its whole scale, 0 to 100 %.
  const yAxis = axisFor(extent([...plotted.map((p) => p.y), ...(y === 'accuracy' && plotted.length > 0 ? [0, 100] : [])]), false);
  const measuring = methods.filter((id) => accuracy[id] && accuracy[id].done < accuracy[id].total);

  return (
    <section className="panel" aria-labelledby="scatter-title" data-testid="scatter-panel">
      <div className="panel-head">
        <h2 id="scatter-title">Compare two metrics</h2>
        <div className="chart-controls">
          <MetricSelect id="scatter-x" label="X" value={x} onChange={setX} />
          <MetricSelect id="scatter-y" label="Y" value={y} onChange={setY} />
          <label className="check">
            <input type="checkbox" checked={logX} onChange={(e) => setLogX(e.target.checked)} /> Log X
          </label>
        </div>
      </div>
      <RunTag />
      <figure
        className="chart"
        data-testid="chart-scatter"
        data-points={plotted.length}
        data-x-ticks={xAxis?.ticks.join(',')}
        aria-label={`${meta(y).label} against ${meta(x).label}`}
      >
        <figcaption>
          {meta(y).label} <span className="muted small">({meta(y).unit})</span> against {meta(x).label} <span className="muted small">({meta(x).unit})</span>
        </figcaption>
        {plotted.length === 0 ? (
          <div className="chart-empty muted small" style={{ height: 240 }}>
            {drawable.length > 0
              ? 'Every method is hidden: click a name in the legend to show it.'
              : `No method has both numbers yet${x === 'accuracy' || y === 'accuracy' ? ' (accuracy comes after the last step, where the data has answers)' : ''}${logX ? '; a log X axis draws only values above 0' : ''}.`}
          </div>
        ) : (
          <ResponsiveContainer width="100%" height={240}>
            <ScatterChart margin={{ top: 10, right: 16, bottom: 4, left: 0 }}>
              <CartesianGrid stroke="#2a313b" strokeDasharray="3 3" />
              <XAxis
                dataKey="x"
                type="number"
                name={meta(x).label}
                scale={logX ? 'log' : 'linear'}
                domain={xAxis ? [...xAxis.domain] : ['auto', 'auto']}
                ticks={xAxis ? [...xAxis.ticks] : undefined}
                interval={0}
                allowDataOverflow
                stroke="#98a2b0"
                fontSize={11}
                tickFormatter={tickLabeller(xAxis?.ticks ?? [])}
              />
              <YAxis
                dataKey="y"
                type="number"
                name={meta(y).label}
                domain={yAxis ? [...yAxis.domain] : ['auto', 'auto']}
                ticks={yAxis ? [...yAxis.ticks] : undefined}
                interval={0}
                allowDataOverflow
                stroke="#98a2b0"
                fontSize={11}
                width={axisWidth(yAxis?.ticks ?? [])}
                tickFormatter={tickLabeller(yAxis?.ticks ?? [])}
              />
              <Tooltip
                contentStyle={{ background: '#1e232b', border: '1px solid #2a313b', fontSize: 12 }}
                formatter={(v) => (typeof v === 'number' ? v.toPrecision(4) : String(v))}
              />
              {plotted.map((p) => {
                const look = methodSeries(p.id, label(p.id), order);
                const marker = look.marker ?? 'circle';
                const open = isOpenMarker(marker);
                return (
                  <Scatter
                    key={p.id}
                    name={look.label}
                    data={[p]}
                    fill={look.color}
                    isAnimationActive={false}
                    shape={(s: { cx?: number; cy?: number }) =>
                      s.cx === undefined || s.cy === undefined ? null : (
                        <path
                          d={markerPath(marker, s.cx, s.cy, 5.5)}
                          fill={open ? 'none' : look.color}
                          stroke={open ? look.color : '#1e232b'}
                          strokeWidth={open ? 2.2 : 1}
                        />
                      )
                    }
                  />
                );
              })}
            </ScatterChart>
          </ResponsiveContainer>
        )}
        {drawable.length > 0 && <ChartLegend title={meta(y).label} series={legend} />}
      </figure>
      <p className="muted small" data-testid="accuracy-status">
        {measuring.length > 0
          ? `Measuring accuracy (greedy, exact match after "####"): ${measuring.map((id) => `${label(id)} ${accuracy[id]!.done}/${accuracy[id]!.total}`).join(', ')}…`
          : Object.keys(accuracy).length > 0
            ? `Accuracy on ${Object.values(accuracy)[0]!.total} validation questions (greedy, exact match of the number after "####"): ${methods
                .filter((id) => accuracy[id])
                .map((id) => `${label(id)} ${((100 * accuracy[id]!.correct) / Math.max(1, accuracy[id]!.total)).toFixed(0)} %`)
                .join(', ')}.`
            : 'Accuracy is measured after the last step when the data has "####" answers (set the number of questions under Training).'}
      </p>
    </section>
  );
}
