// Leftovers of checkpoint writes that never finished: removed at the next save or resume, only
// when they are ours (by name) and their writer is gone; a replaced checkpoint whose successor
// never arrived is put back.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNewestCheckpoint, removeStaleTemporaries } from './checkpointDir';

// Linux pids stay below 2^22, so this writer is certainly gone.
const DEAD_PID = 999_999_999;

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'studio-ckpt-tmp-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function folder(name: string, file = 'checkpoint.json'): Promise<void> {
  await mkdir(join(dir, name));
  await writeFile(join(dir, name, file), '{}');
}

describe('removeStaleTemporaries', () => {
  it('removes dead writers’ and our own temporaries, restores an orphaned .old, and leaves the rest', async () => {
    await folder('step-00000004');
    await folder(`.tmp-step-00000006-${DEAD_PID}-1700000000000`);
    await folder(`.tmp-step-00000004-${DEAD_PID}-1700000000001.old`);
    await folder(`.tmp-step-00000008-${DEAD_PID}-1700000000002.old`);
    await folder(`.tmp-step-00000010-${process.pid}-1700000000003`);
    // pid 1 is always running (kill answers EPERM for another user's process): a writer still at work.
    await folder('.tmp-step-00000012-1-1700000000004');
    await folder('.tmp-notes');
    await folder('.tmp-step-00000014-x-1');

    const handled = await removeStaleTemporaries(dir);

    expect(handled.sort()).toEqual(
      [
        `.tmp-step-00000004-${DEAD_PID}-1700000000001.old`,
        `.tmp-step-00000006-${DEAD_PID}-1700000000000`,
        `.tmp-step-00000008-${DEAD_PID}-1700000000002.old`,
        `.tmp-step-00000010-${process.pid}-1700000000003`,
      ].sort(),
    );
    expect((await readdir(dir)).sort()).toEqual([
      '.tmp-notes',
      '.tmp-step-00000012-1-1700000000004',
      '.tmp-step-00000014-x-1',
      'step-00000004',
      'step-00000008',
    ]);
    expect(await readdir(join(dir, 'step-00000008'))).toEqual(['checkpoint.json']);
  });

  it('answers nothing for a folder that does not exist', async () => {
    expect(await removeStaleTemporaries(join(dir, 'missing'))).toEqual([]);
  });

  it('runs at resume: a folder holding only a crashed write has no checkpoint and no leftovers', async () => {
    await folder(`.tmp-step-00000002-${DEAD_PID}-1700000000000`, 'tensors.safetensors');
    await expect(readNewestCheckpoint(dir)).rejects.toThrow(/no checkpoint in/);
    expect(await readdir(dir)).toEqual([]);
  });
});
