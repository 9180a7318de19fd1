// The engine's notice under the header: the GPU device was lost (the engine takes a new one and
// reloads the model on the next action, progress shown here) or the engine worker stopped
// (everything shown stays; "Restart engine" starts a new one and reloads the model and data).
// After a device loss that ended a run, "Resume from the last checkpoint" continues it (runStore).

import { useEngineStore } from '../state/engineStore';
import { useRunStore } from '../state/runStore';

export function EngineNotice() {
  const notice = useEngineStore((s) => s.notice);
  const restart = useEngineStore((s) => s.restart);
  const dismiss = useEngineStore((s) => s.dismissNotice);
  const checkpoint = useRunStore((s) => s.checkpoint);
  const resumable = useRunStore((s) => s.phase === 'stopped' || s.phase === 'failed');
  const resumeFromCheckpoint = useRunStore((s) => s.resumeFromCheckpoint);
  if (!notice) return null;
  const idle = notice.progress === null && notice.outcome === null;
  return (
    <div className="banner error" role="alert" data-testid="engine-notice" data-kind={notice.kind}>
      <p>{notice.message}</p>
      {notice.progress && (
        <p role="status" data-testid="engine-notice-progress">
          {notice.progress}
        </p>
      )}
      {notice.outcome && (
        <p className={notice.outcome.ok ? 'result pass' : 'result fail'} data-testid="engine-notice-outcome">
          {notice.outcome.text}
        </p>
      )}
      {notice.kind === 'crashed' && idle && (
        <button type="button" onClick={() => void restart()}>
          Restart engine
        </button>
      )}
      {notice.kind === 'device' && notice.progress === null && checkpoint && resumable && (
        <button
          type="button"
          data-testid="notice-resume-checkpoint"
          onClick={() => {
            dismiss();
            void resumeFromCheckpoint();
          }}
        >
          Resume from the last checkpoint (step {checkpoint.step})
        </button>
      )}
      {notice.progress === null && (notice.kind === 'device' || notice.outcome !== null) && (
        <button type="button" onClick={dismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}
