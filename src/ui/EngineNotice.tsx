// The engine's notice under the header: the GPU device was lost (the engine takes a new one and
// reloads the model on the next action, progress shown here) or the engine worker stopped
// (everything shown stays; "Restart engine" starts a new one and reloads the model and data), or
// the engine worker stopped answering (hung: the same offer, the stuck worker is terminated).
// After a device loss that ended a run, "Resume from the last checkpoint" continues it (runStore);
// after a crash or a hang, "Restart engine and resume" does both.

import { useEngineStore } from '../state/engineStore';
import { useRunStore } from '../state/runStore';

export function EngineNotice() {
  const notice = useEngineStore((s) => s.notice);
  const restart = useEngineStore((s) => s.restart);
  const dismiss = useEngineStore((s) => s.dismissNotice);
  const checkpoint = useRunStore((s) => s.checkpoint);
  const resumable = useRunStore((s) => s.phase === 'stopped' || s.phase === 'failed');
  // A hung worker's run is still "running" in the page until the worker is terminated.
  const unfinished = useRunStore((s) => s.phase !== 'done' && s.phase !== 'idle');
  const resumeFromCheckpoint = useRunStore((s) => s.resumeFromCheckpoint);
  if (!notice) return null;
  const idle = notice.progress === null && notice.outcome === null;
  const restartable = (notice.kind === 'crashed' || notice.kind === 'hung') && idle;
  const restartAndResume = async () => {
    if (!(await restart())) return;
    dismiss();
    await resumeFromCheckpoint();
  };
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
      {restartable && (
        <button type="button" data-testid="notice-restart" onClick={() => void restart()}>
          Restart engine
        </button>
      )}
      {restartable && checkpoint && unfinished && (
        <button type="button" data-testid="notice-restart-resume" onClick={() => void restartAndResume()}>
          Restart engine and resume from the last checkpoint (step {checkpoint.step})
        </button>
      )}
      {(notice.kind === 'device' || notice.outcome?.ok === true) && notice.progress === null && checkpoint && resumable && (
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
