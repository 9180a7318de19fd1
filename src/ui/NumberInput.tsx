// A number field that lets the user type freely (an empty or half-typed value is kept as a
// draft) and commits only valid numbers within [min, max]; out-of-range drafts are flagged.

import { useState } from 'react';

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
  const parsed = draft === null ? value : Number(draft);
  const valid = draft === null || (draft.trim() !== '' && Number.isFinite(parsed) && (min === undefined || parsed >= min) && (max === undefined || parsed <= max) && (!integer || Number.isInteger(parsed)));
  return (
    <input
      id={id}
      type="number"
      className={valid ? 'num-input' : 'num-input invalid'}
      aria-invalid={!valid}
      aria-describedby={describedBy}
      value={draft ?? String(value)}
      min={min}
      max={max}
      step={integer ? 1 : step}
      disabled={disabled}
      onChange={(e) => {
        const text = e.target.value;
        setDraft(text);
        const n = Number(text);
        if (text.trim() !== '' && Number.isFinite(n) && (min === undefined || n >= min) && (max === undefined || n <= max) && (!integer || Number.isInteger(n))) onChange(n);
      }}
      onBlur={() => setDraft(null)}
    />
  );
}
