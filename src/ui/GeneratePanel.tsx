// Generation from one prompt with the base model and each method of the shown run, side by side
// (greedy decoding, so the outputs differ only by what each method learned). Methods are offered
// only while their trained weights are in the worker (runStore `weights`): runs are saved without
// weights, so after a reload, a reopen or a new model only the base model is offered, and the
// panel says why.

import { useState } from 'react';
import { BASE_MODEL_KEY, useRunStore } from '../state/runStore';
import { useModelStore } from '../state/modelStore';
import { useSettingsStore } from '../state/settingsStore';
import { NumberInput } from './NumberInput';
import { RunTag } from './RunTag';
import './records.css';

export function GeneratePanel() {
  const phase = useRunStore((s) => s.phase);
  const methods = useRunStore((s) => s.methods);
  const weights = useRunStore((s) => s.weights);
  const generations = useRunStore((s) => s.generations);
  const generate = useRunStore((s) => s.generate);
  const modelName = useModelStore((s) => s.card?.name);
  const infos = useSettingsStore((s) => s.methods);
  const [prompt, setPrompt] = useState('Question: Ruth has 3 apples and buys 4 more. How many apples does she have now?\nAnswer:');
  const [maxNew, setMaxNew] = useState(32);
  const trained = weights && (phase === 'done' || phase === 'stopped') ? methods : [];
  const busy = Object.values(generations).some((g) => g.status === 'running') || phase === 'running' || phase === 'initialising' || phase === 'paused';
  const targets: (string | null)[] = [null, ...trained];
  const shown = [null, ...methods].filter((id) => generations[id ?? BASE_MODEL_KEY]);
  const label = (id: string | null) => (id ? (infos.find((m) => m.id === id)?.label ?? id) : `Base model${modelName ? ` (${modelName})` : ''}`);

  return (
    <section className="panel" aria-labelledby="generate-title" data-testid="generate-panel">
      <h2 id="generate-title">Generate</h2>
      <RunTag what="Trained methods of the run" />
      {methods.length > 0 && !weights && phase !== 'running' && phase !== 'initialising' && phase !== 'paused' && (
        <p className="weights-note" data-testid="generate-no-weights">
          This run&apos;s trained weights are not in memory: runs are saved with their curves and settings, not their weights, and a new model releases them.
          Only the base model can generate; Run again (Saved runs) trains the methods anew.
        </p>
      )}
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
        {shown.map((id) => {
          const g = generations[id ?? BASE_MODEL_KEY]!;
          return (
            <article key={id ?? BASE_MODEL_KEY} className="generation" data-testid={`generation-${id ?? BASE_MODEL_KEY}`}>
              <h3>{label(id)}</h3>
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
