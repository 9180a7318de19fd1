// Step 6, the method-specific checks: SORSA's orthonormality deviation over the steps, SPP's
// sparsity check (the merged weights' exact zeros must stay at the pruned count), the trainable
// parameters of each method beside those of the method its paper compares with (MethodInfo.claims;
// e.g. LoRA-SB's r×r matrices against LoRA's factors) where they differ, and every method's
// learning rate and GPU memory.

import { useMemo } from 'react';
import { useDiagnosticsStore } from '../state/diagnosticsStore';
import { useModelStore } from '../state/modelStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import type { SparsityCheck } from '../worker/protocol';
import { stepRows } from './chartData';
import { diagRows, memoryRows } from './diagData';
import { formatCount } from './format';
import { methodSeries } from './methodColors';
import { MetricChart } from './MetricChart';
import { RunTag } from './RunTag';

const POOL = { id: 'pool', label: 'GPU pool, live (all methods)', color: '#98a2b0' };

function SparsityLine({ label, check }: { label: string; check: SparsityCheck }) {
  const kept = check.zeros === check.prunedZeros;
  return (
    <li data-testid="sparsity-value" data-fraction={check.fraction} data-expected={check.expected} data-kept={kept}>
      <strong>{label}</strong>: {(check.fraction * 100).toFixed(2)} % exact zeros ({formatCount(check.zeros)} of {formatCount(check.total)} merged weights); set
      ratio {(check.expected * 100).toFixed(2)} %;{' '}
      <span className={kept ? 'pass' : 'fail'}>
        {kept ? '✓ the same zeros as the pruned copies at init' : `✗ ${formatCount(check.prunedZeros)} zeros at init`}
      </span>
    </li>
  );
}

export function MethodChecks() {
  const methodIds = useRunStore((s) => s.methods);
  const series = useRunStore((s) => s.series);
  const ready = useRunStore((s) => s.ready);
  const points = useDiagnosticsStore((s) => s.points);
  const estimates = useModelStore((s) => s.estimates);
  const infos = useSettingsStore((s) => s.methods);
  const order = infos.map((m) => m.id);
  const label = (id: string) => infos.find((m) => m.id === id)?.label ?? id;
  const methods = methodIds.map((id) => methodSeries(id, label(id), order));

  const orthoIds = methodIds.filter((id) => (points[id] ?? []).some((p) => p.ortho !== undefined));
  const sparseIds = methodIds.filter((id) => (points[id] ?? []).some((p) => p.sparsity !== undefined));
  const ortho = useMemo(() => diagRows(points, orthoIds, (p) => p.ortho), [points, orthoIds]);
  const sparsity = useMemo(() => diagRows(points, sparseIds, (p) => (p.sparsity ? p.sparsity.fraction * 100 : undefined)), [points, sparseIds]);
  const lr = useMemo(() => stepRows(series, methodIds, (p) => p.lr, 0, false), [series, methodIds]);
  const bytes = useMemo(() => Object.fromEntries(Object.entries(ready).map(([id, r]) => [id, r.bytes])), [ready]);
  const memory = useMemo(() => memoryRows(series, points, bytes, methodIds), [series, points, bytes, methodIds]);
  if (methodIds.length === 0) return null;

  // Trainable parameters against each claim's method: measured where it runs, else planned.
  const countOf = (id: string) => ready[id]?.trainableParams ?? estimates.find((e) => e.id === id)?.trainableParams;
  const paramLines = methodIds.flatMap((id) => {
    const own = ready[id]?.trainableParams;
    const claims = infos.find((m) => m.id === id)?.claims ?? [];
    return own === undefined
      ? []
      : [...new Set(claims.map((c) => c.against))].flatMap((against) => {
          const other = countOf(against);
          return other === undefined || other === own ? [] : [{ id, own, against, other, planned: ready[against] === undefined }];
        });
  });

  return (
    <section className="panel" aria-labelledby="checks-title" data-testid="method-checks">
      <h2 id="checks-title">Method checks</h2>
      <RunTag />
      <div className="chart-grid">
        {orthoIds.length > 0 && (
          <MetricChart
            title="SORSA orthonormality deviation"
            unit="mean ‖AAᵀ−I‖_F, ‖BᵀB−I‖_F"
            rows={ortho}
            methods={methods.filter((m) => orthoIds.includes(m.id))}
            log={false}
            testId="chart-ortho"
            dots
          />
        )}
        {sparseIds.length > 0 && (
          <MetricChart
            title="SPP sparsity of the merged weights"
            unit="% exact zeros"
            rows={sparsity}
            methods={methods.filter((m) => sparseIds.includes(m.id))}
            log={false}
            testId="chart-sparsity"
            dots
          />
        )}
        <MetricChart title="Learning rate" unit="per step, after warmup and schedule" rows={lr} methods={methods} log={false} testId="chart-lr" />
        <MetricChart
          title="GPU memory"
          unit="MiB: adapter, owned bases, AdamW; and the pool's live total"
          rows={memory}
          methods={[...methods, POOL]}
          log={false}
          testId="chart-memory"
        />
      </div>
      {orthoIds.length > 0 && (
        <p className="small" data-testid="ortho-value">
          {orthoIds.map((id) => {
            const last = [...(points[id] ?? [])].reverse().find((p) => p.ortho !== undefined);
            return last ? `${label(id)}: deviation ${last.ortho!.toExponential(3)} at step ${last.step}. ` : '';
          })}
          <span className="muted">0 means A’s rows and B’s columns are orthonormal; SORSA’s regulariser (γ) pulls them back.</span>
        </p>
      )}
      {sparseIds.length > 0 && (
        <ul className="small plain">
          {sparseIds.map((id) => {
            const last = [...(points[id] ?? [])].reverse().find((p) => p.sparsity !== undefined);
            return last?.sparsity ? <SparsityLine key={id} label={`${label(id)} at step ${last.step}`} check={last.sparsity} /> : null;
          })}
        </ul>
      )}
      {paramLines.length > 0 && (
        <ul className="small plain" data-testid="param-counts">
          {paramLines.map((l) => (
            <li key={`${l.id}:${l.against}`} data-testid={`params-${l.id}-${l.against}`}>
              {label(l.id)} trains {formatCount(l.own)} parameters; {label(l.against)} at its current settings trains {formatCount(l.other)} (
              {l.other > l.own ? `${(l.other / Math.max(1, l.own)).toFixed(1)}× more` : `${(l.own / Math.max(1, l.other)).toFixed(1)}× fewer`})
              {l.planned ? ', planned' : ''}.
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
