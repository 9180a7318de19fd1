// The run the page shows, above its charts: its name, state, the model and data it trained on
// (name, fingerprint or hash, shape or split), and whether its trained weights are in memory.
// When the loaded model or data is not the run's, a warning names both and offers to load the
// run's settings into the form, and its model and data where this browser has them. Also what a
// reload could not restore.

import { useMemo, useState } from 'react';
import { describeData, describeModel } from '../io/runIdentity';
import type { RunRecord } from '../io/runRecord';
import { useDataStore } from '../state/dataStore';
import { useModelCacheStore } from '../state/modelCacheStore';
import { useModelStore } from '../state/modelStore';
import { applyRunSettings, inputsAvailable, loadRunInputs, runMismatch } from '../state/runInputs';
import { useRunStore, type RunPhase } from '../state/runStore';
import { useWorkspaceStore } from '../state/workspace';
import './records.css';

const STATE: Record<RunPhase, string> = {
  idle: '',
  initialising: 'initialising',
  running: 'training',
  paused: 'paused',
  stopping: 'stopping',
  done: 'done',
  stopped: 'stopped',
  failed: 'failed',
};

/** How the loaded model and data differ from the shown run's (re-evaluated as either changes). */
export function useRunMismatch() {
  const record = useRunStore((s) => s.record);
  const card = useModelStore((s) => s.card);
  const modelLoading = useModelStore((s) => s.loading);
  const preview = useDataStore((s) => s.preview);
  const dataLoading = useDataStore((s) => s.loading);
  const cached = useModelCacheStore((s) => s.models);
  const keptFile = useDataStore((s) => s.keptFile);
  return useMemo(() => {
    const mismatch = runMismatch(record);
    return { mismatch, available: record && mismatch ? inputsAvailable(record, mismatch) : false };
    // The store reads inside runMismatch and inputsAvailable follow these values.
  }, [record, card, modelLoading, preview, dataLoading, cached, keptFile]);
}

export function RunBanner() {
  const record = useRunStore((s) => s.record);
  const phase = useRunStore((s) => s.phase);
  const weights = useRunStore((s) => s.weights);
  const checkpoint = useRunStore((s) => s.checkpoint);
  const notice = useWorkspaceStore((s) => s.notice);
  const dismiss = useWorkspaceStore((s) => s.dismiss);
  const { mismatch, available } = useRunMismatch();
  const [outcome, setOutcome] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const active = phase === 'initialising' || phase === 'running' || phase === 'paused' || phase === 'stopping';

  if (!record) {
    return notice ? (
      <p className="workspace-notice" role="status" data-testid="workspace-notice">
        {notice}
        <button type="button" className="link" onClick={dismiss}>
          Dismiss
        </button>
      </p>
    ) : null;
  }

  const loadSettings = () => {
    const params = useRunStore.getState().params;
    if (!params) return;
    const problems = applyRunSettings(params as unknown as RunRecord['params']);
    setOutcome(
      `The run's settings are in the form (Training and Methods)${problems.length ? `, except: ${problems.join('; ')}` : ''}. Start trains them on the loaded model and data.`,
    );
  };
  const loadInputs = async () => {
    setBusy(true);
    setOutcome(null);
    const problems = await loadRunInputs(record);
    setBusy(false);
    setOutcome(problems.length ? `Not loaded: ${problems.join('; ')}.` : null);
  };

  return (
    <section className="run-banner" aria-label="The run shown" data-testid="run-banner">
      <div className="run-banner-head">
        <span className="run-label">Run</span>
        <strong data-testid="run-name">{record.name}</strong>
        {STATE[phase] && <span className="muted small">{STATE[phase]}</span>}
        <span className={weights ? 'run-weights held' : 'run-weights'} data-testid="run-weights">
          {weights
            ? 'trained weights in memory'
            : active
              ? 'training'
              : checkpoint
                ? `curves only: the trained weights come back from its checkpoint (step ${checkpoint.step}) at Generate or Export`
                : 'curves only: trained weights are not saved with runs (Run again to retrain)'}
        </span>
      </div>
      <dl className="run-inputs">
        <dt>Model</dt>
        <dd data-testid="run-model">{record.modelInfo ? describeModel(record.modelInfo) : `${record.model} (saved before fingerprints)`}</dd>
        <dt>Data</dt>
        <dd data-testid="run-data">{record.dataInfo ? describeData(record.dataInfo) : `${record.dataset} (saved before hashes)`}</dd>
        {record.notes && (
          <>
            <dt>Notes</dt>
            <dd className="saved-notes">{record.notes}</dd>
          </>
        )}
      </dl>
      {mismatch && (
        <div className="run-mismatch" role="alert" data-testid="run-mismatch">
          {mismatch.model && (
            <p>
              This run was trained on the model <strong>{describeModel(mismatch.model.run)}</strong>; the loaded model is{' '}
              <strong>{describeModel(mismatch.model.loaded)}</strong>.
            </p>
          )}
          {mismatch.data && (
            <p>
              This run was trained on the data <strong>{describeData(mismatch.data.run)}</strong>; the loaded data is{' '}
              <strong>{describeData(mismatch.data.loaded)}</strong>.
            </p>
          )}
          <p className="small">The charts, results and exports below belong to the run, not to what is loaded.</p>
          <div className="actions">
            <button type="button" disabled={active} onClick={loadSettings}>
              Load this run&apos;s settings
            </button>
            {available && (
              <button type="button" disabled={active || busy} onClick={() => void loadInputs()}>
                {busy ? 'Loading…' : `Load its ${mismatch.model && mismatch.data ? 'model and data' : mismatch.model ? 'model' : 'data'}`}
              </button>
            )}
          </div>
        </div>
      )}
      {outcome && (
        <p className="small" role="status" data-testid="run-banner-outcome">
          {outcome}
        </p>
      )}
      {notice && (
        <p className="workspace-notice" role="status" data-testid="workspace-notice">
          {notice}
          <button type="button" className="link" onClick={dismiss}>
            Dismiss
          </button>
        </p>
      )}
    </section>
  );
}
