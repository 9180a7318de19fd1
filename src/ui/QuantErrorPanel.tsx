// Step 5: the quantization error ‖W − (deq(Q) + s·B A)‖ of the quantized methods (QLoRA, LoftQ
// and QPiSSA, each iteration) per layer, filling in live as the inits measure it, and the
// reduction ratio per layer type against the baseline's error NF4(W) − W (the method whose info
// says quantError 'baseline'). Shown once any quantized method reports an error.

import { useMemo, useState } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { useDiagnosticsStore } from '../state/diagnosticsStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { methodColor } from './methodColors';
import { baselineOf, quantRows, quantSeries, reductionRatios, type QuantNorm } from './quantData';
import { RunTag } from './RunTag';

const DASHES = ['', '6 3', '2 2', '10 4 2 4', '1 3'];

/** "model.layers.2.self_attn.q_proj" (role q) → "2.q". */
export function shortLayer(name: string, role?: string): string {
  const n = /\.(\d+)\./.exec(name)?.[1];
  return n === undefined ? (role ?? name) : `${n}.${role ?? name.split('.').at(-1)}`;
}

export function QuantErrorPanel() {
  const points = useDiagnosticsStore((s) => s.quant);
  const layers = useDiagnosticsStore((s) => s.layers);
  const runMethods = useRunStore((s) => s.methods);
  const infos = useSettingsStore((s) => s.methods);
  const [norm, setNorm] = useState<QuantNorm>('nuclear');
  const series = useMemo(() => quantSeries(points), [points]);
  const rows = useMemo(() => quantRows(points, layers, norm), [points, layers, norm]);
  const baseline = baselineOf(points, infos);
  const ratios = useMemo(() => (baseline ? reductionRatios(points, layers, baseline) : null), [points, layers, baseline]);
  if (points.length === 0) return null;

  const order = infos.map((m) => m.id);
  const label = (method: string) => infos.find((m) => m.id === method)?.label ?? method;
  const isBaseline = (method: string) => infos.find((m) => m.id === method)?.quantError === 'baseline';
  const seriesLabel = (method: string, iteration: number) => (isBaseline(method) ? `${label(method)} NF4(W)` : `${label(method)} T=${iteration}`);
  const baseLabel = infos.find((m) => m.quantError === 'baseline')?.label ?? 'NF4(W)';
  const reducers = infos.filter((m) => m.quantError === 'reduced').map((m) => m.label);
  const roleOf = new Map(layers.map((l) => [l.name, l.role]));
  const byIndex = new Map(rows.map((r) => [r.index, r.layer]));
  const quantized = runMethods.filter((m) => infos.some((i) => i.id === m && i.quantError !== undefined));
  const counts = series.map((s) => `${s.key}:${points.filter((p) => `${p.method}:${p.iteration}` === s.key).length}`).join(',');
  // How the nuclear norms were computed: exact below a layer size, a randomized estimate above it.
  const estimated = points.filter((p) => p.nuclearMethod === 'randomized');
  const worst = Math.max(0, ...estimated.map((p) => (100 * (p.nuclearError ?? 0)) / p.nuclear));

  return (
    <section className="panel" aria-labelledby="quant-title" data-testid="quant-panel">
      <div className="panel-head">
        <h2 id="quant-title">Quantization error</h2>
        <div className="chart-controls">
          <label htmlFor="quant-norm">Norm</label>
          <select id="quant-norm" value={norm} onChange={(e) => setNorm(e.target.value as QuantNorm)}>
            <option value="nuclear">nuclear ‖E‖_*</option>
            <option value="frobenius">Frobenius ‖E‖_F</option>
          </select>
        </div>
      </div>
      <RunTag />
      <figure className="chart" data-testid="chart-quant" data-points={counts} aria-label={`Quantization error per layer (${norm} norm)`}>
        <figcaption>
          ‖W − (deq(Q) + s·B A)‖ per layer{' '}
          <span className="muted small">({norm === 'nuclear' ? 'nuclear norm, sum of σ' : 'Frobenius norm'}; lower is better)</span>
        </figcaption>
        <ResponsiveContainer width="100%" height={220}>
          <LineChart data={rows} margin={{ top: 6, right: 12, bottom: 2, left: 0 }}>
            <CartesianGrid stroke="#2a313b" strokeDasharray="3 3" />
            <XAxis
              dataKey="index"
              type="number"
              domain={['dataMin', 'dataMax']}
              allowDecimals={false}
              stroke="#98a2b0"
              fontSize={11}
              tickFormatter={(i: number) => shortLayer(byIndex.get(i) ?? '', roleOf.get(byIndex.get(i) ?? ''))}
            />
            <YAxis stroke="#98a2b0" fontSize={11} width={48} tickFormatter={(v: number) => String(Number(v.toPrecision(3)))} />
            <Tooltip
              contentStyle={{ background: '#1e232b', border: '1px solid #2a313b', fontSize: 12 }}
              labelFormatter={(i) => byIndex.get(Number(i)) ?? String(i)}
              formatter={(v) => (typeof v === 'number' ? v.toPrecision(4) : String(v))}
            />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            {series.map((s) => (
              <Line
                key={s.key}
                type="linear"
                dataKey={s.key}
                name={seriesLabel(s.method, s.iteration)}
                stroke={methodColor(s.method, order)}
                strokeDasharray={DASHES[s.iteration % DASHES.length]}
                dot={{ r: 2.5 }}
                strokeWidth={1.6}
                isAnimationActive={false}
                connectNulls
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </figure>
      <p className="muted small" data-testid="quant-nuclear-method">
        Measured between training steps.{' '}
        {estimated.length === 0
          ? 'Nuclear norms: exact (singular values of each error matrix).'
          : `Nuclear norms: ${points.length - estimated.length} exact, ${estimated.length} randomized estimates for the larger layers (stated error ≤ ${worst.toFixed(2)} %).`}
      </p>
      <h3 className="small">Error reduction against {baseLabel}, per layer type</h3>
      {ratios && ratios.rows.length > 0 ? (
        <div className="table-scroll">
          <table className="grid" data-testid="quant-ratio">
            <thead>
              <tr>
                <th scope="col">Method</th>
                {ratios.roles.map((r) => (
                  <th key={r} scope="col" className="num">
                    {r}
                  </th>
                ))}
                <th scope="col" className="num">
                  all
                </th>
              </tr>
            </thead>
            <tbody>
              {ratios.rows.map((row) => (
                <tr key={row.series.key} data-testid={`quant-ratio-${row.series.method}-${row.series.iteration}`}>
                  <td>{seriesLabel(row.series.method, row.series.iteration)}</td>
                  {[...ratios.roles, 'all'].map((r) => (
                    <td key={r} className="num">
                      {row.byRole[r] === undefined ? '—' : `${row.byRole[r].toFixed(1)} %`}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="muted small" data-testid="quant-ratio-note">
          {baseline
            ? `Waiting for ${reducers.join(' or ')} errors on the layers ${label(baseline.method)} has measured…`
            : `The reduction ratio compares with ${baseLabel}'s error NF4(W) − W: tick ${baseLabel} (or an init that reports its iteration 0, T=0, the same error) beside ${quantized.length > 0 ? quantized.map(label).join(', ') : reducers.join(', ')}. The studio does not measure it on its own, since each layer's nuclear norm costs an SVD.`}
        </p>
      )}
      <p className="muted small">
        Ratio = (1 − ‖E_m‖_* / ‖E_{baseLabel}‖_*) · 100 %, averaged over the layers of each type (PiSSA paper, QPiSSA table)
        {baseline && !isBaseline(baseline.method) ? `; baseline: ${label(baseline.method)} T=0, the same NF4(W) error as ${baseLabel}` : ''}. Higher is better.
      </p>
    </section>
  );
}
