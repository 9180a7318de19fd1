// A saved run's settings as a table of rows (section, setting, value as text), and the diff of
// two runs: only the rows whose values differ. The studio's settings panel, its run diff and the
// HTML report all print these rows, so the three never disagree on what a run was.
//
// Sections: Model, Data, Training (the shared knobs), Samples (their decoding, where the run has it), Methods (which ran), then one per method
// with its own settings. A value a run does not have reads "—".

import { shortHash } from './runIdentity';
import type { RunRecord } from './runRecord';

export interface SettingRow {
  readonly section: string;
  readonly key: string;
  readonly value: string;
}

export interface DiffRow {
  readonly section: string;
  readonly key: string;
  readonly a: string;
  readonly b: string;
}

export const MISSING = '—';

/** Shared knobs in the order the Training panel lists them; others follow alphabetically. */
const SHARED_ORDER = [
  'targets',
  'lr',
  'schedule',
  'warmup',
  'steps',
  'batch',
  'seqLen',
  'packing',
  'seed',
  'seeds',
  'evalEvery',
  'clipNorm',
  'validationRows',
  'validationFraction',
  'accuracyQuestions',
  'checkpointing',
  'memoryBudgetBytes',
];

/** A setting's value as text: lists joined by ", ", objects as JSON; never throws. */
export function settingText(v: unknown): string {
  const scalar = (x: unknown): x is string | number | boolean | null | undefined => x === null || typeof x !== 'object';
  if (v === undefined) return MISSING;
  if (Array.isArray(v) && v.every(scalar)) return v.map(String).join(', ');
  if (scalar(v)) return String(v);
  try {
    return JSON.stringify(v) ?? MISSING;
  } catch {
    return '(unreadable)';
  }
}

/** The samples' settings (ComparisonParams' sample* fields), in the order the Training panel lists them; they get their own section. */
const SAMPLE_ORDER = [
  'samplesOn',
  'samplePrompt',
  'sampleMaxTokens',
  'sampleGreedy',
  'sampleTemperature',
  'sampleTopK',
  'sampleTopP',
  'sampleStopAtEos',
  'sampleStop',
];

function isSampleKey(key: string): boolean {
  return SAMPLE_ORDER.includes(key);
}

function sharedKeys(params: RunRecord['params']): string[] {
  const keys = Object.keys(params).filter((k) => k !== 'methods' && !isSampleKey(k));
  // A run saved before the seeds setting ran one seed: it reads "1", so a diff with a one-seed run shows nothing.
  if ('seed' in params && !keys.includes('seeds')) keys.push('seeds');
  const known = SHARED_ORDER.filter((k) => keys.includes(k));
  return [...known, ...keys.filter((k) => !SHARED_ORDER.includes(k)).sort()];
}

/** "3 (seeds 5, 6, 7)" for a run with several seeds, "1" for one. */
function seedsText(params: RunRecord['params']): string {
  const n = typeof params.seeds === 'number' ? params.seeds : 1;
  const first = params.seed;
  if (n <= 1 || typeof first !== 'number') return settingText(params.seeds ?? 1);
  return `${n} (seeds ${Array.from({ length: n }, (_, i) => first + i).join(', ')})`;
}

/** The run's settings, model and data as rows, in display order. */
export function settingsRows(run: RunRecord): SettingRow[] {
  const rows: SettingRow[] = [];
  const add = (section: string, key: string, value: unknown) => rows.push({ section, key, value: settingText(value) });
  const m = run.modelInfo;
  add('Model', 'name', m?.name ?? run.model);
  add('Model', 'fingerprint', m ? shortHash(m.fingerprint) : undefined);
  add('Model', 'shape', m ? `L ${m.layers}, C ${m.hidden}, V ${m.vocab}` : undefined);
  const d = run.dataInfo;
  add('Data', 'name', d?.name ?? run.dataset);
  add('Data', 'hash', d ? shortHash(d.hash) : undefined);
  add('Data', 'split', d ? `${d.train} train / ${d.validation} validation rows` : undefined);
  for (const k of sharedKeys(run.params)) add('Training', k, k === 'seeds' ? seedsText(run.params) : run.params[k]);
  // JSON quotes keep a prompt's or stop string's spaces and newlines visible.
  for (const k of SAMPLE_ORDER) if (k in run.params) add('Samples', k, typeof run.params[k] === 'string' ? JSON.stringify(run.params[k]) : run.params[k]);
  const labels = new Map(run.methods.map((x) => [x.id, x.label]));
  add(
    'Methods',
    'methods',
    run.methods.map((x) => x.label),
  );
  for (const method of run.params.methods) {
    const section = labels.get(method.id) ?? method.id;
    const entries = Object.entries(method.settings);
    if (entries.length === 0) add(section, '(settings)', '(none)');
    for (const [k, v] of entries) add(section, k, v);
  }
  return rows;
}

/** The rows where runs a and b differ, in a's order then b's own rows; a row one run lacks reads "—". */
export function diffRuns(a: RunRecord, b: RunRecord): DiffRow[] {
  const key = (r: SettingRow) => `${r.section}\u0000${r.key}`;
  const left = settingsRows(a);
  const right = new Map(settingsRows(b).map((r) => [key(r), r]));
  const out: DiffRow[] = [];
  const seen = new Set<string>();
  for (const r of left) {
    seen.add(key(r));
    const other = right.get(key(r))?.value ?? MISSING;
    if (other !== r.value) out.push({ section: r.section, key: r.key, a: r.value, b: other });
  }
  for (const [k, r] of right) if (!seen.has(k) && r.value !== MISSING) out.push({ section: r.section, key: r.key, a: MISSING, b: r.value });
  return out;
}
