// A number field that lets the user type freely (an empty or half-typed value is kept as a
// draft) and commits only valid numbers within [min, max]. A draft that is out of range or not a
// number is kept as typed (also after leaving the field), flagged, and the allowed range and the
// value still in use are said beside it: nothing is silently replaced.

import { useState } from 'react';
import { numberProblem } from './numberRange';

interface Props {
  readonly id: string;
  readonly value: number;
  readonly onChange: (value: number) => void;
  readonly min?: number;
  readonly max?: number;
  readonly step?: number | 'any';
  readonly integer?: boolean;
  readonly disabled?: boolean;
  readonly describedBy?: string;
}

export function NumberInput({ id, value, onChange, min, max, step = 'any', integer, disabled, describedBy }: Props) {
  const [draft, setDraft] = useState<string | null>(null);
  const problem = draft === null ? null : numberProblem(draft, { min, max, integer });
  const messageId = `${id}-range`;
  return (
    <span className="num-field">
      <input
        id={id}
        type="number"
        className={problem ? 'num-input invalid' : 'num-input'}
        aria-invalid={problem !== null}
        aria-describedby={[describedBy, problem ? messageId : undefined].filter(Boolean).join(' ') || undefined}
        value={draft ?? String(value)}
        min={min}
        max={max}
        step={integer ? 1 : step}
        disabled={disabled}
        onChange={(e) => {
          const text = e.target.value;
          setDraft(text);
          if (numberProblem(text, { min, max, integer }) === null) onChange(Number(text));
        }}
        // A valid draft gives way to the committed value; an invalid one stays until fixed.
        onBlur={() => setDraft((d) => (d !== null && numberProblem(d, { min, max, integer }) === null ? null : d))}
      />
      {problem && (
        <span id={messageId} className="num-range small" role="alert" data-testid="number-range">
          {problem}; still using {String(value)}.
        </span>
      )}
    </span>
  );
}
