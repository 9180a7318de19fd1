// What is wrong with a typed number, in words that say the allowed range. Pure (NumberInput.tsx).

export interface NumberBounds {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
}

/** The allowed range in words: "from 1e-7 to 1", "at least 0", "whole numbers from 1 to 64". */
export function rangeText({ min, max, integer }: NumberBounds): string {
  const whole = integer ? 'a whole number ' : 'a number ';
  if (min !== undefined && max !== undefined) return `${whole}from ${String(min)} to ${String(max)}`;
  if (min !== undefined) return `${whole}of at least ${String(min)}`;
  if (max !== undefined) return `${whole}of at most ${String(max)}`;
  return whole.trim();
}

/** Null when `text` is a valid value; otherwise what the field should say. */
export function numberProblem(text: string, bounds: NumberBounds): string | null {
  const n = Number(text);
  const ok =
    text.trim() !== '' &&
    Number.isFinite(n) &&
    (bounds.min === undefined || n >= bounds.min) &&
    (bounds.max === undefined || n <= bounds.max) &&
    (!bounds.integer || Number.isInteger(n));
  if (ok) return null;
  return `Enter ${rangeText(bounds)}`;
}
