// The run bar, pinned to the top of the studio while the page scrolls: Start, Pause/Resume, Stop
// and Add method; the run's state, step x / y with a progress bar and an estimate of the time
// left (from the measured step times, runProgress.ts); with several seeds, which seed of how many
// (the steps and the estimate are that seed's); the name of the run shown. Start reads the
// chosen methods and shared settings; the buttons are disabled when the action makes no sense,
// and say why. "Resume from the last checkpoint" continues a stopped or interrupted run (also one
// restored after a reload) when a checkpoint of it is stored and its model and data are loaded.

import { useLayoutEffect, useRef } from 'react';
import { useDataStore } from '../state/dataStore';
import { useModelStore } from '../state/modelStore';
import { resumeProblem, useRunStore, type RunPhase } from '../state/runStore';
import { chosenMethods, comparisonParams, useSettingsStore } from '../state/settingsStore';
import { AddMethodPanel } from './AddMethodPanel';
import { formatDuration, remainingMs, stepsDone, stepTimeMs } from './runProgress';

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

/** Keeps `--run-bar-h` on the bar's parent at the bar's height, so what sticks below it (the set-up column) starts under it. */
function useBarHeight() {
  const ref = useRef<HTMLElement>(null);
  useLayoutEffect(() => {
    const bar = ref.current;
    if (!bar || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver(() => bar.parentElement?.style.setProperty('--run-bar-h', `${bar.offsetHeight}px`));
    observer.observe(bar);
    return () => observer.disconnect();
  }, []);
  return ref;
}

export function RunControls() {
  const barRef = useBarHeight();
  const phase = useRunStore((s) => s.phase);
  const error = useRunStore((s) => s.error);
  const start = useRunStore((s) => s.start);
  const pause = useRunStore((s) => s.pause);
  const resume = useRunStore((s) => s.resume);
  const stop = useRunStore((s) => s.stop);
  const series = useRunStore((s) => s.series);
  const totalSteps = useRunStore((s) => s.params?.steps ?? 0);
  const data = useRunStore((s) => s.data);
  const runName = useRunStore((s) => s.record?.name ?? null);
  const checkpoint = useRunStore((s) => s.checkpoint);
  const checkpointError = useRunStore((s) => s.checkpointError);
  const resumeFromCheckpoint = useRunStore((s) => s.resumeFromCheckpoint);
  const record = useRunStore((s) => s.record);
  const seedRun = useRunStore((s) => s.seedRun);
  const hasModel = useModelStore((s) => s.card !== null && s.loading === null);
  const hasData = useDataStore((s) => s.preview !== null);
  const chosen = useSettingsStore((s) => chosenMethods(s).length);
  const active = phase === 'initialising' || phase === 'running' || phase === 'paused' || phase === 'stopping';
  // Subscribed so that loading the run's model or data enables Resume.
  const card = useModelStore((s) => s.card);
  const preview = useDataStore((s) => s.preview);
  const cannotResume = record && card && preview ? resumeProblem(record) : 'Load the model and data the run was trained on.';
  const why = !hasModel ? 'Load a model first.' : !hasData ? 'Choose data first.' : chosen === 0 ? 'Tick at least one method.' : null;
  const steps = stepsDone(series);
  const left = phase === 'running' ? remainingMs(series, totalSteps) : null;
  const perStep = stepTimeMs(series);
  const dataText = data && `${data.train} train rows, ${data.validation} validation rows, ${data.stepsPerEpoch} steps/epoch`;

  return (
    <section ref={barRef} className="run-bar" aria-labelledby="run-title" data-testid="run-controls">
      <h2 id="run-title" className="sr-only">
        Run
      </h2>
      <div className="run-buttons">
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
        {!active && checkpoint && phase !== 'done' && (
          <button
            type="button"
            data-testid="resume-checkpoint"
            disabled={cannotResume !== null}
            title={cannotResume ?? `Continue this run from step ${checkpoint.step}; the curves go on from there.`}
            onClick={() => void resumeFromCheckpoint()}
          >
            Resume from the last checkpoint (step {checkpoint.step})
          </button>
        )}
        <AddMethodPanel />
      </div>
      {!active && checkpoint && phase !== 'done' && cannotResume && (
        <span className="muted small run-why" data-testid="resume-needs">
          {cannotResume}
        </span>
      )}
      <div className="run-progress" title={dataText ?? undefined}>
        <span className={`run-state ${phase}`} role="status" aria-live="polite" data-testid="run-state">
          {PHASE_TEXT[phase]}
          {seedRun && phase !== 'idle' && (
            <span data-testid="run-seed" title={`Seed ${seedRun.seed}: the comparison is repeated with ${seedRun.count} seeds, one after another.`}>
              {` · seed ${seedRun.index + 1} of ${seedRun.count}`}
            </span>
          )}
          {totalSteps > 0 && phase !== 'idle' && ` · step ${steps}/${totalSteps}`}
        </span>
        {totalSteps > 0 && phase !== 'idle' && <progress className="run-steps" max={totalSteps} value={steps} aria-label="Steps done" />}
        {left !== null && perStep !== null && (
          <span
            className="run-eta small"
            data-testid="run-eta"
            title={`${formatDuration(perStep)} a step (all methods, mean of the last steps); validation and accuracy passes not included`}
          >
            about {formatDuration(seedRun ? left + (seedRun.count - seedRun.index - 1) * totalSteps * perStep : left)} left
            {seedRun && seedRun.index < seedRun.count - 1 && ' (all seeds)'}
          </span>
        )}
      </div>
      <div className={runName ? 'run-name small' : 'run-name small empty'} data-testid="run-bar-name">
        {runName ? (
          <>
            <span className="muted">Run </span>
            <strong title={runName}>{runName}</strong>
          </>
        ) : (
          <span className="muted">No run yet</span>
        )}
        {dataText && <span className="muted run-data"> · {dataText}</span>}
      </div>
      {why && phase === 'idle' && <span className="muted small run-why">{why}</span>}
      {checkpointError && (
        <p className="muted small" role="status" data-testid="checkpoint-error">
          {checkpointError}
        </p>
      )}
      {error && (
        <p className="result fail" role="alert" data-testid="run-error">
          {error}
        </p>
      )}
    </section>
  );
}
