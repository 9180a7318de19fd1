// A chart's legend, outside its plot: one button per series (its line, marker and name) that hides
// or shows it in every chart, Shift- or Alt-click to show only that one, and beside each the value
// under the pointer (or the last one). An overlaid saved run's series form their own group. The
// items carry their look as data attributes for the chart exports (chartExport.ts).

import type { MouseEvent } from 'react';
import { useSettingsStore } from '../state/settingsStore';
import type { ChartSeries } from './methodColors';
import { SeriesSwatch } from './SeriesSwatch';
import { isolateHidden, showAll, toggleHidden } from './seriesVisibility';

export interface LegendValue {
  readonly value?: number;
  /** The unsmoothed value, when the chart is smoothed. */
  readonly raw?: number;
}

interface Props {
  readonly title: string;
  readonly series: readonly ChartSeries[];
  /** Values to show beside the names, and what they are ("step 12", "last"). */
  readonly values?: Readonly<Record<string, LegendValue>>;
  readonly at?: string;
}

export function formatValue(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? v.toExponential(2) : String(Number(v.toPrecision(4)));
}

const HINT = 'Click: hide or show in every chart. Shift- or Alt-click: show only this one (again: show all).';

export function ChartLegend({ title, series, values, at }: Props) {
  const hidden = useSettingsStore((s) => s.hiddenSeries);
  const setHidden = useSettingsStore((s) => s.setHiddenSeries);
  const ids = series.map((s) => s.id);
  const anyHidden = ids.some((id) => hidden.includes(id));
  const onClick = (id: string) => (e: MouseEvent) => setHidden(e.shiftKey || e.altKey ? isolateHidden(hidden, id, ids) : toggleHidden(hidden, id));
  const groups = [...new Set(series.map((s) => s.group ?? ''))];

  return (
    <div className="chart-legend">
      {groups.map((group, g) => (
        <ul key={group || 'run'} className="legend-items" aria-label={group ? `${title}: ${group}` : `${title}: series`}>
          {g === 0 && at && <li className="legend-at muted">{at}</li>}
          {group && <li className="legend-group muted">{group}:</li>}
          {series
            .filter((s) => (s.group ?? '') === group)
            .map((s) => {
              const off = hidden.includes(s.id);
              const v = values?.[s.id];
              return (
                <li
                  key={s.id}
                  className={off ? 'legend-item off' : 'legend-item'}
                  data-legend-item
                  data-label={s.label}
                  data-color={s.color}
                  data-dash={s.dash ?? 'solid'}
                  data-marker={s.marker ?? ''}
                  data-hidden={off}
                >
                  <button type="button" aria-pressed={!off} title={`${s.label}. ${HINT}`} onClick={onClick(s.id)}>
                    <SeriesSwatch series={s} />
                    <span className="legend-label">{s.short ?? s.label}</span>
                  </button>
                  {v && !off && (
                    <span className="legend-value small">
                      {formatValue(v.value)}
                      {v.raw !== undefined && <span className="muted"> (raw {formatValue(v.raw)})</span>}
                    </span>
                  )}
                </li>
              );
            })}
        </ul>
      ))}
      {anyHidden && (
        <button type="button" className="link small" onClick={() => setHidden(showAll(hidden, ids))}>
          Show all
        </button>
      )}
    </div>
  );
}
