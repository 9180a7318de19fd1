// The Study view's sample answers for one task: the first prompts of its first run, each with the
// reference and every method's greedy answer (src/study/sampleAnswers.ts, as in docs/RESULTS.md).

import { sampleAnswers } from '../study/sampleAnswers';
import type { StudyRun } from '../study/results';

const SAMPLES = 2;

export function StudySamples({ runs, label }: { runs: readonly StudyRun[]; label: (id: string) => string }) {
  const samples = sampleAnswers(runs, SAMPLES);
  if (!samples || samples.prompts.length === 0) return null;
  return (
    <details className="study-samples" data-testid="study-samples">
      <summary>
        Sample answers (seed {samples.seed}, greedy): {samples.prompts.length} {samples.prompts.length === 1 ? 'prompt' : 'prompts'}, every method
      </summary>
      {samples.prompts.map((p, i) => (
        <div key={i} className="study-sample">
          <pre className="study-prompt">{p.prompt}</pre>
          <p className="small">
            Reference: <code>{p.reference}</code>
          </p>
          <div className="table-scroll">
            <table className="grid results study-plain">
              <thead>
                <tr>
                  <th scope="col">Method</th>
                  <th scope="col">Greedy answer</th>
                  <th scope="col">Correct</th>
                </tr>
              </thead>
              <tbody>
                {p.answers.map((a) => (
                  <tr key={a.method}>
                    <th scope="row">{label(a.method)}</th>
                    <td className="study-answer">
                      {a.generated === undefined ? '–' : a.generated.trim() === '' ? <span className="muted">(nothing)</span> : a.generated}
                    </td>
                    <td className={a.correct ? 'verdict supports' : 'verdict'}>{a.correct ? 'yes' : 'no'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ))}
    </details>
  );
}
