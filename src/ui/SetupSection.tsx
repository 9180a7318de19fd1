// A set-up panel that folds: its title is a button (aria-expanded) that shows or hides the body,
// and while folded a one-line summary stands beside the title (the model's name, the data's
// counts, the ticked methods). The body stays mounted when folded, so its effects (re-tokenising
// the data, refreshing the estimates) keep running. Folded state lives in settingsStore. Outside
// the set-up column (collapsible false) it is a plain panel with a heading.

import type { ReactNode } from 'react';
import { useSettingsStore } from '../state/settingsStore';

interface Props {
  /** Key of the folded state; also the stem of the heading's id (`${id}-title`). */
  readonly id: string;
  readonly title: string;
  readonly testId: string;
  /** Beside the title while folded. */
  readonly summary?: ReactNode;
  /** Beside the title while open (links such as "Back to the built-in model"). */
  readonly actions?: ReactNode;
  readonly collapsible?: boolean;
  readonly className?: string;
  readonly children: ReactNode;
}

export function SetupSection({ id, title, testId, summary, actions, collapsible = true, className, children }: Props) {
  const folded = useSettingsStore((s) => collapsible && (s.collapsed[id] ?? false));
  const setCollapsed = useSettingsStore((s) => s.setCollapsed);
  const bodyId = `${id}-body`;
  return (
    <section
      className={['panel', collapsible ? 'setup-section' : '', folded ? 'folded' : '', className ?? ''].filter(Boolean).join(' ')}
      aria-labelledby={`${id}-title`}
      data-testid={testId}
    >
      <div className="panel-head">
        <h2 id={`${id}-title`}>
          {collapsible ? (
            <button type="button" className="section-toggle" aria-expanded={!folded} aria-controls={bodyId} onClick={() => setCollapsed(id, !folded)}>
              <span className="chevron" aria-hidden>
                {folded ? '▸' : '▾'}
              </span>
              {title}
            </button>
          ) : (
            title
          )}
        </h2>
        {folded ? summary && <span className="section-summary small muted">{summary}</span> : actions}
      </div>
      <div id={bodyId} className="section-body" hidden={folded}>
        {children}
      </div>
    </section>
  );
}
