// Two saved runs side by side, setting by setting: only the rows that differ (model, data, shared
// knobs, methods and their settings), the differing values highlighted. The HTML report prints
// the same diff for the run it reports and the run compared here. Long names and values wrap
// inside the panel (a phone-wide page does not scroll sideways).

import { useEffect, useMemo, useState } from 'react';
import { diffRuns } from '../io/runSettings';
import type { RunListing } from '../io/runDb';
import { useRunStore } from '../state/runStore';
import { useSavedRunsStore } from '../state/savedRunsStore';
import './records.css';

function RunPick({
  id,
  label,
  runs,
  value,
  onChange,
}: {
  id: string;
  label: string;
  runs: readonly RunListing[];
  value: string;
  onChange: (v: string) => void;
}) {
  return (
    <span className="run-pick">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {runs.map((r) => (
          <option key={r.id} value={r.id}>
            {r.name} ({new Date(r.savedAt).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' })})
          </option>
        ))}
      </select>
    </span>
  );
}

export function RunDiff() {
  const runs = useSavedRunsStore((s) => s.runs);
  const diff = useSavedRunsStore((s) => s.diff);
  const compare = useSavedRunsStore((s) => s.compare);
  const closeDiff = useSavedRunsStore((s) => s.closeDiff);
  const shownId = useRunStore((s) => s.record?.id ?? null);
  const [a, setA] = useState('');
  const [b, setB] = useState('');

  // Defaults: the shown run against the newest other one.
  useEffect(() => {
    const ids = runs.map((r) => r.id);
    const first = ids.includes(a) ? a : shownId && ids.includes(shownId) ? shownId : (ids[0] ?? '');
    setA(first);
    setB(ids.includes(b) && b !== first ? b : (ids.find((i) => i !== first) ?? ''));
  }, [runs, shownId]);

  const rows = useMemo(() => (diff ? diffRuns(diff.a, diff.b) : []), [diff]);
  if (runs.length < 2) return <p className="muted small">Save two runs to compare their settings.</p>;

  return (
    <div className="run-details" data-testid="run-diff">
      <h3 className="small">Compare two runs</h3>
      <div className="run-diff-pick">
        <RunPick id="diff-a" label="A" runs={runs} value={a} onChange={setA} />
        <RunPick id="diff-b" label="B" runs={runs} value={b} onChange={setB} />
        <button type="button" disabled={!a || !b || a === b} onClick={() => void compare(a, b)}>
          Compare
        </button>
        {diff && (
          <button type="button" className="link" onClick={closeDiff}>
            Close
          </button>
        )}
      </div>
      {diff &&
        (rows.length === 0 ? (
          <p className="small" data-testid="run-diff-same">
            {diff.a.name} and {diff.b.name} have the same model, data and settings.
          </p>
        ) : (
          <table className="grid run-diff" data-testid="run-diff-table">
            <caption className="muted small">
              {rows.length} {rows.length === 1 ? 'setting differs' : 'settings differ'}
            </caption>
            <thead>
              <tr>
                <th scope="col">Setting</th>
                <th scope="col">A: {diff.a.name}</th>
                <th scope="col">B: {diff.b.name}</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={`${r.section}|${r.key}`} data-testid={`diff-${r.section}-${r.key}`}>
                  <th scope="row">
                    <span className="muted">{r.section} · </span>
                    {r.key}
                  </th>
                  <td className="changed">{r.a}</td>
                  <td className="changed">{r.b}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ))}
    </div>
  );
}
