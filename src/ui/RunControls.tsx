// Start, Pause/Resume, Stop, and the run's state in words. Start reads the chosen methods and
// shared settings; the buttons are disabled when the action makes no sense.

import { useDataStore } from '../state/dataStore';
import { useModelStore } from '../state/modelStore';
import { useRunStore, type RunPhase } from '../state/runStore';
import { chosenMethods, comparisonParams, useSettingsStore } from '../state/settingsStore';

const PHASE_TEXT: Record<RunPhase, string> = {
  idle: 'Ready',
  initialising: 'Initialising methods…',
  running: 'Training',
  paused: 'Paused',
  stopping: 'Stopping after this step…',
  done: 'Done',
  stopped: 'Stopped',
  failed: 'Failed',
};

export function RunControls() {
  const phase = useRunStore((s) => s.phase);
  const error = useRunStore((s) => s.error);
  const start = useRunStore((s) => s.start);
  const pause = useRunStore((s) => s.pause);
  const resume = useRunStore((s) => s.resume);
  const stop = useRunStore((s) => s.stop);
  const steps = useRunStore((s) => Math.max(0, ...Object.values(s.series).map((p) => p.length)));
  const totalSteps = useRunStore((s) => s.params?.steps ?? 0);
  const data = useRunStore((s) => s.data);
  const hasModel = useModelStore((s) => s.card !== null && s.loading === null);
  const hasData = useDataStore((s) => s.preview !== null);
  const chosen = useSettingsStore((s) => chosenMethods(s).length);
  const active = phase === 'initialising' || phase === 'running' || phase === 'paused' || phase === 'stopping';
  const why = !hasModel ? 'Load a model first.' : !hasData ? 'Choose data first.' : chosen === 0 ? 'Tick at least one method.' : null;

  return (
    <section className="panel run-controls" aria-labelledby="run-title" data-testid="run-controls">
      <h2 id="run-title" className="sr-only">
        Run
      </h2>
      <button
        type="button"
        className="primary"
        disabled={active || why !== null}
        title={why ?? undefined}
        onClick={() => void start(comparisonParams(useSettingsStore.getState()))}
      >
        {phase === 'done' || phase === 'stopped' || phase === 'failed' ? 'Start again' : 'Start'} ({chosen} {chosen === 1 ? 'method' : 'methods'})
      </button>
      {phase === 'paused' ? (
        <button type="button" onClick={() => void resume()}>
          Resume
        </button>
      ) : (
        <button type="button" disabled={phase !== 'running' && phase !== 'initialising'} onClick={() => void pause()}>
          Pause
        </button>
      )}
      <button type="button" disabled={!active || phase === 'stopping'} onClick={() => void stop()}>
        Stop
      </button>
      <span className={`run-state ${phase}`} role="status" aria-live="polite" data-testid="run-state">
        {PHASE_TEXT[phase]}
        {totalSteps > 0 && phase !== 'idle' && ` · step ${steps}/${totalSteps}`}
        {data && ` · ${data.train} train rows, ${data.validation} validation rows, ${data.stepsPerEpoch} steps/epoch`}
      </span>
      {why && phase === 'idle' && <span className="muted small">{why}</span>}
      {error && (
        <p className="result fail" role="alert" data-testid="run-error">
          {error}
        </p>
      )}
    </section>
  );
}
