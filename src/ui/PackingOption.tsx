// The packing option of the Data panel, with what it does to this data: the share of positions
// that are padding with one example per row and packed, and the padding tokens packing saves,
// from the worker's count over the actual training rows (train/packing.ts).

import type { PackingSummary } from '../worker/protocol';
import { formatCount } from './format';

const TOOLTIP =
  'Place whole examples first-fit into rows of T tokens instead of one padded example per row. An example is never split. ' +
  'There is no segment mask: a packed example attends to the examples before it in its row, and positions run on across the row ' +
  "(Hugging Face TRL's classic packing). The loss still counts only each example's own trained tokens; validation is never packed.";

function share(padding: number, rows: number, seqLen: number): string {
  return rows === 0 ? '0 %' : `${((100 * padding) / (rows * seqLen)).toFixed(1)} %`;
}

export function PackingOption({
  checked,
  disabled,
  summary,
  onChange,
}: {
  readonly checked: boolean;
  readonly disabled: boolean;
  readonly summary: PackingSummary | undefined;
  readonly onChange: (packing: boolean) => void;
}) {
  return (
    <div className="field-row" data-testid="packing">
      <label className="check" title={TOOLTIP}>
        <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} />
        Pack examples
      </label>
      {summary && (
        <span className="muted small" data-testid="packing-stats" title={TOOLTIP}>
          {summary.paddingPacked < summary.paddingUnpacked ? (
            <>
              Padding {share(summary.paddingUnpacked, summary.rowsUnpacked, summary.seqLen)} of positions with one example per row,{' '}
              {share(summary.paddingPacked, summary.rowsPacked, summary.seqLen)} packed: {formatCount(summary.paddingUnpacked - summary.paddingPacked)} padding
              tokens saved per epoch ({formatCount(summary.rowsUnpacked)} → {formatCount(summary.rowsPacked)} rows).
            </>
          ) : (
            <>
              Padding {share(summary.paddingUnpacked, summary.rowsUnpacked, summary.seqLen)} of positions; packing saves none here: no two examples fit together
              in a row of {summary.seqLen} tokens.
            </>
          )}
        </span>
      )}
    </div>
  );
}
