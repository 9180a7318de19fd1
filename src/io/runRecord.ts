// A finished comparison as plain data: what is saved in IndexedDB (runDb.ts), exported as CSV or
// JSON, and summarised for the HTML report. Structural types only (io/ knows nothing of the
// worker); the page's run store converts to and from them. parseRunRecord checks a record read
// back (IndexedDB holds whatever an older version, another tab or a hand edit left there).
//
// CSV layout: one row per method and step, long format (easy in pandas / a spreadsheet):
//   method,step,tokens,cumulative_tokens,loss,val_loss,grad_norm,lr,ms
// val_loss is filled on the steps where validation ran; other cells empty when unknown.
//
// Fields added after the first version (notes, modelInfo, dataInfo, baseVal, quant, samples, forgetting) are optional:
// records saved before them still open, and say what they lack.
//
// A run with several seeds keeps each seed's curves and numbers in `seeds` (the last seed's also
// at the top level, which older readers and the live charts show).

import { StudioError } from '../errors';
import type { DataIdentity, ModelIdentity } from './runIdentity';

export interface RunPoint {
  /** Updates done (1 = after the first). */
  readonly step: number;
  readonly loss: number;
  /** Before clipping; NaN without clipping. */
  readonly gradNorm: number;
  readonly lr: number;
  /** Tokens whose loss counted. */
  readonly tokens: number;
  /** Wall time of the step, read-back included. */
  readonly ms: number;
}

export interface RunEval {
  readonly step: number;
  readonly loss: number;
}

export interface RunMethodReady {
  readonly trainableParams: number;
  readonly bytes: number;
  readonly initMs: number;
}

/** One quantization-error measurement of an init (the quantization-error chart). */
export interface RunQuantPoint {
  readonly method: string;
  readonly layer: string;
  readonly iteration: number;
  readonly frobenius: number;
  readonly nuclear: number;
  readonly nuclearMethod?: 'exact' | 'randomized';
  readonly nuclearError?: number;
}

/** Where a run's sample prompt came from: the first validation row, the first training row (no validation rows), or typed by the user. */
export type SamplePromptSource = 'validation' | 'training' | 'custom';

/** One method's continuation of the run's sample prompt after `step`. */
export interface RunSample {
  readonly step: number;
  /** The continuation as text (special tokens and a stop string cut off). */
  readonly text: string;
  /** Tokens generated (a stop string's tokens included). */
  readonly tokens: number;
  readonly ms: number;
  /** What ended it: the end-of-sequence token, the stop string, or the token limit. */
  readonly end: 'eos' | 'stop' | 'length';
}

/** The samples of a run: the one prompt, and per method its samples in step order. */
export interface RunSamples {
  readonly prompt: string;
  readonly source: SamplePromptSource;
  readonly byMethod: Readonly<Record<string, readonly RunSample[]>>;
}

/** Forgetting (worker/forgetting.ts): the loss on held-out pretraining text of the base model and of each method after training. */
export interface RunForgetting {
  /** The text it was measured on. */
  readonly name: string;
  /** Predicted tokens of it. */
  readonly tokens: number;
  readonly baseLoss: number;
  /** Per method id, after training; forgetting = loss − baseLoss. */
  readonly loss: Readonly<Record<string, number>>;
}

/** An adapted projection: its role and [out, in]. */
export interface RunLayer {
  readonly name: string;
  readonly role: string;
  readonly out: number;
  readonly in: number;
}

/** One seed of a run that repeated its comparison: what the top-level fields hold for a one-seed run. */
export interface RunSeed {
  readonly seed: number;
  /** Ended before its last step (its numbers are partial: kept, not averaged). */
  readonly stopped: boolean;
  readonly series: Readonly<Record<string, readonly RunPoint[]>>;
  readonly evals: Readonly<Record<string, readonly RunEval[]>>;
  readonly ready: Readonly<Record<string, RunMethodReady>>;
  readonly halted: Readonly<Record<string, string>>;
  readonly accuracy?: Readonly<Record<string, number>>;
  readonly baseVal?: number;
  readonly forgetting?: RunForgetting;
}

/** Where a method's first non-finite value was found when it stopped (train/health.ts): step, source, projection ('' for the loss), tensor. */
export interface RunNonFinite {
  readonly step: number;
  readonly source: string;
  readonly layer: string;
  readonly tensor: string;
}

export interface RunRecord {
  /** Unique key, e.g. "run-1716000000000". */
  readonly id: string;
  /** Shown in the list, editable: by default "LoRA, PiSSA · 60 steps". */
  readonly name: string;
  /** The user's notes (editable). */
  readonly notes?: string;
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly savedAt: number;
  readonly status: 'done' | 'stopped' | 'failed';
  /** Display names of the model and data (kept for records that predate modelInfo and dataInfo). */
  readonly model: string;
  readonly dataset: string;
  /** The model and data the run trained on: name, fingerprint or hash, shape or split sizes. */
  readonly modelInfo?: ModelIdentity;
  readonly dataInfo?: DataIdentity;
  /** The frozen base model's validation loss before training (the charts' step-0 point). */
  readonly baseVal?: number;
  /** Quantization errors the inits measured, and the adapted projections they refer to. */
  readonly quant?: { readonly points: readonly RunQuantPoint[]; readonly layers: readonly RunLayer[] };
  /** The comparison's settings (shared knobs and each method's settings), as started. */
  readonly params: Readonly<Record<string, unknown>> & {
    readonly methods: readonly { readonly id: string; readonly settings: Readonly<Record<string, unknown>> }[];
  };
  readonly methods: readonly { readonly id: string; readonly label: string }[];
  readonly series: Readonly<Record<string, readonly RunPoint[]>>;
  readonly evals: Readonly<Record<string, readonly RunEval[]>>;
  readonly ready: Readonly<Record<string, RunMethodReady>>;
  readonly halted: Readonly<Record<string, string>>;
  /** Exact-match accuracy per method where measured. */
  readonly accuracy?: Readonly<Record<string, number>>;
  /** Loss on held-out pretraining text, base and per method (absent: not measured, or the record predates it). */
  readonly forgetting?: RunForgetting;
  readonly error?: string;
  /** Continuations of one prompt per method at each validation step (absent: samples were off, or the record predates them). */
  readonly samples?: RunSamples;
  /** A run with several seeds: every seed's share, in order, the last one included (absent: one seed). */
  readonly seeds?: readonly RunSeed[];
  /** The step each method's loss was first flagged as diverging at (absent: none was, or the record predates the flag). */
  readonly diverging?: Readonly<Record<string, number>>;
  /** Methods stopped by a NaN or Inf, where it was found (absent: none, or the record predates it; `halted` says it in words). */
  readonly nonFinite?: Readonly<Record<string, RunNonFinite>>;
}

export interface MethodSummaryRow {
  readonly id: string;
  readonly label: string;
  readonly steps: number;
  readonly finalLoss: number;
  readonly finalVal: number;
  readonly bestVal: number;
  readonly accuracy: number;
  readonly trainable: number;
  readonly bytes: number;
  readonly initMs: number;
  readonly trainMs: number;
  /** Trained tokens (those whose loss counts) per second of training. */
  readonly tokensPerS: number;
  /** Processed tokens (batch × sequence length per step: padding and prompts included) per second; NaN without the run's batch and T. */
  readonly processedPerS: number;
  readonly halted?: string;
}

/** One summary row per method, from its curves (what the results table shows). */
export function summaryRows(
  run: Pick<RunRecord, 'methods' | 'series' | 'evals' | 'ready' | 'halted' | 'accuracy'> & { readonly params?: RunRecord['params'] },
): MethodSummaryRow[] {
  const B = run.params?.batch;
  const T = run.params?.seqLen;
  const perStep = typeof B === 'number' && typeof T === 'number' ? B * T : Number.NaN;
  return run.methods.map(({ id, label }) => {
    const points = run.series[id] ?? [];
    const vals = run.evals[id] ?? [];
    const trainMs = points.reduce((n, p) => n + p.ms, 0);
    const tokens = points.reduce((n, p) => n + p.tokens, 0);
    return {
      id,
      label,
      steps: points.length,
      finalLoss: points.at(-1)?.loss ?? Number.NaN,
      finalVal: vals.at(-1)?.loss ?? Number.NaN,
      bestVal: vals.reduce((best, v) => Math.min(best, v.loss), vals.length > 0 ? Infinity : Number.NaN), // no spread: runs can have 100k evals
      accuracy: run.accuracy?.[id] ?? Number.NaN,
      trainable: run.ready[id]?.trainableParams ?? Number.NaN,
      bytes: run.ready[id]?.bytes ?? Number.NaN,
      initMs: run.ready[id]?.initMs ?? Number.NaN,
      trainMs,
      tokensPerS: trainMs > 0 ? (tokens * 1000) / trainMs : Number.NaN,
      processedPerS: trainMs > 0 ? (points.length * perStep * 1000) / trainMs : Number.NaN,
      halted: run.halted[id],
    };
  });
}

function cell(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '' : String(v);
}

function csvText(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export const CURVES_CSV_HEADER = 'method,step,tokens,cumulative_tokens,loss,val_loss,grad_norm,lr,ms';

/** Long-format CSV of every method's per-step curves, validation losses on their steps. */
export function curvesCsv(run: Pick<RunRecord, 'methods' | 'series' | 'evals'>): string {
  const lines = [CURVES_CSV_HEADER];
  for (const { id } of run.methods) {
    const val = new Map((run.evals[id] ?? []).map((e) => [e.step, e.loss]));
    let cumulative = 0;
    for (const p of run.series[id] ?? []) {
      cumulative += p.tokens;
      lines.push([csvText(id), p.step, p.tokens, cumulative, cell(p.loss), cell(val.get(p.step)), cell(p.gradNorm), cell(p.lr), cell(p.ms)].join(','));
    }
  }
  return `${lines.join('\n')}\n`;
}

/** JSON with settings, curves and the summary; non-finite numbers become null. */
export function curvesJson(run: RunRecord): string {
  const body = { format: 'adapter-studio-run', version: 1, ...run, summary: summaryRows(run) };
  return `${JSON.stringify(body, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
}

/** A short name for the saved-runs list. */
export function runName(methods: readonly { readonly label: string }[], steps: number): string {
  return `${methods.map((m) => m.label).join(', ')} · ${steps} ${steps === 1 ? 'step' : 'steps'}`;
}

// ---------------------------------------------------------------------------------------------
// Reading a saved record back

const RUN_STATUSES: readonly RunRecord['status'][] = ['done', 'stopped', 'failed'];
const SAMPLE_SOURCES: readonly SamplePromptSource[] = ['validation', 'training', 'custom'];
const SAMPLE_ENDS: readonly RunSample['end'][] = ['eos', 'stop', 'length'];

/** Keys a saved record's maps may not use: they name Object.prototype's members, not methods. */
const RESERVED_KEYS = new Set(['__proto__', 'constructor', 'prototype', 'toString', 'valueOf', 'hasOwnProperty']);

/** Nesting allowed in settings values (numbers, strings, lists of target modules, small objects). */
const MAX_SETTING_DEPTH = 8;

/**
 * Checks a value read back from IndexedDB (or an imported JSON export) against RunRecord and
 * returns a clean copy: its per-method maps hold only own entries with ordinary keys, so a damaged
 * or hand-edited record cannot reach Object.prototype through `series[id]`. Throws a StudioError
 * naming the run, the field and the fix.
 */
export function parseRunRecord(value: unknown, where?: string): RunRecord {
  const id = isPlainRecord(value) && typeof value.id === 'string' ? value.id : undefined;
  const name = where ?? (id !== undefined ? `saved run '${clip(id)}'` : 'saved run');
  const fail = (field: string, problem: string): never => {
    throw new StudioError(`${name} is damaged: ${field} ${problem}; delete it from the saved runs (it cannot be reopened)`);
  };
  if (!isPlainRecord(value)) return fail('the record', `must be an object, found ${kindOf(value)}`);
  const str = (obj: Record<string, unknown>, key: string, field = `"${key}"`): string =>
    typeof obj[key] === 'string' ? (obj[key] as string) : fail(field, `must be a string, found ${kindOf(obj[key])}`);
  const num = (obj: Record<string, unknown>, key: string, field: string): number =>
    typeof obj[key] === 'number' ? (obj[key] as number) : fail(field, `must be a number, found ${kindOf(obj[key])}`);
  const time = (key: string): number => {
    const t = num(value, key, `"${key}"`);
    // Date's range: ±8.64e15 ms around 1970.
    if (!Number.isFinite(t) || Math.abs(t) > 8.64e15) fail(`"${key}"`, `must be a time in ms since 1970, found ${t}`);
    return t;
  };
  const list = (obj: Record<string, unknown>, key: string, field: string): unknown[] =>
    Array.isArray(obj[key]) ? (obj[key] as unknown[]) : fail(field, `must be a list, found ${kindOf(obj[key])}`);
  const map = <T>(key: string, item: (v: unknown, field: string) => T, optional = false): Record<string, T> => {
    const raw = value[key];
    const out: Record<string, T> = Object.create(null) as Record<string, T>;
    if (raw === undefined && optional) return out;
    if (!isPlainRecord(raw)) return fail(`"${key}"`, `must be an object keyed by method id, found ${kindOf(raw)}`);
    for (const [k, v] of Object.entries(raw)) {
      if (RESERVED_KEYS.has(k)) fail(`"${key}"`, `has the key '${k}', which is not a method id`);
      out[k] = item(v, `"${key}.${clip(k)}"`);
    }
    return out;
  };
  const object = (v: unknown, field: string): Record<string, unknown> => (isPlainRecord(v) ? v : fail(field, `must be an object, found ${kindOf(v)}`));

  const status = value.status;
  if (!RUN_STATUSES.includes(status as RunRecord['status'])) {
    fail('"status"', `must be one of ${RUN_STATUSES.join(', ')}, found ${kindOf(status)}`);
  }
  const methods = list(value, 'methods', '"methods"').map((m, i) => {
    const o = object(m, `"methods" item ${i + 1}`);
    const methodId = str(o, 'id', `"methods" item ${i + 1} "id"`);
    if (RESERVED_KEYS.has(methodId)) fail(`"methods" item ${i + 1} "id"`, `is '${methodId}', which is not a method id`);
    return { id: methodId, label: str(o, 'label', `"methods" item ${i + 1} "label"`) };
  });
  const params = object(value.params, '"params"');
  for (const [k, v] of Object.entries(params)) {
    if (k !== 'methods' && !isSettingValue(v)) fail(`"params.${clip(k)}"`, 'must be a number, string, boolean, null or a small list or object of them');
  }
  const paramMethods = list(params, 'methods', '"params.methods"').map((m, i) => {
    const field = `"params.methods" item ${i + 1}`;
    const o = object(m, field);
    const settings = object(o.settings, `${field} "settings"`);
    for (const [k, v] of Object.entries(settings)) {
      if (!isSettingValue(v)) fail(`${field} setting "${clip(k)}"`, 'must be a number, string, boolean, null or a small list or object of them');
    }
    return { id: str(o, 'id', `${field} "id"`), settings: { ...settings } };
  });
  const series = map('series', (v, field) =>
    (Array.isArray(v) ? v : fail(field, `must be a list of steps, found ${kindOf(v)}`)).map((p, i): RunPoint => {
      const o = object(p, `${field} item ${i + 1}`);
      const at = (k: string): number => num(o, k, `${field} item ${i + 1} "${k}"`);
      return { step: at('step'), loss: at('loss'), gradNorm: at('gradNorm'), lr: at('lr'), tokens: at('tokens'), ms: at('ms') };
    }),
  );
  const evals = map('evals', (v, field) =>
    (Array.isArray(v) ? v : fail(field, `must be a list of evaluations, found ${kindOf(v)}`)).map((e, i): RunEval => {
      const o = object(e, `${field} item ${i + 1}`);
      return { step: num(o, 'step', `${field} item ${i + 1} "step"`), loss: num(o, 'loss', `${field} item ${i + 1} "loss"`) };
    }),
  );
  const ready = map('ready', (v, field): RunMethodReady => {
    const o = object(v, field);
    return {
      trainableParams: num(o, 'trainableParams', `${field} "trainableParams"`),
      bytes: num(o, 'bytes', `${field} "bytes"`),
      initMs: num(o, 'initMs', `${field} "initMs"`),
    };
  });
  const halted = map('halted', (v, field) => (typeof v === 'string' ? v : fail(field, `must be a string, found ${kindOf(v)}`)));
  const accuracy =
    value.accuracy === undefined ? undefined : map('accuracy', (v, field) => (typeof v === 'number' ? v : fail(field, `must be a number, found ${kindOf(v)}`)));
  if (value.error !== undefined && typeof value.error !== 'string') fail('"error"', `must be a string, found ${kindOf(value.error)}`);
  const optional = <T>(key: string, read: (v: unknown, field: string) => T): T | undefined =>
    value[key] === undefined ? undefined : read(value[key], `"${key}"`);
  const text = (v: unknown, field: string): string => (typeof v === 'string' ? v : fail(field, `must be a string, found ${kindOf(v)}`));
  const number = (v: unknown, field: string): number => (typeof v === 'number' ? v : fail(field, `must be a number, found ${kindOf(v)}`));
  const notes = optional('notes', text);
  const modelInfo = optional('modelInfo', (v, field): ModelIdentity => {
    const o = object(v, field);
    return {
      name: str(o, 'name', `${field} "name"`),
      ...(o.fingerprint !== undefined ? { fingerprint: str(o, 'fingerprint', `${field} "fingerprint"`) } : {}),
      layers: num(o, 'layers', `${field} "layers"`),
      hidden: num(o, 'hidden', `${field} "hidden"`),
      vocab: num(o, 'vocab', `${field} "vocab"`),
    };
  });
  const dataInfo = optional('dataInfo', (v, field): DataIdentity => {
    const o = object(v, field);
    return {
      name: str(o, 'name', `${field} "name"`),
      ...(o.hash !== undefined ? { hash: str(o, 'hash', `${field} "hash"`) } : {}),
      train: num(o, 'train', `${field} "train"`),
      validation: num(o, 'validation', `${field} "validation"`),
    };
  });
  const baseVal = optional('baseVal', number);
  const step = (v: unknown, field: string): number =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 ? v : fail(field, `must be a whole number of steps, found ${kindOf(v)}`);
  const diverging = value.diverging === undefined ? undefined : map('diverging', step);
  const nonFinite =
    value.nonFinite === undefined
      ? undefined
      : map('nonFinite', (v, field): RunNonFinite => {
          const o = object(v, field);
          return {
            step: step(o.step, `${field} "step"`),
            source: str(o, 'source', `${field} "source"`),
            layer: str(o, 'layer', `${field} "layer"`),
            tensor: str(o, 'tensor', `${field} "tensor"`),
          };
        });
  const forgetting = optional('forgetting', (v, field): RunForgetting => {
    const o = object(v, field);
    const loss: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const [k, x] of Object.entries(object(o.loss, `${field} "loss"`))) {
      if (RESERVED_KEYS.has(k)) fail(`${field} "loss"`, `has the key '${k}', which is not a method id`);
      loss[k] = number(x, `${field} "loss.${clip(k)}"`);
    }
    return {
      name: str(o, 'name', `${field} "name"`),
      tokens: num(o, 'tokens', `${field} "tokens"`),
      baseLoss: num(o, 'baseLoss', `${field} "baseLoss"`),
      loss,
    };
  });
  const quant = optional('quant', (v, field) => {
    const o = object(v, field);
    const points = list(o, 'points', `${field} "points"`).map((p, i): RunQuantPoint => {
      const at = `${field} "points" item ${i + 1}`;
      const q = object(p, at);
      const method = q.nuclearMethod;
      if (method !== undefined && method !== 'exact' && method !== 'randomized')
        fail(`${at} "nuclearMethod"`, `must be 'exact' or 'randomized', found ${kindOf(method)}`);
      return {
        method: str(q, 'method', `${at} "method"`),
        layer: str(q, 'layer', `${at} "layer"`),
        iteration: num(q, 'iteration', `${at} "iteration"`),
        frobenius: num(q, 'frobenius', `${at} "frobenius"`),
        nuclear: num(q, 'nuclear', `${at} "nuclear"`),
        ...(method !== undefined ? { nuclearMethod: method as 'exact' | 'randomized' } : {}),
        ...(q.nuclearError !== undefined ? { nuclearError: num(q, 'nuclearError', `${at} "nuclearError"`) } : {}),
      };
    });
    const layers = list(o, 'layers', `${field} "layers"`).map((l, i): RunLayer => {
      const at = `${field} "layers" item ${i + 1}`;
      const q = object(l, at);
      return { name: str(q, 'name', `${at} "name"`), role: str(q, 'role', `${at} "role"`), out: num(q, 'out', `${at} "out"`), in: num(q, 'in', `${at} "in"`) };
    });
    return { points, layers };
  });
  const samples = optional('samples', (v, field): RunSamples => {
    const o = object(v, field);
    const source = o.source;
    const sourceProblem = `must be one of ${SAMPLE_SOURCES.join(', ')}, found ${kindOf(source)}`;
    if (!SAMPLE_SOURCES.includes(source as SamplePromptSource)) fail(`${field} "source"`, sourceProblem);
    const byMethod: Record<string, readonly RunSample[]> = Object.create(null) as Record<string, readonly RunSample[]>;
    for (const [k, list] of Object.entries(object(o.byMethod, `${field} "byMethod"`))) {
      const at = `${field} "byMethod.${clip(k)}"`;
      if (RESERVED_KEYS.has(k)) fail(`${field} "byMethod"`, `has the key '${k}', which is not a method id`);
      byMethod[k] = (Array.isArray(list) ? list : fail(at, `must be a list of samples, found ${kindOf(list)}`)).map((item, i): RunSample => {
        const q = object(item, `${at} item ${i + 1}`);
        const end = q.end;
        if (!SAMPLE_ENDS.includes(end as RunSample['end'])) fail(`${at} item ${i + 1} "end"`, `must be one of ${SAMPLE_ENDS.join(', ')}, found ${kindOf(end)}`);
        return {
          step: num(q, 'step', `${at} item ${i + 1} "step"`),
          text: str(q, 'text', `${at} item ${i + 1} "text"`),
          tokens: num(q, 'tokens', `${at} item ${i + 1} "tokens"`),
          ms: num(q, 'ms', `${at} item ${i + 1} "ms"`),
          end: end as RunSample['end'],
        };
      });
    }
    return { prompt: str(o, 'prompt', `${field} "prompt"`), source: source as SamplePromptSource, byMethod };
  });
  return {
    id: id ?? fail('"id"', `must be a string, found ${kindOf(value.id)}`),
    name: str(value, 'name'),
    startedAt: time('startedAt'),
    savedAt: time('savedAt'),
    status: status as RunRecord['status'],
    model: str(value, 'model'),
    dataset: str(value, 'dataset'),
    params: { ...params, methods: paramMethods },
    methods,
    series,
    evals,
    ready,
    halted,
    ...(accuracy !== undefined ? { accuracy } : {}),
    ...(forgetting !== undefined ? { forgetting } : {}),
    ...(typeof value.error === 'string' ? { error: value.error } : {}),
    ...(notes !== undefined ? { notes } : {}),
    ...(modelInfo !== undefined ? { modelInfo } : {}),
    ...(dataInfo !== undefined ? { dataInfo } : {}),
    ...(baseVal !== undefined ? { baseVal } : {}),
    ...(quant !== undefined ? { quant } : {}),
    ...(value.seeds !== undefined ? { seeds: list(value, 'seeds', '"seeds"').map((raw, i) => parseSeed(value, raw, i, name)) } : {}),
    ...(samples !== undefined ? { samples } : {}),
    ...(diverging !== undefined ? { diverging } : {}),
    ...(nonFinite !== undefined ? { nonFinite } : {}),
  };
}

/** One item of a record's "seeds", checked as the top-level curves are (a record made of the seed's fields, parsed). */
function parseSeed(record: Record<string, unknown>, raw: unknown, i: number, name: string): RunSeed {
  const fail = (problem: string): never => {
    throw new StudioError(`${name} is damaged: "seeds" item ${i + 1} ${problem}; delete it from the saved runs (it cannot be reopened)`);
  };
  if (!isPlainRecord(raw)) return fail(`must be an object, found ${kindOf(raw)}`);
  const { seed, stopped } = raw;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed) || seed < 0) return fail(`"seed" must be a whole number of at least 0, found ${kindOf(seed)}`);
  if (typeof stopped !== 'boolean') return fail(`"stopped" must be true or false, found ${kindOf(stopped)}`);
  const { series, evals, ready, halted, accuracy, baseVal, forgetting } = raw;
  const own = { series, evals, ready, halted, accuracy, baseVal, forgetting };
  const parsed = parseRunRecord({ ...record, seeds: undefined, samples: undefined, quant: undefined, ...own }, `${name} (seed ${seed})`);
  return {
    seed,
    stopped,
    series: parsed.series,
    evals: parsed.evals,
    ready: parsed.ready,
    halted: parsed.halted,
    ...(parsed.accuracy !== undefined ? { accuracy: parsed.accuracy } : {}),
    ...(parsed.baseVal !== undefined ? { baseVal: parsed.baseVal } : {}),
    ...(parsed.forgetting !== undefined ? { forgetting: parsed.forgetting } : {}),
  };
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

function isSettingValue(value: unknown, depth = 0): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return true;
  if (depth >= MAX_SETTING_DEPTH) return false;
  if (Array.isArray(value)) return value.every((v) => isSettingValue(v, depth + 1));
  return isPlainRecord(value) && Object.entries(value).every(([k, v]) => !RESERVED_KEYS.has(k) && isSettingValue(v, depth + 1));
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the text '${clip(value)}'`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'object' ? 'an object' : typeof value;
}

function clip(text: string, max = 40): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
