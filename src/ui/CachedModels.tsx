// Model folders kept in this browser (OPFS): load one again without the drag, or delete it.
// Caching failures (quota) are said here and never affect the loaded model.

import { useEffect } from 'react';
import { useModelCacheStore } from '../state/modelCacheStore';
import { formatBytes } from './format';

export function CachedModels({ disabled }: { disabled: boolean }) {
  const { available, models, caching, error, refresh, loadCached, remove } = useModelCacheStore();

  useEffect(() => {
    void refresh();
  }, [refresh]);

  if (!available) return <p className="muted small">This browser has no Origin Private File System: dropped models are not kept between visits.</p>;
  if (models.length === 0 && !caching && !error) return null;
  return (
    <div className="cached-models" data-testid="cached-models">
      <h3 className="small">Kept in this browser</h3>
      {caching && (
        <p className="muted small" role="status">
          Keeping a copy of {caching} for the next visit…
        </p>
      )}
      {error && (
        <p className="result fail small" role="alert" data-testid="cache-error">
          {error}
        </p>
      )}
      <ul>
        {models.map((m) => (
          <li key={m.key} data-testid={`cached-${m.key}`}>
            <span>
              {m.name}{' '}
              <span className="muted small">
                ({m.files.length} files, {formatBytes(m.bytes)})
              </span>
            </span>
            <span className="saved-buttons">
              <button type="button" disabled={disabled} onClick={() => void loadCached(m.key)} aria-label={`Load cached ${m.name}`}>
                Load
              </button>
              <button type="button" className="link" disabled={disabled} onClick={() => void remove(m.key)} aria-label={`Delete cached ${m.name}`}>
                Delete
              </button>
            </span>
          </li>
        ))}
      </ul>
    </div>
  );
}
