// One live line chart: a metric against step (or training tokens), one line per series in its
// colour, dash and marker, with a legend below the plot that hides, shows or isolates series and
// reads out every series' value under the pointer. Smoothed charts draw each series' raw values
// faintly underneath. The plot keeps its height whatever the legend holds, and says why when it
// has nothing to draw. Animation is off so points appear as they stream in. Marks are vertical
// lines at one x with a label (a method flagged as diverging, or stopped by a NaN, at a step).

import { memo, useCallback, useMemo, useState } from 'react';
import { Area, CartesianGrid, ComposedChart, Line, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import type { MouseHandlerDataParam } from 'recharts';
import { useSettingsStore } from '../state/settingsStore';
import { bandHighKey, bandLowKey, rawKey, type ChartRow, type XAxisKind } from './chartData';
import { axisFor, axisWidth, extent, tickLabeller, type Axis } from './axisTicks';
import { formatCount } from './format';
import { ChartLegend, type LegendValue } from './ChartLegend';
import { DASH_ARRAY, OVERLAY_DASH, type ChartSeries } from './methodColors';
import { isOpenMarker, markerPath } from './markers';

/** A horizontal reference line (e.g. ln V, the loss of a uniform guess over the vocabulary). */
export interface ChartReference {
  readonly y: number;
  readonly label: string;
}

/** A vertical mark at `x`, in a series' colour (e.g. where a method's loss was flagged as diverging). */
export interface ChartMark {
  /** Names the mark in the chart's data-marks (e.g. "lora:diverging:21"). */
  readonly id: string;
  readonly x: number;
  /** Drawn by the line (a word or two). */
  readonly short: string;
  /** Listed under the chart. */
  readonly label: string;
  readonly color: string;
}

interface Props {
  readonly title: string;
  readonly unit: string;
  readonly rows: readonly ChartRow[];
  readonly methods: readonly ChartSeries[];
  readonly log: boolean;
  readonly testId: string;
  /** Draw a marker at every point (sparse series such as validation). */
  readonly dots?: boolean;
  /** What the rows' x counts (default: step). */
  readonly xAxis?: XAxisKind;
  readonly references?: readonly ChartReference[];
  /** Said under the chart (e.g. how a reference was measured). */
  readonly note?: string;
  /** Why there is nothing to draw, when there is not (default: no points yet). */
  readonly empty?: string;
  /** The rows carry unsmoothed values (rawKey) to draw faintly under the lines. */
  readonly raw?: boolean;
  readonly marks?: readonly ChartMark[];
}

export const PLOT_HEIGHT = 200;
/** Markers along a dense line: about this many per series. */
const MARKS_PER_LINE = 8;

const dashOf = (s: ChartSeries): string | undefined => (s.dash === 'overlay' ? OVERLAY_DASH : s.dash ? DASH_ARRAY[s.dash] : undefined);

const NO_MARKS: readonly ChartMark[] = [];

export function MetricChart({ title, unit, rows, methods, log, testId, dots, xAxis = 'step', references = [], note, empty, raw, marks = NO_MARKS }: Props) {
  const hiddenIds = useSettingsStore((s) => s.hiddenSeries);
  const visible = useMemo(() => methods.filter((m) => !hiddenIds.includes(m.id)), [methods, hiddenIds]);
  const [hover, setHover] = useState<number | null>(null);
  const onHover = useCallback((i: number | null) => setHover(i), []);

  const counts = methods.map((m) => `${m.id}:${rows.filter((r) => r[m.id] !== undefined).length}`).join(',');
  // Round ticks (1-2-5 steps) over domains that hold every shown point (raw ones too) and reference line.
  const x = useMemo(() => axisFor(extent(rows.map((r) => r.x)), false, true), [rows]);
  const y = useMemo(() => {
    const keys = visible.flatMap((m) => [...(raw ? [m.id, rawKey(m.id)] : [m.id]), bandLowKey(m.id), bandHighKey(m.id)]);
    return axisFor(extent([...rows.flatMap((r) => keys.map((k) => r[k])), ...references.map((r) => r.y)], log), log);
  }, [rows, visible, raw, references, log]);
  const anyPoints = rows.some((r) => methods.some((m) => r[m.id] !== undefined));
  const hasPoints = rows.some((r) => visible.some((m) => r[m.id] !== undefined));

  const row = hover !== null ? rows[hover] : undefined;
  const values = useMemo(() => legendValues(rows, methods, raw === true, row), [rows, methods, raw, row]);
  const at = row ? (xAxis === 'step' ? `step ${row.x}` : `${formatCount(row.x)} tokens`) : anyPoints ? 'last' : undefined;

  return (
    <figure
      className="chart"
      data-testid={testId}
      data-points={counts}
      data-hidden={methods
        .filter((m) => hiddenIds.includes(m.id))
        .map((m) => m.id)
        .join(',')}
      data-x-ticks={x?.ticks.join(',')}
      data-y-ticks={y?.ticks.join(',')}
      aria-label={`${title} (${unit}) per ${xAxis === 'step' ? 'step' : 'training token'}`}
      data-x-axis={xAxis}
      data-marks={marks.map((m) => m.id).join(',')}
    >
      <figcaption>
        {title}{' '}
        <span className="muted small">
          ({unit}
          {xAxis === 'tokens' ? ', against training tokens' : ''})
        </span>
      </figcaption>
      {!hasPoints ? (
        <div className="chart-empty muted small" style={{ height: PLOT_HEIGHT }} data-testid={`${testId}-empty`}>
          {anyPoints ? 'Every series of this chart is hidden: click a name in the legend to show it.' : (empty ?? 'No points yet.')}
        </div>
      ) : (
        <Plot
          rows={rows}
          series={visible}
          x={x}
          y={y}
          log={log}
          dots={dots === true}
          raw={raw === true}
          references={references}
          marks={marks}
          onHover={onHover}
        />
      )}
      {anyPoints && <ChartLegend title={title} series={methods} values={values} at={at} />}
      {marks.length > 0 && (
        <ul className="chart-marks small" data-testid={`${testId}-marks`}>
          {marks.map((m) => (
            <li key={m.id} style={{ borderLeftColor: m.color }}>
              {m.label}
            </li>
          ))}
        </ul>
      )}
      {note && <p className="muted small chart-note">{note}</p>}
    </figure>
  );
}

/** Each series' value at the hovered row, or its last one. */
function legendValues(rows: readonly ChartRow[], series: readonly ChartSeries[], raw: boolean, at: ChartRow | undefined): Record<string, LegendValue> {
  const out: Record<string, LegendValue> = {};
  for (const s of series) {
    const r = at ?? [...rows].reverse().find((q) => q[s.id] !== undefined);
    if (!r) continue;
    out[s.id] = { value: r[s.id], raw: raw ? r[rawKey(s.id)] : undefined };
  }
  return out;
}

interface PlotProps {
  readonly rows: readonly ChartRow[];
  readonly series: readonly ChartSeries[];
  readonly x: Axis | null;
  readonly y: Axis | null;
  readonly log: boolean;
  readonly dots: boolean;
  readonly raw: boolean;
  readonly references: readonly ChartReference[];
  readonly marks: readonly ChartMark[];
  readonly onHover: (row: number | null) => void;
}

/** The recharts plot alone, so that moving the pointer re-renders the legend, not the lines. */
const Plot = memo(function Plot({ rows, series, x, y, log, dots, raw, references, marks, onHover }: PlotProps) {
  const every = dots || rows.length < 12 ? 1 : Math.ceil(rows.length / MARKS_PER_LINE);
  return (
    <ResponsiveContainer width="100%" height={PLOT_HEIGHT}>
      <ComposedChart
        data={rows as ChartRow[]}
        margin={{ top: 6, right: 12, bottom: 2, left: 0 }}
        onMouseMove={(state: MouseHandlerDataParam) => {
          const i = Number(state.activeTooltipIndex);
          onHover(state.isTooltipActive && Number.isInteger(i) ? i : null);
        }}
        onMouseLeave={() => onHover(null)}
      >
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
          tickFormatter={tickLabeller(x?.ticks ?? [])}
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
          tickFormatter={tickLabeller(y?.ticks ?? [])}
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
        {marks.map((m) => (
          <ReferenceLine
            key={m.id}
            x={m.x}
            stroke={m.color}
            strokeDasharray="4 3"
            strokeWidth={1.4}
            ifOverflow="hidden"
            label={{ value: m.short, position: 'insideTopLeft', fill: m.color, fontSize: 10 }}
          />
        ))}
        {/* The values are read out in the legend below the plot; the tooltip only draws the cursor. */}
        <Tooltip content={() => null} cursor={{ stroke: '#98a2b0', strokeDasharray: '3 3' }} isAnimationActive={false} />
        {/* A series with band columns (a mean over seeds) gets its min–max range shaded under its line. */}
        {series
          .filter((m) => rows.some((r) => r[bandLowKey(m.id)] !== undefined))
          .map((m) => (
            <Area
              key={bandLowKey(m.id)}
              className="band-area"
              type="linear"
              dataKey={(r: ChartRow) => {
                const lo = r[bandLowKey(m.id)];
                const hi = r[bandHighKey(m.id)];
                return lo === undefined || hi === undefined ? null : [lo, hi];
              }}
              stroke="none"
              fill={m.color}
              fillOpacity={0.16}
              activeDot={false}
              legendType="none"
              isAnimationActive={false}
              connectNulls
            />
          ))}
        {raw &&
          series.map((m) => (
            <Line
              key={rawKey(m.id)}
              className="raw-line"
              type="linear"
              dataKey={rawKey(m.id)}
              stroke={m.color}
              strokeOpacity={0.28}
              strokeWidth={1}
              dot={false}
              activeDot={false}
              legendType="none"
              isAnimationActive={false}
              connectNulls
            />
          ))}
        {series.map((m, k) => {
          const overlay = m.dash === 'overlay';
          const marker = m.marker;
          const offset = (k * 3) % every;
          return (
            <Line
              key={m.id}
              type="linear"
              dataKey={m.id}
              name={m.label}
              stroke={m.color}
              strokeOpacity={overlay ? 0.7 : 1}
              strokeDasharray={dashOf(m)}
              strokeLinecap={m.dash === 'dotted' ? 'round' : undefined}
              strokeWidth={overlay ? 1.4 : 1.8}
              dot={
                marker
                  ? (p: { cx?: number; cy?: number; index?: number }) =>
                      p.cx === undefined || p.cy === undefined || p.index === undefined || p.index % every !== offset ? null : (
                        <path
                          className="series-marker"
                          d={markerPath(marker, p.cx, p.cy, 3.2)}
                          fill={isOpenMarker(marker) || overlay ? '#1e232b' : m.color}
                          stroke={isOpenMarker(marker) || overlay ? m.color : '#1e232b'}
                          strokeWidth={isOpenMarker(marker) || overlay ? 1.6 : 0.8}
                        />
                      )
                  : dots || rows.length < 12
                    ? { r: 2.5 }
                    : false
              }
              activeDot={{ r: 3.5, stroke: '#1e232b', strokeWidth: 1 }}
              isAnimationActive={false}
              connectNulls
            />
          );
        })}
      </ComposedChart>
    </ResponsiveContainer>
  );
});
