// Checkpoints through the CLI's own code path (runCli in-process, and the real process for Ctrl-C):
// `train` and `compare` stopped by Ctrl-C save a checkpoint and exit 130, and the same command
// with --resume finishes the run with the losses of an uninterrupted one, bit for bit, its JSON
// holding the whole history; --checkpoint-every keeps the two newest; a leftover temporary folder
// (a write cut short) is never resumed from; a checkpoint of another run, a damaged one or an
// empty folder is refused with exit 3 and a message that says what differs and what to do.

import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lora } from '../adapters/methods/lora';
import { qlora } from '../adapters/methods/quantized';
import { MANIFEST_FILE, TENSORS_FILE } from '../io/checkpointFile';
import { writeSafetensors } from '../io/safetensors';
import { tinyConfigJson, tinyModelTensors } from '../io/testModels';
import { byteLevelBpeTokenizerJson } from '../io/tokenizer';
import { testContext } from '../test/gpu';
import { bufferIo, type CliEnv } from './commands/common';
import type { CompareResult } from './commands/compare';
import { runCli } from './commands/index';
import type { TrainResult } from './commands/train';

let tmp: string;
let modelDir: string;
let dataFile: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'studio-ckpt-'));
  modelDir = join(tmp, 'byte-llama');
  const config = { ...tinyConfigJson('llama'), vocab_size: 272, max_position_embeddings: 64, bos_token_id: 256, eos_token_id: 256 };
  await mkdir(modelDir);
  await writeFile(join(modelDir, 'config.json'), JSON.stringify(config));
  await writeFile(join(modelDir, 'model.safetensors'), writeSafetensors(tinyModelTensors(config, { seed: 3 }), { format: 'pt' }));
  await writeFile(join(modelDir, 'tokenizer.json'), JSON.stringify(byteLevelBpeTokenizerJson()));
  await writeFile(join(modelDir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', bos_token: '<|endoftext|>' }));
  dataFile = join(tmp, 'data.jsonl');
  const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `Q${i}: the ant and the hen?`, completion: ` an${'t'.repeat(1 + (i % 3))}` }));
  await writeFile(dataFile, `${rows.join('\n')}\n`);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** Runs a command in-process; `stopAfter`: Ctrl-C (the abort signal) once stdout shows that step. */
async function cli(argv: string[], stopAfter?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = bufferIo();
  const controller = new AbortController();
  const out = io.out.bind(io);
  io.out = (text: string) => {
    out(text);
    if (stopAfter !== undefined && io.stdout.includes(stopAfter)) controller.abort();
  };
  const env: CliEnv = { io, gpu: testContext, signal: controller.signal };
  const code = await runCli(argv, env);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

const bits = (xs: readonly number[]): number[] => xs.map((x) => new Uint32Array(Float32Array.of(x).buffer)[0]!);

const TRAIN = (dir: string, json: string, extra: string[] = [], steps = 6) => [
  'train',
  modelDir,
  '--data',
  dataFile,
  '--method',
  lora.id,
  '--steps',
  String(steps),
  '--lr',
  '1e-2',
  '--batch',
  '2',
  '--seq-len',
  '48',
  '--schedule',
  'cosine',
  '--warmup',
  '2',
  '--seed',
  '3',
  '--eval-every',
  '2',
  '--checkpoint-dir',
  dir,
  '--json',
  json,
  ...extra,
];

describe('checkpoints from the CLI', () => {
  it('train: Ctrl-C saves a checkpoint and exits 130; --resume finishes with the losses of an uninterrupted run, bit for bit', async () => {
    const straightJson = join(tmp, 'straight.json');
    const everyDir = join(tmp, 'every');
    const straight = await cli(TRAIN(everyDir, straightJson, ['--checkpoint-every', '2']));
    expect(straight.code, straight.stderr).toBe(0);
    expect(straight.stderr).toMatch(/checkpoint after step 2: .*step-00000002\n[\s\S]*checkpoint after step 6: .*step-00000006\n/);
    expect((await readdir(everyDir)).sort()).toEqual(['step-00000004', 'step-00000006']);
    const a = JSON.parse(await readFile(straightJson, 'utf8')) as TrainResult;
    expect(a.steps.length).toBe(6);

    const dir = join(tmp, 'stopped');
    const json = join(tmp, 'resumed.json');
    // Ctrl-C while step 3 is printed: step 4 was recorded before (steps overlap), so the run stops after it.
    const stopped = await cli(TRAIN(dir, json), 'step 3/6');
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toContain('checkpoint after step 4');
    expect(stopped.stderr).toMatch(/training stopped by the user after step 4 of 6; continue it with the same command and --resume/);
    expect((JSON.parse(await readFile(json, 'utf8')) as TrainResult).stopped?.step).toBe(4);
    // A write cut short leaves a temporary folder, which --resume never takes.
    await mkdir(join(dir, '.tmp-step-00000005-1-1'));
    await writeFile(join(dir, '.tmp-step-00000005-1-1', TENSORS_FILE), 'half');

    const resumed = await cli(TRAIN(dir, json, ['--resume']));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from .*step-00000004 at step 4 of 6/);
    expect(resumed.stdout).not.toMatch(/step 4\/6/);
    expect(resumed.stdout).toMatch(/step 5\/6/);
    const b = JSON.parse(await readFile(json, 'utf8')) as TrainResult;
    expect(b.resumedFrom).toBe(4);
    expect(b.steps.map((s) => s.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(bits(b.steps.map((s) => s.loss))).toEqual(bits(a.steps.map((s) => s.loss)));
    expect(bits(b.steps.map((s) => s.gradNorm!))).toEqual(bits(a.steps.map((s) => s.gradNorm!)));
    expect(bits(b.validation.map((v) => v.loss))).toEqual(bits(a.validation.map((v) => v.loss)));
    expect(b.validation.map((v) => v.step)).toEqual([2, 4, 6]);
  }, 300_000);

  it('refuses another run, a damaged checkpoint and an empty folder with exit 3, saying what differs and what to do', async () => {
    const dir = join(tmp, 'refusals');
    const json = join(tmp, 'refusals.json');
    expect((await cli(TRAIN(dir, json, [], 2))).code).toBe(0);
    const otherLr = await cli([...TRAIN(dir, json).map((a) => (a === '1e-2' ? '2e-2' : a)), '--resume']);
    expect(otherLr.code).toBe(3);
    expect(otherLr.stderr).toMatch(
      /error: cannot resume from .*step-00000002: it belongs to another run: steps is 2 in the checkpoint, 6 now .*; lora: learning rate is 0\.01 in the checkpoint, 0\.02 now\. Resume with the settings it was made with/,
    );
    const otherData = join(tmp, 'other.jsonl');
    await writeFile(otherData, (await readFile(dataFile, 'utf8')).replace('Q3', 'Q33'));
    const data = await cli([...TRAIN(dir, json, ['--resume']).map((a) => (a === dataFile ? otherData : a))]);
    expect(data.code).toBe(3);
    expect(data.stderr).toMatch(/it was made with the data .*data\.jsonl \(11 training rows, fingerprint [0-9a-f]{16}\), not .*other\.jsonl/);

    const tensors = join(dir, 'step-00000002', TENSORS_FILE);
    const bytes = await readFile(tensors);
    bytes[bytes.length - 7]! ^= 0x10;
    await writeFile(tensors, bytes);
    const damaged = await cli(TRAIN(dir, json, ['--resume'], 2));
    expect(damaged.code).toBe(3);
    expect(damaged.stderr).toMatch(/step-00000002\/tensors\.safetensors: its contents differ from what .*checkpoint\.json recorded/);

    await writeFile(join(dir, 'step-00000002', MANIFEST_FILE), '{"format": "adapter-studio-checkpoint", "version": 1, "meth');
    const cut = await cli(TRAIN(dir, json, ['--resume']));
    expect(cut.code).toBe(3);
    expect(cut.stderr).toMatch(/checkpoint\.json: is not valid JSON .* the checkpoint manifest is damaged/);

    const empty = await cli(TRAIN(join(tmp, 'empty'), json, ['--resume']));
    expect(empty.code).toBe(3);
    expect(empty.stderr).toContain('does not exist; run without --resume to start the run there');
    const taken = await cli(TRAIN(join(tmp, 'every'), json));
    expect(taken.code).toBe(3);
    expect(taken.stderr).toMatch(/every already holds checkpoints \(newest step-00000006\); continue that run with --resume, or give another --checkpoint-dir/);
    const noDir = await cli(['train', modelDir, '--data', dataFile, '--steps', '2', '--resume']);
    expect(noDir.code).toBe(2);
    expect(noDir.stderr).toContain('--resume needs --checkpoint-dir DIR');
  }, 300_000);

  it('compare: stopped by Ctrl-C and resumed, LoRA and QLoRA end with the losses of an uninterrupted comparison', async () => {
    const args = (dir: string, json: string, extra: string[] = []) => [
      'compare',
      modelDir,
      '--data',
      dataFile,
      '--methods',
      `${lora.id},${qlora.id}`,
      '--set',
      'rank=4',
      '--steps',
      '5',
      '--lr',
      '5e-3',
      '--batch',
      '2',
      '--seq-len',
      '48',
      '--eval-every',
      '2',
      '--checkpoint-dir',
      dir,
      '--json',
      json,
      ...extra,
    ];
    const straight = await cli(args(join(tmp, 'cmp-a'), join(tmp, 'cmp-a.json')));
    expect(straight.code, straight.stderr).toBe(0);
    const dir = join(tmp, 'cmp-b');
    const json = join(tmp, 'cmp-b.json');
    const stopped = await cli(args(dir, json), 'step 2/5');
    expect(stopped.code).toBe(130);
    expect(stopped.stderr).toMatch(/checkpoint after step 2: .*step-00000002/);
    expect(stopped.stderr).toContain('the comparison was stopped by the user after step 2 of 5; continue it with the same command and --resume');
    const resumed = await cli(args(dir, json, ['--resume']));
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/resumed from .*step-00000002 at step 2 of 5/);
    const a = JSON.parse(await readFile(join(tmp, 'cmp-a.json'), 'utf8')) as CompareResult;
    const b = JSON.parse(await readFile(json, 'utf8')) as CompareResult;
    for (const [i, m] of a.methods.entries()) {
      const r = b.methods[i]!.report;
      expect(bits(r.steps.map((s) => s.loss)), m.id).toEqual(bits(m.report.steps.map((s) => s.loss)));
      expect(bits(r.validation.map((v) => v.loss)), m.id).toEqual(bits(m.report.validation.map((v) => v.loss)));
      expect(r.steps.length).toBe(5);
    }
  }, 300_000);

  it('the real process: Ctrl-C (SIGINT) stops train after a step, saves a checkpoint and exits 130', async () => {
    const dir = join(tmp, 'sigint');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--import', './scripts/register-raw-imports.mjs', 'src/cli/main.ts', ...TRAIN(dir, join(tmp, 'sigint.json'), [], 500)],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (!sent && /step +2\/500/.test(stdout)) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', resolve);
    });
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('stopping after the current step');
    const step = Number(/training stopped by the user after step (\d+) of 500/.exec(stderr)?.[1]);
    expect(step).toBeGreaterThanOrEqual(2);
    expect(await readdir(dir)).toEqual([`step-${String(step).padStart(8, '0')}`]);
  }, 300_000);
});
