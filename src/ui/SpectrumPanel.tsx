// Step 6, the singular-value spectrum of one adapted projection: σ_i of the weight the forward
// pass uses (base + s·B M A, SPP's sparse merge, full fine-tuning's W) at init and now, computed
// on the GPU between two steps when asked (an SVD costs seconds on a software adapter).

import { useMemo, useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { spectrumKey, useDiagnosticsStore } from '../state/diagnosticsStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { formatMs } from './format';
import { methodColor } from './methodColors';
import { shortLayer } from './QuantErrorPanel';

export function SpectrumPanel() {
  const methods = useRunStore((s) => s.methods);
  const ready = useRunStore((s) => s.ready);
  const layers = useDiagnosticsStore((s) => s.layers);
  const spectra = useDiagnosticsStore((s) => s.spectra);
  const request = useDiagnosticsStore((s) => s.requestSpectrum);
  const infos = useSettingsStore((s) => s.methods);
  const readyMethods = methods.filter((m) => ready[m]);
  const [method, setMethod] = useState('');
  const [layer, setLayer] = useState('');
  const m = readyMethods.includes(method) ? method : (readyMethods[0] ?? '');
  const l = layers.some((x) => x.name === layer) ? layer : (layers[0]?.name ?? '');
  const state = spectra[spectrumKey(m, l)];
  const result = state?.status === 'done' ? state.result : undefined;
  const rows = useMemo(
    () =>
      result
        ? result.before.map((b, i) => {
            const a = result.after[i]!;
            const change = Math.abs(a - b);
            return { i: i + 1, before: b > 0 ? b : undefined, after: a > 0 ? a : undefined, change: change > 0 ? change : undefined };
          })
        : [],
    [result],
  );
  if (layers.length === 0) return null;

  const order = infos.map((x) => x.id);
  const label = (id: string) => infos.find((x) => x.id === id)?.label ?? id;
  const color = methodColor(m, order);
  let maxChange = 0;
  if (result)
    for (let i = 0; i < result.before.length; i++)
      maxChange = Math.max(maxChange, Math.abs(result.after[i]! - result.before[i]!) / Math.max(result.before[0]!, 1e-30));

  return (
    <section className="panel" aria-labelledby="spectrum-title" data-testid="spectrum-panel">
      <div className="panel-head">
        <h2 id="spectrum-title">Singular-value spectrum</h2>
        <div className="chart-controls">
          <label htmlFor="spectrum-method">Method</label>
          <select id="spectrum-method" value={m} onChange={(e) => setMethod(e.target.value)}>
            {readyMethods.map((id) => (
              <option key={id} value={id}>
                {label(id)}
              </option>
            ))}
          </select>
          <label htmlFor="spectrum-layer">Layer</label>
          <select id="spectrum-layer" value={l} onChange={(e) => setLayer(e.target.value)}>
            {layers.map((x) => (
              <option key={x.name} value={x.name}>
                {shortLayer(x.name, x.role)} [{x.out}×{x.in}]
              </option>
            ))}
          </select>
          <button type="button" disabled={!m || !l || state?.status === 'running'} onClick={() => void request(m, l)}>
            {state?.status === 'running' ? 'Computing…' : result ? 'Recompute' : 'Compute'}
          </button>
        </div>
      </div>
      {!state && (
        <p className="muted small">
          {readyMethods.length === 0
            ? 'Available once a method is initialised.'
            : 'Pick a method and a layer, then Compute: σ of the effective weight at init and now (one SVD each, between two training steps).'}
        </p>
      )}
      {state?.status === 'running' && <p className="muted small">Computing the SVDs on the GPU at the next pause between steps…</p>}
      {state?.status === 'failed' && (
        <p className="fail small" role="alert">
          {state.message}
        </p>
      )}
      {result && (
        <figure className="chart" data-testid="chart-spectrum" data-points={`${result.before.length}`} aria-label={`Singular values of ${result.layer}`}>
          <figcaption>
            σ<sub>i</sub> of {label(result.method)}’s {result.layer} [{result.shape[0]}×{result.shape[1]}]{' '}
            <span className="muted small">
              (log scale; at init, after {result.step} steps, and their difference; largest change {(maxChange * 100).toPrecision(3)} % of σ₁;{' '}
              {formatMs(result.ms)})
            </span>
          </figcaption>
          <ResponsiveContainer width="100%" height={220}>
            <LineChart data={rows} margin={{ top: 6, right: 12, bottom: 2, left: 0 }}>
              <CartesianGrid stroke="#2a313b" strokeDasharray="3 3" />
              <XAxis dataKey="i" type="number" domain={['dataMin', 'dataMax']} allowDecimals={false} stroke="#98a2b0" fontSize={11} />
              <YAxis
                scale="log"
                domain={['auto', 'auto']}
                allowDataOverflow
                stroke="#98a2b0"
                fontSize={11}
                width={48}
                tickFormatter={(v: number) => (v > 0 && v < 1e-3 ? v.toExponential(0) : String(Number(v.toPrecision(2))))}
              />
              <Tooltip
                contentStyle={{ background: '#1e232b', border: '1px solid #2a313b', fontSize: 12 }}
                labelFormatter={(i) => `σ${String(i)}`}
                formatter={(v) => (typeof v === 'number' ? v.toPrecision(5) : String(v))}
              />
              <Legend wrapperStyle={{ fontSize: 12 }} />
              {/* "at init" drawn last, dashed, so it shows where the two coincide. */}
              <Line type="linear" dataKey="after" name={`after ${result.step} steps`} stroke={color} dot={false} strokeWidth={1.8} isAnimationActive={false} />
              <Line
                type="linear"
                dataKey="change"
                name="|now − at init|"
                stroke={color}
                strokeOpacity={0.55}
                strokeDasharray="2 2"
                dot={false}
                strokeWidth={1.2}
                isAnimationActive={false}
              />
              <Line
                type="linear"
                dataKey="before"
                name="at init"
                stroke="#98a2b0"
                strokeDasharray="5 3"
                dot={false}
                strokeWidth={1.4}
                isAnimationActive={false}
              />
            </LineChart>
          </ResponsiveContainer>
        </figure>
      )}
    </section>
  );
}
