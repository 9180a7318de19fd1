// Generation from one prompt with the base model and each method of the last run, side by side
// (greedy decoding, so the outputs differ only by what each method learned).

import { useState } from 'react';
import { BASE_MODEL_KEY, useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { NumberInput } from './NumberInput';

export function GeneratePanel() {
  const phase = useRunStore((s) => s.phase);
  const methods = useRunStore((s) => s.methods);
  const generations = useRunStore((s) => s.generations);
  const generate = useRunStore((s) => s.generate);
  const infos = useSettingsStore((s) => s.methods);
  const [prompt, setPrompt] = useState('Question: Ruth has 3 apples and buys 4 more. How many apples does she have now?\nAnswer:');
  const [maxNew, setMaxNew] = useState(32);
  const trained = phase === 'done' || phase === 'stopped' ? methods : [];
  const busy = Object.values(generations).some((g) => g.status === 'running') || phase === 'running' || phase === 'initialising' || phase === 'paused';
  const targets: (string | null)[] = [null, ...trained];

  return (
    <section className="panel" aria-labelledby="generate-title" data-testid="generate-panel">
      <h2 id="generate-title">Generate</h2>
      <label htmlFor="prompt" className="sr-only">
        Prompt
      </label>
      <textarea id="prompt" rows={3} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
      <div className="field-row">
        <label htmlFor="max-new">Max new tokens</label>
        <NumberInput id="max-new" value={maxNew} min={1} max={512} integer onChange={setMaxNew} />
        <button type="button" disabled={busy || prompt.trim() === ''} onClick={() => void generate(targets, prompt, maxNew)}>
          Generate from {trained.length > 0 ? `the base model and ${trained.length} trained ${trained.length === 1 ? 'method' : 'methods'}` : 'the base model'}
        </button>
      </div>
      <div className="generations">
        {targets.map((id) => {
          const g = generations[id ?? BASE_MODEL_KEY];
          if (!g) return null;
          return (
            <article key={id ?? BASE_MODEL_KEY} className="generation" data-testid={`generation-${id ?? BASE_MODEL_KEY}`}>
              <h3>{id ? (infos.find((m) => m.id === id)?.label ?? id) : 'Base model'}</h3>
              <pre className={g.status === 'failed' ? 'fail' : undefined}>{g.text || (g.status === 'running' ? '…' : '')}</pre>
              {g.status === 'done' && g.ms !== undefined && (
                <span className="muted small">
                  {g.tokens} tokens in {(g.ms / 1000).toFixed(1)} s
                </span>
              )}
            </article>
          );
        })}
      </div>
    </section>
  );
}
