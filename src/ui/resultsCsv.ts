// The results table as CSV, one row per method (PEFT's method-comparison columns): trainable
// parameters, adapter bytes (f32 tensors of the trainable parameters, the size of an f32 adapter
// file less its small header), memory (what the method holds beyond the shared base: adapter
// tensors, owned bases, AdamW state), train time, tokens/s, final and best validation loss,
// accuracy, and forgetting (loss on the held-out pretraining text after training minus the base's;
// higher = more forgotten). Empty cells where a number was not measured. Pure.

import type { MethodSummaryRow } from '../io/runRecord';

export interface CsvRow extends MethodSummaryRow {
  /** Loss on the held-out text after training (NaN: not measured). */
  readonly forgettingLoss: number;
  /** forgettingLoss minus the base model's loss there (NaN: not measured). */
  readonly forgetting: number;
}

const COLUMNS: readonly [string, (r: CsvRow) => string | number][] = [
  ['method', (r) => r.label],
  ['id', (r) => r.id],
  ['steps', (r) => r.steps],
  ['trainable_params', (r) => r.trainable],
  ['adapter_bytes_f32', (r) => r.trainable * 4],
  ['memory_bytes', (r) => r.bytes],
  ['init_ms', (r) => r.initMs],
  ['train_ms', (r) => r.trainMs],
  ['tokens_per_s', (r) => r.tokensPerS],
  ['final_train_loss', (r) => r.finalLoss],
  ['final_val_loss', (r) => r.finalVal],
  ['best_val_loss', (r) => r.bestVal],
  ['accuracy', (r) => r.accuracy],
  ['heldout_loss', (r) => r.forgettingLoss],
  ['forgetting', (r) => r.forgetting],
  ['halted', (r) => r.halted ?? ''],
];

function cell(v: string | number): string {
  if (typeof v === 'number') return Number.isFinite(v) ? String(Number(v.toPrecision(8))) : '';
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

export function resultsCsv(rows: readonly CsvRow[]): string {
  const lines = [COLUMNS.map(([name]) => name).join(','), ...rows.map((r) => COLUMNS.map(([, value]) => cell(value(r))).join(','))];
  return `${lines.join('\n')}\n`;
}

/** A file name from the run's name: "LoRA, PiSSA · 60 steps" → "LoRA-PiSSA-60-steps-results.csv". */
export function resultsCsvName(runName: string | undefined): string {
  const stem = (runName ?? 'comparison')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
  return `${stem || 'comparison'}-results.csv`;
}
