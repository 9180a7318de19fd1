// Step 6, "add a method mid-way": while a comparison runs or is paused, another method (with the
// settings its form holds) initialises and then trains on the same batch sequence from the next
// step on; its curves start at that step.

import { useState } from 'react';
import { useDiagnosticsStore } from '../state/diagnosticsStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';

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
  if (!live && Object.keys(added).length === 0) return null;

  const available = infos.filter((m) => !inRun.includes(m.id) && !asked.includes(m.id));
  const chosen = available.some((m) => m.id === pick) ? pick : (available[0]?.id ?? '');
  const label = (id: string) => infos.find((m) => m.id === id)?.label ?? id;
  const waiting = asked.filter((id) => !inRun.includes(id) && !halted[id]);

  return (
    <section className="panel run-controls" aria-labelledby="add-title" data-testid="add-method">
      <h2 id="add-title" className="small">
        Add a method mid-way
      </h2>
      <select aria-label="Method to add" value={chosen} disabled={!live || available.length === 0} onChange={(e) => setPick(e.target.value)}>
        {available.map((m) => (
          <option key={m.id} value={m.id}>
            {m.label}
          </option>
        ))}
      </select>
      <button
        type="button"
        disabled={!live || !chosen}
        onClick={() => {
          setAsked([...asked, chosen]);
          void addMethod(chosen, choices[chosen]?.settings ?? {});
        }}
      >
        Add
      </button>
      <span className="muted small">
        {waiting.length > 0 && `Initialising ${waiting.map(label).join(', ')} before the next step… `}
        {Object.entries(added)
          .map(([id, step]) => `${label(id)} joined after step ${step}`)
          .join('; ')}
      </span>
      {error && (
        <p className="result fail" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}
