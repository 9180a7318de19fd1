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
// `ms` is wall time per step including the read-back. Steps overlap (InterleavedRun.stepOverlapped):
// step n+1 is recorded before step n's metrics are printed, and the run drains before validation,
// a checkpoint save, Ctrl-C and the last step; the numbers are those of one step at a time.
// The loop is train/compare.ts's InterleavedRun with one method, so a NaN or infinite loss or
// gradient stops the run naming the layer and the tensor (train/health.ts), and a diverging loss
// is noted. Checkpoints (--checkpoint-dir, --checkpoint-every, --resume; ../checkpointDir.ts):
// saved every N steps, at the end and on Ctrl-C; --resume continues bit for bit from the newest,
// after checking that model, data, method and settings are the ones it was made with, and the
// JSON then holds the whole run's history.

import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { DEFAULT_TRAIN_METHOD, METHODS } from '../../adapters/registry';
import type { MethodDefinition } from '../../adapters/types';
import type { SettingValue } from '../../adapters/types';
import { paramCount } from '../../io/hfConfig';
import { loadModelTokenizer, tokenizerVocabWarning } from '../../io/tokenizer';
import { holdUntargeted, loadCausalLM, releaseModel } from '../../models/load';
import { BaseReleaser, defersProjections } from '../../train/baseRelease';
import type { MethodHistory } from '../../io/checkpointFile';
import { captureCheckpoint, checkResume, restoreCheckpoint } from '../../train/checkpoint';
import { InterleavedRun, type RunningMethod } from '../../train/compare';
import type { MethodStart } from '../../train/methodRun';
import type { ScheduleKind } from '../../train/schedule';
import { CancelledError, StudioError, errorMessage, formatBytes } from '../../errors';
import { CHECKPOINT_FLAGS, checkFreshCheckpointDir, checkpointChoice, cliRunIdentity, readNewestCheckpoint, writeCheckpointDir } from '../checkpointDir';
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
  PACKING_FLAG,
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
    packing: PACKING_FLAG,
    json: { type: 'string', value: 'FILE', description: 'write the run (config, steps, validation) as JSON to FILE' },
    ...MEMORY_FLAGS,
    ...CHECKPOINT_FLAGS,
  },
  examples: [
    'train path/to/model --data data.jsonl --method full --steps 50 --lr 1e-4 --batch 4 --seq-len 64 --json run.json',
    'train path/to/model --data data.jsonl --method pissa --targets q,v --set rank=16 --set alpha=16 --steps 100 --lr 2e-4',
    'train path/to/model --method lora --steps 1000 --checkpoint-dir ckpt --checkpoint-every 100   (after Ctrl-C: the same line with --resume)',
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
  /** Several whole examples per training row (--packing). */
  readonly packing: boolean;
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
    /** Bytes of the shared base resident while training (the released and the deferred projections not counted). */
    readonly baseBytes: number;
    /** The model was loaded with deferred projections (models/load.ts): the init read each targeted W from the checkpoint, never the whole base. */
    readonly deferredBase: boolean;
    readonly initMs: number;
    readonly gpu: string;
    /** The memory plan's bytes at the run's peak (shared base, the method's tensors and AdamW state, one step). */
    readonly plannedGpuBytes: number;
    /** The GPU pool's measured peak over the training steps (everything live, pool size classes included). */
    readonly peakGpuBytes: number;
  };
  readonly steps: StepRecord[];
  readonly validation: { step: number; loss: number }[];
  /** Present when the run stopped early: a non-finite loss or gradient (where it was found: health.ts), or Ctrl-C. */
  stopped?: { step: number; reason: string; source?: string; layer?: string; tensor?: string };
  /** Present when the loss was flagged as diverging (train/health.ts's rule; training went on). */
  diverging?: { step: number; since: number; message: string };
  /** The step this run was resumed from (--resume). */
  resumedFrom?: number;
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
    packing: args.bool('packing'),
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
    packing: config.packing,
  });
  const { train, validation, batcher, prepared } = data;
  const valBatches = data.validationBatches;

  const method = adapter ?? methodOrUsage(config.method, 'train');
  const params = paramCount(c);
  const checkpoints = checkpointChoice(args, 'train');
  if (checkpoints && !checkpoints.resume) await checkFreshCheckpointDir(checkpoints.dir);
  const start: MethodStart = {
    id: method.id,
    definition: method,
    settings: config.settings,
    learningRate: config.lr,
    clipNorm: config.clip,
    weightDecay: config.weightDecay,
    checkpointing: config.checkpointing,
  };
  const identity = checkpoints
    ? await cliRunIdentity(source, basename(resolve(config.model)), data, config.seed, config.steps, {
        batch: config.batch,
        seqLen: config.seqLen,
        schedule: config.schedule,
        warmup: config.warmup,
        targets: config.targets.join(','),
        ...(config.packing ? { packing: true } : {}),
      })
    : undefined;
  // Refused before the GPU and the model are touched.
  const resume = checkpoints?.resume ? await readNewestCheckpoint(checkpoints.dir) : undefined;
  if (resume) checkResume(resume.checkpoint, resume.where, identity!, [start]);
  const rt = await env.gpu();
  // A 4-bit method reads each projection from the checkpoint as it quantizes it: the whole 16-bit base is never held.
  const deferredBase = defersProjections([method]);
  const model = await loadCausalLM(rt, source, { trainable: false, deferProjections: deferredBase });
  let run: InterleavedRun<undefined> | undefined;
  let started: RunningMethod<undefined> | undefined;
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
      deferredBase,
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
    await holdUntargeted(rt, model, targets);
    const plan = checkRunMemory(rt, model, targets, [{ method, settings: config.settings }], config, memoryChoice(args));
    r.plannedGpuBytes = plan.totalBytes;
    run = new InterleavedRun<undefined>(rt, {
      model,
      targets,
      seed: config.seed,
      calibration: (count) => Array.from({ length: count }, (_, i) => batcher.batch(i)),
      steps: config.steps,
      schedule: { kind: config.schedule, warmupSteps: config.warmup },
      clipNorm: config.clip,
      weightDecay: config.weightDecay,
      validationBatches: valBatches,
      evalEvery: config.evalEvery,
      checkpointing: config.checkpointing,
    });
    // A 4-bit method reads only its own base: the shared projection weights go during its init.
    const releaser = new BaseReleaser(rt, model, { measureQuantErrors: false });
    try {
      started = await run.add(start, () => undefined, 0, releaser.hookFor([]));
    } catch (error) {
      throw initError(method.id, error);
    }
    const { adapted, trainer } = started;
    const release = await releaser.finish([adapted]);
    r.baseBytes = modelBytes(model);
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
        `${adapted.linears.size > 0 ? `${adapted.linears.size} projections (${config.targets.join(',')})` : 'every parameter'}, init ${r.initMs} ms\n` +
        (release.released.length > 0
          ? `released the shared weights of ${release.released.length} projections (${formatBytes(release.bytes)}): ${method.id} reads only its own base\n`
          : ''),
    );
    io.out(
      `trainable parameters ${r.trainableParams} (${((100 * r.trainableParams) / params).toFixed(3)} % of ${params})\n` +
        `memory: shared base ${formatBytes(r.baseBytes)}${r.deferredBase ? ' (deferred: the init read each targeted projection from the checkpoint)' : ''} + method ${formatBytes(r.methodBytes)} + optimizer ${formatBytes(r.optimizerBytes)} ` +
        `= ${formatBytes(r.baseBytes + r.methodBytes + r.optimizerBytes)}; planned peak with one step's activations ${formatBytes(r.plannedGpuBytes)}` +
        `${config.checkpointing ? ' (activation checkpointing)' : ''}\n`,
    );
    let first = 0;
    if (resume) {
      first = await restoreCheckpoint(rt, run, resume.checkpoint, resume.where, identity!);
      const history = resume.checkpoint.manifest.methods[0]!.history;
      if (history) {
        result.steps.push(
          ...history.steps.map((s) => ({ step: s.step, loss: s.loss, gradNorm: config.clip > 0 ? s.gradNorm : null, lr: s.lr, tokens: s.tokens, ms: s.ms })),
        );
        result.validation.push(...history.validation);
      }
      result.resumedFrom = first;
      io.err(`resumed from ${resume.where} at step ${first} of ${config.steps}\n`);
    }
    const history = (): MethodHistory => ({
      steps: result.steps.map((s) => ({ ...s, gradNorm: s.gradNorm ?? Number.NaN })),
      validation: result.validation,
      trainMs: result.steps.reduce((n, s) => n + s.ms, 0),
      peakGpuBytes: trainer.peakGpuBytes,
    });
    let saved = first;
    const save = async (step: number): Promise<void> => {
      if (!checkpoints || step === saved) return;
      const where = await writeCheckpointDir(checkpoints.dir, await captureCheckpoint(rt, run!, { identity: identity!, step, history }));
      saved = step;
      io.err(`checkpoint after step ${step}: ${where}\n`);
    };
    const width = String(config.steps).length;
    for (let i = first; i < config.steps; i++) {
      if (env.signal?.aborted) {
        await run.drain();
        await save(i);
        result.stopped = { step: i, reason: 'stopped by the user (Ctrl-C)' };
        throw new CancelledError(
          `training stopped by the user after step ${i} of ${config.steps}` +
            (checkpoints ? `; continue it with the same command and --resume (checkpoint in ${checkpoints.dir})` : '') +
            (jsonPath !== undefined ? `; the steps so far are in ${jsonPath}` : ''),
        );
      }
      const done = i + 1;
      const saveAfter = checkpoints !== undefined && checkpoints.every > 0 && done % checkpoints.every === 0;
      await run.stepOverlapped(
        i,
        batcher.batch(i),
        {
          onStep: (m, row) => {
            const record: StepRecord = {
              step: done,
              loss: row.loss,
              gradNorm: config.clip > 0 ? row.gradNorm : null,
              lr: row.lr,
              tokens: row.tokens,
              ms: Math.round(row.ms * 10) / 10,
            };
            result.steps.push(record);
            io.out(
              `step ${String(done).padStart(width)}/${config.steps}  loss ${fmt(row.loss)}` +
                (record.gradNorm !== null ? `  grad-norm ${fmt(record.gradNorm, 3)}` : '') +
                `  lr ${row.lr.toExponential(2)}  tokens ${row.tokens}  ${row.ms.toFixed(0)} ms` +
                `${row.diverging ? '  (diverging)' : ''}\n`,
            );
            const flag = m.health.flag;
            if (flag && flag.step === done) {
              result.diverging = { step: flag.step, since: flag.since, message: flag.message };
              io.err(`note: ${flag.message}\n`);
            }
          },
          onEval: (_m, loss) => {
            result.validation.push({ step: done, loss });
            io.out(`step ${String(done).padStart(width)}  validation loss ${fmt(loss)}\n`);
          },
        },
        saveAfter,
      );
      // Overlapped, the step that failed may be the one before this (the one recorded here was discarded).
      const halt = started.halt;
      if (halt) {
        const last = result.steps[result.steps.length - 1]!;
        const what = !Number.isFinite(last.loss) ? `the loss is ${last.loss}` : `the gradient norm is ${last.gradNorm ?? 'not finite'}`;
        result.stopped = { step: halt.step, reason: `${what}; ${halt.detail}`, source: halt.source, layer: halt.layer, tensor: halt.tensor };
        throw new StudioError(
          `training stopped at step ${halt.step}: ${what}; ${halt.detail}. Try a lower --lr (now ${config.lr}), a --clip, or check the data` +
            (checkpoints && saved > 0 ? `; the last checkpoint (step ${saved}) is in ${checkpoints.dir}` : '') +
            (jsonPath !== undefined ? `; the steps so far are in ${jsonPath}` : ''),
        );
      }
      if (saveAfter) await save(done);
    }
    await run.drain();
    await save(config.steps);
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
    run?.release();
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
