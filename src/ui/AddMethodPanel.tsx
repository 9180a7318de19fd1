// "Add method" in the run bar. While a comparison runs or is paused, another method (with the
// settings its form holds) initialises and then trains on the same batch sequence from the next
// step on; its curves start at that step. Before a run, adding a method means ticking it: the
// button opens the Methods section and moves the focus there.

import { useState } from 'react';
import { useDiagnosticsStore } from '../state/diagnosticsStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';

/** Opens the set-up's Methods section and focuses its first box. */
function openMethods(): void {
  useSettingsStore.getState().setCollapsed('methods', false);
  requestAnimationFrame(() => {
    const panel = document.querySelector<HTMLElement>('[data-testid="methods-panel"]');
    panel?.scrollIntoView({ block: 'start' });
    panel?.querySelector<HTMLInputElement>('input[type=checkbox]:not(:disabled)')?.focus({ preventScroll: true });
  });
}

export function AddMethodPanel() {
  const phase = useRunStore((s) => s.phase);
  const inRun = useRunStore((s) => s.methods);
  const halted = useRunStore((s) => s.halted);
  const infos = useSettingsStore((s) => s.methods);
  const choices = useSettingsStore((s) => s.choices);
  const added = useDiagnosticsStore((s) => s.added);
  const error = useDiagnosticsStore((s) => s.addError);
  const addMethod = useDiagnosticsStore((s) => s.addMethod);
  const [asked, setAsked] = useState<readonly string[]>([]);
  const [pick, setPick] = useState('');
  const live = phase === 'running' || phase === 'paused';
  const busy = phase === 'initialising' || phase === 'stopping';
  const label = (id: string) => infos.find((m) => m.id === id)?.label ?? id;
  const joined = Object.entries(added)
    .map(([id, step]) => `${label(id)} joined after step ${step}`)
    .join('; ');

  if (!live) {
    return (
      <span className="add-method" data-testid="add-method">
        <button type="button" disabled={busy} onClick={openMethods} title="Tick methods under Methods; during a run, add one mid-way here">
          Add method
        </button>
        {joined && <span className="muted small">{joined}</span>}
      </span>
    );
  }

  const available = infos.filter((m) => !inRun.includes(m.id) && !asked.includes(m.id));
  const chosen = available.some((m) => m.id === pick) ? pick : (available[0]?.id ?? '');
  const waiting = asked.filter((id) => !inRun.includes(id) && !halted[id]);

  return (
    <span className="add-method" role="group" aria-label="Add a method mid-way" data-testid="add-method">
      <select aria-label="Method to add" value={chosen} disabled={available.length === 0} onChange={(e) => setPick(e.target.value)}>
        {available.map((m) => (
          <option key={m.id} value={m.id}>
            {m.label}
          </option>
        ))}
      </select>
      <button
        type="button"
        disabled={!chosen}
        onClick={() => {
          setAsked([...asked, chosen]);
          void addMethod(chosen, choices[chosen]?.settings ?? {});
        }}
      >
        Add
      </button>
      <span className="muted small" aria-live="polite">
        {waiting.length > 0 && `Initialising ${waiting.map(label).join(', ')} before the next step… `}
        {joined}
      </span>
      {error && (
        <span className="fail small" role="alert">
          {error}
        </span>
      )}
    </span>
  );
}
