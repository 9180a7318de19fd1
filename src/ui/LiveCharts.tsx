// Step 6: the curves, live. Training loss, validation loss, tokens/s and gradient norm against
// step or against training tokens seen, one line per method; a log-scale toggle and EMA
// smoothing for the per-step curves.

import { useMemo, useState } from 'react';
import { evalRows, stepRows, tokensPerSecond, type XAxisKind } from './chartData';
import { useChartRuns } from './overlayData';
import { MetricChart } from './MetricChart';

export function LiveCharts() {
  // The page's run plus a saved run overlaid dashed, if one is chosen (overlayData.ts).
  const { methodIds, series, evals, methods } = useChartRuns();
  const [log, setLog] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  const [axis, setAxis] = useState<XAxisKind>('step');

  const loss = useMemo(() => stepRows(series, methodIds, (p) => p.loss, smoothing, log, axis), [series, methodIds, smoothing, log, axis]);
  const val = useMemo(() => evalRows(evals, methodIds, log, axis, series), [evals, methodIds, log, axis, series]);
  const speed = useMemo(() => stepRows(series, methodIds, tokensPerSecond, smoothing, log, axis), [series, methodIds, smoothing, log, axis]);
  const grad = useMemo(() => stepRows(series, methodIds, (p) => p.gradNorm, smoothing, log, axis), [series, methodIds, smoothing, log, axis]);

  return (
    <section className="panel" aria-labelledby="charts-title" data-testid="live-charts">
      <div className="panel-head">
        <h2 id="charts-title">Curves</h2>
        <div className="chart-controls">
          <label htmlFor="x-axis">Against</label>
          <select id="x-axis" value={axis} onChange={(e) => setAxis(e.target.value as XAxisKind)}>
            <option value="step">step</option>
            <option value="tokens">training tokens</option>
          </select>
          <label className="check">
            <input type="checkbox" checked={log} onChange={(e) => setLog(e.target.checked)} /> Log scale
          </label>
          <label htmlFor="smoothing">Smoothing</label>
          <input id="smoothing" type="range" min={0} max={0.95} step={0.05} value={smoothing} onChange={(e) => setSmoothing(Number(e.target.value))} aria-valuetext={`${Math.round(smoothing * 100)} %`} />
          <span className="small muted">{smoothing.toFixed(2)}</span>
        </div>
      </div>
      {methodIds.length === 0 ? (
        <p className="muted">Start a comparison to see the curves grow, one line per method.</p>
      ) : (
        <div className="chart-grid">
          <MetricChart title="Training loss" unit="nats/token" rows={loss} methods={methods} log={log} testId="chart-loss" xAxis={axis} />
          <MetricChart title="Validation loss" unit="nats/token" rows={val} methods={methods} log={log} testId="chart-val" xAxis={axis} dots />
          <MetricChart title="Throughput" unit="trained tokens/s" rows={speed} methods={methods} log={log} testId="chart-speed" xAxis={axis} />
          <MetricChart title="Gradient norm" unit="L2, before clipping" rows={grad} methods={methods} log={log} testId="chart-grad" xAxis={axis} />
        </div>
      )}
    </section>
  );
}
