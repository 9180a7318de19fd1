// What packing does to a run's training rows: how many rows of T tokens the examples fill with one
// example per row and packed (io/datasets.ts packBatches, first-fit in data order), and how many
// of those positions are padding either way. Computed from the actual examples (after truncation
// to T), once per epoch of rows; the batcher's wrap-around at an epoch's end is not counted.
//
// Packed examples share a row without a segment mask: attention is causal over the whole row and
// positions run on, so a packed example attends to the examples before it in its row (Hugging Face
// TRL's classic packing). Validation is never packed, so validation losses compare across settings.

import { packBatches, type TokenizedExample } from '../io/datasets';

export interface PackingSummary {
  /** T */
  readonly seqLen: number;
  readonly examples: number;
  /** Non-padding positions: each example's tokens, cut to T. */
  readonly tokens: number;
  /** Rows with one example per row, and packed. */
  readonly rowsUnpacked: number;
  readonly rowsPacked: number;
  /** Padding positions: rows · T − tokens. */
  readonly paddingUnpacked: number;
  readonly paddingPacked: number;
}

type Sequence = Pick<TokenizedExample, 'ids' | 'lossMask'>;

export function packingSummary(examples: readonly Sequence[], seqLen: number): PackingSummary {
  const tokens = examples.reduce((n, e) => n + Math.min(e.ids.length, seqLen), 0);
  const rowsUnpacked = examples.length;
  const rowsPacked = packBatches(examples, seqLen, true).length;
  return {
    seqLen,
    examples: examples.length,
    tokens,
    rowsUnpacked,
    rowsPacked,
    paddingUnpacked: rowsUnpacked * seqLen - tokens,
    paddingPacked: rowsPacked * seqLen - tokens,
  };
}

/** Padding positions packing removes. */
export const paddingSaved = (s: PackingSummary): number => s.paddingUnpacked - s.paddingPacked;

/** The share of positions that are padding (0 for no rows). */
export function paddingShare(s: PackingSummary, packed: boolean): number {
  const rows = packed ? s.rowsPacked : s.rowsUnpacked;
  return rows === 0 ? 0 : (packed ? s.paddingPacked : s.paddingUnpacked) / (rows * s.seqLen);
}

/** One line for the CLI and the studio: "padding 38.2 % → 3.1 % of positions (1,234 padding tokens saved, 512 → 330 rows)". */
export function packingText(s: PackingSummary): string {
  const pct = (x: number) => `${(100 * x).toFixed(1)} %`;
  return (
    `padding ${pct(paddingShare(s, false))} unpacked → ${pct(paddingShare(s, true))} packed ` +
    `(${paddingSaved(s).toLocaleString('en-US')} padding tokens saved per epoch, ${s.rowsUnpacked} → ${s.rowsPacked} rows of ${s.seqLen})`
  );
}
