// The frame of our own SVG scatter plots (ParetoPanel, StudyPareto): dashed grid lines at the
// ticks, the tick labels, and the x axis's name under the plot; and the Pareto front's line.

import { frontOutline, type ParetoPoint } from './pareto';

export interface PlotFrame {
  readonly width: number;
  readonly height: number;
  readonly pad: { readonly left: number; readonly right: number; readonly top: number; readonly bottom: number };
}

interface Props {
  readonly frame: PlotFrame;
  readonly xTicks: readonly number[];
  readonly yTicks: readonly number[];
  readonly sx: (v: number) => number;
  readonly sy: (v: number) => number;
  readonly xLabel: (v: number) => string;
  readonly yLabel: (v: number) => string;
  readonly xTitle: string;
}

export function PlotGrid({ frame, xTicks, yTicks, sx, sy, xLabel, yLabel, xTitle }: Props) {
  const { width: W, height: H, pad } = frame;
  const plotW = W - pad.left - pad.right;
  return (
    <>
      {xTicks.map((t) => (
        <g key={`x${t}`}>
          <line x1={sx(t)} x2={sx(t)} y1={pad.top} y2={H - pad.bottom} stroke="#2a313b" strokeDasharray="3 3" />
          <text x={sx(t)} y={H - pad.bottom + 14} fill="#98a2b0" fontSize={11} textAnchor="middle">
            {xLabel(t)}
          </text>
        </g>
      ))}
      {yTicks.map((t) => (
        <g key={`y${t}`}>
          <line x1={pad.left} x2={pad.left + plotW} y1={sy(t)} y2={sy(t)} stroke="#2a313b" strokeDasharray="3 3" />
          <text x={pad.left - 6} y={sy(t) + 4} fill="#98a2b0" fontSize={11} textAnchor="end">
            {yLabel(t)}
          </text>
        </g>
      ))}
      <text x={pad.left + plotW / 2} y={H - 4} fill="#98a2b0" fontSize={11} textAnchor="middle">
        {xTitle}
      </text>
    </>
  );
}

/** A Pareto front (pareto.ts) drawn as its staircase, closed off at the plot's largest cost and worst score. */
export function FrontLine({
  front,
  xMax,
  yWorst,
  sx,
  sy,
  testId,
}: {
  front: readonly ParetoPoint[];
  xMax: number;
  yWorst: number;
  sx: (v: number) => number;
  sy: (v: number) => number;
  testId: string;
}) {
  if (front.length === 0) return null;
  return (
    <polyline
      data-testid={testId}
      points={frontOutline(front, xMax, yWorst)
        .map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`)
        .join(' ')}
      fill="none"
      stroke="#e6e9ee"
      strokeOpacity={0.55}
      strokeWidth={1.5}
    />
  );
}
