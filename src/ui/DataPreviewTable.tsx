// The first rows of the data as the model sees them: each token as a chip, the ones the loss
// counts highlighted, and the length before truncation.

import type { PreviewRow } from '../worker/protocol';

const SHOWN_TOKENS = 64;

function visible(text: string): string {
  return text.replace(/\n/g, '⏎').replace(/ /g, '·');
}

export function DataPreviewTable({ rows }: { rows: readonly PreviewRow[] }) {
  return (
    <table className="grid preview" data-testid="data-preview-table">
      <caption className="muted small">First rows as tokens (highlighted: counted by the loss)</caption>
      <thead>
        <tr>
          <th scope="col">Line</th>
          <th scope="col">Tokens</th>
          <th scope="col" className="num">
            Count
          </th>
        </tr>
      </thead>
      <tbody>
        {rows.map((r) => (
          <tr key={r.line}>
            <td className="num">{r.line}</td>
            <td>
              <div className="tokens" title={r.prompt + r.completion}>
                {r.tokens.slice(0, SHOWN_TOKENS).map((t, i) => (
                  <span key={i} className={t.counted ? 'tok counted' : 'tok'}>
                    {visible(t.text)}
                  </span>
                ))}
                {r.tokens.length > SHOWN_TOKENS && <span className="muted"> … +{r.tokens.length - SHOWN_TOKENS}</span>}
              </div>
            </td>
            <td className="num">
              {r.tokens.length}
              {r.fullLength > r.tokens.length && (
                <span className="warn" title="cut to the sequence length">
                  {' '}
                  / {r.fullLength}
                </span>
              )}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
