// Generation from one prompt with the base model and each method of the shown run, side by side.
// Greedy by default, or sampled with temperature, top-k and top-p from one seed shared by every
// method (so the outputs differ only by what each method learned); max new tokens, stop at EOS
// and a stop string (cut off), as the run's samples have them (DecodingFields.tsx). Methods are offered
// while their trained weights are in the worker (runStore `weights`) or can be rebuilt from the
// run's checkpoint with its model and data loaded (after a reload or a reopen: the first Generate
// rebuilds them); otherwise only the base model is offered, and the panel says why.

import { useState } from 'react';
import { BASE_MODEL_KEY, useRunStore } from '../state/runStore';
import { useModelStore } from '../state/modelStore';
import { useSettingsStore } from '../state/settingsStore';
import { DEFAULT_SAMPLE_FIELDS, SAMPLE_BOUNDS } from '../worker/sampleSettings';
import { DecodingFields, type DecodingChoice } from './DecodingFields';
import { NumberInput } from './NumberInput';
import { RunTag } from './RunTag';
import { useTrainedWeights } from './trainedWeights';
import './records.css';

const D = DEFAULT_SAMPLE_FIELDS;
/** As a run's samples start out. */
const FIRST_DECODING: DecodingChoice = {
  greedy: D.sampleGreedy,
  temperature: D.sampleTemperature,
  topK: D.sampleTopK,
  topP: D.sampleTopP,
  stopAtEos: D.sampleStopAtEos,
  stop: D.sampleStop,
};

export function GeneratePanel() {
  const phase = useRunStore((s) => s.phase);
  const methods = useRunStore((s) => s.methods);
  const generations = useRunStore((s) => s.generations);
  const generate = useRunStore((s) => s.generate);
  const modelName = useModelStore((s) => s.card?.name);
  const {
    inMemory: weights,
    checkpointStep,
    rebuildable,
    why,
  } = useTrainedWeights(
    "generate with this run's trained methods",
    'runs are saved with their curves and settings, not their weights, and a new model releases them. Only the base model can generate; Run again (Saved runs) trains the methods anew.',
  );
  const infos = useSettingsStore((s) => s.methods);
  const [prompt, setPrompt] = useState('Question: Ruth has 3 apples and buys 4 more. How many apples does she have now?\nAnswer:');
  const [maxNew, setMaxNew] = useState(32);
  const [choice, setChoice] = useState<DecodingChoice>(FIRST_DECODING);
  const { greedy } = choice;
  const decoding = {
    temperature: greedy ? 0 : choice.temperature,
    topK: greedy ? 0 : choice.topK,
    topP: greedy ? 1 : choice.topP,
    stopAtEos: choice.stopAtEos,
    stopString: choice.stop,
    seed: 0,
  };
  const trained = (weights || rebuildable) && (phase === 'done' || phase === 'stopped') ? methods : [];
  const busy = Object.values(generations).some((g) => g.status === 'running') || phase === 'running' || phase === 'initialising' || phase === 'paused';
  const targets: (string | null)[] = [null, ...trained];
  const shown = [null, ...methods].filter((id) => generations[id ?? BASE_MODEL_KEY]);
  const label = (id: string | null) => (id ? (infos.find((m) => m.id === id)?.label ?? id) : `Base model${modelName ? ` (${modelName})` : ''}`);

  return (
    <section className="panel" aria-labelledby="generate-title" data-testid="generate-panel">
      <h2 id="generate-title">Generate</h2>
      <RunTag what="Trained methods of the run" />
      {methods.length > 0 && why !== undefined && phase !== 'running' && phase !== 'initialising' && phase !== 'paused' && (
        <p className="weights-note" data-testid="generate-no-weights">
          {checkpointStep !== null ? `${why} Until then only the base model can generate.` : why}
        </p>
      )}
      {rebuildable && trained.length > 0 && (
        <p className="muted small" data-testid="generate-from-checkpoint">
          The trained weights are rebuilt from the run&apos;s checkpoint (step {checkpointStep}) at the first Generate: each method is initialised again, then
          given its trained tensors.
        </p>
      )}
      <label htmlFor="prompt" className="sr-only">
        Prompt
      </label>
      <textarea id="prompt" rows={3} value={prompt} onChange={(e) => setPrompt(e.target.value)} />
      <div className="settings-grid generate-decoding">
        <DecodingFields idPrefix="gen" value={choice} onChange={(patch) => setChoice((c) => ({ ...c, ...patch }))} />
      </div>
      <div className="field-row">
        <label htmlFor="max-new">Max new tokens</label>
        <NumberInput id="max-new" value={maxNew} {...SAMPLE_BOUNDS.maxTokens} onChange={setMaxNew} />
        <button type="button" disabled={busy || prompt.trim() === ''} onClick={() => void generate(targets, prompt, maxNew, decoding)}>
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
