// Step 5: each method's initialisation as it runs on the GPU: phase, layer and a progress bar,
// then its trainable parameters, memory and init time once ready.

import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { formatBytes, formatCount, formatMs } from './format';
import { methodStyle } from './methodColors';
import { SeriesSwatch } from './SeriesSwatch';

export function InitProgressList() {
  const methods = useRunStore((s) => s.methods);
  const init = useRunStore((s) => s.init);
  const ready = useRunStore((s) => s.ready);
  const halted = useRunStore((s) => s.halted);
  const infos = useSettingsStore((s) => s.methods);
  const order = infos.map((m) => m.id);
  if (methods.length === 0) return null;
  return (
    <section className="panel" aria-labelledby="init-title" data-testid="init-progress">
      <h2 id="init-title">Initialisation</h2>
      <ul className="init-list">
        {methods.map((id) => {
          const p = init[id];
          const r = ready[id];
          const label = infos.find((m) => m.id === id)?.label ?? id;
          return (
            <li key={id}>
              <SeriesSwatch series={methodStyle(id, order)} width={20} />
              <span className="init-name">{label}</span>
              <progress max={r ? 1 : (p?.total ?? 1)} value={r ? 1 : (p?.done ?? 0)} aria-label={`${label} initialisation`} />
              <span className="small muted init-text">
                {halted[id] ? (
                  <span className="fail">{halted[id]}</span>
                ) : r ? (
                  `ready in ${formatMs(r.initMs)} · ${formatCount(r.trainableParams)} trainable · ${formatBytes(r.bytes)}`
                ) : p ? (
                  `${p.phase} ${p.layer || ''} (${p.done}/${p.total})`
                ) : (
                  'waiting'
                )}
              </span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}
