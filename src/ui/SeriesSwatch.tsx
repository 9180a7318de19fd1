// A series' look in small, for legends and tables: a short stretch of its line in its dash
// pattern with its marker in the middle.

import { DASH_ARRAY, OVERLAY_DASH, type ChartSeries } from './methodColors';
import { isOpenMarker, markerPath } from './markers';

export function SeriesSwatch({ series, width = 26 }: { series: Pick<ChartSeries, 'color' | 'dash' | 'marker'>; width?: number }) {
  const dash = series.dash === 'overlay' ? OVERLAY_DASH : series.dash ? DASH_ARRAY[series.dash] : undefined;
  const marker = series.marker;
  return (
    <svg className="series-swatch" width={width} height={12} viewBox={`0 0 ${width} 12`} aria-hidden focusable="false">
      <line x1={1} y1={6} x2={width - 1} y2={6} stroke={series.color} strokeWidth={2} strokeDasharray={dash} strokeLinecap="round" />
      {marker && (
        <path
          d={markerPath(marker, width / 2, 6, 3.6)}
          fill={isOpenMarker(marker) ? 'none' : series.color}
          stroke={isOpenMarker(marker) ? series.color : '#1e232b'}
          strokeWidth={isOpenMarker(marker) ? 1.8 : 1}
        />
      )}
    </svg>
  );
}
