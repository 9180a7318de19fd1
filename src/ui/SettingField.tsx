// One method setting, rendered from its schema entry: a number field with its range, a choice
// list or a checkbox, with the schema's help text as its description.

import type { SettingSpec, SettingValue } from '../worker/protocol';
import { NumberInput } from './NumberInput';

interface Props {
  readonly idPrefix: string;
  readonly spec: SettingSpec;
  readonly value: SettingValue;
  readonly disabled?: boolean;
  readonly onChange: (value: SettingValue) => void;
}

export function SettingField({ idPrefix, spec, value, disabled, onChange }: Props) {
  const id = `${idPrefix}-${spec.key}`;
  const helpId = `${id}-help`;
  return (
    <div className="setting">
      {spec.kind === 'boolean' ? (
        <label htmlFor={id} className="check">
          <input id={id} type="checkbox" checked={value === true} disabled={disabled} aria-describedby={helpId} onChange={(e) => onChange(e.target.checked)} />{' '}
          {spec.label}
        </label>
      ) : (
        <>
          <label htmlFor={id}>{spec.label}</label>
          {spec.kind === 'number' ? (
            <NumberInput
              id={id}
              value={typeof value === 'number' ? value : spec.default}
              min={spec.min}
              max={spec.max}
              integer={spec.integer}
              disabled={disabled}
              describedBy={helpId}
              onChange={onChange}
            />
          ) : (
            <select id={id} value={String(value)} disabled={disabled} aria-describedby={helpId} onChange={(e) => onChange(e.target.value)}>
              {spec.options.map((o) => (
                <option key={o} value={o}>
                  {o}
                </option>
              ))}
            </select>
          )}
        </>
      )}
      <span id={helpId} className="help">
        {spec.help}
      </span>
    </div>
  );
}
