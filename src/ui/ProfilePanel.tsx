// The Benchmark tab's profile of training steps: the same report `npm run bench -- --profile`
// prints, run in the worker on the loaded model. Per step: dispatches, bind groups, buffers
// created, bytes written, pipelines compiled, submits, CPU recording vs GPU time; per method the
// kernels with the most GPU time and their FLOP/s and bytes/s ("—" where a kernel states no cost).

import { useState } from 'react';
import { useEngineStore } from '../state/engineStore';
import { useModelStore } from '../state/modelStore';
import { useProfileStore } from '../state/profileStore';
import { useSettingsStore } from '../state/settingsStore';
import type { MethodInfo, ProfileMethod, ProfileReport, ProfileStep } from '../worker/protocol';
import { NumberInput } from './NumberInput';

/**
 * Ticked at first: an adapter step against a full step, i.e. the first low-rank method and the
 * first dense one (LoRA and full fine-tuning, as `npm run bench -- --profile` defaults to).
 */
function defaultProfileMethods(methods: readonly MethodInfo[]): ReadonlySet<string> {
  return new Set((['low-rank', 'dense'] as const).flatMap((family) => methods.find((m) => m.family === family)?.id ?? []));
}

/** 1234567 → "1.23 M" (with a unit); null → "—". */
function si(value: number | null, unit = ''): string {
  if (value === null || !Number.isFinite(value)) return '—';
  if (value === 0) return `0 ${unit}`.trim();
  const abs = Math.abs(value);
  const [scale, prefix] = abs >= 1e12 ? [1e12, 'T'] : abs >= 1e9 ? [1e9, 'G'] : abs >= 1e6 ? [1e6, 'M'] : abs >= 1e3 ? [1e3, 'k'] : [1, ''];
  const x = value / scale;
  return `${x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2)} ${prefix}${unit}`.trim();
}

function ms(value: number | null, digits = 1): string {
  return value === null || !Number.isFinite(value) ? '—' : value.toFixed(digits);
}

function StepRows({ steps, method }: { steps: readonly ProfileStep[]; method?: string }) {
  return (
    <>
      {steps.map((s) => (
        <tr key={`${method ?? ''}:${s.step}`}>
          {method !== undefined && <td>{method}</td>}
          <td className="num">{s.step}</td>
          <td>{s.phase}</td>
          <td className="num">{s.counters.dispatches}</td>
          <td className="num">{s.counters.bindGroups}</td>
          <td className="num" data-testid="profile-buffers">
            {s.counters.buffersCreated}
          </td>
          <td className="num">{si(s.counters.bytesWritten, 'B')}</td>
          <td className="num">{s.counters.pipelinesCompiled}</td>
          <td className="num">{s.counters.submits}</td>
          <td className="num">{ms(s.cpuRecordMs)}</td>
          <td className="num">{ms(s.gpuMs)}</td>
          <td className="num">{ms(s.wallMs)}</td>
        </tr>
      ))}
    </>
  );
}

function StepHead({ withMethod }: { withMethod?: boolean }) {
  return (
    <thead>
      <tr>
        {withMethod && <th>Method</th>}
        <th className="num">Step</th>
        <th>Phase</th>
        <th className="num">Dispatches</th>
        <th className="num">Bind groups created</th>
        <th className="num">Buffers created</th>
        <th className="num">Bytes written</th>
        <th className="num">Pipelines compiled</th>
        <th className="num">Submits</th>
        <th className="num">CPU record ms</th>
        <th className="num">GPU ms</th>
        <th className="num">Wall ms</th>
      </tr>
    </thead>
  );
}

function MethodReport({ m, report }: { m: ProfileMethod; report: ProfileReport }) {
  const s = m.summary;
  const top = m.kernels.slice(0, report.topKernels);
  return (
    <div data-testid={`profile-method-${m.method}`}>
      <h3>
        {m.method} <span className="muted small">({m.trainableParams.toLocaleString('en-US')} trainable)</span>
      </h3>
      <p className="small">
        Steady state per step: {s.dispatches.toFixed(0)} dispatches, {s.bindGroups.toFixed(0)} bind groups created, {s.buffersCreated.toFixed(1)} buffers
        created, {s.pipelinesCompiled.toFixed(1)} pipelines compiled, {si(s.bytesWritten, 'B')} written, {s.submits.toFixed(1)} submits. CPU recording{' '}
        {ms(s.cpuRecordMs)} ms (plain), GPU {ms(s.gpuMs)} ms, wall {ms(s.wallMs)} ms.
      </p>
      <table className="grid results">
        <StepHead />
        <tbody>
          <StepRows steps={m.steps} />
        </tbody>
      </table>
      <table className="grid results" data-testid="profile-kernels">
        <caption className="small muted">
          Top {top.length} of {m.kernels.length} kernels by {report.gpuClock === 'timestamp-query' ? 'GPU time' : 'FLOPs (no per-kernel times)'}, per timed step
        </caption>
        <thead>
          <tr>
            <th>Kernel</th>
            <th className="num">Calls</th>
            <th className="num">GPU ms</th>
            <th className="num">Share</th>
            <th className="num">FLOP/s</th>
            <th className="num">Bytes/s</th>
            <th>Slowest dispatch</th>
          </tr>
        </thead>
        <tbody>
          {top.map((k) => (
            <tr key={k.kernel}>
              <td>{k.kernel}</td>
              <td className="num">{k.calls % 1 === 0 ? k.calls : k.calls.toFixed(1)}</td>
              <td className="num">{ms(k.ms, 2)}</td>
              <td className="num">{k.share === null ? '—' : `${(100 * k.share).toFixed(1)} %`}</td>
              <td className="num">{si(k.flopsPerSecond, 'FLOP/s')}</td>
              <td className="num">{si(k.bytesPerSecond, 'B/s')}</td>
              <td className="small" title={k.slowest}>
                {k.slowest.length > 60 ? `${k.slowest.slice(0, 59)}…` : k.slowest}
                {k.slowestMs === null ? '' : ` (${k.slowestMs.toFixed(2)} ms)`}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function ProfilePanel() {
  const ready = useEngineStore((s) => s.status === 'ready');
  const isSoftware = useEngineStore((s) => s.gpu?.isSoftware ?? false);
  const hasTimestamps = useEngineStore((s) => s.gpu?.features.timestampQuery ?? false);
  const modelName = useModelStore((s) => s.card?.name ?? null);
  const { job, report, live, runProfile } = useProfileStore();
  const offered = useSettingsStore((s) => s.methods);
  // null until the user changes the ticks: the defaults follow the method list once it arrives.
  const [picked, setMethods] = useState<ReadonlySet<string> | null>(null);
  const methods = picked ?? defaultProfileMethods(offered);
  const [batch, setBatch] = useState(4);
  const [seqLen, setSeqLen] = useState(64);
  const [steps, setSteps] = useState(isSoftware ? 1 : 3);
  const [timestamps, setTimestamps] = useState(true);
  const running = job.state === 'running';

  const toggle = (id: string) => {
    const next = new Set(methods);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setMethods(next);
  };
  const chosen = offered.filter((m) => methods.has(m.id)).map((m) => m.id);

  return (
    <section className="panel wide" aria-labelledby="profile-title" data-testid="profile-panel">
      <h2 id="profile-title">Profile a training step</h2>
      <p className="muted">
        Runs 2 warm-up steps, then plain steps (CPU and wall time without profiling) and timed steps (GPU time per dispatch
        {hasTimestamps ? ' from timestamp queries, one compute pass per dispatch' : '; this adapter has no timestamp-query, so GPU time is wall-clock'}) on{' '}
        {modelName ?? 'the loaded model'} with a synthetic batch. Waits for a running comparison to finish.
        {isSoftware && ' On this software adapter a step takes seconds to tens of seconds.'}
      </p>
      <div className="field-row">
        {offered.map((m) => (
          <label key={m.id}>
            <input type="checkbox" checked={methods.has(m.id)} onChange={() => toggle(m.id)} disabled={running} /> {m.label}
          </label>
        ))}
        <label htmlFor="profile-batch">B</label>
        <NumberInput id="profile-batch" value={batch} onChange={setBatch} min={1} max={64} integer disabled={running} />
        <label htmlFor="profile-seq">T</label>
        <NumberInput id="profile-seq" value={seqLen} onChange={setSeqLen} min={2} max={2048} integer disabled={running} />
        <label htmlFor="profile-steps">Timed steps</label>
        <NumberInput id="profile-steps" value={steps} onChange={setSteps} min={1} max={20} integer disabled={running} />
        {hasTimestamps && (
          <label>
            <input type="checkbox" checked={timestamps} onChange={(e) => setTimestamps(e.target.checked)} disabled={running} /> Timestamp queries
          </label>
        )}
      </div>
      <div>
        <button
          className="primary"
          data-testid="profile-run"
          disabled={!ready || running || chosen.length === 0 || modelName === null}
          onClick={() => void runProfile({ methods: chosen, batchSize: batch, seqLen, steps, warmup: 2, timestamps })}
        >
          {running ? 'Profiling…' : 'Profile a training step'}
        </button>{' '}
        {job.state === 'running' && <span className="muted small">{job.text}</span>}
      </div>
      {job.state === 'failed' && (
        <p className="result fail" role="alert">
          Profile failed: {job.message}
        </p>
      )}
      {running && live.length > 0 && (
        <table className="grid results">
          <StepHead withMethod />
          <tbody>
            {live.map(({ method, step }) => (
              <StepRows key={`${method}:${step.step}`} steps={[step]} method={method} />
            ))}
          </tbody>
        </table>
      )}
      {!running && report && (
        <div data-testid="profile-report">
          <p className="small muted">
            {report.model}, B={report.batchSize}, T={report.seqLen}, adapter {report.adapter}. GPU clock: {report.clockNote}.
          </p>
          {report.methods.map((m) => (
            <MethodReport key={m.method} m={m} report={report} />
          ))}
        </div>
      )}
    </section>
  );
}
