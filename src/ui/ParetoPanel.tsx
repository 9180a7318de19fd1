// The Pareto plot of a comparison: each method a point in its colour and marker, cost across
// (trainable parameters or memory, log scale: methods differ by orders of magnitude) and quality
// up (validation loss, lower is better, or accuracy, higher is better), with the non-dominated
// front (pareto.ts) drawn as a staircase and named in a caption. Our own SVG: recharts has no
// step line through a subset of scatter points. A run with several seeds plots each method's
// means over the seeds done, with ±1 standard deviation bars on both axes where the seeds differ.

import { useMemo, useState } from 'react';
import { useDiagnosticsStore } from '../state/diagnosticsStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { axisFor, extent, tickLabeller } from './axisTicks';
import { isOpenMarker, markerPath } from './markers';
import { methodStyle } from './methodColors';
import { paretoFront, type ParetoPoint } from './pareto';
import { spreadMetric, type MetricKey } from './resultMetrics';
import { useSeedView } from './seedResults';
import { metricPoints } from './metricPoints';
import { FrontLine, PlotGrid } from './PlotGrid';
import { RunTag } from './RunTag';
import { SeriesSwatch } from './SeriesSwatch';

const COSTS: readonly { key: MetricKey; label: string }[] = [
  { key: 'trainable', label: 'Trainable params' },
  { key: 'memory', label: 'Memory (MiB)' },
];
const SCORES: readonly { key: MetricKey; label: string; sense: 'min' | 'max' }[] = [
  { key: 'bestVal', label: 'Best val loss', sense: 'min' },
  { key: 'finalVal', label: 'Final val loss', sense: 'min' },
  { key: 'accuracy', label: 'Accuracy (%)', sense: 'max' },
];

const W = 560;
const H = 260;
const PAD = { left: 48, right: 16, top: 12, bottom: 34 };

export function ParetoPanel() {
  const methods = useRunStore((s) => s.methods);
  const series = useRunStore((s) => s.series);
  const evals = useRunStore((s) => s.evals);
  const ready = useRunStore((s) => s.ready);
  const result = useRunStore((s) => s.result);
  const accuracy = useDiagnosticsStore((s) => s.accuracy);
  const infos = useSettingsStore((s) => s.methods);
  const [cost, setCost] = useState<MetricKey>('trainable');
  const [scoreKey, setScoreKey] = useState<MetricKey>('bestVal');
  const score = SCORES.find((s) => s.key === scoreKey)!;
  const seedView = useSeedView();

  /** Points with their standard deviations (ex, ey: NaN for one seed or none). */
  const points = useMemo<(ParetoPoint & { readonly ex: number; readonly ey: number; readonly n: number })[]>(
    () =>
      (seedView
        ? seedView.aggregates.map((a) => {
            const x = spreadMetric(a, cost);
            const y = spreadMetric(a, scoreKey);
            return { id: a.id, x: x.mean, y: y.mean, ex: x.sd, ey: y.sd, n: Math.min(x.n, y.n) };
          })
        : metricPoints({ methods, series, evals, ready, result }, accuracy, cost, scoreKey).map((p) => ({ ...p, ex: Number.NaN, ey: Number.NaN, n: 1 }))
      ).filter((p) => Number.isFinite(p.x) && p.x > 0 && Number.isFinite(p.y)),
    [methods, series, evals, ready, result, accuracy, cost, scoreKey, seedView],
  );
  const bar = (p: { readonly ey: number }) => (Number.isFinite(p.ey) ? p.ey : 0);
  const xBar = (p: { readonly x: number; readonly ex: number }) => (Number.isFinite(p.ex) && p.ex < p.x ? p.ex : 0);
  if (methods.length === 0) return null;
  const order = infos.map((m) => m.id);
  const label = (id: string) => infos.find((m) => m.id === id)?.label ?? id;
  const front = paretoFront(points, score.sense);
  const xAxis = axisFor(
    extent(
      points.flatMap((p) => [p.x - xBar(p), p.x + xBar(p)]),
      true,
    ),
    true,
  );
  const yAxis = axisFor(extent(points.flatMap((p) => [p.y - bar(p), p.y + bar(p)])), false);
  const plotW = W - PAD.left - PAD.right;
  const plotH = H - PAD.top - PAD.bottom;
  const sx = (v: number) => {
    const [lo, hi] = xAxis!.domain;
    return PAD.left + (hi > lo ? ((Math.log10(v) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * plotW : plotW / 2);
  };
  const sy = (v: number) => {
    const [lo, hi] = yAxis!.domain;
    return PAD.top + (hi > lo ? (1 - (v - lo) / (hi - lo)) * plotH : plotH / 2);
  };
  const xLabel = tickLabeller(xAxis?.ticks ?? []);
  const yLabel = tickLabeller(yAxis?.ticks ?? []);
  const costLabel = COSTS.find((c) => c.key === cost)!.label;

  return (
    <section className="panel" aria-labelledby="pareto-title" data-testid="pareto-panel">
      <div className="panel-head">
        <h2 id="pareto-title">Pareto plot</h2>
        <div className="chart-controls">
          <label htmlFor="pareto-x">X</label>
          <select id="pareto-x" value={cost} onChange={(e) => setCost(e.target.value as MetricKey)}>
            {COSTS.map((c) => (
              <option key={c.key} value={c.key}>
                {c.label}
              </option>
            ))}
          </select>
          <label htmlFor="pareto-y">Y</label>
          <select id="pareto-y" value={scoreKey} onChange={(e) => setScoreKey(e.target.value as MetricKey)}>
            {SCORES.map((s) => (
              <option key={s.key} value={s.key}>
                {s.label}
              </option>
            ))}
          </select>
        </div>
      </div>
      <RunTag />
      <figure className="chart" data-testid="chart-pareto" data-points={points.length} data-front={front.map((p) => p.id).join(',')}>
        <figcaption>
          {score.label} ({score.sense === 'min' ? 'lower' : 'higher'} is better) against {costLabel} (log scale, lower is better)
        </figcaption>
        {points.length === 0 || !xAxis || !yAxis ? (
          <div className="chart-empty muted small" style={{ height: H }}>
            No method has both numbers yet
            {scoreKey === 'accuracy'
              ? ' (accuracy comes after the last step, where the data has "####" answers)'
              : ' (validation runs every K steps and after the last)'}
            .
          </div>
        ) : (
          <svg viewBox={`0 0 ${W} ${H}`} width="100%" role="img" aria-label={`${score.label} against ${costLabel}, one point per method`}>
            <PlotGrid
              frame={{ width: W, height: H, pad: PAD }}
              xTicks={xAxis.ticks}
              yTicks={yAxis.ticks}
              sx={sx}
              sy={sy}
              xLabel={xLabel}
              yLabel={yLabel}
              xTitle={costLabel}
            />
            <FrontLine
              front={front}
              xMax={xAxis.domain[1]}
              yWorst={score.sense === 'min' ? yAxis.domain[1] : yAxis.domain[0]}
              sx={sx}
              sy={sy}
              testId="pareto-front"
            />
            {points.map((p) => {
              const look = methodStyle(p.id, order);
              const open = isOpenMarker(look.marker);
              const spread =
                bar(p) > 0 ? ` ± ${p.ey.toPrecision(2)} (sd over ${p.n} seeds)` : seedView ? ` (mean of ${p.n} ${p.n === 1 ? 'seed' : 'seeds'})` : '';
              const [cx, cy] = [sx(p.x), sy(p.y)];
              return (
                <g key={p.id}>
                  {bar(p) > 0 && (
                    <path
                      data-testid={`pareto-bar-${p.id}`}
                      d={`M${cx - 4},${sy(p.y + bar(p))}H${cx + 4}M${cx},${sy(p.y + bar(p))}V${sy(p.y - bar(p))}M${cx - 4},${sy(p.y - bar(p))}H${cx + 4}`}
                      stroke={look.color}
                      strokeWidth={1.2}
                      fill="none"
                    />
                  )}
                  {xBar(p) > 0 && (
                    <path
                      d={`M${sx(p.x - xBar(p))},${cy - 4}V${cy + 4}M${sx(p.x - xBar(p))},${cy}H${sx(p.x + xBar(p))}M${sx(p.x + xBar(p))},${cy - 4}V${cy + 4}`}
                      stroke={look.color}
                      strokeWidth={1.2}
                      fill="none"
                    />
                  )}
                  <path
                    data-testid={`pareto-point-${p.id}`}
                    d={markerPath(look.marker, cx, cy, 6)}
                    fill={open ? 'none' : look.color}
                    stroke={open ? look.color : '#1e232b'}
                    strokeWidth={open ? 2.2 : 1}
                  >
                    <title>{`${label(p.id)}: ${costLabel} ${xLabel(p.x)}, ${score.label} ${p.y.toPrecision(4)}${spread}`}</title>
                  </path>
                </g>
              );
            })}
          </svg>
        )}
        <ul className="small" aria-label="Methods" style={{ listStyle: 'none', padding: 0, margin: '0.3rem 0 0 0.4rem' }}>
          {points.map((p) => (
            <li key={p.id} style={{ display: 'inline-flex', alignItems: 'center', gap: 4, marginRight: 12 }}>
              <SeriesSwatch series={methodStyle(p.id, order)} width={20} />
              {label(p.id)}
            </li>
          ))}
        </ul>
      </figure>
      {front.length > 0 && (
        <p className="muted small" data-testid="pareto-caption">
          {seedView && `Means over ${seedView.seeds.length} ${seedView.seeds.length === 1 ? 'seed' : 'seeds'}; bars: ±1 standard deviation. `}
          On the front (no other method is both cheaper and better): {front.map((p) => label(p.id)).join(', ')}.
          {points.length > front.length &&
            ` Dominated: ${points
              .filter((p) => !front.includes(p))
              .map((p) => label(p.id))
              .join(', ')}.`}
        </p>
      )}
    </section>
  );
}
