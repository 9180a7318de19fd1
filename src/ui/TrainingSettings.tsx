// The shared knobs every method trains with: target projections, learning rate and schedule,
// steps, batch, seed, evaluation cadence, clipping, activation checkpointing, run checkpoints, and
// the samples taken at each validation (SampleSettings.tsx).

import { useModelStore } from '../state/modelStore';
import { useRunStore } from '../state/runStore';
import { useSettingsStore } from '../state/settingsStore';
import { MAX_SEEDS, type ScheduleKind } from '../worker/protocol';
import { NumberInput } from './NumberInput';
import { SampleSettings } from './SampleSettings';
import { SetupSection } from './SetupSection';

const SCHEDULES: readonly ScheduleKind[] = ['constant', 'linear', 'cosine'];
const NO_ROLES: readonly string[] = [];

export function TrainingSettings() {
  const shared = useSettingsStore((s) => s.shared);
  const setShared = useSettingsStore((s) => s.setShared);
  const roles = useModelStore((s) => s.card?.roles ?? NO_ROLES);
  const busy = useRunStore((s) => s.phase === 'initialising' || s.phase === 'running' || s.phase === 'paused' || s.phase === 'stopping');
  const all = shared.targets.includes('all');

  const toggleRole = (role: string, on: boolean) => {
    const current = all ? roles : shared.targets;
    const next = on ? [...new Set([...current, role])] : current.filter((r) => r !== role);
    setShared({ targets: next.length === roles.length ? ['all'] : next });
  };

  return (
    <SetupSection
      id="training"
      title="Training"
      testId="training-settings"
      summary={`${shared.steps} steps · B ${shared.batch} · lr ${shared.lr} ${shared.schedule} · ${all ? 'all projections' : shared.targets.join(', ')}`}
    >
      <fieldset className="targets" disabled={busy}>
        <legend>Target projections</legend>
        {roles.map((r) => (
          <label key={r} className="check">
            <input type="checkbox" checked={all || shared.targets.includes(r)} onChange={(e) => toggleRole(r, e.target.checked)} /> {r}
          </label>
        ))}
      </fieldset>
      <div className="settings-grid">
        <label htmlFor="lr">Learning rate</label>
        <NumberInput id="lr" value={shared.lr} min={1e-7} max={1} disabled={busy} onChange={(lr) => setShared({ lr })} />
        <label htmlFor="schedule">Schedule</label>
        <select id="schedule" value={shared.schedule} disabled={busy} onChange={(e) => setShared({ schedule: e.target.value as ScheduleKind })}>
          {SCHEDULES.map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <label htmlFor="warmup">Warmup steps</label>
        <NumberInput id="warmup" value={shared.warmup} min={0} max={shared.steps} integer disabled={busy} onChange={(warmup) => setShared({ warmup })} />
        <label htmlFor="steps">Steps</label>
        <NumberInput id="steps" value={shared.steps} min={1} max={100000} integer disabled={busy} onChange={(steps) => setShared({ steps })} />
        <label htmlFor="batch">Batch B</label>
        <NumberInput id="batch" value={shared.batch} min={1} max={512} integer disabled={busy} onChange={(batch) => setShared({ batch })} />
        <label htmlFor="seed">Seed</label>
        <NumberInput id="seed" value={shared.seed} min={0} max={2 ** 31 - 1} integer disabled={busy} onChange={(seed) => setShared({ seed })} />
        <label htmlFor="seeds" title="Repeats the whole comparison with seed, seed + 1, …: the results show mean ± standard deviation over the seeds.">
          Seeds (1–{MAX_SEEDS})
        </label>
        <NumberInput id="seeds" value={shared.seeds} min={1} max={MAX_SEEDS} integer disabled={busy} onChange={(seeds) => setShared({ seeds })} />
        <label htmlFor="eval-every">Validate every</label>
        <NumberInput id="eval-every" value={shared.evalEvery} min={1} max={100000} integer disabled={busy} onChange={(evalEvery) => setShared({ evalEvery })} />
        <label htmlFor="val-rows">Validation rows</label>
        <NumberInput
          id="val-rows"
          value={shared.validationRows}
          min={0}
          max={100000}
          integer
          disabled={busy}
          onChange={(validationRows) => setShared({ validationRows })}
        />
        <label htmlFor="accuracy-questions">Accuracy questions</label>
        <NumberInput
          id="accuracy-questions"
          value={shared.accuracyQuestions}
          min={0}
          max={1000}
          integer
          disabled={busy}
          onChange={(accuracyQuestions) => setShared({ accuracyQuestions })}
        />
        <label htmlFor="clip">Gradient clip</label>
        <NumberInput id="clip" value={shared.clipNorm} min={0} max={1000} disabled={busy} onChange={(clipNorm) => setShared({ clipNorm })} />
        <label htmlFor="checkpointing">Activation checkpointing</label>
        <input
          id="checkpointing"
          type="checkbox"
          checked={shared.checkpointing}
          disabled={busy}
          title="Recompute each block's activations in backward instead of keeping them: much less memory for long sequences, one more forward pass per step."
          onChange={(e) => setShared({ checkpointing: e.target.checked })}
        />
        <label
          htmlFor="checkpoint-every"
          title="Keep the run's state in this browser every N steps, to resume after a stop, a GPU failure or a closed tab (0: only when paused or stopped)."
        >
          Checkpoint every N steps
        </label>
        <NumberInput
          id="checkpoint-every"
          value={shared.checkpointEvery}
          min={0}
          max={100000}
          integer
          disabled={busy}
          onChange={(checkpointEvery) => setShared({ checkpointEvery })}
        />
      </div>
      <SampleSettings busy={busy} />
    </SetupSection>
  );
}
