// Mid-run checkpoints of a study run (issue 16: a task × seed run takes hours on a software
// adapter, longer than a quiet stretch of the machine). After each validation the run's methods
// (their trainable tensors, AdamW state and step: train/checkpoint.ts) are written into DIR as
// the CLI's `train --checkpoint-dir` writes them (checkpointDir.ts: atomic step-NNNNNNNN folders,
// the newest two kept), with the study's own records of every method beside them in
// study-records.json. A later run with the same directory reruns the inits (deterministic for a
// seed), takes the newest checkpoint whose records are there, and continues from its step: the
// numbers are those of a run that never stopped (train/checkpoint.ts's bit-for-bit resume). The
// run's wall time so far goes with the records, so a resumed run reports the time of every
// process that worked on it (resumedWallMs).

import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { sequencesFingerprint, type Checkpoint, type RunIdentity } from '../../io/checkpointFile';
import type { CapturedCheckpoint } from '../../train/checkpoint';
import { InputError } from '../../errors';
import { readNewestCheckpoint, writeCheckpointDir } from '../checkpointDir';
import type { RunOptions } from './run';

const RECORDS_FILE = 'study-records.json';

export interface StudyCheckpoints<R> {
  readonly identity: RunIdentity;
  /** The wall time the run had taken when the checkpoint load() found was saved (0 for a fresh run). */
  readonly resumedWallMs: number;
  /** The newest checkpoint with its records, or undefined when DIR holds none (a fresh run). */
  load(): Promise<{ readonly checkpoint: Checkpoint; readonly where: string; readonly records: readonly R[] } | undefined>;
  save(captured: CapturedCheckpoint, records: readonly R[]): Promise<void>;
  /** Deletes DIR's checkpoints once the run is finished and its results are written elsewhere. */
  clear(): Promise<void>;
}

/** The run's settings that change its numbers (RunOptions), besides the methods (checked by train/checkpoint.ts). */
type IdentityOptions = Pick<
  RunOptions,
  | 'data'
  | 'seed'
  | 'steps'
  | 'schedule'
  | 'warmupSteps'
  | 'clipNorm'
  | 'weightDecay'
  | 'batch'
  | 'seqLen'
  | 'evalEvery'
  | 'evalRows'
  | 'finalValRows'
  | 'calibrationBatches'
>;

/** What a resumed run must share with the one that wrote the checkpoint. */
export function studyRunIdentity(model: { readonly name: string; readonly fingerprint: string }, o: IdentityOptions): RunIdentity {
  const { data, seed, steps, ...rest } = o;
  const settings = {
    schedule: rest.schedule,
    warmupSteps: rest.warmupSteps,
    clipNorm: rest.clipNorm,
    weightDecay: rest.weightDecay,
    batch: rest.batch,
    seqLen: rest.seqLen,
    evalEvery: rest.evalEvery,
    evalRows: rest.evalRows,
    finalValRows: rest.finalValRows,
    calibrationBatches: rest.calibrationBatches,
  };
  return { model, data: { name: data.id, fingerprint: sequencesFingerprint(data.train), trainExamples: data.train.length }, seed, steps, settings };
}

/** study-records.json: the records and the run's wall time at the checkpoint (a bare array before the time was kept). */
type SavedRecords<R> = R[] | { readonly records: R[]; readonly wallMs: number };

/** The run's time in this process counts from the call (made as the run starts). */
export function studyCheckpoints<R>(dir: string, identity: RunIdentity): StudyCheckpoints<R> {
  const began = performance.now();
  let resumedWallMs = 0;
  return {
    identity,
    get resumedWallMs() {
      return resumedWallMs;
    },
    async load() {
      let newest: { checkpoint: Checkpoint; where: string };
      try {
        newest = await readNewestCheckpoint(dir);
      } catch (error) {
        // No checkpoint folder yet (or none in it): the run starts from step 0.
        if (error instanceof InputError) return undefined;
        throw error;
      }
      let saved: SavedRecords<R>;
      try {
        saved = JSON.parse(await readFile(join(newest.where, RECORDS_FILE), 'utf8')) as SavedRecords<R>;
      } catch {
        // Written after the checkpoint's own files: a process stopped in between leaves it out.
        return undefined;
      }
      if (Array.isArray(saved)) return { ...newest, records: saved };
      resumedWallMs = saved.wallMs;
      return { ...newest, records: saved.records };
    },
    async save(captured, records) {
      const where = await writeCheckpointDir(dir, captured);
      const saved: SavedRecords<R> = { records: [...records], wallMs: resumedWallMs + performance.now() - began };
      await writeFile(join(where, RECORDS_FILE), `${JSON.stringify(saved)}\n`);
    },
    async clear() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}
