// The Study tab: the reference study (docs/results.json, as `npm run study` wrote it) without
// running it. The file is a separate asset fetched when the tab opens; then the setup, the
// learning-rate sweep, and per task the results table, the loss curves with seed bands, the Pareto
// plot, a few generated answers, the paper-claim table and the quantization errors, all reduced over seeds by
// src/study/aggregate.ts.

import { useEffect, useMemo, useState } from 'react';
import resultsUrl from '../../docs/results.json?url';
import { BASE_ID, claimResults, methodLabel, peakScope, quantClaimResults, runPeakBytes, seedBands, studyDatasets, summarize } from '../study/aggregate';
import type { DatasetId, StudyJson } from '../study/results';
import { engineClient, useEngineStore } from '../state/engineStore';
import { useSettingsStore } from '../state/settingsStore';
import type { MethodInfo } from '../worker/protocol';
import { MetricChart } from './MetricChart';
import { methodStyle, type ChartSeries } from './methodColors';
import { StudyClaims, StudyQuant } from './StudyClaims';
import { StudyPareto } from './StudyPareto';
import { StudyResultsTable } from './StudyResultsTable';
import { StudySamples } from './StudySamples';
import { StudySetup } from './StudySetup';
import { StudySweep } from './StudySweep';
import { loadStudy } from './studyLoad';
import { formatBytes } from './format';
import { bandRows, formatStat, studyOrder, withRegistryInfo } from './studyView';

type Load = { readonly state: 'loading' } | { readonly state: 'failed'; readonly message: string } | { readonly state: 'ready'; readonly study: StudyJson };

/** Chart series ids of the Study view, apart from the studio's own (hiding a line here hides it only in the study's charts). */
const seriesKey = (id: string) => `study:${id}`;

export function StudyView() {
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  const [attempt, setAttempt] = useState(0);
  useEffect(() => {
    let live = true;
    setLoad({ state: 'loading' });
    loadStudy(resultsUrl).then(
      (study) => live && setLoad({ state: 'ready', study }),
      (e: unknown) => live && setLoad({ state: 'failed', message: e instanceof Error ? e.message : String(e) }),
    );
    return () => {
      live = false;
    };
  }, [attempt]);

  if (load.state === 'loading') {
    return (
      <section className="panel" data-testid="study-loading" aria-busy="true">
        <h2>Reference study</h2>
        <p className="muted">Loading the study's results (docs/results.json)…</p>
      </section>
    );
  }
  if (load.state === 'failed') {
    return (
      <div className="banner error" role="alert" data-testid="study-error">
        The reference study could not be shown: {load.message}{' '}
        <button type="button" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </div>
    );
  }
  return <StudyReport file={load.study} />;
}

/**
 * The registry's method list (labels, families, claims, colour order): the studio's, or, when the
 * Study tab is opened before the Studio tab has fetched it, asked of the engine once it is up.
 * Without an engine the view still works, with method ids for names.
 */
function useRegistryInfos(): readonly MethodInfo[] {
  const infos = useSettingsStore((s) => s.methods);
  const ready = useEngineStore((s) => s.status === 'ready');
  const [own, setOwn] = useState<readonly MethodInfo[]>([]);
  const missing = infos.length === 0;
  useEffect(() => {
    if (!ready || !missing) return;
    let live = true;
    engineClient()
      .call('methods', {})
      .then(
        (list) => live && setOwn(list),
        () => undefined,
      );
    return () => {
      live = false;
    };
  }, [ready, missing]);
  return missing ? own : infos;
}

function StudyReport({ file }: { file: StudyJson }) {
  const infos = useRegistryInfos();
  const study = useMemo(() => withRegistryInfo(file, infos), [file, infos]);
  const order = useMemo(
    () =>
      studyOrder(
        infos.map((m) => m.id),
        study,
      ),
    [infos, study],
  );
  const label = (id: string) => methodLabel(study, id);
  const tasks = useMemo(() => studyDatasets(study), [study]);
  const [picked, setPicked] = useState<DatasetId | null>(null);
  const task = picked && tasks.includes(picked) ? picked : tasks[0];
  const summaries = useMemo(() => summarize(study), [study]);
  const claims = useMemo(() => claimResults(study), [study]);
  const quantClaims = useMemo(() => quantClaimResults(study), [study]);
  const info = study.datasets.find((d) => d.id === task);
  const rows = summaries.filter((s) => s.dataset === task);
  const peak = task === undefined ? undefined : runPeakBytes(study, task);

  return (
    <div className="study" data-testid="study-view">
      <StudySetup study={study} label={label} />
      {study.lrSweep && <StudySweep sweep={study.lrSweep} label={label} family={(id) => study.config.methodInfo?.[id]?.family} order={order} />}
      {task === undefined ? (
        <p className="panel muted">This results file holds no finished run yet.</p>
      ) : (
        <section className="panel" aria-labelledby="study-task-title" data-testid="study-task">
          <div className="panel-head">
            <h2 id="study-task-title">Results per task</h2>
            <div className="study-tasks" role="group" aria-label="Task">
              {tasks.map((t) => (
                <button key={t} type="button" className={t === task ? 'tab active' : 'tab'} aria-pressed={t === task} onClick={() => setPicked(t)}>
                  {t}
                </button>
              ))}
            </div>
          </div>
          {info && <p className="muted small">{info.describe}</p>}
          <StudyResultsTable rows={rows} order={order} />
          <p className="muted small">
            Mean ± sample standard deviation over the seeds (n) of each method; one seed shows its value alone, '–' marks what this results file did not
            measure. Losses in nats per completion token; accuracy by exact match; memory excludes the shared base.
            {peak && task && ` Measured GPU peak of a run (${peakScope(study, task)}): ${formatStat(peak, formatBytes)}.`}
          </p>
          <div className="study-charts">
            <StudyCurves study={study} task={task} order={order} />
            <StudyPareto rows={rows} order={order} />
          </div>
          <StudySamples runs={study.runs.filter((r) => r.dataset === task)} label={label} />
          <h3>Paper claims on {task}</h3>
          <StudyClaims claims={claims.filter((c) => c.dataset === task)} label={label} />
        </section>
      )}
      {study.quant && (
        <section className="panel" aria-labelledby="study-quant-title">
          <h2 id="study-quant-title">Quantization error at init (seed {study.quant.seed})</h2>
          <StudyQuant quant={study.quant} claims={quantClaims} label={label} infos={infos} />
        </section>
      )}
    </div>
  );
}

/** The loss charts of a task: validation at its evaluation steps (with markers), training smoothed over a few steps. */
const CURVES = [
  { series: 'validation', title: 'Validation loss', unit: 'nats/token', testId: 'study-val-chart', dots: true },
  { series: 'train', title: 'Training loss', unit: 'nats/token, smoothed', testId: 'study-train-chart', dots: false },
] as const;

/** Above this many methods the bands cover each other, so they start hidden. */
const BANDS_UP_TO = 8;

function StudyCurves({ study, task, order }: { study: StudyJson; task: DatasetId; order: readonly string[] }) {
  const [bandsChosen, setBands] = useState<boolean | null>(null);
  const methods = study.config.methods.length;
  const bands = bandsChosen ?? methods <= BANDS_UP_TO;
  const charts = useMemo(
    () =>
      CURVES.map((c) => {
        const curves = seedBands(study, task, c.series).filter((b) => b.method !== BASE_ID);
        const rows = bandRows(
          curves.map((b) => ({ method: seriesKey(b.method), points: b.points })),
          false,
          bands,
        );
        const series: ChartSeries[] = curves.map((b) => ({ id: seriesKey(b.method), label: b.label, ...methodStyle(b.method, order) }));
        return { ...c, rows, series };
      }),
    [study, task, order, bands],
  );
  return (
    <div className="study-curves">
      <label className="small study-bands">
        <input type="checkbox" checked={bands} onChange={(e) => setBands(e.target.checked)} /> Shade ±1 standard deviation over seeds
      </label>
      {charts.map((c) => (
        <MetricChart
          key={c.testId}
          title={c.title}
          unit={c.unit}
          rows={c.rows}
          methods={c.series}
          log={false}
          testId={c.testId}
          dots={c.dots}
          note={c.dots ? `Mean over seeds${bands ? '; shaded: ±1 standard deviation where two or more seeds ran' : ''}.` : undefined}
        />
      ))}
    </div>
  );
}
