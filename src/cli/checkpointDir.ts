// Training checkpoints in a folder, for `train` and `compare` (--checkpoint-dir DIR,
// --checkpoint-every N, --resume): DIR/step-00000042/{checkpoint.json, tensors.safetensors}, in
// the format of io/checkpointFile.ts. A checkpoint is written into a temporary folder next to
// them, each file flushed to disk, and only then renamed to its step's name (a rename within one
// file system is atomic): a crash or Ctrl-C during a write leaves a `.tmp-…` folder, never a
// half-written checkpoint that --resume would pick. The two newest checkpoints are kept, so a
// damaged newest one still leaves one to go back to. --resume reads the newest (highest step).
// Temporary folders a crashed or killed writer left are removed at the next save or resume
// (removeStaleTemporaries): only names this file makes, only of processes no longer running.

import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError, type FlagSpec, type ParsedArgs } from './args';
import {
  checkpointName,
  checkpointStep,
  encodeCheckpoint,
  MANIFEST_FILE,
  modelFilesFingerprint,
  readCheckpoint,
  sequencesFingerprint,
  TENSORS_FILE,
  type Checkpoint,
  type JsonScalar,
  type RunIdentity,
} from '../io/checkpointFile';
import type { ModelSource } from '../io/modelFiles';
import { nodeFileSource } from '../io/nodeSource';
import type { TokenizedExample } from '../io/datasets';
import type { CapturedCheckpoint } from '../train/checkpoint';
import { errorMessage, InputError, StudioError } from '../errors';

/** Checkpoints kept in the folder (the newest ones). */
export const KEEP_CHECKPOINTS = 2;

export const CHECKPOINT_FLAGS: Readonly<Record<string, FlagSpec>> = {
  'checkpoint-dir': {
    type: 'string',
    value: 'DIR',
    description: 'save checkpoints of the run (trained tensors, optimizer state, step) in DIR: at the end and on Ctrl-C',
  },
  'checkpoint-every': { type: 'int', value: 'N', min: 0, default: 0, description: 'also save one every N steps (0: only at the end and on Ctrl-C)' },
  resume: { type: 'boolean', description: 'continue the run from the newest checkpoint in --checkpoint-dir (same model, data and settings)' },
};

export interface CheckpointChoice {
  readonly dir: string;
  readonly every: number;
  readonly resume: boolean;
}

/** The checkpoint flags, or undefined without --checkpoint-dir (--checkpoint-every or --resume alone is a UsageError). */
export function checkpointChoice(args: ParsedArgs, command: string): CheckpointChoice | undefined {
  const dir = args.string('checkpoint-dir');
  if (dir === undefined) {
    if (args.bool('resume')) throw new UsageError('--resume needs --checkpoint-dir DIR (the folder the run saved its checkpoints in)', command);
    if (args.has('checkpoint-every')) throw new UsageError('--checkpoint-every needs --checkpoint-dir DIR (where to save them)', command);
    return undefined;
  }
  return { dir, every: args.number('checkpoint-every', 0), resume: args.bool('resume') };
}

/** What a resume must match, for a CLI run: the model's files, the training rows, the seed, the steps and the shared settings. */
export async function cliRunIdentity(
  source: ModelSource,
  modelName: string,
  data: { readonly file: string; readonly train: readonly TokenizedExample[] },
  seed: number,
  steps: number,
  settings: Readonly<Record<string, JsonScalar>>,
): Promise<RunIdentity> {
  return {
    model: { name: modelName, fingerprint: await modelFilesFingerprint(source.configFile, source.weightFiles) },
    data: { name: data.file, fingerprint: sequencesFingerprint(data.train), trainExamples: data.train.length },
    seed,
    steps,
    settings,
  };
}

async function writeFileSynced(path: string, parts: readonly (Uint8Array | string)[]): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    for (const part of parts) await (typeof part === 'string' ? handle.write(part) : handle.write(part));
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(dir: string): Promise<void> {
  // Makes the rename itself durable; some file systems refuse fsync on a folder, which is harmless here.
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    /* not supported here */
  }
}

/** The checkpoint folders in `dir`, newest first. */
async function checkpointFolders(dir: string): Promise<{ name: string; step: number }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new StudioError(`cannot read the checkpoint folder ${resolve(dir)} (${errorMessage(error)})`);
  }
  return names
    .flatMap((name) => {
      const step = checkpointStep(name);
      return step === undefined ? [] : [{ name, step }];
    })
    .sort((a, b) => b.step - a.step);
}

/** `.tmp-step-NNNNNNNN-PID-MS`, and `….old` for the checkpoint of the same step it replaces. */
const TEMPORARY = /^\.tmp-(step-\d+)-(\d+)-\d+(\.old)?$/;

function processRunning(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary folders of writes that never finished (a crash, a kill) from `dir`; a
 * `.old` folder whose checkpoint is missing (the writer died between its two renames) is a whole
 * checkpoint and is put back instead. Folders of a writer still running, and every other name, are
 * left alone. Returns the names removed or restored.
 */
export async function removeStaleTemporaries(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const present = new Set(names);
  const handled: string[] = [];
  for (const name of names) {
    const match = TEMPORARY.exec(name);
    if (!match || processRunning(Number(match[2]))) continue;
    const step = match[1]!;
    try {
      if (match[3] && !present.has(step) && checkpointStep(step) !== undefined) {
        await rename(join(dir, name), join(dir, step));
        present.add(step);
      } else await rm(join(dir, name), { recursive: true, force: true });
      handled.push(name);
    } catch {
      /* another process got there first, or it is not ours to remove: leave it */
    }
  }
  return handled;
}

/**
 * Writes a captured checkpoint as DIR/step-NNNNNNNN atomically (see the header), replacing one of
 * the same step, and removes all but the newest KEEP_CHECKPOINTS. Returns the folder's path.
 */
export async function writeCheckpointDir(dir: string, captured: CapturedCheckpoint): Promise<string> {
  const files = encodeCheckpoint(captured.draft, captured.tensors);
  const name = checkpointName(captured.draft.step);
  const final = join(dir, name);
  const temporary = join(dir, `.tmp-${name}-${process.pid}-${Date.now()}`);
  const replaced = `${temporary}.old`;
  let hadOld = false;
  try {
    await mkdir(dir, { recursive: true });
    await removeStaleTemporaries(dir);
    await mkdir(temporary);
    await writeFileSynced(join(temporary, TENSORS_FILE), files.tensors);
    await writeFileSynced(join(temporary, MANIFEST_FILE), [files.manifest]);
    try {
      await rename(final, replaced);
      hadOld = true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    await rename(temporary, final);
    await syncDir(dir);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    if (hadOld) await rename(replaced, final).catch(() => undefined);
    const code = (error as NodeJS.ErrnoException).code;
    const hint = code === 'ENOSPC' ? ': the disk is full; free space or choose another --checkpoint-dir' : '';
    throw new StudioError(`cannot write the checkpoint ${resolve(final)} (${errorMessage(error)})${hint}`);
  }
  if (hadOld) await rm(replaced, { recursive: true, force: true });
  for (const old of (await checkpointFolders(dir)).slice(KEEP_CHECKPOINTS)) await rm(join(dir, old.name), { recursive: true, force: true });
  return final;
}

/**
 * Refuses (InputError) to start a new run in a folder that holds another run's checkpoints: the
 * new ones would mix with them, and keeping the newest could delete the new run's own.
 */
export async function checkFreshCheckpointDir(dir: string): Promise<void> {
  const [newest] = await checkpointFolders(dir);
  if (newest) {
    throw new InputError(
      `${resolve(dir)} already holds checkpoints (newest ${newest.name}); continue that run with --resume, or give another --checkpoint-dir (or delete those) to start a new one`,
    );
  }
}

/** Whether an error is a checkpoint's refusal to be resumed by this run (train/checkpoint.ts, io/checkpointFile.ts): all begin so. */
export function isResumeRefusal(error: unknown): boolean {
  return error instanceof InputError && error.message.startsWith('cannot resume from ');
}

/** The newest checkpoint in `dir`, read and validated (io/checkpointFile.ts), and its folder. */
export async function readNewestCheckpoint(dir: string): Promise<{ checkpoint: Checkpoint; where: string }> {
  await removeStaleTemporaries(dir);
  const folders = await checkpointFolders(dir);
  if (folders.length === 0) {
    let exists = false;
    try {
      exists = (await stat(dir)).isDirectory();
    } catch {
      exists = false;
    }
    throw new InputError(
      exists
        ? `no checkpoint in ${resolve(dir)} (--resume continues from its newest step-NNNNNNNN folder); run without --resume to start the run`
        : `the checkpoint folder ${resolve(dir)} does not exist; run without --resume to start the run there`,
    );
  }
  const where = join(dir, folders[0]!.name);
  const manifestPath = join(where, MANIFEST_FILE);
  let manifest: Uint8Array;
  try {
    manifest = await readFile(manifestPath);
  } catch (error) {
    throw new InputError(
      `cannot read ${manifestPath} (${errorMessage(error)}); the checkpoint is incomplete: delete ${where} to resume from the one before it`,
    );
  }
  try {
    return { checkpoint: await readCheckpoint(manifest, manifestPath, await nodeFileSource(join(where, TENSORS_FILE))), where };
  } catch (error) {
    if (error instanceof StudioError && folders.length > 1) {
      throw new InputError(`${error.message} (to resume from the older checkpoint ${join(dir, folders[1]!.name)}, delete ${where})`);
    }
    throw error;
  }
}
