// The Study view's setup: how the reference study was run (studySetup.ts), as a definition list.
// A study trained in slices merges one process per slice; their commands fold away under the first.

import type { StudyJson } from '../study/results';
import { setupFacts, type SetupFact } from './studySetup';

function Facts({ facts }: { facts: SetupFact[] }) {
  return (
    <dl className="study-facts">
      {facts.map((f) => (
        <div key={f.label} className={f.command ? 'study-fact wide' : 'study-fact'}>
          <dt>{f.label}</dt>
          <dd>{f.command ? <code>{f.value}</code> : f.value}</dd>
        </div>
      ))}
    </dl>
  );
}

export function StudySetup({ study, label }: { study: StudyJson; label: (id: string) => string }) {
  const facts = setupFacts(study, label);
  const merged = facts.filter((f) => f.merged);
  return (
    <section className="panel" aria-labelledby="study-setup-title" data-testid="study-setup">
      <h2 id="study-setup-title">How the reference study was run</h2>
      <Facts facts={facts.filter((f) => !f.merged)} />
      {merged.length > 0 && (
        <details className="study-merged" data-testid="study-merged">
          <summary>
            {merged.length} more {merged.length === 1 ? 'process' : 'processes'} merged in: the same configuration, each training its own task, seed and methods
          </summary>
          <Facts facts={merged} />
        </details>
      )}
    </section>
  );
}
