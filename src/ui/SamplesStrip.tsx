// Samples under the curves: the run's one prompt, then a card per method (its colour and marker
// as in the charts) with its continuation at the chosen validation step, and a step scrubber
// (a slider and the list of steps). While the run is live the strip follows the newest step
// until the user picks an earlier one; picking the newest follows again. Text is rendered as
// text (React escapes it), never as HTML. Empty, it says why.

import { useMemo, useState } from 'react';
import { sampleAt, sampleSteps, shownStep } from '../io/runSamples';
import type { RunSample, RunSamples } from '../io/runRecord';
import { useRunStore, type RunPhase } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import type { ComparisonParams } from '../worker/protocol';
import { methodSeries } from './methodColors';
import { SeriesSwatch } from './SeriesSwatch';

const LIVE: readonly RunPhase[] = ['initialising', 'running', 'paused', 'stopping'];
/** Up to this many steps are listed as buttons; more go in a drop-down list. */
const STEP_BUTTONS = 24;

const PROMPT_SOURCE: Readonly<Record<RunSamples['source'], string>> = {
  validation: 'the first validation row, as training renders it',
  training: 'the first training row (no validation rows), as training renders it',
  custom: 'typed under Training, Samples',
};

const ENDS: Readonly<Record<RunSample['end'], string>> = { eos: 'ended at EOS', stop: 'ended at the stop string', length: 'token limit' };

/** What an empty continuation says instead of nothing. */
const EMPTY: Readonly<Record<RunSample['end'], string>> = {
  eos: '(no text: the end-of-sequence token came first)',
  stop: '(no text: the stop string came first)',
  length: '(no text: only special tokens)',
};

/** Why there is nothing to show, or null when there are samples. */
function emptyReason(methods: readonly string[], params: ComparisonParams | null, samples: RunSamples | null, live: boolean, steps: number): string | null {
  if (methods.length === 0) return "Start a comparison: each method's sample at each validation step shows here.";
  if (params && !params.samplesOn) {
    return params.samplesOn === false
      ? 'Samples were off for this run (Training, Samples at each validation).'
      : 'This run has no samples: it was saved before runs took them.';
  }
  if (steps > 0) return null;
  if (live && params) return `No samples yet: the first comes with the first validation, after step ${Math.min(params.evalEvery, params.steps)}.`;
  if (live) return 'No samples yet: they come with each validation.';
  return samples ? 'No samples: the run ended before its first validation.' : 'This run has no samples.';
}

export function SamplesStrip() {
  // A new run starts with a fresh scrubber that follows it.
  const runKey = useRunStore((s) => s.record?.startedAt ?? 0);
  return <Strip key={runKey} />;
}

function Strip() {
  const samples = useRunStore((s) => s.samples);
  const methods = useRunStore((s) => s.methods);
  const params = useRunStore((s) => s.params);
  const halted = useRunStore((s) => s.halted);
  const live = useRunStore((s) => LIVE.includes(s.phase));
  const infos = useSettingsStore((s) => s.methods);
  const [chosen, setChosen] = useState<number | null>(null);
  const [follow, setFollow] = useState(true);
  const steps = useMemo(() => (samples ? sampleSteps(samples.byMethod, methods) : []), [samples, methods]);
  const step = shownStep(steps, chosen, follow);
  const index = step === null ? -1 : steps.indexOf(step);
  const reason = emptyReason(methods, params, samples, live, steps.length);
  const order = infos.map((m) => m.id);
  const label = (id: string) => infos.find((m) => m.id === id)?.label ?? id;

  const pick = (i: number) => {
    const s = steps[i];
    if (s === undefined) return;
    setChosen(s);
    setFollow(i === steps.length - 1);
  };

  return (
    <section className="panel samples-strip" aria-labelledby="samples-title" data-testid="samples-strip" data-step={step ?? ''}>
      <div className="panel-head">
        <h2 id="samples-title">Samples</h2>
        {steps.length > 0 && step !== null && (
          <div className="sample-scrubber">
            <label htmlFor="sample-step">Step</label>
            <input
              id="sample-step"
              type="range"
              min={0}
              max={Math.max(0, steps.length - 1)}
              step={1}
              value={index}
              disabled={steps.length < 2}
              aria-valuetext={`step ${step}`}
              onChange={(e) => pick(Number(e.target.value))}
            />
            <span className="sample-step-now" data-testid="sample-step">
              {step}
              {live && follow ? ' (newest)' : ''}
            </span>
          </div>
        )}
      </div>
      {reason ? (
        <p className="muted" data-testid="samples-empty">
          {reason}
        </p>
      ) : (
        <>
          {steps.length <= STEP_BUTTONS ? (
            <div className="sample-steps" role="group" aria-label="Validation steps with samples">
              {steps.map((s, i) => (
                <button key={s} type="button" className={s === step ? 'active' : undefined} aria-pressed={s === step} onClick={() => pick(i)}>
                  {s}
                </button>
              ))}
            </div>
          ) : (
            <label className="sample-steps">
              Validation step{' '}
              <select value={step ?? ''} onChange={(e) => pick(steps.indexOf(Number(e.target.value)))}>
                {steps.map((s) => (
                  <option key={s} value={s}>
                    {s}
                  </option>
                ))}
              </select>
            </label>
          )}
          {samples && (
            <div className="sample-prompt">
              <span className="small muted">Prompt: {PROMPT_SOURCE[samples.source]}</span>
              <pre data-testid="sample-prompt">{samples.prompt}</pre>
            </div>
          )}
          <div className="sample-cards">
            {methods.map((id) => {
              const sample = step === null || !samples ? undefined : sampleAt(samples.byMethod, id, step);
              const series = methodSeries(id, label(id), order);
              return (
                <article key={id} className="sample-card" data-testid={`sample-${id}`} style={{ borderTopColor: series.color }}>
                  <h3>
                    <SeriesSwatch series={series} /> {series.label}
                  </h3>
                  {sample ? (
                    <>
                      <pre className="sample-text">{sample.text === '' ? EMPTY[sample.end] : sample.text}</pre>
                      <span className="small muted">
                        {sample.tokens} {sample.tokens === 1 ? 'token' : 'tokens'} · {ENDS[sample.end]} · {(sample.ms / 1000).toFixed(1)} s
                      </span>
                    </>
                  ) : (
                    <p className="small muted">
                      {halted[id] ? `Halted: ${halted[id]}` : `No sample at step ${step}: it had not joined the run or was not sampled then.`}
                    </p>
                  )}
                </article>
              );
            })}
          </div>
        </>
      )}
    </section>
  );
}
