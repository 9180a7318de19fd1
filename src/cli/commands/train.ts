// `train <model-dir> --data FILE --method full --steps N`: fine-tunes on a data file with the same
// engine pieces the worker uses: prepareDataset (parse + tokenize, rows skipped with reasons),
// splitTrainValidation, createBatcher (batches a pure function of seed and step), Trainer (one
// submission per step; AdamW, clipping, the LR schedule). Prints one line per step to stdout and
// the validation loss every K steps and at the end; --json FILE writes the run as
// {config, steps: [{step, loss, gradNorm, lr, tokens, ms}], validation: [{step, loss}]}, where
// `step` counts updates done (1 = after the first update) and gradNorm is null without --clip.
// A NaN or infinite loss stops the run, names the step, and still writes the history.
//
// Methods: any method of the registry (src/adapters/registry.ts), created with the same
// create() the studio calls: --targets picks the projections by role (default all), --set
// key=value (repeatable) sets the method's settings, validated by resolveSettings. LoRA-SB's
// gradient estimate and SPP's Wanda norms take the first training batches as calibration.
// `ms` is wall time per step including the read-back; steps are awaited one at a time.

import { writeFile } from 'node:fs/promises';
import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { DEFAULT_TRAIN_METHOD, METHODS } from '../../adapters/registry';
import type { MethodDefinition } from '../../adapters/types';
import type { SettingValue } from '../../adapters/types';
import { paramCount } from '../../io/hfConfig';
import { loadModelTokenizer, tokenizerVocabWarning } from '../../io/tokenizer';
import { loadCausalLM, releaseModel } from '../../models/load';
import { startMethod, type StartedMethod } from '../../train/methodRun';
import type { ScheduleKind } from '../../train/schedule';
import { StudioError, errorMessage, formatBytes } from '../../errors';
import {
  ADAPTER_BASE_FLAG,
  ADAPTER_FLAG,
  adapterSettings,
  openAdapterDir,
  checkOutputFile,
  fmtNumber as fmt,
  formatCount,
  initError,
  methodOrUsage,
  methodSettings,
  modelBytes,
  openModelDir,
  parseRoles,
  parseSetPairs,
  prepareRunData,
  targetsOrUsage,
  SCHEDULES,
  TRAINING_FLAGS,
  type CliEnv,
} from './common';
import { MEMORY_FLAGS, checkRunMemory, memoryChoice } from './memory';

export const trainSpec: CommandSpec = {
  name: 'train',
  summary: 'Fine-tune a model on a data file (JSONL, JSON, CSV/TSV or plain text) and print the loss per step.',
  positionals: [{ name: 'model-dir', description: 'model folder with tokenizer.json' }],
  flags: {
    ...TRAINING_FLAGS,
    data: { type: 'string', value: 'FILE', description: 'training data (default: the built-in math set public/datasets/math)' },
    adapter: ADAPTER_FLAG,
    'adapter-base': ADAPTER_BASE_FLAG,
    method: { type: 'string', value: 'NAME', default: DEFAULT_TRAIN_METHOD, description: `training method: ${METHODS.map((m) => m.id).join(', ')}` },
    targets: {
      type: 'string',
      value: 'ROLES',
      default: 'all',
      description: 'projections to adapt: q,k,v,o,gate,up,down (GPT-2: c_attn,attn.c_proj,c_fc,mlp.c_proj) or all',
    },
    set: { type: 'string', value: 'KEY=VALUE', description: "a method setting, e.g. rank=16 (repeatable; a wrong key lists the method's settings)" },
    steps: { type: 'int', value: 'N', min: 1, description: 'optimizer steps (required)' },
    validation: { type: 'number', value: 'F', min: 0, max: 0.9, default: 0.1, description: 'fraction of rows held out for validation (0: none)' },
    'eval-every': { type: 'int', value: 'K', min: 0, default: 0, description: 'validation loss every K steps (0: only at the end)' },
    json: { type: 'string', value: 'FILE', description: 'write the run (config, steps, validation) as JSON to FILE' },
    ...MEMORY_FLAGS,
  },
  examples: [
    'train path/to/model --data data.jsonl --method full --steps 50 --lr 1e-4 --batch 4 --seq-len 64 --json run.json',
    'train path/to/model --data data.jsonl --method pissa --targets q,v --set rank=16 --set alpha=16 --steps 100 --lr 2e-4',
  ],
};

export interface TrainConfig {
  readonly model: string;
  /** The data file, or the built-in math set's path. */
  readonly data: string;
  readonly method: string;
  readonly targets: readonly string[];
  /** The method's settings, defaults filled in. */
  readonly settings: Readonly<Record<string, SettingValue>>;
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
  /** Activation checkpointing (--checkpointing). */
  readonly checkpointing: boolean;
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
    /** Adapted projections (module paths); empty for full fine-tuning. */
    readonly adaptedModules: readonly string[];
    /** Bytes the method holds beyond the shared base, and its optimizer state. */
    readonly methodBytes: number;
    readonly optimizerBytes: number;
    readonly baseBytes: number;
    readonly initMs: number;
    readonly gpu: string;
    /** The memory plan's bytes at the run's peak (shared base, the method's tensors and AdamW state, one step). */
    readonly plannedGpuBytes: number;
    /** The GPU pool's measured peak over the training steps (everything live, pool size classes included). */
    readonly peakGpuBytes: number;
  };
  readonly steps: StepRecord[];
  readonly validation: { step: number; loss: number }[];
  /** Present when the run stopped early. */
  stopped?: { step: number; reason: string };
}

function readConfig(args: ParsedArgs, adapter: MethodDefinition | undefined): TrainConfig & { readonly dataGiven: boolean } {
  const data = args.string('data');
  const steps = args.number('steps');
  if (steps === undefined) throw new UsageError("'train' needs --steps N", 'train');
  if (adapter && args.has('method')) throw new UsageError('give --method or --adapter, not both: --adapter trains the loaded adapter further', 'train');
  const method = adapter ?? methodOrUsage(args.string('method', DEFAULT_TRAIN_METHOD), 'train');
  const settings = adapter ? adapterSettings(adapter, args, 'train') : methodSettings(method, parseSetPairs(args.string('set'), 'train'), 'train');
  const schedule = args.string('schedule', 'constant');
  if (!(SCHEDULES as readonly string[]).includes(schedule)) {
    throw new UsageError(`--schedule must be one of ${SCHEDULES.join(', ')}, got '${schedule}'`, 'train');
  }
  const warmup = args.number('warmup', 0);
  if (warmup > steps) throw new UsageError(`--warmup (${warmup}) cannot exceed --steps (${steps})`, 'train');
  return {
    model: args.positionals[0]!,
    data: data ?? '',
    dataGiven: data !== undefined,
    method: method.id,
    targets: parseRoles(args.string('targets', 'all'), 'train'),
    settings,
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
    checkpointing: args.bool('checkpointing'),
  };
}

export async function runTrain(args: ParsedArgs, env: CliEnv): Promise<TrainResult> {
  const adapterDir = args.string('adapter');
  const adapter = adapterDir === undefined ? undefined : await openAdapterDir(adapterDir);
  const { dataGiven, ...config } = readConfig(args, adapter);
  const { io } = env;
  const jsonPath = args.string('json');
  if (jsonPath !== undefined) await checkOutputFile('json', jsonPath);

  const source = await openModelDir(config.model);
  const c = source.config;
  if (config.seqLen > c.maxPositions) {
    throw new StudioError(`--seq-len ${config.seqLen} is more than the model's ${c.maxPositions} positions; use --seq-len ${c.maxPositions} or less`);
  }
  if (c.family === 'llama' && c.slidingWindow !== null && config.seqLen > c.slidingWindow) {
    throw new StudioError(`--seq-len ${config.seqLen} is more than the model's sliding window (${c.slidingWindow}); use --seq-len ${c.slidingWindow} or less`);
  }
  const tokenizer = await loadModelTokenizer(source);
  const vocabWarning = tokenizerVocabWarning(tokenizer.vocabSize, c.vocabSize);
  if (vocabWarning) io.err(`warning: ${vocabWarning}\n`);
  const data = await prepareRunData(io, tokenizer, {
    data: dataGiven ? config.data : undefined,
    seqLen: config.seqLen,
    batch: config.batch,
    seed: config.seed,
    validation: config.validation,
    builtinDir: env.mathDatasetDir,
  });
  const { train, validation, batcher, prepared } = data;
  const valBatches = data.validationBatches;

  const method = adapter ?? methodOrUsage(config.method, 'train');
  const params = paramCount(c);
  const rt = await env.gpu();
  const model = await loadCausalLM(rt, source, { trainable: false });
  let started: StartedMethod | undefined;
  const result: TrainResult = {
    config: {
      ...config,
      data: data.file,
      trainExamples: train.length,
      validationExamples: validation.length,
      skippedRows: prepared.skipped.length,
      truncatedRows: prepared.truncated.length,
      params,
      trainableParams: 0,
      adaptedModules: [],
      methodBytes: 0,
      optimizerBytes: 0,
      baseBytes: modelBytes(model),
      initMs: 0,
      gpu: rt.info.description || rt.info.vendor,
      plannedGpuBytes: 0,
      peakGpuBytes: 0,
    },
    steps: [],
    validation: [],
  };
  const r = result.config as { -readonly [K in keyof TrainResult['config']]: TrainResult['config'][K] };
  try {
    const targets = targetsOrUsage(model, config.targets, 'train');
    const plan = checkRunMemory(rt, model, targets, [{ method, settings: config.settings }], config, memoryChoice(args));
    r.plannedGpuBytes = plan.totalBytes;
    try {
      started = await startMethod(
        rt,
        { model, targets, seed: config.seed, calibration: (count) => Array.from({ length: count }, (_, i) => batcher.batch(i)) },
        {
          id: method.id,
          definition: method,
          settings: config.settings,
          learningRate: config.lr,
          clipNorm: config.clip,
          weightDecay: config.weightDecay,
          checkpointing: config.checkpointing,
        },
        { kind: config.schedule, warmupSteps: config.warmup, totalSteps: config.steps },
      );
    } catch (error) {
      throw initError(method.id, error);
    }
    const { adapted, trainer } = started;
    r.initMs = Math.round(started.initMs);
    r.trainableParams = started.trainableParams;
    r.adaptedModules = [...adapted.linears.keys()];
    r.methodBytes = adapted.extraBytes;
    r.optimizerBytes = trainer.optimizerBytes();
    io.err(
      `${prepared.fileName}: ${train.length} train / ${validation.length} validation rows, ${prepared.stats.countedTokens} trained tokens; ` +
        `${batcher.stepsPerEpoch} steps per epoch\n` +
        `model: ${c.modelType}, ${formatCount(params)} parameters; GPU ${r.gpu}\n` +
        `method ${method.id} (${
          Object.entries(config.settings)
            .map(([k, v]) => `${k}=${String(v)}`)
            .join(', ') || 'no settings'
        }) on ` +
        `${adapted.linears.size > 0 ? `${adapted.linears.size} projections (${config.targets.join(',')})` : 'every parameter'}, init ${r.initMs} ms\n`,
    );
    io.out(
      `trainable parameters ${r.trainableParams} (${((100 * r.trainableParams) / params).toFixed(3)} % of ${params})\n` +
        `memory: shared base ${formatBytes(r.baseBytes)} + method ${formatBytes(r.methodBytes)} + optimizer ${formatBytes(r.optimizerBytes)} ` +
        `= ${formatBytes(r.baseBytes + r.methodBytes + r.optimizerBytes)}; planned peak with one step's activations ${formatBytes(r.plannedGpuBytes)}` +
        `${config.checkpointing ? ' (activation checkpointing)' : ''}\n`,
    );
    const width = String(config.steps).length;
    const evaluate = async (step: number): Promise<void> => {
      if (valBatches.length === 0) return;
      const loss = await trainer.evaluate(valBatches);
      result.validation.push({ step, loss });
      io.out(`step ${String(step).padStart(width)}  validation loss ${fmt(loss)}\n`);
    };
    for (let i = 0; i < config.steps; i++) {
      const stepStart = performance.now();
      const m = await trainer.step(batcher.batch(i));
      const ms = performance.now() - stepStart;
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
        `; GPU pool peak ${formatBytes(trainer.peakGpuBytes)} (planned ${formatBytes(r.plannedGpuBytes)})\n`,
    );
    return result;
  } finally {
    if (started) r.peakGpuBytes = started.trainer.peakGpuBytes;
    started?.release();
    releaseModel(rt, model);
    if (jsonPath !== undefined) {
      try {
        await writeFile(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
        io.err(`wrote ${jsonPath}\n`);
      } catch (error) {
        io.err(`could not write ${jsonPath}: ${errorMessage(error)}\n`);
      }
    }
  }
}
