// The Study view's Pareto plot for one task: each method at (trainable parameters, log scale;
// final validation loss, mean over seeds with ±1 sd bars), in its studio colour and marker, the
// non-dominated front drawn as a staircase and its methods ringed and named in the caption.

import { useLayoutEffect, useRef, useState } from 'react';
import { paretoFront, type MethodSummary } from '../study/aggregate';
import { axisFor, extent, tickLabeller } from './axisTicks';
import { isOpenMarker, markerPath } from './markers';
import { methodStyle } from './methodColors';
import { FrontLine, PlotGrid } from './PlotGrid';
import { SeriesSwatch } from './SeriesSwatch';
import { studyParetoPoints, type ParetoStudyPoint as Point } from './studyView';

const H = 280;
const PAD = { left: 48, right: 16, top: 12, bottom: 34 };

/** The figure's width in CSS pixels, so the plot is drawn at that width and its labels keep their size on a phone. */
function useWidth(fallback: number) {
  const ref = useRef<HTMLElement>(null);
  const [width, setWidth] = useState(fallback);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => setWidth(el.clientWidth));
    observer.observe(el);
    return () => observer.disconnect();
  }, []);
  return [ref, width] as const;
}

export function StudyPareto({ rows, order }: { rows: readonly MethodSummary[]; order: readonly string[] }) {
  const [figure, width] = useWidth(560);
  const W = Math.max(280, Math.floor(width) - 14);
  const points = studyParetoPoints(rows);
  const front = paretoFront(
    points,
    (p) => p.x,
    (p) => p.y,
  );
  const bar = (p: Point) => (p.n >= 2 && Number.isFinite(p.sd) ? p.sd : 0);
  const xAxis = axisFor(
    extent(
      points.map((p) => p.x),
      true,
    ),
    true,
  );
  const yAxis = axisFor(extent(points.flatMap((p) => [p.y - bar(p), p.y + bar(p)])), false);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const scale = (v: number, [lo, hi]: readonly [number, number], size: number) => (hi > lo ? ((v - lo) / (hi - lo)) * size : size / 2);
  const sx = (v: number) => PAD.left + scale(Math.log10(v), [Math.log10(xAxis?.domain[0] ?? 1), Math.log10(xAxis?.domain[1] ?? 1)], plotW);
  const sy = (v: number) => PAD.top + plotH - scale(v, yAxis?.domain ?? [0, 1], plotH);
  const xLabel = tickLabeller(xAxis?.ticks ?? []);
  const yLabel = tickLabeller(yAxis?.ticks ?? []);
  const onFront = new Set(front.map((p) => p.id));

  return (
    <figure ref={figure} className="chart" data-testid="study-pareto" data-points={points.length} data-front={front.map((p) => p.id).join(',')}>
      <figcaption>
        Final validation loss (nats/token, lower is better) against trainable parameters <span className="muted small">(log scale)</span>
      </figcaption>
      {!xAxis || !yAxis ? (
        <div className="chart-empty muted small" style={{ height: H / 2 }}>
          No method of this task has both a parameter count and a final loss.
        </div>
      ) : (
        <svg
          viewBox={`0 0 ${W} ${H}`}
          width={W}
          height={H}
          style={{ display: 'block' }}
          role="img"
          aria-label="Final validation loss against trainable parameters, one point per method"
        >
          <PlotGrid
            frame={{ width: W, height: H, pad: PAD }}
            xTicks={xAxis.ticks}
            yTicks={yAxis.ticks}
            sx={sx}
            sy={sy}
            xLabel={xLabel}
            yLabel={yLabel}
            xTitle="Trainable parameters"
          />
          <FrontLine front={front} xMax={xAxis.domain[1]} yWorst={yAxis.domain[1]} sx={sx} sy={sy} testId="study-pareto-front" />
          {points.map((p) => {
            const look = methodStyle(p.id, order);
            const open = isOpenMarker(look.marker);
            const [cx, cy] = [sx(p.x), sy(p.y)];
            const spread = bar(p) > 0 ? ` ± ${p.sd.toPrecision(2)} (sd over ${p.n} seeds)` : ` (${p.n} ${p.n === 1 ? 'seed' : 'seeds'})`;
            return (
              <g key={p.id}>
                {bar(p) > 0 && (
                  <path
                    d={`M${cx - 4},${sy(p.y + bar(p))}H${cx + 4}M${cx},${sy(p.y + bar(p))}V${sy(p.y - bar(p))}M${cx - 4},${sy(p.y - bar(p))}H${cx + 4}`}
                    stroke={look.color}
                    strokeWidth={1.2}
                    fill="none"
                  />
                )}
                {onFront.has(p.id) && <circle cx={cx} cy={cy} r={10} fill="none" stroke="#e6e9ee" strokeOpacity={0.7} strokeWidth={1} />}
                <path
                  data-testid={`study-pareto-point-${p.id}`}
                  d={markerPath(look.marker, cx, cy, 6)}
                  fill={open ? 'none' : look.color}
                  stroke={open ? look.color : '#1e232b'}
                  strokeWidth={open ? 2.2 : 1}
                >
                  <title>{`${p.label}: ${xLabel(p.x)} trainable parameters, final validation loss ${p.y.toPrecision(4)}${spread}`}</title>
                </path>
              </g>
            );
          })}
        </svg>
      )}
      <ul className="study-pareto-legend small" aria-label="Methods">
        {points.map((p) => (
          <li key={p.id} className={onFront.has(p.id) ? 'on-front' : undefined}>
            <SeriesSwatch series={methodStyle(p.id, order)} width={20} />
            {p.label}
          </li>
        ))}
      </ul>
      {front.length > 0 && (
        <p className="muted small" data-testid="study-pareto-caption">
          Means over seeds; bars: ±1 sd. Ringed, on the front (no other method has both fewer parameters and a lower loss):{' '}
          {front.map((p) => p.label).join(', ')}.
        </p>
      )}
    </figure>
  );
}
