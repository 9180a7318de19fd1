// What every CLI command shares: where output goes (results to stdout, messages to stderr, both
// injectable so tests run commands in-process), opening a model folder from disk, getting a GPU
// context, and the mapping from errors to exit codes. The commands call the same engine
// functions the Web Worker calls; nothing here computes anything a model or trainer computes.
//
// Exit codes come from the error's kind (errors.ts) alone: 0 ok, 1 internal (a bug), 2 usage,
// 3 bad input or unsupported (model folder, data, values that do not fit the model: the error's
// own message), 4 GPU unavailable, failed, lost or out of memory, 130 cancelled (128 + SIGINT).

import type { FlagSpec } from '../args';
import type { ScheduleKind } from '../../train/schedule';
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { methodById, isMethodId, METHODS } from '../../adapters/registry';
import { selectTargets } from '../../adapters/targets';
import { resolveSettings, type MethodDefinition, type SettingValue } from '../../adapters/types';
import { prepareDataset, type PreparedData } from '../../io/datasets';
import { questionAnswerRows } from '../../io/questionAnswer';
import { padIdOf, runData, type RunData } from '../../train/runData';
import { packingText } from '../../train/packing';
import type { CausalLM } from '../../models/causalLM';
import { GpuContext } from '../../gpu/context';
import { acquireNodeDevice } from '../../gpu/node';
import { openModelFiles, type ModelSource } from '../../io/modelFiles';
import { nodeDirectorySources } from '../../io/nodeSource';
import { openPeftAdapterFiles } from '../../io/peftAdapterReader';
import { loadedAdapterMethod } from '../../adapters/loadedAdapter';
import { loadModelTokenizer, type TextTokenizer } from '../../io/tokenizer';
import {
  DatasetError,
  errorKind,
  errorMessage,
  InputError,
  ModelFormatError,
  StudioError,
  WebGpuUnavailableError,
  withContext,
  type ErrorKind,
} from '../../errors';
import { UsageError, type ParsedArgs } from '../args';

export const EXIT_OK = 0;
export const EXIT_UNEXPECTED = 1;
export const EXIT_USAGE = 2;
export const EXIT_BAD_INPUT = 3;
export const EXIT_GPU = 4;
export const EXIT_CANCELLED = 130;

const EXIT_CODES: Readonly<Record<ErrorKind, number>> = {
  usage: EXIT_USAGE,
  input: EXIT_BAD_INPUT,
  unsupported: EXIT_BAD_INPUT,
  gpu: EXIT_GPU,
  memory: EXIT_GPU,
  cancelled: EXIT_CANCELLED,
  internal: EXIT_UNEXPECTED,
};

/** Where a command writes. `out` gets results (pipeable), `err` messages and progress. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
}

/** What a command needs from its host; tests pass their shared GPU context. */
export interface CliEnv {
  readonly io: CliIo;
  /** A GPU context for the command; the caller of runCli owns and destroys it. */
  gpu(): Promise<GpuContext>;
  /** Where the built-in math set is looked for without --data (default MATH_DATASET_DIR; tests point it at an empty folder). */
  readonly mathDatasetDir?: string;
  /** Aborted when the user asks to stop (Ctrl-C): train and compare stop between steps, save a checkpoint when asked to, and exit 130. */
  readonly signal?: AbortSignal;
}

export type CommandRun = (args: ParsedArgs, env: CliEnv) => Promise<void>;

export function processIo(): CliIo {
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
  };
}

/** Collects output in memory (tests). */
export function bufferIo(): CliIo & { stdout: string; stderr: string } {
  const io = {
    stdout: '',
    stderr: '',
    out(text: string) {
      io.stdout += text;
    },
    err(text: string) {
      io.stderr += text;
    },
  };
  return io;
}

/** The exit code of a failed command: from the error's kind alone. */
export function exitCodeFor(error: unknown): number {
  return EXIT_CODES[errorKind(error)];
}

/**
 * A lazily acquired Node GPU context (Dawn; SwiftShader without a GPU) with its own lifetime:
 * `destroy()` releases it if it was ever made. Uncaptured GPU errors and device loss are
 * reported on stderr as they happen (the next read also fails with the typed error).
 */
export function nodeGpuProvider(io: CliIo): { gpu(): Promise<GpuContext>; destroy(): void } {
  let pending: Promise<GpuContext> | undefined;
  let ctx: GpuContext | undefined;
  let destroyed = false;
  return {
    gpu() {
      pending ??= (async () => {
        let acquired;
        try {
          acquired = await acquireNodeDevice();
        } catch (error) {
          if (error instanceof StudioError) throw error;
          throw new WebGpuUnavailableError(`could not create a WebGPU device in Node (${errorMessage(error)})`);
        }
        acquired.device.addEventListener('uncapturederror', (event) => {
          io.err(`GPU error: ${(event as GPUUncapturedErrorEvent).error.message}\n`);
        });
        void acquired.lost.then((lost) => {
          if (!destroyed) io.err(`${lost.message} Run the command again; train and compare continue from their last checkpoint with --resume.\n`);
        });
        ctx = new GpuContext(acquired);
        return ctx;
      })();
      return pending;
    },
    destroy() {
      destroyed = true;
      ctx?.destroy();
    },
  };
}

/**
 * Opens a Hugging Face model folder on disk (config.json, safetensors, tokenizer files): only
 * headers are read. Throws ModelFormatError when the path is missing or not a folder, and the
 * checks of openModelFiles (pickles refused, shapes, dtypes) otherwise.
 */
export async function openModelDir(dir: string): Promise<ModelSource> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelFormatError(
      code === 'ENOENT' ? `model folder not found (looked in ${resolve(dir)})` : `cannot open the model folder (${errorMessage(error)})`,
      dir,
    );
  }
  if (!isDir) {
    throw new ModelFormatError('is a file, not a folder; give the model folder that holds config.json, model.safetensors and tokenizer.json', dir);
  }
  const files = await nodeDirectorySources(dir);
  if (files.length === 0) throw new ModelFormatError('the folder is empty; expected config.json, model.safetensors and tokenizer.json', dir);
  return openModelFiles(files);
}

/** --adapter DIR: a PEFT LoRA adapter folder applied to the model (logits, generate, train, compare, export). */
export const ADAPTER_FLAG: FlagSpec = {
  type: 'string',
  value: 'DIR',
  description: "a PEFT LoRA adapter folder (adapter_config.json + adapter_model.safetensors) to apply: the studio's exports or adapters from the Hub",
};

/** --adapter-base: what the adapter's base is (set by its export: QLoRA/LoftQ adapters apply to NF4(W)). */
export const ADAPTER_BASE_FLAG: FlagSpec = {
  type: 'string',
  value: 'KIND',
  default: 'original',
  description: 'the base the adapter applies to: original, nf4 or nf4-double',
};

/** The adapter folder as a method of its own (adapters/loadedAdapter.ts), named after the folder. */
export async function openAdapterDir(dir: string): Promise<MethodDefinition> {
  let isDir: boolean;
  try {
    isDir = (await stat(dir)).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new ModelFormatError(
      code === 'ENOENT' ? `adapter folder not found (looked in ${resolve(dir)})` : `cannot open the adapter folder (${errorMessage(error)})`,
      dir,
    );
  }
  if (!isDir) throw new ModelFormatError('is a file, not a folder; give the adapter folder that holds adapter_config.json and adapter_model.safetensors', dir);
  const adapter = await openPeftAdapterFiles(await nodeDirectorySources(dir, 1));
  return loadedAdapterMethod(adapter, basename(resolve(dir)));
}

/** The adapter's settings from --adapter-base. */
export function adapterSettings(method: MethodDefinition, args: ParsedArgs, command: string): Record<string, SettingValue> {
  return methodSettings(method, [['base', args.string('adapter-base', 'original')]], command);
}

/** The model's tokenizer, or undefined with the reason when it cannot be loaded. */
export async function tryTokenizer(source: ModelSource): Promise<{ tokenizer?: TextTokenizer; error?: string }> {
  try {
    return { tokenizer: await loadModelTokenizer(source) };
  } catch (error) {
    if (!(error instanceof StudioError)) throw error;
    return { error: error.message };
  }
}

/** A token as a short printable string: control characters and spaces made visible. */
export function showToken(text: string): string {
  const escaped = JSON.stringify(text);
  return escaped.length > 24 ? `${escaped.slice(0, 21)}…"` : escaped;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

export function writeJson(io: CliIo, value: unknown): void {
  io.out(`${JSON.stringify(value, null, 2)}\n`);
}

// --- shared by train, compare and export ------------------------------------------------------

/** The built-in math set (scripts/make_math_dataset.py): rows {question, answer}. */
export const MATH_DATASET_DIR = fileURLToPath(new URL('../../../public/datasets/math/', import.meta.url));

async function readDataFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DatasetError(code === 'ENOENT' ? `data file not found: ${resolve(path)}` : `cannot read the data file ${path} (${errorMessage(error)})`);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

export interface DataOptions {
  /** --data, or undefined for the built-in math set. */
  readonly data?: string;
  readonly seqLen: number;
  readonly batch: number;
  readonly seed: number;
  /** Fraction held out when the data has no validation file of its own. */
  readonly validation: number;
  /** At most this many validation rows (0: all). */
  readonly validationRows?: number;
  /** The built-in math set's folder (default MATH_DATASET_DIR). */
  readonly builtinDir?: string;
  /** --packing: several whole training examples per row. */
  readonly packing?: boolean;
}

export interface PreparedRun extends RunData {
  /** The training file as given (or the math set's path). */
  readonly file: string;
  /** Where the validation rows came from: 'split' or a file path. */
  readonly validationSource: string;
  readonly prepared: PreparedData;
}

/**
 * Reads, maps ({question, answer} rows), tokenizes and batches the training data; without
 * --data, the built-in math set with its own validation.jsonl. Notes (skipped and cut rows) go
 * to stderr. Throws DatasetError for a missing file or unusable data.
 */
export async function prepareRunData(io: CliIo, tokenizer: TextTokenizer, options: DataOptions): Promise<PreparedRun> {
  let file = options.data;
  let validationFile: string | undefined;
  if (file === undefined) {
    const trainPath = join(options.builtinDir ?? MATH_DATASET_DIR, 'train.jsonl');
    if (!(await exists(trainPath))) {
      throw new DatasetError(
        `no --data FILE given, and the built-in math set is not there (looked for ${trainPath}); ` +
          'pass --data FILE or generate it with /usr/bin/python3 scripts/make_math_dataset.py',
      );
    }
    file = trainPath;
    const valPath = join(options.builtinDir ?? MATH_DATASET_DIR, 'validation.jsonl');
    if (await exists(valPath)) validationFile = valPath;
    io.err(`note: no --data given; using the built-in math set ${trainPath}${validationFile ? ' and its validation.jsonl' : ''}\n`);
  }
  const prepare = async (path: string): Promise<PreparedData> => {
    const { text } = questionAnswerRows(await readDataFile(path), basename(path));
    const prepared = prepareDataset(text, tokenizer, { fileName: basename(path), seqLen: options.seqLen });
    if (prepared.skipped.length > 0) {
      const first = prepared.skipped[0]!;
      io.err(`note: ${prepared.fileName}: ${prepared.skipped.length} rows skipped (first: line ${first.line}: ${first.reason})\n`);
    }
    if (prepared.truncated.length > 0) {
      io.err(
        `note: ${prepared.fileName}: ${prepared.truncated.length} rows longer than --seq-len ${options.seqLen} were cut (first: line ${prepared.truncated[0]!.line}, ${prepared.truncated[0]!.tokens} tokens)\n`,
      );
    }
    return prepared;
  };
  const prepared = await prepare(file);
  const heldOut = validationFile !== undefined ? (await prepare(validationFile)).examples : null;
  const data = runData(prepared.examples, heldOut, padIdOf(tokenizer), {
    batch: options.batch,
    seqLen: options.seqLen,
    seed: options.seed,
    validationFraction: options.validation,
    validationRows: options.validationRows,
    packing: options.packing,
  });
  if (options.packing) io.err(`note: packing ${packingText(data.packing)}; packed examples attend to the earlier examples in their row\n`);
  if (heldOut === null && options.validation > 0 && data.validation.length === 0) io.err('note: too few rows to hold any out for validation\n');
  return { ...data, file, validationSource: validationFile ?? 'split', prepared };
}

/** Checks that the folder a --json/--csv/--out FILE goes into exists (exit 3 before any work). */
export async function checkOutputFile(flag: string, path: string): Promise<void> {
  const dir = dirname(resolve(path));
  let ok = false;
  try {
    ok = (await stat(dir)).isDirectory();
  } catch {
    ok = false;
  }
  if (!ok) throw new StudioError(`cannot write --${flag} ${path}: the folder ${dir} does not exist`);
}

/** The method ids of the registry, or a UsageError naming them. */
export function methodOrUsage(id: string, command: string): MethodDefinition {
  if (!isMethodId(id)) throw new UsageError(`unknown method '${id}'; available: ${METHODS.map((m) => m.id).join(', ')}`, command);
  return methodById(id);
}

/** `--targets q,k,v|all` → roles (validated against the model later by selectTargets). */
export function parseRoles(raw: string, command: string): string[] {
  const roles = raw
    .split(',')
    .map((r) => r.trim())
    .filter((r) => r !== '');
  if (roles.length === 0) throw new UsageError('--targets needs at least one role (q,k,v,o,gate,up,down or all)', command);
  return roles;
}

/** Module paths for the roles; an unknown role is a UsageError listing the model's roles. */
export function targetsOrUsage(model: CausalLM, roles: readonly string[], command: string): string[] {
  try {
    return selectTargets(model, roles);
  } catch (error) {
    if (error instanceof InputError) throw new UsageError(`--targets: ${error.message}`, command);
    throw error;
  }
}

/**
 * `--set` values: repeated flags arrive joined by newlines (see runCli); each may also be a
 * comma-separated list. Returns [key, raw value] pairs; a pair without '=' is a UsageError.
 */
export function parseSetPairs(raw: string | undefined, command: string): [string, string][] {
  if (raw === undefined) return [];
  const out: [string, string][] = [];
  for (const item of raw
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) throw new UsageError(`--set needs key=value, got '${item}'`, command);
    out.push([item.slice(0, eq).trim(), item.slice(eq + 1).trim()]);
  }
  return out;
}

function settingsHelp(method: MethodDefinition): string {
  if (method.settings.length === 0) return `${method.id} has no settings`;
  return `${method.id} settings: ${method.settings
    .map(
      (s) =>
        `${s.key} (${s.kind === 'number' ? `${s.integer ? 'integer' : 'number'} ${s.min}..${s.max}` : s.kind === 'choice' ? s.options.join('|') : 'true|false'}, default ${String(s.default)})`,
    )
    .join(', ')}`;
}

/**
 * Method settings from `key=value` pairs, converted by the method's schema (numbers, true/false,
 * choices) and checked by resolveSettings (ranges, unknown keys): any problem is a UsageError
 * that lists the method's settings. Returns the resolved settings (defaults filled in).
 */
export function methodSettings(method: MethodDefinition, pairs: readonly (readonly [string, string])[], command: string): Record<string, SettingValue> {
  const given: Record<string, SettingValue> = {};
  for (const [key, raw] of pairs) {
    const spec = method.settings.find((s) => s.key === key);
    if (!spec) throw new UsageError(`--set: ${method.label} has no setting '${key}'; ${settingsHelp(method)}`, command);
    if (spec.kind === 'number') {
      const value = raw === '' ? Number.NaN : Number(raw);
      if (!Number.isFinite(value)) throw new UsageError(`--set ${key}: '${raw}' is not a number; ${settingsHelp(method)}`, command);
      given[key] = value;
    } else if (spec.kind === 'boolean') {
      const v = raw.toLowerCase();
      if (!['true', 'false', '1', '0', 'yes', 'no'].includes(v)) throw new UsageError(`--set ${key}: '${raw}' is not true or false`, command);
      given[key] = v === 'true' || v === '1' || v === 'yes';
    } else {
      given[key] = raw;
    }
  }
  try {
    return resolveSettings(method, given);
  } catch (error) {
    if (error instanceof InputError) throw new UsageError(`--set: ${error.message}; ${settingsHelp(method)}`, command);
    throw error;
  }
}

/**
 * Names the method in an input or unsupported error its create() raised (a model shape the method
 * cannot take, no calibration data). The error keeps its type, so its kind and exit code.
 */
export function initError(method: string, error: unknown): unknown {
  const kind = errorKind(error);
  if ((kind === 'input' || kind === 'unsupported') && !errorMessage(error).includes(method)) return withContext(`${method} could not be initialised`, error);
  return error;
}

/** Parameters in a list of trainable tensors. */
export function trainableCount(trainable: readonly { readonly tensor: { readonly shape: readonly number[] } }[]): number {
  return trainable.reduce((n, t) => n + t.tensor.shape.reduce((a, b) => a * b, 1), 0);
}

/**
 * Bytes of the loaded model's parameters resident on the GPU (the shared frozen base; 16-bit matrices 2 bytes a weight). A
 * projection deferProjections has not read (models/load.ts) or the base releaser freed (train/baseRelease.ts) holds nothing.
 */
export function modelBytes(model: CausalLM): number {
  return model.parameters().reduce((n, p) => n + (p.tensor.data.released ? 0 : p.tensor.data.byteLength), 0);
}

export function fmtNumber(value: number, digits = 4): string {
  return Number.isFinite(value) ? value.toFixed(digits) : String(value);
}

/** Left-aligned first column, right-aligned others, two spaces apart. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export const SCHEDULES: readonly ScheduleKind[] = ['constant', 'linear', 'cosine'];

/** --packing, for the commands that train on a data file's batches (train, compare). */
export const PACKING_FLAG: FlagSpec = {
  type: 'boolean',
  description:
    'pack whole training examples first-fit into rows of T tokens instead of one padded example per row (validation stays unpacked); ' +
    "there is no segment mask, so a packed example attends to the earlier examples in its row, as in TRL's classic packing",
};

/** Optimisation flags shared by train, compare and export. */
export const TRAINING_FLAGS: Readonly<Record<string, FlagSpec>> = {
  lr: { type: 'number', value: 'LR', above: 0, default: 1e-4, description: 'peak learning rate' },
  batch: { type: 'int', value: 'B', min: 1, default: 4, description: 'sequences per step' },
  'seq-len': { type: 'int', value: 'T', min: 2, default: 64, description: 'tokens per sequence (longer rows are cut)' },
  schedule: { type: 'string', value: 'KIND', default: 'constant', description: `learning-rate schedule: ${SCHEDULES.join(', ')}` },
  warmup: { type: 'int', value: 'W', min: 0, default: 0, description: 'linear warmup steps' },
  seed: { type: 'int', value: 'S', min: 0, default: 0, description: 'seed for inits, the split and the batch order' },
  clip: { type: 'number', value: 'NORM', min: 0, default: 1, description: 'global gradient-norm clip (0: none)' },
  'weight-decay': { type: 'number', value: 'WD', min: 0, default: 0, description: 'AdamW weight decay (linear weights)' },
};
