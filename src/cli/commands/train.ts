// `train <model-dir> --data FILE --method full --steps N`: fine-tunes on a data file with the same
// engine pieces the worker uses: prepareDataset (parse + tokenize, rows skipped with reasons),
// splitTrainValidation, createBatcher (batches a pure function of seed and step), Trainer (one
// submission per step; AdamW, clipping, the LR schedule). Prints one line per step to stdout and
// the validation loss every K steps and at the end; --json FILE writes the run as
// {config, steps: [{step, loss, gradNorm, lr, tokens, ms}], validation: [{step, loss}]}, where
// `step` counts updates done (1 = after the first update) and gradNorm is null without --clip.
// A NaN or infinite loss stops the run, names the step, and still writes the history.
//
// Methods: METHODS maps a name to what trains. Only full fine-tuning exists now; an adapter
// method adds one entry (its setup wraps the model's linear slots and returns the adapter
// tensors). `ms` is wall time per step including the read-back; steps are awaited one at a time.

import { readFile, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { createBatcher, prepareDataset, splitTrainValidation, type TokenizedExample } from '../../io/datasets';
import { memoryEstimate, paramCount } from '../../io/hfConfig';
import { loadModelTokenizer } from '../../io/tokenizer';
import type { CausalLM } from '../../models/causalLM';
import { loadCausalLM, releaseModel } from '../../models/load';
import { Trainer, type Batch, type TrainTarget } from '../../train/trainer';
import type { ScheduleKind } from '../../train/schedule';
import { DatasetError, StudioError, formatBytes } from '../../errors';
import { describe, formatCount, openModelDir, type CliEnv } from './common';

/** What a method trains once the model is loaded. */
interface MethodSetup {
  /** Load the base weights trainable (full fine-tuning) or frozen (adapters). */
  readonly baseTrainable: boolean;
  /** The trainer's target: the model, the projections the method puts in place, what learns. */
  target(model: CausalLM): TrainTarget;
}

/** The training methods the CLI offers; an adapter method is one more entry. */
export const METHODS: Readonly<Record<string, MethodSetup>> = {
  full: {
    baseTrainable: true,
    // Weight decay on the linear weights only (not embeddings, norms or biases), as is usual.
    target: (model) => ({ model, trainable: model.parameters().map((p) => ({ tensor: p.tensor, weightDecay: p.kind === 'linear' })) }),
  },
};

const SCHEDULES: readonly ScheduleKind[] = ['constant', 'linear', 'cosine'];

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Fine-tune a model on a data file (JSONL, JSON, CSV/TSV or plain text) and print the loss per step.',
  positionals: [{ name: 'model-dir', description: 'model folder with tokenizer.json' }],
  flags: {
    data: { type: 'string', value: 'FILE', description: 'training data (required)' },
    method: { type: 'string', value: 'NAME', default: 'full', description: `training method: ${Object.keys(METHODS).join(', ')}` },
    steps: { type: 'int', value: 'N', min: 1, description: 'optimizer steps (required)' },
    lr: { type: 'number', value: 'LR', above: 0, default: 1e-4, description: 'peak learning rate' },
    batch: { type: 'int', value: 'B', min: 1, default: 4, description: 'sequences per step' },
    'seq-len': { type: 'int', value: 'T', min: 2, default: 64, description: 'tokens per sequence (longer rows are cut)' },
    schedule: { type: 'string', value: 'KIND', default: 'constant', description: `learning-rate schedule: ${SCHEDULES.join(', ')}` },
    warmup: { type: 'int', value: 'W', min: 0, default: 0, description: 'linear warmup steps' },
    seed: { type: 'int', value: 'S', min: 0, default: 0, description: 'seed for the split and the batch order' },
    clip: { type: 'number', value: 'NORM', min: 0, default: 1, description: 'global gradient-norm clip (0: none)' },
    'weight-decay': { type: 'number', value: 'WD', min: 0, default: 0, description: 'AdamW weight decay (linear weights)' },
    validation: { type: 'number', value: 'F', min: 0, max: 0.9, default: 0.1, description: 'fraction of rows held out for validation (0: none)' },
    'eval-every': { type: 'int', value: 'K', min: 0, default: 0, description: 'validation loss every K steps (0: only at the end)' },
    json: { type: 'string', value: 'FILE', description: 'write the run (config, steps, validation) as JSON to FILE' },
  },
  examples: [
    'train path/to/model --data data.jsonl --method full --steps 50 --lr 1e-4 --batch 4 --seq-len 64 --json run.json',
  ],
};

export interface TrainConfig {
  readonly model: string;
  readonly data: string;
  readonly method: string;
  readonly steps: number;
  readonly lr: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly schedule: ScheduleKind;
  readonly warmup: number;
  readonly seed: number;
  readonly clip: number;
  readonly weightDecay: number;
  readonly validation: number;
  readonly evalEvery: number;
}

export interface StepRecord {
  readonly step: number;
  readonly loss: number;
  /** Before clipping; null when not clipping. */
  readonly gradNorm: number | null;
  readonly lr: number;
  /** Tokens whose loss counted. */
  readonly tokens: number;
  readonly ms: number;
}

export interface TrainResult {
  readonly config: TrainConfig & {
    readonly trainExamples: number;
    readonly validationExamples: number;
    readonly skippedRows: number;
    readonly truncatedRows: number;
    readonly params: number;
    readonly trainableParams: number;
    readonly gpu: string;
  };
  readonly steps: StepRecord[];
  readonly validation: { step: number; loss: number }[];
  /** Present when the run stopped early. */
  stopped?: { step: number; reason: string };
}

function readConfig(args: ParsedArgs): TrainConfig {
  const data = args.string('data');
  if (data === undefined) throw new UsageError("'train' needs --data FILE", 'train');
  const steps = args.number('steps');
  if (steps === undefined) throw new UsageError("'train' needs --steps N", 'train');
  const method = args.string('method', 'full');
  if (!(method in METHODS)) {
    throw new UsageError(`method ${method} is not available yet; supported: ${Object.keys(METHODS).join(', ')}`, 'train');
  }
  const schedule = args.string('schedule', 'constant');
  if (!(SCHEDULES as readonly string[]).includes(schedule)) {
    throw new UsageError(`--schedule must be one of ${SCHEDULES.join(', ')}, got '${schedule}'`, 'train');
  }
  const warmup = args.number('warmup', 0);
  if (warmup > steps) throw new UsageError(`--warmup (${warmup}) cannot exceed --steps (${steps})`, 'train');
  return {
    model: args.positionals[0]!,
    data,
    method,
    steps,
    lr: args.number('lr', 1e-4),
    batch: args.number('batch', 4),
    seqLen: args.number('seq-len', 64),
    schedule: schedule as ScheduleKind,
    warmup,
    seed: args.number('seed', 0),
    clip: args.number('clip', 1),
    weightDecay: args.number('weight-decay', 0),
    validation: args.number('validation', 0.1),
    evalEvery: args.number('eval-every', 0),
  };
}

/** Validation batches that visit each held-out row exactly once (no shuffling, no wrap-around). */
function validationBatches(examples: readonly TokenizedExample[], batch: number, seqLen: number, padId: number): Batch[] {
  const out: Batch[] = [];
  for (let i = 0; i < examples.length; i += batch) {
    const chunk = examples.slice(i, i + batch);
    out.push(createBatcher(chunk, { batchSize: chunk.length, seqLen, seed: 0, shuffle: false, padId }).batch(0));
  }
  return out;
}

async function checkOutputPath(path: string): Promise<void> {
  const dir = dirname(resolve(path));
  let ok = false;
  try {
    ok = (await stat(dir)).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new StudioError(`cannot write --json ${path}: the folder ${dir} does not exist`);
}

function fmt(value: number, digits = 4): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

export async function runTrain(args: ParsedArgs, env: CliEnv): Promise<TrainResult> {
  const config = readConfig(args);
  const { io } = env;
  const jsonPath = args.string('json');
  if (jsonPath !== undefined) await checkOutputPath(jsonPath);

  const source = await openModelDir(config.model);
  const c = source.config;
  if (config.seqLen > c.maxPositions) {
    throw new StudioError(`--seq-len ${config.seqLen} is more than the model's ${c.maxPositions} positions; use --seq-len ${c.maxPositions} or less`);
  }
  if (c.family === 'llama' && c.slidingWindow !== null && config.seqLen > c.slidingWindow) {
    throw new StudioError(`--seq-len ${config.seqLen} is more than the model's sliding window (${c.slidingWindow}); use --seq-len ${c.slidingWindow} or less`);
  }
  const tokenizer = await loadModelTokenizer(source);

  let text: string;
  try {
    text = await readFile(config.data, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DatasetError(
      code === 'ENOENT' ? `data file not found: ${resolve(config.data)}` : `cannot read the data file ${config.data} (${describe(error)})`,
    );
  }
  const prepared = prepareDataset(text, tokenizer, { fileName: basename(config.data), seqLen: config.seqLen });
  const { train, validation } = splitTrainValidation(prepared.examples, config.validation, config.seed);
  if (prepared.skipped.length > 0) {
    const first = prepared.skipped[0]!;
    io.err(`note: ${prepared.skipped.length} rows skipped (first: line ${first.line}: ${first.reason})\n`);
  }
  if (prepared.truncated.length > 0) {
    io.err(`note: ${prepared.truncated.length} rows longer than --seq-len ${config.seqLen} were cut (first: line ${prepared.truncated[0]!.line}, ${prepared.truncated[0]!.tokens} tokens)\n`);
  }
  if (config.validation > 0 && validation.length === 0) io.err('note: too few rows to hold any out for validation\n');
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  const batcher = createBatcher(train, { batchSize: config.batch, seqLen: config.seqLen, seed: config.seed, padId });
  const valBatches = validationBatches(validation, config.batch, config.seqLen, padId);

  const method = METHODS[config.method]!;
  const params = paramCount(c);
  const estimate = memoryEstimate(c, { weightBytesPerParam: 4, trainableParams: params, batch: config.batch, seqLen: config.seqLen });
  const rt = await env.gpu();
  io.err(
    `${prepared.fileName}: ${train.length} train / ${validation.length} validation rows, ${prepared.stats.countedTokens} trained tokens; ` +
      `${batcher.stepsPerEpoch} steps per epoch\n` +
      `model: ${c.modelType}, ${formatCount(params)} parameters; method ${config.method}; GPU ${rt.info.description || rt.info.vendor}; ` +
      `estimated memory ${formatBytes(estimate.totalBytes)}\n`,
  );
  const model = await loadCausalLM(rt, source, { trainable: method.baseTrainable });
  let trainer: Trainer | undefined;
  const result: TrainResult = {
    config: { ...config, trainExamples: train.length, validationExamples: validation.length, skippedRows: prepared.skipped.length, truncatedRows: prepared.truncated.length, params, trainableParams: 0, gpu: rt.info.description || rt.info.vendor },
    steps: [],
    validation: [],
  };
  try {
    const target = method.target(model);
    (result.config as { trainableParams: number }).trainableParams = target.trainable.reduce((n, t) => n + t.tensor.shape.reduce((a, b) => a * b, 1), 0);
    trainer = new Trainer(rt, target, {
      schedule: { kind: config.schedule, peak: config.lr, warmupSteps: config.warmup, totalSteps: config.steps },
      clipNorm: config.clip,
      weightDecay: config.weightDecay,
    });
    const width = String(config.steps).length;
    const evaluate = async (step: number): Promise<void> => {
      if (valBatches.length === 0) return;
      const loss = await trainer!.evaluate(valBatches);
      result.validation.push({ step, loss });
      io.out(`step ${String(step).padStart(width)}  validation loss ${fmt(loss)}\n`);
    };
    for (let i = 0; i < config.steps; i++) {
      const started = performance.now();
      const m = await trainer.step(batcher.batch(i));
      const ms = performance.now() - started;
      const record: StepRecord = {
        step: i + 1,
        loss: m.loss,
        gradNorm: config.clip > 0 ? m.gradNorm : null,
        lr: m.lr,
        tokens: m.tokens,
        ms: Math.round(ms * 10) / 10,
      };
      result.steps.push(record);
      io.out(
        `step ${String(i + 1).padStart(width)}/${config.steps}  loss ${fmt(m.loss)}` +
          (record.gradNorm !== null ? `  grad-norm ${fmt(record.gradNorm, 3)}` : '') +
          `  lr ${m.lr.toExponential(2)}  tokens ${m.tokens}  ${ms.toFixed(0)} ms\n`,
      );
      if (!Number.isFinite(m.loss) || (record.gradNorm !== null && !Number.isFinite(record.gradNorm))) {
        const what = !Number.isFinite(m.loss) ? `the loss is ${m.loss}` : `the gradient norm is ${record.gradNorm}`;
        result.stopped = { step: i + 1, reason: what };
        throw new StudioError(
          `training stopped at step ${i + 1}: ${what}. Try a lower --lr (now ${config.lr}), a --clip, or check the data` +
            (jsonPath !== undefined ? `; the steps so far are in ${jsonPath}` : ''),
        );
      }
      const done = i + 1;
      if ((config.evalEvery > 0 && done % config.evalEvery === 0) || done === config.steps) await evaluate(done);
    }
    const last = result.steps[result.steps.length - 1]!;
    const totalMs = result.steps.reduce((n, s) => n + s.ms, 0);
    const tokens = result.steps.reduce((n, s) => n + s.tokens, 0);
    io.err(
      `done: ${config.steps} steps in ${(totalMs / 1000).toFixed(1)} s (${((tokens * 1000) / Math.max(totalMs, 1e-3)).toFixed(0)} trained tokens/s); ` +
        `loss ${fmt(result.steps[0]!.loss)} → ${fmt(last.loss)}` +
        (result.validation.length > 0 ? `; validation ${fmt(result.validation[result.validation.length - 1]!.loss)}` : '') +
        '\n',
    );
    return result;
  } finally {
    trainer?.destroy();
    releaseModel(rt, model);
    if (jsonPath !== undefined) {
      try {
        await writeFile(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
        io.err(`wrote ${jsonPath}\n`);
      } catch (error) {
        io.err(`could not write ${jsonPath}: ${describe(error)}\n`);
      }
    }
  }
}
