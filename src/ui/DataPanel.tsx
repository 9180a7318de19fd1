// Step 3: the data. The built-in math set is selected on start; a dropped JSONL/JSON/CSV/TXT file
// replaces it (a file with no usable rows is refused and the previous data stays). The preview
// shows the first rows as the model sees them (tokens, the counted ones highlighted), the counts,
// the split and every skipped row's reason. Sequence length, split and packing are set here.

import { useEffect } from 'react';
import { BUILTIN_DATASETS, useDataStore } from '../state/dataStore';
import { useModelStore } from '../state/modelStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { datasetParams } from '../state/studio';
import { DropZone } from './DropZone';
import { NumberInput } from './NumberInput';
import { DataPreviewTable } from './DataPreviewTable';
import { ForgettingInput } from './ForgettingInput';
import { PackingOption } from './PackingOption';
import { formatCount } from './format';
import { SetupSection } from './SetupSection';

export function DataPanel() {
  const preview = useDataStore((s) => s.preview);
  const loading = useDataStore((s) => s.loading);
  const error = useDataStore((s) => s.error);
  const loadFile = useDataStore((s) => s.loadFile);
  const loadBuiltin = useDataStore((s) => s.loadBuiltin);
  const refresh = useDataStore((s) => s.refresh);
  const hasModel = useModelStore((s) => s.card !== null);
  const modelName = useModelStore((s) => s.card?.name);
  const shared = useSettingsStore((s) => s.shared);
  const setShared = useSettingsStore((s) => s.setShared);
  const busy = useRunStore((s) => s.phase === 'initialising' || s.phase === 'running' || s.phase === 'paused' || s.phase === 'stopping');

  // Re-tokenise when the sequence length, split or model changes.
  useEffect(() => {
    const t = setTimeout(() => void refresh({ seqLen: shared.seqLen, validationFraction: shared.validationFraction, seed: shared.seed }), 250);
    return () => clearTimeout(t);
  }, [shared.seqLen, shared.validationFraction, shared.seed, modelName, refresh]);

  return (
    <SetupSection
      id="data"
      title="Data"
      testId="data-panel"
      summary={
        loading
          ? `Reading ${loading}…`
          : preview
            ? `${preview.name} · ${preview.train} train · ${preview.validation} validation · T ${shared.seqLen}`
            : 'none yet'
      }
      actions={
        <span className="builtin-sets">
          Built-in:{' '}
          {BUILTIN_DATASETS.map((d) => (
            <button key={d.id} type="button" className="link" disabled={busy || !hasModel} onClick={() => void loadBuiltin(d.id, datasetParams())}>
              {d.label}
            </button>
          ))}
        </span>
      }
    >
      <DropZone
        label="Drop a data file"
        hint="JSONL/JSON (text; prompt/completion; instruction/input/output; messages; question/answer), CSV/TSV, or plain text."
        accept=".jsonl,.json,.csv,.tsv,.txt,.md"
        disabled={busy || !hasModel || loading !== null}
        onFiles={(files) => void loadFile(files[0]!.file, datasetParams())}
        testId="data-drop"
      />
      <div className="field-row">
        <label htmlFor="seq-len">Sequence length T</label>
        <NumberInput id="seq-len" value={shared.seqLen} min={2} max={4096} integer disabled={busy} onChange={(seqLen) => setShared({ seqLen })} />
        <label htmlFor="val-fraction" title="Used when the data has no validation file of its own">
          Validation fraction
        </label>
        <NumberInput
          id="val-fraction"
          value={shared.validationFraction}
          min={0}
          max={0.9}
          step={0.05}
          disabled={busy || preview?.splitFrom === 'file'}
          onChange={(validationFraction) => setShared({ validationFraction })}
        />
      </div>
      <PackingOption checked={shared.packing} disabled={busy} summary={preview?.packing} onChange={(packing) => setShared({ packing })} />
      <ForgettingInput disabled={busy || !hasModel} />
      {loading && (
        <p className="muted" role="status">
          Reading {loading}…
        </p>
      )}
      {error && (
        <div className="file-error" role="alert" data-testid="data-error">
          <strong>{error.what}</strong>
          <span>{error.message}</span>
          {preview && <span className="muted small">The previous data ({preview.name}) is still selected.</span>}
        </div>
      )}
      {preview && (
        <div data-testid="data-preview">
          <div className="card-title">
            <strong>{preview.name}</strong>
            <span className="chip">{preview.kind.toUpperCase()}</span>
            {Object.entries(preview.formats).map(([f, n]) => (
              <span key={f} className="chip">
                {f} ×{n}
              </span>
            ))}
          </div>
          <dl className="facts compact">
            <dt>Rows</dt>
            <dd data-testid="data-counts">
              {preview.train} train · {preview.validation} validation (
              {preview.splitFrom === 'file' ? 'its own validation file' : `${Math.round(shared.validationFraction * 100)} % held out, seed ${shared.seed}`})
            </dd>
            <dt>Tokens</dt>
            <dd>
              {formatCount(preview.stats.tokens)} ({formatCount(preview.stats.countedTokens)} trained) · {preview.stats.minTokens}–{preview.stats.maxTokens} per
              row, mean {preview.stats.meanTokens.toFixed(1)}
            </dd>
            <dt>Cut to T = {preview.seqLen}</dt>
            <dd className={preview.truncatedCount > 0 ? 'warn' : undefined}>{preview.truncatedCount} rows</dd>
            <dt>Skipped</dt>
            <dd className={preview.skippedCount > 0 ? 'warn' : undefined}>{preview.skippedCount} rows</dd>
          </dl>
          {preview.validation === 0 && (
            <p className="warn small" role="alert" data-testid="no-validation">
              No validation rows: validation loss, the base model's reference and accuracy cannot be measured.{' '}
              {preview.splitFrom === 'file' ? (
                'Its validation file has no usable rows.'
              ) : preview.train > 1 ? (
                <>
                  Hold out part of the data (Validation fraction above):{' '}
                  <button
                    type="button"
                    disabled={busy}
                    onClick={() => setShared({ validationFraction: Math.min(0.9, Math.max(0.1, shared.validationFraction * 2)) })}
                  >
                    Hold out {Math.round(Math.min(0.9, Math.max(0.1, shared.validationFraction * 2)) * 100)} %
                  </button>
                </>
              ) : (
                'The data has too few rows to split.'
              )}
            </p>
          )}
          {preview.note && <p className="muted small">{preview.note}</p>}
          <DataPreviewTable rows={preview.rows} />
          {preview.skipped.length > 0 && (
            <details className="skipped">
              <summary>
                Skipped rows ({preview.skippedCount}
                {preview.skippedCount > preview.skipped.length ? `, first ${preview.skipped.length} shown` : ''})
              </summary>
              <ul className="small">
                {preview.skipped.map((s) => (
                  <li key={s.line}>
                    line {s.line}: {s.reason}
                  </li>
                ))}
              </ul>
            </details>
          )}
        </div>
      )}
    </SetupSection>
  );
}
