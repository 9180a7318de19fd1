// The results table as CSV, one row per method (PEFT's method-comparison columns): trainable
// parameters, adapter bytes (f32 tensors of the trainable parameters, the size of an f32 adapter
// file less its small header), memory (what the method holds beyond the shared base: adapter
// tensors, owned bases, AdamW state), train time, tokens/s (trained: tokens whose loss counts; processed:
// batch × T per step, padding and prompts included), final and best validation loss,
// accuracy, and forgetting (loss on the held-out pretraining text after training minus the base's;
// higher = more forgotten). Empty cells where a number was not measured. Pure.
// A run with several seeds: per method n, then each number's mean and sample sd, then its value in
// each seed (columns named by the seed, e.g. final_val_loss_seed3).

import type { MethodSummaryRow } from '../io/runRecord';
import type { SeedAggregate, Spread, SummaryKey } from '../io/seedStats';

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
  ['trained_tokens_per_s', (r) => r.tokensPerS],
  ['processed_tokens_per_s', (r) => r.processedPerS],
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

/** The summary numbers of a seed aggregate, named as in the one-seed CSV. */
const SEED_COLUMNS: readonly [string, SummaryKey | 'forgetting'][] = [
  ['steps', 'steps'],
  ['trainable_params', 'trainable'],
  ['memory_bytes', 'bytes'],
  ['init_ms', 'initMs'],
  ['train_ms', 'trainMs'],
  ['tokens_per_s', 'tokensPerS'],
  ['processed_tokens_per_s', 'processedPerS'],
  ['final_train_loss', 'finalLoss'],
  ['final_val_loss', 'finalVal'],
  ['best_val_loss', 'bestVal'],
  ['accuracy', 'accuracy'],
  ['forgetting', 'forgetting'],
];

/** One row per method over its seeds: n, mean and sd of each number, then each seed's value. */
export function seedResultsCsv(aggregates: readonly SeedAggregate[]): string {
  const seeds = [...new Set(aggregates.flatMap((a) => a.perSeed.map((p) => p.seed)))].sort((a, b) => a - b);
  const header = [
    'method',
    'id',
    'n',
    ...SEED_COLUMNS.flatMap(([name]) => [`${name}_mean`, `${name}_sd`]),
    ...SEED_COLUMNS.flatMap(([name]) => seeds.map((s) => `${name}_seed${s}`)),
    'halted',
  ];
  const spreadOf = (a: SeedAggregate, key: SummaryKey | 'forgetting'): Spread => (key === 'forgetting' ? a.forgetting : a.stats[key]);
  const valueIn = (a: SeedAggregate, key: SummaryKey | 'forgetting', seed: number): number => {
    const p = a.perSeed.find((x) => x.seed === seed);
    if (!p) return Number.NaN;
    return key === 'forgetting' ? p.forgetting : (p.row?.[key] ?? Number.NaN);
  };
  const lines = aggregates.map((a) =>
    [
      a.label,
      a.id,
      a.perSeed.filter((p) => p.row !== undefined && p.row.steps > 0).length,
      ...SEED_COLUMNS.flatMap(([, key]) => [spreadOf(a, key).mean, spreadOf(a, key).sd]),
      ...SEED_COLUMNS.flatMap(([, key]) => seeds.map((s) => valueIn(a, key, s))),
      a.halted.join('; '),
    ]
      .map(cell)
      .join(','),
  );
  return `${[header.join(','), ...lines].join('\n')}\n`;
}

/** A file name from the run's name: "LoRA, PiSSA · 60 steps" → "LoRA-PiSSA-60-steps-results.csv". */
export function resultsCsvName(runName: string | undefined): string {
  const stem = (runName ?? 'comparison')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80);
  return `${stem || 'comparison'}-results.csv`;
}
