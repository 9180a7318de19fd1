// Step 6: the curves, live. Training loss, validation loss, throughput (trained and processed
// tokens/s) and gradient norm against step or against the run's training tokens, one line per
// method; a log-scale toggle and EMA smoothing for the per-step curves (the raw values stay drawn
// faintly underneath). References: the frozen base model's validation loss at step 0 ("base") and
// ln V, the loss of a uniform guess. A chart with nothing to draw says why. The training-loss
// chart marks where a method of the page's run was flagged as diverging or stopped by a NaN/Inf.

import { useMemo, useState } from 'react';
import { evalRows, processedPerSecond, runTokens, stepRows, tokensPerSecond, uniformLoss, withBasePoint, type XAxisKind } from './chartData';
import { useChartRuns } from './overlayData';
import { useSeedCurves } from './seedCurves';
import { MetricChart, type ChartMark, type ChartReference } from './MetricChart';
import { BASE_MODEL_KEY, useRunStore, type RunPhase } from '../state/runStore';
import type { ChartSeries } from './methodColors';
import { useModelStore } from '../state/modelStore';
import { RunTag } from './RunTag';

const BASE: ChartSeries = { id: BASE_MODEL_KEY, label: 'base (no adapter)', color: '#98a2b0', marker: 'circle' };

/** Why a per-step chart of the page's run has no points yet. */
function noStepsYet(phase: RunPhase): string {
  if (phase === 'initialising') return 'No points yet: the methods are initialising; the first comes after the first step.';
  if (phase === 'running' || phase === 'paused') return 'No points yet: waiting for the first step.';
  return 'No points: the run ended before its first step.';
}

export function LiveCharts() {
  // The page's run plus a saved run overlaid dashed, if one is chosen (overlayData.ts).
  const { methodIds, series, evals, methods } = useChartRuns();
  const liveIds = useRunStore((s) => s.methods);
  const baseVal = useRunStore((s) => s.baseVal);
  const params = useRunStore((s) => s.params);
  const phase = useRunStore((s) => s.phase);
  const data = useRunStore((s) => s.data);
  const stepsDone = useRunStore((s) => Math.max(0, ...Object.values(s.series).map((p) => p.length)));
  // The run's vocabulary, not the loaded model's: ln V belongs to the model the curves came from.
  const loadedVocab = useModelStore((s) => s.card?.vocab ?? 0);
  const vocab = useRunStore((s) => s.record?.modelInfo?.vocab) ?? loadedVocab;
  const [log, setLog] = useState(false);
  const [smoothing, setSmoothing] = useState(0);
  const [axis, setAxis] = useState<XAxisKind>('step');
  const diverging = useRunStore((s) => s.diverging);
  const nonFinite = useRunStore((s) => s.nonFinite);

  const loss = useMemo(() => stepRows(series, methodIds, (p) => p.loss, smoothing, log, axis), [series, methodIds, smoothing, log, axis]);
  const val = useMemo(
    () => withBasePoint(evalRows(evals, methodIds, log, axis, series), BASE_MODEL_KEY, baseVal, log),
    [evals, methodIds, log, axis, series, baseVal],
  );
  const speed = useMemo(() => stepRows(series, methodIds, tokensPerSecond, smoothing, log, axis), [series, methodIds, smoothing, log, axis]);
  // Processed tokens need the run's batch × sequence length: the page's run only.
  const processed = useMemo(
    () => (params ? stepRows(series, liveIds, processedPerSecond(params.batch, params.seqLen), smoothing, log, axis) : []),
    [series, liveIds, params, smoothing, log, axis],
  );
  const grad = useMemo(() => stepRows(series, methodIds, (p) => p.gradNorm, smoothing, log, axis), [series, methodIds, smoothing, log, axis]);
  // A run with several seeds: the loss charts add each method's mean over the seeds done, with a band.
  const seedCurves = useSeedCurves(loss, val, methods, liveIds, smoothing, log, axis);
  const marks = useMemo((): ChartMark[] => {
    const tokens = axis === 'tokens' ? runTokens(series, liveIds).get('') : undefined;
    const out: ChartMark[] = [];
    const add = (method: string, kind: string, step: number, short: string, label: string) => {
      const x = axis === 'step' ? step : tokens?.get(step);
      const line = methods.find((m) => m.id === method);
      if (x !== undefined && line) out.push({ id: `${method}:${kind}:${step}`, x, short, label: `${line.label}: ${label}`, color: line.color });
    };
    for (const [id, step] of Object.entries(diverging)) add(id, 'diverging', step, 'diverging', `loss flagged as diverging at step ${step} (it trained on)`);
    for (const [id, stop] of Object.entries(nonFinite)) {
      const where = `${stop.tensor}${stop.layer ? ` of ${stop.layer}` : ''}`;
      add(id, 'nonfinite', stop.step, 'NaN/Inf', `stopped at step ${stop.step}: non-finite ${stop.source} in ${where}`);
    }
    return out;
  }, [axis, series, liveIds, methods, diverging, nonFinite]);
  const lnV = uniformLoss(vocab);
  const references: ChartReference[] = lnV === null ? [] : [{ y: lnV, label: `ln V = ${lnV.toFixed(2)} (uniform over ${vocab} tokens)` }];
  const gradNote =
    params && params.clipNorm === 0
      ? 'Gradient norms are measured only with clipping on (the norm is computed by the clipping step): set Gradient clip above 0 under Training.'
      : undefined;
  const raw = smoothing > 0;
  const stepsEmpty = log && stepsDone > 0 ? 'Nothing above 0 to draw on a log scale: turn Log scale off.' : noStepsYet(phase);
  const valEmpty =
    data?.validation === 0
      ? 'No validation rows: the data left none for validation (see Data).'
      : params?.validationRows === 0
        ? 'Validation is off: Validation rows is 0 under Training.'
        : params && stepsDone < params.evalEvery
          ? `No points yet: the first validation comes after step ${params.evalEvery} (Validate every, under Training).`
          : stepsEmpty;
  const processedEmpty = params ? stepsEmpty : 'This run does not say its batch and sequence length, which processed tokens need.';

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
          <input
            id="smoothing"
            type="range"
            min={0}
            max={0.95}
            step={0.05}
            value={smoothing}
            onChange={(e) => setSmoothing(Number(e.target.value))}
            aria-valuetext={`${Math.round(smoothing * 100)} %`}
          />
          <span className="small muted">{smoothing.toFixed(2)}</span>
        </div>
      </div>
      <RunTag />
      {methodIds.length === 0 ? (
        <p className="muted">Start a comparison to see the curves grow, one line per method.</p>
      ) : (
        <div className="chart-grid">
          <MetricChart
            title="Training loss"
            unit="nats/token"
            rows={seedCurves.loss}
            methods={seedCurves.methods}
            log={log}
            testId="chart-loss"
            xAxis={axis}
            references={references}
            raw={raw}
            empty={stepsEmpty}
            marks={marks}
            note={seedCurves.note}
          />
          <MetricChart
            title="Validation loss"
            unit="nats/token"
            rows={seedCurves.val}
            methods={baseVal === null ? seedCurves.methods : [BASE, ...seedCurves.methods]}
            log={log}
            testId="chart-val"
            xAxis={axis}
            dots
            references={references}
            empty={valEmpty}
            note={baseVal === null ? undefined : `base: the model without any adapter, ${baseVal.toFixed(3)} nats/token at step 0.`}
          />
          <MetricChart
            title="Throughput, trained tokens"
            unit="tokens/s whose loss counts: no padding, no prompt"
            rows={speed}
            methods={methods}
            log={log}
            testId="chart-speed"
            xAxis={axis}
            raw={raw}
            empty={stepsEmpty}
          />
          <MetricChart
            title="Throughput, processed tokens"
            unit="tokens/s through the model: batch × sequence length, padding and prompt included"
            rows={processed}
            methods={methods.filter((m) => liveIds.includes(m.id))}
            log={log}
            testId="chart-processed"
            xAxis={axis}
            raw={raw}
            empty={processedEmpty}
          />
          <MetricChart
            title="Gradient norm"
            unit="L2, before clipping"
            rows={grad}
            methods={methods}
            log={log}
            testId="chart-grad"
            xAxis={axis}
            raw={raw}
            empty={gradNote ?? stepsEmpty}
          />
        </div>
      )}
    </section>
  );
}
