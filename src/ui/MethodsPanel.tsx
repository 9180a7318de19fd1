// Step 4: which methods, each with its own settings form built from the registry's schema, and
// the planning estimate (trainable parameters, memory) for the current settings and model. Each
// method is one compact row (box, line style, estimate); its description and settings open on
// demand, and on their own when the method is ticked. A ticked row that is closed says which
// settings differ from the paper's defaults.

import { useEffect, useMemo } from 'react';
import { useEngineStore } from '../state/engineStore';
import { useModelStore } from '../state/modelStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import type { MethodEstimate, MethodInfo, SettingValue } from '../worker/protocol';
import { formatBytes, formatCount } from './format';
import { comparisonMemory } from './memoryPlan';
import { methodStyle, type SeriesStyle } from './methodColors';
import { SeriesSwatch } from './SeriesSwatch';
import { SettingField } from './SettingField';
import { SetupSection } from './SetupSection';

/** "Rank r 4, Iterations T 2", or "paper defaults". */
function changedSettings(method: MethodInfo, settings: Readonly<Record<string, SettingValue>>): string {
  const changed = method.settings.filter((spec) => settings[spec.key] !== undefined && settings[spec.key] !== spec.default);
  return changed.length === 0 ? 'paper defaults' : changed.map((spec) => `${spec.label} ${String(settings[spec.key])}`).join(', ');
}

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
    return comparisonMemory(enabled, gpu?.limits ?? null, deviceMemory, shared.seeds);
  }, [estimates, choices, gpu, shared.seeds]);

  const order = methods.map((m) => m.id);
  const ticked = methods.filter((m) => choices[m.id]?.enabled).map((m) => m.label);
  return (
    <SetupSection
      id="methods"
      title="Methods"
      testId="methods-panel"
      summary={`${ticked.length === 0 ? 'none ticked' : ticked.join(', ')}${plan ? ` · ≈${formatBytes(plan.totalBytes)}` : ''}`}
    >
      {methods.length === 0 && <p className="muted">Waiting for the engine…</p>}
      <ul className="methods">
        {methods.map((m) => (
          <MethodItem key={m.id} method={m} look={methodStyle(m.id, order)} estimate={estimates.find((e) => e.id === m.id)} disabled={busy} />
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
          {plan.notes.map((text) => (
            <p key={text} className="small" data-testid="memory-plan-note">
              {text}
            </p>
          ))}
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
    </SetupSection>
  );
}

function MethodItem({ method, look, estimate, disabled }: { method: MethodInfo; look: SeriesStyle; estimate?: MethodEstimate; disabled: boolean }) {
  const choice = useSettingsStore((s) => s.choices[method.id]);
  const open = useSettingsStore((s) => s.expandedMethods.includes(method.id));
  const toggle = useSettingsStore((s) => s.toggleMethod);
  const setExpanded = useSettingsStore((s) => s.setMethodExpanded);
  const setSetting = useSettingsStore((s) => s.setMethodSetting);
  const reset = useSettingsStore((s) => s.resetMethod);
  if (!choice) return null;
  const id = `method-${method.id}`;
  return (
    <li className={choice.enabled ? 'method on' : 'method'} style={{ borderLeftColor: choice.enabled ? look.color : undefined }}>
      <div className="method-head">
        <label htmlFor={id} className="check">
          <input
            id={id}
            type="checkbox"
            checked={choice.enabled}
            disabled={disabled}
            onChange={(e) => {
              toggle(method.id, e.target.checked);
              setExpanded(method.id, e.target.checked);
            }}
            aria-describedby={`${id}-summary`}
          />
          <strong>{method.label}</strong>
        </label>
        <SeriesSwatch series={look} width={22} />
        {estimate && (
          <span
            className={estimate.problem ? 'estimate fail' : 'estimate'}
            data-testid={`estimate-${method.id}`}
            title={
              estimate.problem ?? `${formatCount(estimate.trainableParams)} trainable parameters, ≈${formatBytes(estimate.totalBytes)} of GPU memory (planned)`
            }
          >
            {estimate.problem ?? `${formatCount(estimate.trainableParams)} trainable · ≈${formatBytes(estimate.totalBytes)}`}
          </span>
        )}
        <button
          type="button"
          className="method-open"
          aria-expanded={open}
          aria-controls={`${id}-details`}
          aria-label={`${method.label}: description and settings`}
          title={open ? 'Close' : 'Description and settings'}
          onClick={() => setExpanded(method.id, !open)}
        >
          <span aria-hidden>{open ? '▾' : '▸'}</span>
        </button>
      </div>
      {choice.enabled && !open && method.settings.length > 0 && <p className="muted small method-brief">{changedSettings(method, choice.settings)}</p>}
      <div id={`${id}-details`} hidden={!open}>
        <p id={`${id}-summary`} className="muted small summary" title={method.paper}>
          {method.summary}
        </p>
        {method.settings.length > 0 && (
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
      </div>
    </li>
  );
}
