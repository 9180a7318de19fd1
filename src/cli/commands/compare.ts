// `compare <model-dir> --methods lora,pissa,... --steps N`: several methods trained side by side
// with runComparison (src/train/compare.ts): one shared frozen model, every method initialised
// against it, then all trained on identical batches in identical order (one seeded batcher),
// step by step. Prints one line per step with each method's loss, the validation losses every
// --eval-every K steps (and at the end), then a table: method, trainable parameters, memory
// (adapter tensors, owned bases and optimizer state beyond the shared base), init time, final
// train loss, final and best validation loss, trained tokens per second.
// --data defaults to the built-in math set (public/datasets/math/{train,validation}.jsonl, rows
// {question, answer} rendered as prompt `Question: …\nAnswer:` and completion ` …`).
// --set method.key=value sets one method's setting; --set key=value every chosen method that
// has that setting. --json FILE: {config, methods: [report…]}; --csv FILE: step,method,loss,val_loss.
// A method whose loss or gradient goes NaN or infinite stops alone, with where it was found
// (train/health.ts); a diverging loss is noted. Checkpoints (--checkpoint-dir, --checkpoint-every,
// --resume; ../checkpointDir.ts): every N steps, at the end and on Ctrl-C; --resume continues
// bit for bit from the newest one, its reports holding the whole history.

import { writeFile } from 'node:fs/promises';
import { basename, resolve } from 'node:path';
import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { resolveSettings, type MethodId, type SettingValue } from '../../adapters/types';
import { METHODS } from '../../adapters/registry';
import { paramCount } from '../../io/hfConfig';
import { loadModelTokenizer, tokenizerVocabWarning } from '../../io/tokenizer';
import { holdUntargeted, loadCausalLM, releaseModel } from '../../models/load';
import { defersProjections } from '../../train/baseRelease';
import { resolvedChoices, runComparison, type MethodChoice, type MethodReport } from '../../train/compare';
import { checkResume } from '../../train/checkpoint';
import type { ScheduleKind } from '../../train/schedule';
import { CancelledError, StudioError, errorMessage, formatBytes } from '../../errors';
import {
  CHECKPOINT_FLAGS,
  checkFreshCheckpointDir,
  checkpointChoice,
  cliRunIdentity,
  isResumeRefusal,
  readNewestCheckpoint,
  writeCheckpointDir,
} from '../checkpointDir';
import {
  ADAPTER_BASE_FLAG,
  ADAPTER_FLAG,
  adapterSettings,
  openAdapterDir,
  checkOutputFile,
  fmtNumber as fmt,
  formatCount,
  formatTable,
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
  PACKING_FLAG,
  TRAINING_FLAGS,
  type CliEnv,
} from './common';
import { MEMORY_FLAGS, checkRunMemory, memoryChoice } from './memory';

export const compareSpec: CommandSpec = {
  name: 'compare',
  summary: 'Train several methods on identical batches and compare loss, validation, memory and speed.',
  positionals: [{ name: 'model-dir', description: 'model folder with tokenizer.json' }],
  flags: {
    ...TRAINING_FLAGS,
    adapter: ADAPTER_FLAG,
    'adapter-base': ADAPTER_BASE_FLAG,
    methods: { type: 'string', value: 'LIST', description: `comma-separated methods (required): ${METHODS.map((m) => m.id).join(', ')}` },
    steps: { type: 'int', value: 'N', min: 1, description: 'optimizer steps per method (required)' },
    data: { type: 'string', value: 'FILE', description: 'training data (default: the built-in math set public/datasets/math)' },
    targets: { type: 'string', value: 'ROLES', default: 'all', description: 'projections to adapt: q,k,v,o,gate,up,down or all' },
    set: {
      type: 'string',
      value: 'M.KEY=VALUE',
      description: 'a setting of method M (e.g. pissa.rank=16), or KEY=VALUE for every method that has it (repeatable)',
    },
    validation: {
      type: 'number',
      value: 'F',
      min: 0,
      max: 0.9,
      default: 0.1,
      description: 'fraction held out for validation when the data has no validation file',
    },
    'val-rows': { type: 'int', value: 'N', min: 0, default: 0, description: 'use at most N validation rows (0: all)' },
    'eval-every': { type: 'int', value: 'K', min: 0, default: 0, description: 'validation loss every K steps (0: only at the end)' },
    json: { type: 'string', value: 'FILE', description: 'write {config, methods} as JSON to FILE' },
    csv: { type: 'string', value: 'FILE', description: 'write step,method,loss,val_loss rows to FILE' },
    packing: PACKING_FLAG,
    ...MEMORY_FLAGS,
    ...CHECKPOINT_FLAGS,
  },
  examples: [
    'compare path/to/model --methods lora,pissa,qlora,qpissa --steps 100 --eval-every 20 --json cmp.json --csv cmp.csv',
    'compare path/to/model --data data.jsonl --methods lora,lorasb --steps 50 --set rank=16 --set lorasb.rank=32',
    'compare path/to/model --methods lora,qlora --steps 500 --checkpoint-dir ckpt --checkpoint-every 50   (after Ctrl-C: the same line with --resume)',
  ],
};

export interface CompareConfig {
  readonly model: string;
  readonly data: string;
  readonly validationData: string;
  readonly methods: readonly { readonly id: MethodId; readonly settings: Readonly<Record<string, SettingValue>> }[];
  readonly targets: readonly string[];
  readonly steps: number;
  readonly lr: number;
  readonly batch: number;
  readonly seqLen: number;
  readonly schedule: ScheduleKind;
  readonly warmup: number;
  readonly seed: number;
  readonly clip: number;
  readonly weightDecay: number;
  readonly evalEvery: number;
  /** Activation checkpointing (--checkpointing). */
  readonly checkpointing: boolean;
  /** Several whole examples per training row (--packing). */
  readonly packing: boolean;
  readonly trainExamples: number;
  readonly validationExamples: number;
  readonly params: number;
  /** Bytes of the shared base resident as the inits start (a deferred projection not counted). */
  readonly baseBytes: number;
  /** Every method keeps a 4-bit base of its own: the model was loaded with deferred projections (models/load.ts), each read from the checkpoint by the inits. */
  readonly deferredBase: boolean;
  readonly gpu: string;
}

export interface CompareSummary {
  readonly id: MethodId;
  readonly trainableParams: number;
  readonly bytes: number;
  readonly initMs: number;
  readonly finalLoss: number;
  readonly finalValidationLoss: number | null;
  readonly bestValidationLoss: number | null;
  readonly tokensPerSecond: number;
  /** The memory plan's bytes while this method steps: the shared base, every method's tensors and AdamW state, its step. */
  readonly plannedGpuBytes: number;
  /** The GPU pool's measured peak during this method's steps (everything live then). */
  readonly peakGpuBytes: number;
}

export interface CompareResult {
  readonly config: CompareConfig;
  readonly methods: (CompareSummary & { readonly report: MethodReport })[];
}

/** --set pairs per method: `m.key=v` for m only; `key=v` for every chosen method having key. */
function settingsPerMethod(ids: readonly MethodId[], raw: string | undefined): Map<MethodId, [string, string][]> {
  const out = new Map<MethodId, [string, string][]>(ids.map((id) => [id, []]));
  for (const [key, value] of parseSetPairs(raw, 'compare')) {
    const dot = key.indexOf('.');
    if (dot > 0) {
      const id = key.slice(0, dot);
      const list = out.get(id as MethodId);
      if (!list) throw new UsageError(`--set ${key}: '${id}' is not one of the compared methods (${ids.join(', ')})`, 'compare');
      list.push([key.slice(dot + 1), value]);
      continue;
    }
    const having = ids.filter((id) => methodOrUsage(id, 'compare').settings.some((s) => s.key === key));
    if (having.length === 0) throw new UsageError(`--set ${key}: none of ${ids.join(', ')} has a setting '${key}'`, 'compare');
    for (const id of having) out.get(id)!.push([key, value]);
  }
  return out;
}

function summarize(report: MethodReport, plannedGpuBytes: number): CompareSummary {
  const tokens = report.steps.reduce((n, s) => n + s.tokens, 0);
  const val = report.validation.map((v) => v.loss);
  const finite = val.filter(Number.isFinite);
  return {
    id: report.id,
    trainableParams: report.trainableParams,
    bytes: report.bytes,
    initMs: Math.round(report.initMs),
    finalLoss: report.steps.length > 0 ? report.steps[report.steps.length - 1]!.loss : Number.NaN,
    finalValidationLoss: val.length > 0 ? val[val.length - 1]! : null,
    bestValidationLoss: finite.length > 0 ? Math.min(...finite) : null,
    tokensPerSecond: report.trainMs > 0 ? (tokens * 1000) / report.trainMs : 0,
    plannedGpuBytes,
    peakGpuBytes: report.peakGpuBytes,
  };
}

function csvOf(reports: readonly MethodReport[]): string {
  const lines = ['step,method,loss,val_loss'];
  const steps = Math.max(0, ...reports.map((r) => r.steps.length));
  for (let i = 0; i < steps; i++) {
    for (const r of reports) {
      const s = r.steps[i];
      if (!s) continue;
      const v = r.validation.find((x) => x.step === i + 1);
      lines.push(`${i + 1},${r.id},${s.loss},${v ? v.loss : ''}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function runCompare(args: ParsedArgs, env: CliEnv): Promise<CompareResult> {
  const { io } = env;
  const rawMethods = args.string('methods');
  const adapterDir = args.string('adapter');
  if (rawMethods === undefined && adapterDir === undefined)
    throw new UsageError("'compare' needs --methods LIST (e.g. lora,pissa) and/or --adapter DIR", 'compare');
  const steps = args.number('steps');
  if (steps === undefined) throw new UsageError("'compare' needs --steps N", 'compare');
  const ids = (rawMethods ?? '')
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  if (ids.length === 0 && adapterDir === undefined) throw new UsageError('--methods needs at least one method', 'compare');
  const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
  if (duplicate !== undefined) throw new UsageError(`--methods names ${duplicate} twice`, 'compare');
  const definitions = ids.map((id) => methodOrUsage(id, 'compare'));
  const pairs = settingsPerMethod(
    definitions.map((d) => d.id),
    args.string('set'),
  );
  const choices: MethodChoice[] = definitions.map((d) => ({ id: d.id, settings: methodSettings(d, pairs.get(d.id)!, 'compare') }));
  if (adapterDir !== undefined) {
    // The loaded adapter joins the comparison as one more method, trained further from its weights.
    const adapter = await openAdapterDir(adapterDir);
    choices.push({ id: adapter.id, definition: adapter, settings: adapterSettings(adapter, args, 'compare') });
    definitions.push(adapter);
  }
  const schedule = args.string('schedule', 'constant');
  if (!(SCHEDULES as readonly string[]).includes(schedule))
    throw new UsageError(`--schedule must be one of ${SCHEDULES.join(', ')}, got '${schedule}'`, 'compare');
  const warmup = args.number('warmup', 0);
  if (warmup > steps) throw new UsageError(`--warmup (${warmup}) cannot exceed --steps (${steps})`, 'compare');
  const roles = parseRoles(args.string('targets', 'all'), 'compare');
  const jsonPath = args.string('json');
  const csvPath = args.string('csv');
  if (jsonPath !== undefined) await checkOutputFile('json', jsonPath);
  if (csvPath !== undefined) await checkOutputFile('csv', csvPath);
  const checkpoints = checkpointChoice(args, 'compare');
  if (checkpoints && !checkpoints.resume) await checkFreshCheckpointDir(checkpoints.dir);
  const lr = args.number('lr', 1e-4);
  const batch = args.number('batch', 4);
  const seqLen = args.number('seq-len', 64);
  const seed = args.number('seed', 0);
  const evalEvery = args.number('eval-every', 0);
  const packing = args.bool('packing');

  const source = await openModelDir(args.positionals[0]!);
  const c = source.config;
  if (seqLen > c.maxPositions)
    throw new StudioError(`--seq-len ${seqLen} is more than the model's ${c.maxPositions} positions; use --seq-len ${c.maxPositions} or less`);
  if (c.family === 'llama' && c.slidingWindow !== null && seqLen > c.slidingWindow) {
    throw new StudioError(`--seq-len ${seqLen} is more than the model's sliding window (${c.slidingWindow}); use --seq-len ${c.slidingWindow} or less`);
  }
  const tokenizer = await loadModelTokenizer(source);
  const vocabWarning = tokenizerVocabWarning(tokenizer.vocabSize, c.vocabSize);
  if (vocabWarning) io.err(`warning: ${vocabWarning}\n`);
  const data = await prepareRunData(io, tokenizer, {
    data: args.string('data'),
    seqLen,
    batch,
    seed,
    validation: args.number('validation', 0.1),
    validationRows: args.number('val-rows', 0),
    builtinDir: env.mathDatasetDir,
    packing,
  });
  const identity = checkpoints
    ? await cliRunIdentity(source, basename(resolve(args.positionals[0]!)), data, seed, steps, {
        batch,
        seqLen,
        schedule,
        warmup,
        targets: roles.join(','),
        ...(packing ? { packing: true } : {}),
      })
    : undefined;
  // Refused before the GPU and the model are touched (runComparison checks again, against its resolved methods).
  const resume = checkpoints?.resume ? await readNewestCheckpoint(checkpoints.dir) : undefined;
  if (resume) {
    const starts = resolvedChoices({ methods: choices, schedule: { peak: lr }, clipNorm: args.number('clip', 1), weightDecay: args.number('weight-decay', 0) });
    checkResume(resume.checkpoint, resume.where, identity!, starts);
  }
  const rt = await env.gpu();
  // Every method 4-bit: each projection is read from the checkpoint as its init quantizes it, never the whole 16-bit base at once.
  const deferredBase = defersProjections(definitions);
  const model = await loadCausalLM(rt, source, { trainable: false, deferProjections: deferredBase });
  try {
    const targets = targetsOrUsage(model, roles, 'compare');
    await holdUntargeted(rt, model, targets);
    const memory = memoryChoice(args);
    const runChoices = choices.map((choice, i) => ({ method: definitions[i]!, settings: resolveSettings(definitions[i]!, choice.settings) }));
    const plan = checkRunMemory(rt, model, targets, runChoices, { batch, seqLen }, memory);
    const config: CompareConfig = {
      model: args.positionals[0]!,
      data: data.file,
      validationData: data.validationSource,
      methods: choices.map((c) => ({ id: c.id, settings: c.settings ?? {} })),
      targets: roles,
      steps,
      lr,
      batch,
      seqLen,
      schedule: schedule as ScheduleKind,
      warmup,
      seed,
      clip: args.number('clip', 1),
      weightDecay: args.number('weight-decay', 0),
      evalEvery,
      checkpointing: memory.checkpointing,
      packing,
      trainExamples: data.train.length,
      validationExamples: data.validation.length,
      params: paramCount(c),
      baseBytes: modelBytes(model),
      deferredBase,
      gpu: rt.info.description || rt.info.vendor,
    };
    io.err(
      `${data.prepared.fileName}: ${data.train.length} train / ${data.validation.length} validation rows; ${data.batcher.stepsPerEpoch} steps per epoch\n` +
        `model: ${c.modelType}, ${formatCount(config.params)} parameters (${formatBytes(config.baseBytes)} shared base${deferredBase ? ', projections deferred: each init reads them from the checkpoint' : ''}); ${targets.length} projections (${roles.join(',')}); GPU ${config.gpu}\n`,
    );
    const width = String(steps).length;
    const names = choices.map((m) => m.id);
    const pending = new Map<number, { expected: number; losses: Map<MethodId, number> }>();
    const pendingEval = new Map<number, { expected: number; losses: Map<MethodId, number> }>();
    const stopped = new Set<MethodId>(resume?.checkpoint.manifest.methods.filter((m) => m.stopped).map((m) => m.id));
    const line = (losses: Map<MethodId, number>) =>
      names
        .filter((n) => losses.has(n))
        .map((n) => `${n} ${fmt(losses.get(n)!)}`)
        .join('  ');
    let initStarted = performance.now();
    let currentInit: string | undefined;
    let training = false;
    let reports: MethodReport[];
    try {
      reports = await runComparison(rt, {
        model,
        methods: choices,
        targets,
        steps,
        schedule: { kind: schedule as ScheduleKind, peak: lr, warmupSteps: warmup },
        clipNorm: config.clip,
        weightDecay: config.weightDecay,
        seed,
        trainBatch: (step) => data.batcher.batch(step),
        validationBatches: data.validationBatches,
        evalEvery,
        checkpointing: memory.checkpointing,
        calibration: (count) => Array.from({ length: count }, (_, i) => data.batcher.batch(i)),
        // When every method reads only its own 4-bit base, the shared projection weights go during the last init.
        releaseBase: {
          measureQuantErrors: false,
          onRelease: (release) => {
            if (release.released.length > 0) {
              io.err(`released the shared weights of ${release.released.length} projections (${formatBytes(release.bytes)}): no method reads them\n`);
            }
          },
        },
        onInit: (p) => {
          if (p.method !== currentInit) {
            currentInit = p.method;
            initStarted = performance.now();
            io.err(`init ${p.method}…\n`);
          }
          if (p.layer === '' && p.done === p.total && p.phase === 'init') {
            io.err(
              `init ${p.method}: ${p.total} ${definitions.find((d) => d.id === p.method)?.family === 'dense' ? 'copy' : 'projections'} in ${(performance.now() - initStarted).toFixed(0)} ms\n`,
            );
          }
        },
        onStep: (id, m) => {
          training = true;
          const step = m.step + 1;
          let entry = pending.get(step);
          if (!entry) {
            entry = { expected: names.length - stopped.size, losses: new Map() };
            pending.set(step, entry);
          }
          entry.losses.set(id, m.loss);
          if (m.nonFinite) stopped.add(id);
          if (entry.losses.size === entry.expected) {
            pending.delete(step);
            io.out(`step ${String(step).padStart(width)}/${steps}  ${line(entry.losses)}\n`);
          }
        },
        onHalt: (id, halt) => io.err(`note: ${id} ${halt.message}\n`),
        onDiverging: (id, flag) => io.err(`note: ${id} is ${flag.message}\n`),
        shouldStop: () => env.signal?.aborted ?? false,
        checkpoints:
          checkpoints && identity
            ? {
                identity,
                every: checkpoints.every,
                save: async (captured) => void io.err(`checkpoint after step ${captured.draft.step}: ${await writeCheckpointDir(checkpoints.dir, captured)}\n`),
                resume,
              }
            : undefined,
        onResume: (step) => io.err(`resumed from ${resume?.where} at step ${step} of ${steps}\n`),
        onEval: (id, step, loss) => {
          let entry = pendingEval.get(step);
          if (!entry) {
            entry = { expected: names.length - stopped.size, losses: new Map() };
            pendingEval.set(step, entry);
          }
          entry.losses.set(id, loss);
          if (entry.losses.size === entry.expected) {
            pendingEval.delete(step);
            io.out(`step ${String(step).padStart(width)}  validation  ${line(entry.losses)}\n`);
          }
        },
      });
    } catch (error) {
      // A checkpoint refused after the inits is not an init's failure.
      throw training || currentInit === undefined || isResumeRefusal(error) ? error : initError(currentInit, error);
    }
    const result: CompareResult = { config, methods: reports.map((r, i) => ({ ...summarize(r, plan.whileStepping[i] ?? plan.totalBytes), report: r })) };
    const write = async (path: string, text: string) => {
      try {
        await writeFile(path, text);
        io.err(`wrote ${path}\n`);
      } catch (error) {
        throw new StudioError(`could not write ${path}: ${errorMessage(error)}`);
      }
    };
    const done = Math.max(0, ...reports.map((r) => r.steps.length));
    if (env.signal?.aborted && done < steps) {
      if (jsonPath !== undefined) await write(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
      if (csvPath !== undefined) await write(csvPath, csvOf(reports));
      throw new CancelledError(
        `the comparison was stopped by the user after step ${done} of ${steps}` +
          (checkpoints ? `; continue it with the same command and --resume (checkpoint in ${checkpoints.dir})` : ''),
      );
    }
    const table = formatTable(
      ['method', 'trainable', 'memory', 'init ms', 'train loss', 'val loss', 'best val', 'tokens/s'],
      result.methods.map((m) => [
        m.id,
        formatCount(m.trainableParams),
        formatBytes(m.bytes),
        String(m.initMs),
        fmt(m.finalLoss),
        m.finalValidationLoss === null ? '-' : fmt(m.finalValidationLoss),
        m.bestValidationLoss === null ? '-' : fmt(m.bestValidationLoss),
        m.tokensPerSecond.toFixed(0),
      ]),
    );
    io.out(`\n${table}`);
    io.err(
      'memory: adapter tensors, bases a method made for itself (residuals, NF4 copies, pruned copies) and optimizer state; the shared base is not counted\n',
    );
    io.err(
      `GPU pool peak while each method stepped (planned): ${result.methods.map((m) => `${m.id} ${formatBytes(m.peakGpuBytes)} (${formatBytes(m.plannedGpuBytes)})`).join(', ')}\n`,
    );
    if (jsonPath !== undefined) await write(jsonPath, `${JSON.stringify(result, null, 2)}\n`);
    if (csvPath !== undefined) await write(csvPath, csvOf(reports));
    return result;
  } finally {
    releaseModel(rt, model);
  }
}
