// What every CLI command shares: where output goes (results to stdout, messages to stderr, both
// injectable so tests run commands in-process), opening a model folder from disk, getting a GPU
// context, and the mapping from errors to exit codes. The commands call the same engine
// functions the Web Worker calls; nothing here computes anything a model or trainer computes.
//
// Exit codes: 0 ok, 1 unexpected, 2 usage (UsageError), 3 bad input (model folder, data,
// values that do not fit the model: the StudioError's own message), 4 GPU unavailable or failed.

import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { GpuContext } from '../../gpu/context';
import { acquireNodeDevice } from '../../gpu/node';
import { openModelFiles, type ModelSource } from '../../io/modelFiles';
import { nodeDirectorySources } from '../../io/nodeSource';
import { loadModelTokenizer, type TextTokenizer } from '../../io/tokenizer';
import {
  DeviceLostError,
  GpuError,
  ModelFormatError,
  OutOfMemoryError,
  StudioError,
  WebGpuUnavailableError,
} from '../../errors';
import { UsageError, type ParsedArgs } from '../args';

export const EXIT_OK = 0;
export const EXIT_UNEXPECTED = 1;
export const EXIT_USAGE = 2;
export const EXIT_BAD_INPUT = 3;
export const EXIT_GPU = 4;

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

export function exitCodeFor(error: unknown): number {
  if (error instanceof UsageError) return EXIT_USAGE;
  if (
    error instanceof WebGpuUnavailableError ||
    error instanceof GpuError ||
    error instanceof DeviceLostError ||
    error instanceof OutOfMemoryError
  ) {
    return EXIT_GPU;
  }
  if (error instanceof StudioError) return EXIT_BAD_INPUT;
  return EXIT_UNEXPECTED;
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
          throw new WebGpuUnavailableError(`could not create a WebGPU device in Node (${describe(error)})`);
        }
        acquired.device.addEventListener('uncapturederror', (event) => {
          io.err(`GPU error: ${(event as GPUUncapturedErrorEvent).error.message}\n`);
        });
        void acquired.lost.then((lost) => {
          if (!destroyed) io.err(`${lost.message}\n`);
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

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
      code === 'ENOENT' ? `model folder not found (looked in ${resolve(dir)})` : `cannot open the model folder (${describe(error)})`,
      dir,
    );
  }
  if (!isDir) {
    throw new ModelFormatError(
      'is a file, not a folder; give the model folder that holds config.json, model.safetensors and tokenizer.json',
      dir,
    );
  }
  const files = await nodeDirectorySources(dir);
  if (files.length === 0) throw new ModelFormatError('the folder is empty; expected config.json, model.safetensors and tokenizer.json', dir);
  return openModelFiles(files);
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
