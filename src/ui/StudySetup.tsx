// The Study view's setup: how the reference study was run (studySetup.ts), as a definition list.

import type { StudyJson } from '../study/results';
import { setupFacts } from './studySetup';

export function StudySetup({ study, label }: { study: StudyJson; label: (id: string) => string }) {
  return (
    <section className="panel" aria-labelledby="study-setup-title" data-testid="study-setup">
      <h2 id="study-setup-title">How the reference study was run</h2>
      <dl className="study-facts">
        {setupFacts(study, label).map((f) => (
          <div key={f.label} className={f.command ? 'study-fact wide' : 'study-fact'}>
            <dt>{f.label}</dt>
            <dd>{f.command ? <code>{f.value}</code> : f.value}</dd>
          </div>
        ))}
      </dl>
    </section>
  );
}
