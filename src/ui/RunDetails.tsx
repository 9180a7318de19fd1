// The shown run as a record: its name and notes (editable once it is saved; saved when the field
// loses focus or on Enter in the name), and its settings table: model, data, the shared knobs and
// each method's settings, the rows the HTML report prints.

import { useEffect, useMemo, useState, type KeyboardEvent } from 'react';
import { settingsRows, type SettingRow } from '../io/runSettings';
import { MAX_NAME_LENGTH, MAX_NOTES_LENGTH } from '../io/runDb';
import { useRunStore } from '../state/runStore';
import { currentRunRecord, useSavedRunsStore } from '../state/savedRunsStore';
import './records.css';

export function SettingsTable({ rows, testId }: { rows: readonly SettingRow[]; testId?: string }) {
  return (
    <table className="grid settings-table" data-testid={testId}>
      <tbody>
        {rows.map((r, i) => (
          <SettingsRowView key={`${r.section}|${r.key}`} row={r} first={i === 0 || rows[i - 1]!.section !== r.section} />
        ))}
      </tbody>
    </table>
  );
}

function SettingsRowView({ row, first }: { row: SettingRow; first: boolean }) {
  return (
    <>
      {first && (
        <tr className="section">
          <th colSpan={2} scope="rowgroup">
            {row.section}
          </th>
        </tr>
      )}
      <tr>
        <th scope="row">{row.key}</th>
        <td>{row.value}</td>
      </tr>
    </>
  );
}

export function RunDetails() {
  const record = useRunStore((s) => s.record);
  const params = useRunStore((s) => s.params);
  const methods = useRunStore((s) => s.methods);
  const rename = useSavedRunsStore((s) => s.rename);
  const annotate = useSavedRunsStore((s) => s.annotate);
  const [name, setName] = useState(record?.name ?? '');
  const [notes, setNotes] = useState(record?.notes ?? '');

  // A different run shown, or a field changed elsewhere: that field follows. Separate effects, so a
  // rename landing while notes are being typed does not reset the notes draft.
  useEffect(() => setName(record?.name ?? ''), [record?.id, record?.name]);
  useEffect(() => setNotes(record?.notes ?? ''), [record?.id, record?.notes]);

  const rows = useMemo(() => {
    const r = params && methods.length ? currentRunRecord() : null;
    return r ? settingsRows(r) : [];
  }, [record, params, methods]);

  if (!record) return null;
  const id = record.id;
  const commitName = () => {
    if (id && name.trim() !== record.name) void rename(id, name);
  };
  const onNameKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') commitName();
    if (e.key === 'Escape') setName(record.name);
  };

  return (
    <div className="run-details" data-testid="run-details">
      <h3 className="small">The shown run</h3>
      <label>
        Name
        <input
          type="text"
          value={name}
          maxLength={MAX_NAME_LENGTH}
          disabled={!id}
          title={id ? undefined : 'A run can be renamed once it is saved (when it ends).'}
          onChange={(e) => setName(e.target.value)}
          onBlur={commitName}
          onKeyDown={onNameKey}
          aria-label="Run name"
        />
      </label>
      <label>
        Notes
        <textarea
          value={notes}
          maxLength={MAX_NOTES_LENGTH}
          disabled={!id}
          placeholder={id ? 'What this run tried, what you saw…' : 'Notes can be added once the run is saved (when it ends).'}
          onChange={(e) => setNotes(e.target.value)}
          onBlur={() => {
            if (id && notes !== record.notes) void annotate(id, notes);
          }}
          aria-label="Run notes"
        />
      </label>
      <details>
        <summary>Settings of this run ({rows.length} rows)</summary>
        <SettingsTable rows={rows} testId="run-settings" />
      </details>
    </div>
  );
}
