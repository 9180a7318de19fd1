// Taking results away (PRODUCT.md step 8): a trained method as a PEFT adapter or merged model
// (the worker writes the files; they download zipped or one by one), the comparison's curves as
// CSV or JSON, a self-contained HTML report, and a PEFT/TRL script reproducing one method.
// One export at a time; its outcome (what was written, or why not) is kept for the panel.
// Everything exported is of the run the page shows and says so: file names carry the run's
// name, the report its model, data, settings and (when another run is picked for a diff or
// overlaid) the settings that differ. Adapter exports need the run's weights in the worker
// (rebuilt from its checkpoint when they are not: runStore restoreWeights).

import { create } from 'zustand';
import { zipParts } from '../io/zip';
import { curvesCsv, curvesJson } from '../io/runRecord';
import { htmlReport, type ReportChart } from '../io/report';
import type { ScriptSetting } from '../io/pythonScript';
import { downloadBlob, downloadText } from './download';
import { engineClient } from './engineStore';
import { useModelStore } from './modelStore';
import { BASE_MODEL_KEY, useRunStore } from './runStore';
import { currentRunRecord, useSavedRunsStore } from './savedRunsStore';
import { useSettingsStore } from './settingsStore';
import type { ExportFormat } from '../worker/protocol';
import { errorMessage, InputError } from '../errors';

export type Packaging = 'zip' | 'files';

interface ExportState {
  /** What is being exported now, in words. */
  readonly busy: string | null;
  readonly outcome: { readonly ok: boolean; readonly text: string } | null;
  exportMethod: (methodId: string, format: ExportFormat, packaging: Packaging) => Promise<void>;
  downloadScript: (methodId: string) => Promise<void>;
  downloadCurves: (kind: 'csv' | 'json') => void;
  downloadReport: (charts: readonly ReportChart[]) => void;
}

function stamp(): string {
  return new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-');
}

/** The shown run's name for a file name ("LoRA, PiSSA · 60 steps" → "LoRA-PiSSA-60-steps"). */
function runSlug(): string {
  const name = useRunStore.getState().record?.name ?? 'run';
  return (
    name
      .replace(/[^A-Za-z0-9._-]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, 60) || 'run'
  );
}

/** Another run to diff against in the report: the one compared with this run under Saved runs, else the overlay. */
function compareRun(record: { readonly id: string }) {
  const { diff, overlay } = useSavedRunsStore.getState();
  const picked = diff?.a.id === record.id ? diff.b : diff?.b.id === record.id ? diff.a : null;
  const other = picked ?? overlay;
  return other && other.id !== record.id ? other : undefined;
}

/** The generations shown for the run, finished ones only. */
function samples() {
  const run = useRunStore.getState();
  return Object.entries(run.generations)
    .filter(([, g]) => g.status === 'done')
    .map(([key, g]) => ({ label: key === BASE_MODEL_KEY ? 'Base model (no adapter)' : labelOf(key), prompt: g.prompt, text: g.text }));
}

function labelOf(id: string): string {
  return useSettingsStore.getState().methods.find((m) => m.id === id)?.label ?? id;
}

export const useExportStore = create<ExportState>()((set, get) => {
  const guard = (what: string, run: () => void): void => {
    try {
      run();
      set({ outcome: { ok: true, text: what } });
    } catch (error) {
      set({ outcome: { ok: false, text: errorMessage(error) } });
    }
  };
  return {
    busy: null,
    outcome: null,

    exportMethod: async (methodId, format, packaging) => {
      if (get().busy) return;
      const what = `${labelOf(methodId)} ${format === 'peft' ? 'PEFT adapter' : 'merged model'}`;
      if (!useRunStore.getState().weights) {
        set({ busy: `Rebuilding the trained weights from the run's checkpoint (step ${useRunStore.getState().checkpoint?.step ?? '?'})…`, outcome: null });
        try {
          await useRunStore.getState().restoreWeights();
        } catch (error) {
          set({ busy: null, outcome: { ok: false, text: `The ${what} cannot be exported: ${errorMessage(error)}` } });
          return;
        }
      }
      set({ busy: `Exporting the ${what}…`, outcome: null });
      try {
        const result = await engineClient().call('exportMethod', { methodId, format });
        if (packaging === 'zip') {
          const parts = zipParts(result.files.map((f) => ({ name: `${result.folder}/${f.name}`, data: f.data })));
          downloadBlob(`${result.folder}.zip`, new Blob(parts as BlobPart[], { type: 'application/zip' }));
        } else {
          for (const f of result.files) downloadBlob(f.name, new Blob([f.data as BlobPart], { type: 'application/octet-stream' }));
        }
        const bytes = result.files.reduce((n, f) => n + f.data.byteLength, 0);
        set({
          outcome: {
            ok: true,
            text: `${result.note} ${result.files.map((f) => f.name).join(', ')} (${(bytes / 1024).toFixed(0)} KiB${packaging === 'zip' ? `, as ${result.folder}.zip` : ''}).`,
          },
        });
      } catch (error) {
        set({ outcome: { ok: false, text: `The ${what} could not be exported: ${errorMessage(error)}` } });
      } finally {
        set({ busy: null });
      }
    },

    downloadScript: async (methodId) => {
      try {
        const run = useRunStore.getState();
        const params = run.params;
        if (!params) throw new InputError('start a comparison (or reopen a saved one) first');
        const choice = params.methods.find((m) => m.id === methodId);
        if (!choice) throw new InputError(`${methodId} is not in this comparison`);
        const card = useModelStore.getState().card;
        const modelName = run.record?.modelInfo?.name ?? run.record?.model ?? card?.name;
        const script = await engineClient().call('pythonScript', {
          methodId,
          methodLabel: labelOf(methodId),
          settings: choice.settings as Record<string, ScriptSetting>,
          modelName: modelName ? modelName.replace(/ \(built-in\)$/, '') : 'path/to/model',
          family: card?.family ?? 'llama',
          targets: params.targets,
          lr: params.lr,
          schedule: params.schedule,
          warmup: params.warmup,
          steps: params.steps,
          batch: params.batch,
          seqLen: params.seqLen,
          seed: params.seed,
          clipNorm: params.clipNorm,
          evalEvery: params.evalEvery,
          dataset: run.record?.dataset ?? 'the studio data set',
          date: new Date().toISOString().slice(0, 10),
        });
        downloadText(`train_${methodId}.py`, script, 'text/x-python');
        set({ outcome: { ok: true, text: `train_${methodId}.py downloaded: run it on a CUDA machine with transformers, PEFT and TRL.` } });
      } catch (error) {
        set({ outcome: { ok: false, text: errorMessage(error) } });
      }
    },

    downloadCurves: (kind) =>
      guard(`Curves downloaded as ${kind.toUpperCase()}.`, () => {
        const record = currentRunRecord();
        if (!record) throw new InputError('there are no curves yet');
        if (kind === 'csv') downloadText(`${runSlug()}-curves-${stamp()}.csv`, curvesCsv(record), 'text/csv');
        else downloadText(`${runSlug()}-run-${stamp()}.json`, curvesJson(record), 'application/json');
      }),

    downloadReport: (charts) =>
      guard('Report downloaded: one HTML file with everything inline.', () => {
        const record = currentRunRecord();
        if (!record) throw new InputError('there is no comparison to report yet');
        downloadText(
          `${runSlug()}-report-${stamp()}.html`,
          htmlReport(record, charts, new Date(), { compare: compareRun(record), samples: samples() }),
          'text/html',
        );
      }),
  };
});
