// A finished comparison as plain data: what is saved in IndexedDB (runDb.ts), exported as CSV or
// JSON, and summarised for the HTML report. Structural types only (io/ knows nothing of the
// worker); the page's run store converts to and from them.
//
// CSV layout: one row per method and step, long format (easy in pandas / a spreadsheet):
//   method,step,tokens,cumulative_tokens,loss,val_loss,grad_norm,lr,ms
// val_loss is filled on the steps where validation ran; other cells empty when unknown.

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

export interface RunRecord {
  /** Unique key, e.g. "run-1716000000000". */
  readonly id: string;
  /** Shown in the list: "LoRA, PiSSA · 60 steps". */
  readonly name: string;
  /** ms since the epoch. */
  readonly startedAt: number;
  readonly savedAt: number;
  readonly status: 'done' | 'stopped' | 'failed';
  readonly model: string;
  readonly dataset: string;
  /** The comparison's settings (shared knobs and each method's settings), as started. */
  readonly params: Readonly<Record<string, unknown>> & { readonly methods: readonly { readonly id: string; readonly settings: Readonly<Record<string, unknown>> }[] };
  readonly methods: readonly { readonly id: string; readonly label: string }[];
  readonly series: Readonly<Record<string, readonly RunPoint[]>>;
  readonly evals: Readonly<Record<string, readonly RunEval[]>>;
  readonly ready: Readonly<Record<string, RunMethodReady>>;
  readonly halted: Readonly<Record<string, string>>;
  /** Exact-match accuracy per method where measured. */
  readonly accuracy?: Readonly<Record<string, number>>;
  readonly error?: string;
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
  readonly tokensPerS: number;
  readonly halted?: string;
}

/** One summary row per method, from its curves (what the results table shows). */
export function summaryRows(run: Pick<RunRecord, 'methods' | 'series' | 'evals' | 'ready' | 'halted' | 'accuracy'>): MethodSummaryRow[] {
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
      bestVal: vals.length > 0 ? Math.min(...vals.map((v) => v.loss)) : Number.NaN,
      accuracy: run.accuracy?.[id] ?? Number.NaN,
      trainable: run.ready[id]?.trainableParams ?? Number.NaN,
      bytes: run.ready[id]?.bytes ?? Number.NaN,
      initMs: run.ready[id]?.initMs ?? Number.NaN,
      trainMs,
      tokensPerS: trainMs > 0 ? (tokens * 1000) / trainMs : Number.NaN,
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
