// The CLI process never loses output: a large --json answer arrives complete through a pipe whose
// reader is slow (the process used to exit before stdout drained, cutting the answer at 64 KiB),
// and through a file; the exit code is the command's. Two large answers: `info --json` on a folder
// with 40 000 unused tensors (no GPU involved) and `logits --json` on a model with a 2048-token
// vocabulary (64 positions × 2048 logits, about 2.6 MB, on the Node GPU).

import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tinyConfigJson, tinyModelTensors } from '../io/testModels';
import { writeSafetensors, type TensorToWrite } from '../io/safetensors';

const CLI = ['tsx', '--import', './scripts/register-raw-imports.mjs', 'src/cli/main.ts'];

let tmp: string;
let manyTensors: string;
let bigVocab: string;

async function writeModel(dir: string, config: Record<string, unknown>, extra: TensorToWrite[] = []): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  await writeFile(join(dir, 'model.safetensors'), writeSafetensors([...tinyModelTensors(config), ...extra]));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'cli-output-'));
  manyTensors = join(tmp, 'many-tensors');
  const extra = Array.from({ length: 40_000 }, (_, i): TensorToWrite => ({
    name: `unused.block_${i}.scale`,
    dtype: 'F32',
    shape: [1],
    data: new Float32Array([i]),
  }));
  await writeModel(manyTensors, tinyConfigJson('llama'), extra);
  bigVocab = join(tmp, 'big-vocab');
  await writeModel(bigVocab, { ...tinyConfigJson('llama'), vocab_size: 2048, max_position_embeddings: 64 });
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/**
 * Runs the CLI with stdout into a pipe that this process leaves unread for `pauseMs` (a slow
 * consumer), then reads it all.
 */
function throughSlowPipe(args: readonly string[], pauseMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('npx', [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.pause();
    setTimeout(() => {
      child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
      child.stdout.resume();
    }, pauseMs);
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
}

/** Runs the CLI with stdout into a file. */
function intoFile(args: readonly string[], path: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const fd = openSync(path, 'w');
    const child = spawn('npx', [...CLI, ...args], { stdio: ['ignore', fd, 'ignore'] });
    child.on('error', reject);
    child.on('close', (code) => {
      closeSync(fd);
      void readFile(path, 'utf8').then((stdout) => resolve({ code, stdout }), reject);
    });
  });
}

describe('cli output through pipes and files', () => {
  it('info --json with 40 000 unused tensors arrives whole through a slow pipe and into a file', async () => {
    const [piped, filed] = await Promise.all([
      throughSlowPipe(['info', manyTensors, '--json'], 1500),
      intoFile(['info', manyTensors, '--json'], join(tmp, 'info.json')),
    ]);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.length).toBeGreaterThan(1_000_000);
    const info = JSON.parse(piped.stdout) as { unusedTensors: string[] };
    expect(info.unusedTensors).toHaveLength(40_000);
    expect(info.unusedTensors.at(-1)).toBe('unused.block_39999.scale');
    expect(filed.code).toBe(0);
    expect(filed.stdout).toBe(piped.stdout);
  }, 120_000);

  it('logits --json (64 × 2048 values, about 2.6 MB) arrives whole through a slow pipe', async () => {
    const ids = Array.from({ length: 64 }, (_, i) => (i * 31) % 2048).join(',');
    const piped = await throughSlowPipe(['logits', bigVocab, '--ids', ids, '--json'], 1500);
    expect(piped.code, piped.stderr).toBe(0);
    expect(piped.stdout.length).toBeGreaterThan(1_300_000);
    const { logits } = JSON.parse(piped.stdout) as { logits: number[][] };
    expect(logits).toHaveLength(64);
    for (const row of logits) expect(row).toHaveLength(2048);
  }, 180_000);

  it('a refusal still sets its exit code and reaches stderr whole', async () => {
    const result = await throughSlowPipe(['info', join(tmp, 'missing-folder')], 200);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('model folder not found');
    expect(result.stdout).toBe('');
  }, 60_000);
});
