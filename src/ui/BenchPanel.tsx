// The matmul benchmark on the user's own GPU: the same table `npm run bench` prints, GFLOP/s of
// our kernel and, optionally, of tfjs-backend-webgpu on the same adapter, with the ratio. Below
// it, the profile of a training step (ProfilePanel.tsx).

import { useState } from 'react';
import { useEngineStore } from '../state/engineStore';
import { ProfilePanel } from './ProfilePanel';

export function BenchPanel() {
  const ready = useEngineStore((s) => s.status === 'ready');
  const shapes = useEngineStore((s) => s.benchShapes);
  const rows = useEngineStore((s) => s.benchRows);
  const job = useEngineStore((s) => s.bench);
  const runBench = useEngineStore((s) => s.runBench);
  const isSoftware = useEngineStore((s) => s.gpu?.isSoftware ?? false);
  const [selected, setSelected] = useState<ReadonlySet<string>>(new Set());
  const [includePeer, setIncludePeer] = useState(true);

  const chosen = shapes.filter((s) => (selected.size === 0 ? s.M * s.N * s.K <= 512 ** 3 : selected.has(s.label)));
  const toggle = (label: string) => {
    const next = new Set(selected);
    if (next.has(label)) next.delete(label);
    else next.add(label);
    setSelected(next);
  };

  return (
    <>
      <section className="panel wide" aria-labelledby="bench-title" data-testid="bench-panel">
        <h2 id="bench-title">Matmul benchmark</h2>
        <p className="muted">
          Median GFLOP/s (2·M·N·K per product) after warm-up, timed to GPU completion.
          {isSoftware && ' This adapter is a software implementation: expect around 1 GFLOP/s, and minutes for the large shapes.'}
        </p>
        <fieldset className="shape-picker">
          <legend>Shapes (none ticked: those up to 512³)</legend>
          {shapes.map((s) => (
            <label key={s.label}>
              <input type="checkbox" checked={selected.has(s.label)} onChange={() => toggle(s.label)} /> {s.label}
            </label>
          ))}
        </fieldset>
        <label className="inline">
          <input type="checkbox" checked={includePeer} onChange={(e) => setIncludePeer(e.target.checked)} /> Also time tfjs-backend-webgpu (the peer)
        </label>
        <div>
          <button className="primary" disabled={!ready || job.state === 'running' || chosen.length === 0} onClick={() => void runBench(chosen, includePeer)}>
            {job.state === 'running'
              ? `Running… ${rows.length}/${chosen.length}`
              : `Run benchmark (${chosen.length} ${chosen.length === 1 ? 'shape' : 'shapes'})`}
          </button>
        </div>
        {job.state === 'failed' && (
          <p className="result fail" role="alert">
            Benchmark failed: {job.message}
          </p>
        )}
        {rows.length > 0 && (
          <table className="grid" data-testid="bench-table">
            <thead>
              <tr>
                <th>Shape</th>
                <th>Variant</th>
                <th className="num">Ours GFLOP/s</th>
                <th className="num">tfjs GFLOP/s</th>
                <th className="num">Ours / tfjs</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.shape.label}:${r.variant}`}>
                  <td>{r.shape.label}</td>
                  <td>{r.variant}</td>
                  <td className="num" data-testid="bench-ours">
                    {r.oursGflops.toFixed(2)}
                  </td>
                  <td className="num">{r.peerGflops === null ? '—' : r.peerGflops.toFixed(2)}</td>
                  <td className="num">{r.ratio === null ? '—' : `${r.ratio.toFixed(2)}×`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <ProfilePanel />
    </>
  );
}
