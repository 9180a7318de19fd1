// Saved runs (IndexedDB): every finished comparison, newest first. Reopen one (its curves and
// table replace the page's), draw one dashed over the current curves, or delete it. The newest
// is reopened when the page opens, so a reload keeps the results.

import { useEffect } from 'react';
import type { RunListing } from '../io/runDb';
import { useRunStore } from '../state/runStore';
import { useSavedRunsStore } from '../state/savedRunsStore';

const ACTIVE = ['initialising', 'running', 'paused', 'stopping'];

function when(ms: number): string {
  return new Date(ms).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
}

function SavedRunItem({ run, shown, trainedHere, disabled }: { run: RunListing; shown: boolean; trainedHere: boolean; disabled: boolean }) {
  const { overlay, reopen, setOverlay, remove } = useSavedRunsStore();
  return (
    <li data-testid={`saved-${run.id}`} className={shown ? 'current' : undefined}>
      <div className="saved-text">
        <strong>{run.name}</strong>
        <span className="muted small">
          {when(run.savedAt)} · {run.model} · {run.dataset} · {run.status}
          {shown && (trainedHere ? ' · shown, trained in this session' : ' · shown')}
        </span>
      </div>
      <div className="saved-buttons">
        <button type="button" disabled={disabled || shown} onClick={() => void reopen(run.id)} aria-label={`Reopen ${run.name}`}>
          Reopen
        </button>
        <label className="check small">
          <input
            type="checkbox"
            checked={overlay?.id === run.id}
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

export function SavedRunsPanel() {
  const { runs, viewing, live, liveId, error, restoreLast } = useSavedRunsStore();
  const active = useRunStore((s) => ACTIVE.includes(s.phase));

  useEffect(() => {
    void restoreLast();
  }, [restoreLast]);

  return (
    <section className="panel" aria-labelledby="saved-title" data-testid="saved-runs">
      <h2 id="saved-title">Saved runs</h2>
      {error && (
        <p className="result fail small" role="alert">
          {error}
        </p>
      )}
      {runs.length === 0 ? (
        <p className="muted small">Finished runs are saved in this browser and listed here.</p>
      ) : (
        <ul className="saved-runs">
          {runs.map((r) => {
            const trainedHere = live && viewing === null && liveId === r.id;
            return <SavedRunItem key={r.id} run={r} shown={viewing === r.id || trainedHere} trainedHere={trainedHere} disabled={active} />;
          })}
        </ul>
      )}
    </section>
  );
}
