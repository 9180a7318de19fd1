// Step 8: take it away. Per trained method: its PEFT adapter (refused, with the reason, for
// methods that have no LoRA form), its merged model, a PEFT/TRL script for a CUDA machine. For
// the comparison: curves as CSV/JSON, any chart as SVG/PNG, a self-contained HTML report.
// Everything here is of the shown run (named above the table). Adapter and merged-model exports
// need its trained weights in the worker (runStore `weights`): runs are saved without them, but
// with the run's checkpoint and its model and data loaded they are rebuilt at the first export.

import { useEffect, useState } from 'react';
import { useExportStore, type Packaging } from '../state/exportStore';
import { useRunStore } from '../state/runStore';
import { useSavedRunsStore } from '../state/savedRunsStore';
import { RunTag } from './RunTag';
import { useTrainedWeights } from './trainedWeights';
import { useSettingsStore } from '../state/settingsStore';
import { downloadBlob, downloadText } from '../state/download';
import { chartPng, chartSvg, inlineSvg, pageCharts, type PageChart } from './chartExport';
import { methodStyle } from './methodColors';
import { SeriesSwatch } from './SeriesSwatch';
import { errorMessage } from '../errors';

const ACTIVE = ['initialising', 'running', 'paused', 'stopping'];

function PackButtons({ what, disabled, why, onPick }: { what: string; disabled: boolean; why?: string; onPick: (p: Packaging) => void }) {
  return (
    <span className="export-buttons" title={why}>
      <button type="button" disabled={disabled} aria-label={`Download ${what} as a zip`} onClick={() => onPick('zip')}>
        .zip
      </button>
      <button type="button" disabled={disabled} aria-label={`Download ${what} as files`} onClick={() => onPick('files')}>
        files
      </button>
    </span>
  );
}

export function ExportPanel() {
  const methods = useRunStore((s) => s.methods);
  const phase = useRunStore((s) => s.phase);
  const series = useRunStore((s) => s.series);
  const infos = useSettingsStore((s) => s.methods);
  const trainedWeights = useTrainedWeights(
    "export this run's trained methods",
    'runs are saved without weights, and a new model releases them. Run again (Saved runs) to export its adapters or merged models.',
  );
  const runName = useRunStore((s) => s.record?.name ?? 'run');
  const overlay = useSavedRunsStore((s) => s.overlay);
  const { busy, outcome, exportMethod, downloadScript, downloadCurves, downloadReport } = useExportStore();
  const [charts, setCharts] = useState<PageChart[]>([]);
  const [chartId, setChartId] = useState('');
  const [chartError, setChartError] = useState<string | null>(null);

  // Charts are found in the page once it has drawn them.
  useEffect(() => {
    const id = requestAnimationFrame(() => setCharts(pageCharts()));
    return () => cancelAnimationFrame(id);
  }, [series, overlay, methods]);

  if (methods.length === 0) return null;
  const active = ACTIVE.includes(phase);
  const weightsWhy = active ? 'Wait for the run to finish (or stop it).' : trainedWeights.why;
  const order = infos.map((m) => m.id);
  const chart = charts.find((c) => c.id === chartId) ?? charts[0];

  const saveChart = async (kind: 'svg' | 'png') => {
    if (!chart) return;
    setChartError(null);
    try {
      const base = `${
        runName
          .replace(/[^A-Za-z0-9._-]+/g, '-')
          .replace(/^-+|-+$/g, '')
          .slice(0, 60) || 'run'
      }-${chart.id}`;
      if (kind === 'svg') downloadText(`${base}.svg`, chartSvg(chart), 'image/svg+xml');
      else downloadBlob(`${base}.png`, await chartPng(chart));
    } catch (error) {
      setChartError(errorMessage(error));
    }
  };

  return (
    <section className="panel" aria-labelledby="export-title" data-testid="export-panel">
      <h2 id="export-title">Export</h2>
      <RunTag />
      <div className="table-scroll">
        <table className="grid export-table">
          <thead>
            <tr>
              <th scope="col">Method</th>
              <th scope="col">PEFT adapter</th>
              <th scope="col">Merged model</th>
              <th scope="col">PEFT/TRL script</th>
            </tr>
          </thead>
          <tbody>
            {methods.map((id) => {
              const info = infos.find((m) => m.id === id);
              const label = info?.label ?? id;
              const refusal = info?.peftRefusal;
              return (
                <tr key={id} data-testid={`export-${id}`}>
                  <td>
                    <SeriesSwatch series={methodStyle(id, order)} width={20} />
                    {label}
                  </td>
                  <td>
                    {refusal ? (
                      <span className="muted small" title={refusal}>
                        no LoRA form
                      </span>
                    ) : (
                      <PackButtons
                        what={`the ${label} PEFT adapter`}
                        disabled={busy !== null || weightsWhy !== undefined}
                        why={weightsWhy}
                        onPick={(p) => void exportMethod(id, 'peft', p)}
                      />
                    )}
                  </td>
                  <td>
                    <PackButtons
                      what={`the ${label} merged model`}
                      disabled={busy !== null || weightsWhy !== undefined}
                      why={weightsWhy}
                      onPick={(p) => void exportMethod(id, 'merged', p)}
                    />
                  </td>
                  <td>
                    <button type="button" aria-label={`Download a training script for ${label}`} onClick={() => void downloadScript(id)}>
                      train_{id}.py
                    </button>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {weightsWhy && !active && (
        <p className="muted small" data-testid="export-no-weights">
          {weightsWhy}
        </p>
      )}
      <div className="export-row">
        <span className="muted small">Comparison:</span>
        <button type="button" onClick={() => downloadCurves('csv')}>
          Curves CSV
        </button>
        <button type="button" onClick={() => downloadCurves('json')}>
          Curves JSON
        </button>
        <button type="button" onClick={() => downloadReport(pageCharts().map((c) => ({ title: c.title, svg: inlineSvg(c) })))}>
          HTML report
        </button>
      </div>
      <div className="export-row">
        <label htmlFor="export-chart" className="muted small">
          Chart:
        </label>
        <select id="export-chart" value={chart?.id ?? ''} onChange={(e) => setChartId(e.target.value)} disabled={charts.length === 0}>
          {charts.length === 0 && <option value="">no chart drawn yet</option>}
          {charts.map((c) => (
            <option key={c.id} value={c.id}>
              {c.title}
            </option>
          ))}
        </select>
        <button type="button" disabled={!chart} onClick={() => void saveChart('svg')}>
          SVG
        </button>
        <button type="button" disabled={!chart} onClick={() => void saveChart('png')}>
          PNG
        </button>
      </div>
      {busy && (
        <p className="muted small" role="status">
          {busy}
        </p>
      )}
      {(outcome || chartError) && (
        <p
          className={outcome?.ok && !chartError ? 'result pass small' : 'result fail small'}
          role={outcome?.ok && !chartError ? 'status' : 'alert'}
          data-testid="export-outcome"
        >
          {chartError ?? outcome?.text}
        </p>
      )}
    </section>
  );
}
