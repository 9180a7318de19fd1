// Step 4: which methods, each with its own settings form built from the registry's schema, and
// the planning estimate (trainable parameters, memory) for the current settings and model.

import { useEffect, useMemo } from 'react';
import { useEngineStore } from '../state/engineStore';
import { useModelStore } from '../state/modelStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import type { MethodEstimate, MethodInfo } from '../worker/protocol';
import { formatBytes, formatCount } from './format';
import { comparisonMemory } from './memoryPlan';
import { methodColor } from './methodColors';
import { SettingField } from './SettingField';

export function MethodsPanel() {
  const methods = useSettingsStore((s) => s.methods);
  const choices = useSettingsStore((s) => s.choices);
  const shared = useSettingsStore((s) => s.shared);
  const estimates = useModelStore((s) => s.estimates);
  const card = useModelStore((s) => s.card);
  const refreshEstimates = useModelStore((s) => s.refreshEstimates);
  const busy = useRunStore((s) => s.phase === 'initialising' || s.phase === 'running' || s.phase === 'paused' || s.phase === 'stopping');

  useEffect(() => {
    if (!card) return;
    const t = setTimeout(() => {
      void refreshEstimates({
        methods: methods.map((m) => ({ id: m.id, settings: choices[m.id]?.settings ?? {} })),
        targets: shared.targets,
        batch: shared.batch,
        seqLen: shared.seqLen,
        checkpointing: shared.checkpointing,
      });
    }, 200);
    return () => clearTimeout(t);
  }, [card, methods, choices, shared.targets, shared.batch, shared.seqLen, shared.checkpointing, refreshEstimates]);

  const gpu = useEngineStore((s) => s.gpu);
  const plan = useMemo(() => {
    const enabled = estimates.filter((e) => choices[e.id]?.enabled && !e.problem);
    const deviceMemory = (navigator as Navigator & { deviceMemory?: number }).deviceMemory;
    return comparisonMemory(enabled, gpu?.limits ?? null, deviceMemory);
  }, [estimates, choices, gpu]);

  const order = methods.map((m) => m.id);
  return (
    <section className="panel" aria-labelledby="methods-title" data-testid="methods-panel">
      <h2 id="methods-title">Methods</h2>
      {methods.length === 0 && <p className="muted">Waiting for the engine…</p>}
      <ul className="methods">
        {methods.map((m) => (
          <MethodItem key={m.id} method={m} color={methodColor(m.id, order)} estimate={estimates.find((e) => e.id === m.id)} disabled={busy} />
        ))}
      </ul>
      {plan && (
        <div className="memory-plan" data-testid="memory-plan">
          <p className="small">
            Chosen methods together: <strong>≈{formatBytes(plan.totalBytes)}</strong> of GPU memory (the base once, each method's own tensors and AdamW state,
            one step's activations at a time).
          </p>
          <p className="small" data-testid="memory-plan-choices">
            Without activation checkpointing ≈{formatBytes(plan.plainBytes)}; with it ≈{formatBytes(plan.checkpointedBytes)}
            {shared.checkpointing ? ' (chosen)' : ''}.
          </p>
          {[...plan.errors, ...plan.warnings].map((text) => (
            <p key={text} role="alert" className={plan.errors.includes(text) ? 'error-text small' : 'warn-text small'}>
              {text}
            </p>
          ))}
        </div>
      )}
      <p className="muted small">
        Estimates are planned from the shapes (not measured): base weights, trainable parameters with gradients and AdamW moments, activations for one step at B
        × T.
      </p>
    </section>
  );
}

function MethodItem({ method, color, estimate, disabled }: { method: MethodInfo; color: string; estimate?: MethodEstimate; disabled: boolean }) {
  const choice = useSettingsStore((s) => s.choices[method.id]);
  const toggle = useSettingsStore((s) => s.toggleMethod);
  const setSetting = useSettingsStore((s) => s.setMethodSetting);
  const reset = useSettingsStore((s) => s.resetMethod);
  if (!choice) return null;
  const id = `method-${method.id}`;
  return (
    <li className={choice.enabled ? 'method on' : 'method'} style={{ borderLeftColor: color }}>
      <div className="method-head">
        <label htmlFor={id} className="check">
          <input
            id={id}
            type="checkbox"
            checked={choice.enabled}
            disabled={disabled}
            onChange={(e) => toggle(method.id, e.target.checked)}
            aria-describedby={`${id}-summary`}
          />
          <strong>{method.label}</strong>
        </label>
        {estimate && (
          <span className={estimate.problem ? 'estimate fail' : 'estimate'} data-testid={`estimate-${method.id}`}>
            {estimate.problem ?? `${formatCount(estimate.trainableParams)} trainable · ≈${formatBytes(estimate.totalBytes)}`}
          </span>
        )}
      </div>
      <p id={`${id}-summary`} className="muted small summary" title={method.paper}>
        {method.summary}
      </p>
      {choice.enabled && method.settings.length > 0 && (
        <fieldset className="method-settings" disabled={disabled}>
          <legend className="sr-only">{method.label} settings</legend>
          {method.settings.map((spec) => (
            <SettingField
              key={spec.key}
              idPrefix={id}
              spec={spec}
              value={choice.settings[spec.key] ?? spec.default}
              onChange={(v) => setSetting(method.id, spec.key, v)}
            />
          ))}
          <button type="button" className="link small" onClick={() => reset(method.id)}>
            Paper defaults
          </button>
        </fieldset>
      )}
    </li>
  );
}
