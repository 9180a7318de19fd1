// Saved runs (IndexedDB): every finished comparison, newest first, with the model and data it
// trained on. Reopen one (its curves, table and settings replace the page's), run it again, draw
// one dashed over the current curves, or delete it; rename and annotate the shown run, see its
// settings table, and diff two runs. The site's storage use is shown with what runs and kept
// models take; a run that did not fit stays in memory with a Retry once space is freed.

import { useEffect } from 'react';
import type { RunListing } from '../io/runDb';
import { useDataStore } from '../state/dataStore';
import { useModelCacheStore } from '../state/modelCacheStore';
import { useRunStore } from '../state/runStore';
import { useSavedRunsStore } from '../state/savedRunsStore';
import { formatBytes } from './format';
import { RunDetails } from './RunDetails';
import { RunDiff } from './RunDiff';
import './records.css';

const ACTIVE = ['initialising', 'running', 'paused', 'stopping'];

function when(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

function SavedRunItem({ run, shown, trainedHere, disabled }: { run: RunListing; shown: boolean; trainedHere: boolean; disabled: boolean }) {
  const { overlayId, reopen, rerun, resumeSaved, setOverlay, remove } = useSavedRunsStore();
  const resumable = useSavedRunsStore((s) => s.resumable.includes(run.id));
  return (
    <li data-testid={`saved-${run.id}`} className={shown ? 'current' : undefined}>
      <div className="saved-text">
        <strong>{run.name}</strong>
        <span className="muted small">
          {when(run.savedAt)} · {run.modelInfo?.name ?? run.model} · {run.dataInfo?.name ?? run.dataset} · {run.status} · {formatBytes(run.bytes)}
          {shown && (trainedHere ? ' · shown, trained in this session' : ' · shown')}
        </span>
        {run.notes && <span className="saved-notes">{run.notes}</span>}
      </div>
      <div className="saved-buttons">
        <button
          type="button"
          disabled={disabled}
          onClick={() => void reopen(run.id, { settings: true })}
          aria-label={`Reopen ${run.name}`}
          title="Show its curves and results, and put its settings into the form"
        >
          Reopen
        </button>
        <button
          type="button"
          disabled={disabled}
          onClick={() => void rerun(run.id)}
          aria-label={`Run again ${run.name}`}
          title="Train again with its settings, model and data"
        >
          Run again
        </button>
        {resumable && run.status !== 'done' && (
          <button
            type="button"
            disabled={disabled}
            onClick={() => void resumeSaved(run.id)}
            aria-label={`Resume ${run.name}`}
            data-testid={`resume-${run.id}`}
            title="Continue it from its last checkpoint (its model and data must be loaded; the run bar says which otherwise)"
          >
            Resume
          </button>
        )}
        <label className="check small">
          <input
            type="checkbox"
            checked={overlayId === run.id}
            onChange={(e) => void setOverlay(e.target.checked ? run.id : null)}
            aria-label={`Overlay ${run.name} on the curves`}
          />{' '}
          Overlay
        </label>
        <button type="button" className="link" onClick={() => void remove(run.id)} aria-label={`Delete ${run.name}`}>
          Delete
        </button>
      </div>
    </li>
  );
}

function StorageUse() {
  const usage = useSavedRunsStore((s) => s.usage);
  const runsBytes = useSavedRunsStore((s) => s.runsBytes);
  const models = useModelCacheStore((s) => s.models);
  const persisted = useModelCacheStore((s) => s.persisted);
  const keepError = useDataStore((s) => s.keepError);
  const modelBytes = models.reduce((n, m) => n + m.bytes, 0);
  if (!usage) return <p className="storage-use">This browser does not say how much storage the studio may use.</p>;
  return (
    <div className="storage-use" data-testid="storage-use">
      <span>
        Browser storage: {formatBytes(usage.usage)} of {formatBytes(usage.quota)} used · saved runs about {formatBytes(runsBytes)} · models kept{' '}
        {formatBytes(modelBytes)}
        {persisted === true ? ' · kept persistently' : persisted === false ? ' · the browser may evict it under pressure' : ''}
      </span>
      {usage.quota > 0 && <meter min={0} max={usage.quota} value={usage.usage} high={usage.quota * 0.9} aria-label="Browser storage used" />}
      {keepError && (
        <span className="fail" role="alert">
          {keepError}
        </span>
      )}
    </div>
  );
}

export function SavedRunsPanel() {
  const { runs, viewing, live, liveId, error, notice, pending, retrySave, refresh } = useSavedRunsStore();
  const active = useRunStore((s) => ACTIVE.includes(s.phase));
  const shownId = useRunStore((s) => s.record?.id ?? null);

  // The list and the storage use, also when the engine never starts (runs need no GPU).
  useEffect(() => {
    void refresh();
  }, [refresh]);

  return (
    <section className="panel" aria-labelledby="saved-title" data-testid="saved-runs">
      <h2 id="saved-title">Saved runs</h2>
      <StorageUse />
      {pending ? (
        <div className="storage-full" role="alert" data-testid="save-error">
          <p className="result fail small">{error}</p>
          <button type="button" onClick={() => void retrySave()}>
            Retry saving “{pending.name}”
          </button>
        </div>
      ) : (
        error && (
          <p className="result fail small" role="alert" data-testid="saved-error">
            {error}
          </p>
        )
      )}
      {notice && (
        <p className="small warn-text" role="status">
          {notice}
        </p>
      )}
      {runs.length === 0 ? (
        <p className="muted small">Finished runs are saved in this browser and listed here.</p>
      ) : (
        <ul className="saved-runs">
          {runs.map((r) => {
            const trainedHere = live && viewing === null && liveId === r.id;
            return <SavedRunItem key={r.id} run={r} shown={shownId === r.id || viewing === r.id} trainedHere={trainedHere} disabled={active} />;
          })}
        </ul>
      )}
      <RunDetails />
      <RunDiff />
    </section>
  );
}
