// Step 2 of the user's path: the model. The built-in model loads on start; a dropped or picked
// Hugging Face folder replaces it. Loading shows per-tensor progress; a failed load shows the
// error beside the file and keeps the previous model; the card describes what is loaded.

import { useModelStore } from '../state/modelStore';
import { useModelCacheStore } from '../state/modelCacheStore';
import { useRunStore } from '../state/runStore';
import { DropZone } from './DropZone';
import { ModelCardView } from './ModelCardView';
import { CachedModels } from './CachedModels';
import { SetupSection } from './SetupSection';

export function ModelPanel() {
  const card = useModelStore((s) => s.card);
  const loading = useModelStore((s) => s.loading);
  const error = useModelStore((s) => s.error);
  const loadFiles = useModelCacheStore((s) => s.loadAndCache);
  const loadBuiltin = useModelStore((s) => s.loadBuiltin);
  const frozenF16 = useModelStore((s) => s.frozenF16);
  const setFrozenF16 = useModelStore((s) => s.setFrozenF16);
  const adapter = useModelStore((s) => s.adapter);
  const loadAdapter = useModelStore((s) => s.loadAdapter);
  const busy = useRunStore((s) => s.phase === 'initialising' || s.phase === 'running' || s.phase === 'paused' || s.phase === 'stopping');

  return (
    <SetupSection
      id="model"
      title="Model"
      testId="model-panel"
      summary={loading ? `Loading ${loading.what}…` : (card?.name ?? 'none yet')}
      actions={
        card &&
        !card.builtin && (
          <button type="button" className="link" disabled={busy || loading !== null} onClick={() => void loadBuiltin()}>
            Back to the built-in model
          </button>
        )
      }
    >
      <DropZone
        label="Drop a Hugging Face model folder"
        hint="config.json, model.safetensors (or shards + index), tokenizer.json. GPT-2, Llama family (SmolLM2, Qwen2/3, Mistral, TinyLlama) and Gemma 3; f32/f16/bf16. Pickle files are never opened."
        multiple
        folders
        disabled={busy || loading !== null}
        onFiles={(files) => void loadFiles(files)}
        testId="model-drop"
      />
      {loading && (
        <div className="loading" role="status" aria-live="polite">
          <span>
            Loading {loading.what}
            {loading.progress ? `: tensor ${loading.progress.done}/${loading.progress.total} (${loading.progress.tensor})` : '…'}
          </span>
          <progress max={loading.progress?.total ?? 1} value={loading.progress?.done ?? 0} />
        </div>
      )}
      {error && (
        <div className="file-error" role="alert" data-testid="model-error">
          <strong>{error.what}</strong>
          <span>{error.message}</span>
          {card && <span className="muted small">The previous model ({card.name}) is still loaded.</span>}
        </div>
      )}
      <label
        className="small"
        title="Frozen matrices of an f32 checkpoint kept as f16 (rounded to nearest): half the memory, f16 precision. f16/bf16 checkpoints always stay 16-bit. Applies to the next load."
      >
        <input type="checkbox" checked={frozenF16} disabled={busy || loading !== null} onChange={(e) => setFrozenF16(e.target.checked)} /> Keep f32 weights as
        f16 on the GPU (next load)
      </label>
      {card && (
        <DropZone
          label="Drop a PEFT adapter folder onto this model"
          hint="adapter_config.json + adapter_model.safetensors (LoRA, rsLoRA, DoRA; the studio's exports or adapters from the Hub). It appears as a method to evaluate, generate with, compare or train further."
          multiple
          folders
          disabled={busy || loading !== null}
          onFiles={(files) => void loadAdapter(files)}
          testId="adapter-drop"
        />
      )}
      {adapter && (
        <div className={adapter.ok ? 'small' : 'file-error'} role={adapter.ok ? 'status' : 'alert'} data-testid="adapter-outcome">
          {adapter.text}
        </div>
      )}
      <CachedModels disabled={busy || loading !== null} />
      {card ? <ModelCardView card={card} /> : !loading && !error && <p className="muted">No model yet.</p>}
    </SetupSection>
  );
}
