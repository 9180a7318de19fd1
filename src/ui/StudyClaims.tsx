// The Study view's paper claims for one task: each claim of the study's methods (their own
// methodInfo, or the registry's for older files) checked by paired comparison across seeds
// (src/study/aggregate.ts claimResults): how many seeds favour it, the mean ± sd difference of the
// final validation losses, and the verdict. Also the quantization-error table when the study measured it.

import type { ClaimResult, QuantClaimResult } from '../study/aggregate';
import type { QuantStudy } from '../study/results';
import { studyQuantTable } from './studyQuant';
import { claimTally, formatSigned, formatStat } from './studyView';

export function StudyClaims({ claims, label }: { claims: readonly ClaimResult[]; label: (id: string) => string }) {
  if (claims.length === 0) {
    return <p className="muted small">This results file names no paper claims, and the studio's method list has not loaded to supply them.</p>;
  }
  return (
    <div className="table-scroll">
      <table className="grid results study-plain study-claims" data-testid="study-claims">
        <thead>
          <tr>
            <th scope="col">Comparison</th>
            <th scope="col">Claim</th>
            <th scope="col">Seeds</th>
            <th scope="col" className="num" title="Final validation loss of the method minus the other's, mean ± sd over the paired seeds">
              Δ final loss
            </th>
            <th scope="col">Verdict</th>
          </tr>
        </thead>
        <tbody>
          {claims.map((c) => (
            <tr key={`${c.method}-${c.against}`} data-testid={`study-claim-${c.method}-${c.against}`}>
              <td>
                {label(c.method)} vs {label(c.against)}
              </td>
              <td className="study-claim-text">{c.claim}</td>
              <td>{claimTally(c)}</td>
              <td className="num">{formatStat(c.diff, formatSigned, (v) => v.toFixed(3))}</td>
              <td className={`verdict ${c.verdict.replace(' ', '-')}`}>{c.verdict}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="muted small">
        Δ: the method's final validation loss minus the other's, mean ± sd over the seeds both ran (negative: the method ended lower). Verdict: supports when
        every seed (two or more) favours the claim, contradicts when none does, mixed otherwise.
      </p>
    </div>
  );
}

const pct = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(1)} %`);

export function StudyQuant({
  quant,
  claims,
  label,
  infos,
}: {
  quant: QuantStudy;
  claims: readonly QuantClaimResult[];
  label: (id: string) => string;
  infos: readonly { id: string; quantError?: 'baseline' | 'reduced' }[];
}) {
  const table = studyQuantTable(quant, infos);
  return (
    <>
      {table ? (
        <div className="table-scroll">
          <table className="grid results study-plain study-quant" data-testid="study-quant">
            <caption className="muted small">
              Reduction of the nuclear-norm quantization error against plain NF4(W) ({table.baselineMethod ? `${label(table.baselineMethod)}, ` : ''}
              mean ‖E‖* {table.baselineNuclear.toFixed(3)} per layer), mean per layer type.
            </caption>
            <thead>
              <tr>
                <th scope="col">Method</th>
                {[...table.roles, 'all'].map((r) => (
                  <th key={r} scope="col" className="num">
                    {r}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {table.rows.map((r) => (
                <tr key={`${r.series.method}:${r.series.iteration}`}>
                  <td>
                    {label(r.series.method)} T={r.series.iteration}
                  </td>
                  {[...table.roles, 'all'].map((role) => (
                    <td key={role} className="num">
                      {pct(r.byRole[role])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : (
        <p className="muted small">The quantization measurement has no plain NF4(W) error (iteration 0) to compare against.</p>
      )}
      {claims.length > 0 && (
        <ul className="small study-quant-claims">
          {claims.map((c) => (
            <li key={`${c.method}-${c.against}`}>
              <strong>
                {label(c.method)} vs {label(c.against)}
              </strong>{' '}
              ({c.claim}): smaller error in {c.wins} of {c.layers} layers at T={c.iteration}, reduction{' '}
              {formatStat(c.reduction, (v) => `${(100 * v).toFixed(1)} %`)}: <span className={`verdict ${c.verdict.replace(' ', '-')}`}>{c.verdict}</span>
            </li>
          ))}
        </ul>
      )}
    </>
  );
}
