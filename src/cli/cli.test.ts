// Tests for the CLI: the argument parser; each command run in-process through runCli (the same
// path main.ts takes, with output captured and the shared test GPU context); and the real
// process (`tsx src/cli/main.ts`) for the logits JSON and the exit codes of a missing folder,
// a pickle-only folder and an unknown command. The fixtures carry no tokenizer and their
// vocabularies (101–128) are smaller than a byte-level BPE's 257 ids, so generate and train run
// on a tiny Llama written to a temp folder with V = 272 and a byte-level tokenizer.json.

import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { qlora } from '../adapters/methods/quantized';
import { selectTargets } from '../adapters/targets';
import { resolveSettings, type MethodDefinition } from '../adapters/types';
import { loadCausalLM, releaseModel } from '../models/load';
import { modelPlanSetup, planMethod, planRun } from '../train/memoryPlan';
import { METHODS } from '../adapters/registry';
import { parseArgs, UsageError, type CommandSpec } from './args';
import { bufferIo, openModelDir, type CliEnv } from './commands/common';
import { runCli } from './commands/index';
import { StreamingDecoder } from './commands/generate';
import { tinyConfigJson, tinyModelTensors } from '../io/testModels';
import { writeSafetensors } from '../io/safetensors';
import { byteLevelBpeTokenizerJson, loadTokenizer } from '../io/tokenizer';
import { testContext } from '../test/gpu';
import type { TrainResult } from './commands/train';
import { formatBytes, WebGpuUnavailableError } from '../errors';

const SPEC: CommandSpec = {
  name: 'demo',
  summary: 'demo',
  positionals: [{ name: 'dir', description: 'a folder' }],
  flags: {
    steps: { type: 'int', min: 1, description: 'steps' },
    lr: { type: 'number', above: 0, description: 'lr' },
    temperature: { type: 'number', min: -5, description: 't' },
    json: { type: 'boolean', description: 'json' },
    name: { type: 'string', description: 'name' },
  },
};

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (error) {
    if (error instanceof UsageError) return error;
    throw error;
  }
  throw new Error('expected a UsageError');
}

describe('parseArgs', () => {
  it('reads positionals, --name value, --name=value, booleans and negative values', () => {
    const args = parseArgs(['dir', '--steps', '3', '--lr=1e-4', '--json', '--temperature', '-1', '--name', 'x y'], SPEC);
    expect(args.positionals).toEqual(['dir']);
    expect(args.number('steps')).toBe(3);
    expect(args.number('lr')).toBe(1e-4);
    expect(args.number('temperature')).toBe(-1);
    expect(args.bool('json')).toBe(true);
    expect(args.string('name')).toBe('x y');
    expect(args.has('missing')).toBe(false);
    expect(args.number('missing', 7)).toBe(7);
  });

  it('refuses what the declaration does not allow, saying which flag and why', () => {
    expect(usageError(() => parseArgs(['dir', '--stepz', '3'], SPEC)).message).toBe("unknown option --stepz for 'demo'; did you mean --steps?");
    expect(usageError(() => parseArgs(['dir', '--steps'], SPEC)).message).toBe('--steps needs a value');
    expect(usageError(() => parseArgs(['dir', '--steps', '--json'], SPEC)).message).toBe('--steps needs a value');
    expect(usageError(() => parseArgs(['dir', '--steps', '2.5'], SPEC)).message).toBe("--steps must be a whole number ≥ 1, got '2.5'");
    expect(usageError(() => parseArgs(['dir', '--steps', '0'], SPEC)).message).toBe("--steps must be a whole number ≥ 1, got '0'");
    expect(usageError(() => parseArgs(['dir', '--lr', 'abc'], SPEC)).message).toBe("--lr must be a number > 0, got 'abc'");
    expect(usageError(() => parseArgs(['dir', '--json=yes'], SPEC)).message).toBe("--json takes no value (got 'yes')");
    expect(usageError(() => parseArgs(['dir', '--steps', '1', '--steps', '2'], SPEC)).message).toBe('--steps is given twice');
    expect(usageError(() => parseArgs([], SPEC)).message).toBe("'demo' needs <dir>");
    expect(usageError(() => parseArgs(['a', 'b'], SPEC)).message).toBe("unexpected argument 'b' for 'demo'");
    expect(usageError(() => parseArgs(['dir', '-x'], SPEC)).message).toBe("unknown option '-x' (options are spelled --name)");
    expect(usageError(() => parseArgs(['dir', '--name', ''], SPEC)).message).toBe("--name must be a non-empty value, got ''");
  });

  it('takes everything after -- as positionals', () => {
    expect(parseArgs(['--', '--odd-folder-name'], SPEC).positionals).toEqual(['--odd-folder-name']);
  });
});

describe('StreamingDecoder', () => {
  it('holds back an incomplete UTF-8 character and keeps the space after the prompt', () => {
    const tok = loadTokenizer(byteLevelBpeTokenizerJson());
    const prompt = tok.encode('say');
    const decoder = new StreamingDecoder(tok, prompt);
    const pieces = tok.encode(' é!').map((id) => decoder.push(id));
    // 'é' is two bytes: the first alone decodes to U+FFFD and is held back.
    expect(pieces).toEqual([' ', '', 'é', '!']);
    expect(decoder.finish()).toBe('');
    expect(decoder.text).toBe(' é!');
  });
});

// --- in-process commands -------------------------------------------------------------------

let tmp: string;
let modelDir: string;
let dataFile: string;

/** A tiny Llama (C 16, L 2, V 272, P 64; `shape` overrides config fields) with a byte-level BPE tokenizer, written to disk. */
async function writeTokenizerModel(dir: string, vocabSize = 272, shape: Record<string, number> = {}): Promise<void> {
  const config = { ...tinyConfigJson('llama'), vocab_size: vocabSize, max_position_embeddings: 64, bos_token_id: 256, eos_token_id: 256, ...shape };
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2));
  await writeFile(join(dir, 'model.safetensors'), writeSafetensors(tinyModelTensors(config, { seed: 3 }), { format: 'pt' }));
  const merges: [string, string][] = [
    [' ', 't'],
    ['h', 'e'],
    [' t', 'he'],
    ['a', 'n'],
  ];
  await writeFile(join(dir, 'tokenizer.json'), JSON.stringify(byteLevelBpeTokenizerJson({ merges })));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', bos_token: '<|endoftext|>' }));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'studio-cli-'));
  modelDir = join(tmp, 'byte-llama');
  await writeTokenizerModel(modelDir);
  dataFile = join(tmp, 'data.jsonl');
  const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ prompt: `Q${i}: the ant and the hen?`, completion: ` an${'t'.repeat(1 + (i % 3))}` }));
  await writeFile(dataFile, `${rows.join('\n')}\n`);
  const pickleDir = join(tmp, 'pickle-only');
  await mkdir(pickleDir);
  await writeFile(join(pickleDir, 'config.json'), JSON.stringify(tinyConfigJson('llama')));
  await writeFile(join(pickleDir, 'pytorch_model.bin'), 'not really a pickle');
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = bufferIo();
  const env: CliEnv = { io, gpu: testContext };
  const code = await runCli(argv, env);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('cli commands in-process', () => {
  it('help, unknown command and usage errors exit 2 with the usage', async () => {
    expect((await cli([])).code).toBe(2);
    const help = await cli(['help', 'train']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--eval-every K');
    expect(help.stdout).toContain('--packing');
    const unknown = await cli(['trian']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'trian'");
    const missing = await cli(['logits', 'test/fixtures/tiny-llama']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("'logits' needs --ids");
    expect(missing.stderr).toContain('Usage: npm run cli -- logits <model-dir>');
    const badIds = await cli(['logits', 'test/fixtures/tiny-llama', '--ids', '1,x']);
    expect(badIds.code).toBe(2);
  });

  it('info describes a fixture (text and JSON) and warns that the tokenizer is missing', async () => {
    const text = await cli(['info', 'test/fixtures/tiny-llama']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('heads (H / KV)      4 / 2 (grouped-query)');
    expect(text.stdout).toContain('tokenizer           missing');
    const json = await cli(['info', 'test/fixtures/tiny-qwen2', '--json', '--batch', '2', '--seq-len', '16']);
    expect(json.code).toBe(0);
    const info = JSON.parse(json.stdout) as Record<string, unknown> & { memoryEstimate: Record<string, number>; tokenizer: { present: boolean } };
    expect(info).toMatchObject({
      modelType: 'qwen2',
      layers: 2,
      heads: 4,
      kvHeads: 2,
      headDim: 8,
      hiddenSize: 32,
      vocabSize: 113,
      dtypes: { BF16: expect.any(Number) },
    });
    expect(info.tokenizer.present).toBe(false);
    expect(info.memoryEstimate).toMatchObject({ batch: 2, seqLen: 16 });
    expect(info.memoryEstimate.totalBytes).toBe(info.memoryEstimate.weightBytes! + info.memoryEstimate.trainableBytes! + info.memoryEstimate.activationBytes!);
    const withTok = JSON.parse((await cli(['info', modelDir, '--json'])).stdout) as { tokenizer: Record<string, unknown> };
    expect(withTok.tokenizer).toMatchObject({ present: true, kind: 'BPE', vocabSize: 261, eosToken: '<|endoftext|>' });
  });

  it('bad model folders exit 3 with the specific message', async () => {
    const missing = await cli(['info', join(tmp, 'nope')]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('model folder not found');
    const pickle = await cli(['info', join(tmp, 'pickle-only')]);
    expect(pickle.code).toBe(3);
    expect(pickle.stderr).toContain('never loads pickle files');
    const noTok = await cli(['generate', 'test/fixtures/tiny-llama', '--prompt', 'hi']);
    expect(noTok.code).toBe(3);
    expect(noTok.stderr).toContain('no tokenizer.json');
    const outside = await cli(['logits', 'test/fixtures/tiny-llama', '--ids', '1,128']);
    expect(outside.code).toBe(3);
    expect(outside.stderr).toContain("token id 128 is outside the model's vocabulary (ids 0 to 127");
  });

  it('logits --json gives one finite row of V per position, and the text form the top tokens', async () => {
    const { code, stdout } = await cli(['logits', 'test/fixtures/tiny-gpt2', '--ids', '5,17,3,99', '--json']);
    expect(code).toBe(0);
    const { logits } = JSON.parse(stdout) as { logits: number[][] };
    expect(logits.length).toBe(4);
    for (const row of logits) {
      expect(row.length).toBe(101);
      expect(row.every(Number.isFinite)).toBe(true);
    }
    const text = await cli(['logits', modelDir, '--ids', '256,72,101', '--top', '3']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('logits [T=3, V=272]');
    expect(text.stdout.trim().split('\n').length).toBe(4);
  });

  it('generate: greedy with and without the KV cache print the same text; sampling is seeded', async () => {
    const args = ['generate', modelDir, '--prompt', 'the ant', '--max-new-tokens', '6'];
    const cached = await cli(args);
    expect(cached.code).toBe(0);
    expect(cached.stderr).toMatch(/\[\d+ tokens in/);
    const uncached = await cli([...args, '--no-cache']);
    expect(uncached.stdout).toBe(cached.stdout);
    const sampled = ['--temperature', '1.5', '--top-k', '50', '--top-p', '0.9', '--seed', '7'];
    const a = await cli([...args, ...sampled]);
    const b = await cli([...args, ...sampled]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('train: full fine-tuning prints a loss per step and validation, and writes the run as JSON', async () => {
    const out = join(tmp, 'run.json');
    const { code, stdout, stderr } = await cli([
      'train',
      modelDir,
      '--data',
      dataFile,
      '--method',
      full.id,
      '--steps',
      '4',
      '--lr',
      '1e-2',
      '--batch',
      '2',
      '--seq-len',
      '32',
      '--schedule',
      'cosine',
      '--warmup',
      '1',
      '--seed',
      '3',
      '--validation',
      '0.25',
      '--eval-every',
      '2',
      '--json',
      out,
    ]);
    expect(stderr).toContain('9 train / 3 validation rows');
    expect(code).toBe(0);
    expect(stdout).toMatch(/step 1\/4 {2}loss \d+\.\d{4} {2}grad-norm \d/);
    const run = JSON.parse(await readFile(out, 'utf8')) as TrainResult;
    expect(run.config).toMatchObject({ method: full.id, steps: 4, batch: 2, seqLen: 32, schedule: 'cosine', trainExamples: 9, validationExamples: 3 });
    expect(run.config.trainableParams).toBe(run.config.params);
    expect(run.steps.map((s) => s.step)).toEqual([1, 2, 3, 4]);
    for (const s of run.steps) {
      expect({ step: s.step, loss: Number.isFinite(s.loss), gradNorm: Number.isFinite(s.gradNorm!), tokens: s.tokens > 0, ms: s.ms > 0 }).toEqual({
        step: s.step,
        loss: true,
        gradNorm: true,
        tokens: true,
        ms: true,
      });
    }
    expect(run.steps[0]!.lr).toBeCloseTo(1e-2);
    expect(run.validation.map((v) => v.step)).toEqual([2, 4]);
    expect(run.steps[3]!.loss).toBeLessThan(run.steps[0]!.loss);
    expect(run.config.checkpointing).toBe(false);
    expect(Math.abs(run.config.plannedGpuBytes / run.config.peakGpuBytes - 1)).toBeLessThan(0.15);
    expect(stderr).toMatch(/GPU pool peak [\d.]+ KiB \(planned [\d.]+ KiB\)/);
  });

  it('train --packing puts several whole examples in a row: more trained tokens per step, and says what padding it saves', async () => {
    const train = async (packing: boolean) => {
      const out = join(tmp, packing ? 'packed.json' : 'plain.json');
      const argv = ['train', modelDir, '--data', dataFile, '--method', full.id, '--steps', '1', '--batch', '2', '--seq-len', '64', '--validation', '0'];
      const r = await cli([...argv, ...(packing ? ['--packing'] : []), '--json', out]);
      expect(r.code).toBe(0);
      return { stderr: r.stderr, run: JSON.parse(await readFile(out, 'utf8')) as TrainResult };
    };
    const plain = await train(false);
    const packed = await train(true);
    expect(packed.stderr).toMatch(
      /note: packing padding [\d.]+ % unpacked → [\d.]+ % packed \(\d+ padding tokens saved per epoch, 12 → \d rows of 64\); packed examples attend/,
    );
    expect(plain.stderr).not.toContain('note: packing');
    expect(packed.run.config.packing).toBe(true);
    expect(plain.run.config.packing).toBe(false);
    expect(packed.run.steps[0]!.tokens).toBeGreaterThan(plain.run.steps[0]!.tokens);
    expect((await cli(['help', 'compare'])).stdout).toContain('--packing');
  });

  it('train and compare refuse a run over --memory-budget before allocating it, naming the figure and what would fit', async () => {
    const base = ['--data', dataFile, '--steps', '1', '--batch', '4', '--seq-len', '64', '--memory-budget', '0.0008'];
    const train = await cli(['train', modelDir, '--method', lora.id, ...base]);
    expect(train.code).toBe(3);
    expect(train.stderr).toMatch(
      /Will not fit: the run needs about [\d.]+ [KM]iB of GPU memory \(B=4, T=64, without activation checkpointing\), over the [\d.]+ KiB budget\. These would fit: .*batch [123] \(≈[\d.]+ KiB\)/,
    );
    const compare = await cli(['compare', modelDir, '--methods', `${lora.id},${full.id}`, ...base]);
    expect(compare.code).toBe(3);
    expect(compare.stderr).toMatch(/Will not fit: .* These would fit: .*batch [123] \(≈/);
  });

  it('a refused LoRA or full fine-tuning run is told that QLoRA would fit when its run, loaded with deferred projections as train loads it, would', async () => {
    // Wide enough (C 256) that the 16-bit projections outweigh QLoRA's default rank-16 adapters, its NF4 bases and one step.
    const dir = join(tmp, 'wide-llama');
    await writeTokenizerModel(dir, 272, { hidden_size: 256, intermediate_size: 512 });
    const rt = await testContext();
    const model = await loadCausalLM(rt, await openModelDir(dir), { trainable: false });
    try {
      const setup = modelPlanSetup(model, selectTargets(model, ['all']), { batch: 1, seqLen: 16 }, rt.device.limits);
      const alone = (method: MethodDefinition, deferProjections: boolean) =>
        planRun([planMethod(setup, method, resolveSettings(method))], true, { deferProjections }).totalBytes;
      const deferredBytes = alone(qlora, true);
      // LoRA's run holds the whole base and less than QLoRA's would with it.
      const overBytes = Math.min(alone(qlora, false), alone(lora, false));
      expect(deferredBytes).toBeLessThan(overBytes);
      const budgetGib = String((deferredBytes + overBytes) / 2 / 1024 ** 3);
      for (const method of [full, lora]) {
        const argv = ['train', dir, '--method', method.id, '--data', dataFile, '--steps', '1', '--batch', '1', '--seq-len', '16', '--checkpointing'];
        const r = await cli([...argv, '--memory-budget', budgetGib]);
        expect(r.code, method.id).toBe(3);
        expect(r.stderr).toMatch(/Will not fit: the run needs about [\d.]+ MiB .* These would fit: /);
        expect(r.stderr).toContain(`${qlora.id} (4-bit base) instead of ${method.id} (≈${formatBytes(deferredBytes)})`);
      }
    } finally {
      releaseModel(rt, model);
    }
  });

  it('compare --checkpointing --json reports the pool peak measured while each method stepped, next to the plan', async () => {
    const out = join(tmp, 'compare.json');
    const { code, stderr } = await cli([
      'compare',
      modelDir,
      '--data',
      dataFile,
      '--methods',
      `${lora.id},${full.id}`,
      '--steps',
      '2',
      '--batch',
      '2',
      '--seq-len',
      '32',
      '--checkpointing',
      '--json',
      out,
    ]);
    expect(code).toBe(0);
    expect(stderr).toMatch(/GPU pool peak while each method stepped \(planned\): lora [\d.]+ KiB \([\d.]+ KiB\), full/);
    const result = JSON.parse(await readFile(out, 'utf8')) as {
      config: { checkpointing: boolean };
      methods: { id: string; plannedGpuBytes: number; peakGpuBytes: number }[];
    };
    expect(result.config.checkpointing).toBe(true);
    for (const m of result.methods) expect(Math.abs(m.plannedGpuBytes / m.peakGpuBytes - 1), m.id).toBeLessThan(0.15);
  });

  it('info warns when the tokenizer leaves over 10 % of the embedding rows unused, naming both sizes', async () => {
    const dir = join(tmp, 'wide-vocab');
    await writeTokenizerModel(dir, 400);
    const { code, stdout } = await cli(['info', dir]);
    expect(code).toBe(0);
    expect(stdout).toContain("the tokenizer has 261 token ids but the model's vocab_size is 400: 139 embedding rows (35 %) are never used");
  });

  it('train refuses unknown methods (2), a missing data file and a too-long sequence (3)', async () => {
    const base = ['train', modelDir, '--data', dataFile, '--steps', '1'];
    const unknown = await cli([...base, '--method', 'no-such-method']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain(`unknown method 'no-such-method'; available: ${METHODS.map((m) => m.id).join(', ')}`);
    const noData = await cli(['train', modelDir, '--data', join(tmp, 'missing.jsonl'), '--steps', '1']);
    expect(noData.code).toBe(3);
    expect(noData.stderr).toContain('data file not found');
    const long = await cli([...base, '--seq-len', '65']);
    expect(long.code).toBe(3);
    expect(long.stderr).toContain("--seq-len 65 is more than the model's 64 positions");
  });

  it('train stops at a NaN loss, says at which step, exits 3 and keeps the history', async () => {
    const out = join(tmp, 'nan.json');
    const { code, stderr } = await cli([
      'train',
      modelDir,
      '--data',
      dataFile,
      '--steps',
      '4',
      '--lr',
      '1e38',
      '--clip',
      '0',
      '--batch',
      '2',
      '--seq-len',
      '16',
      '--validation',
      '0',
      '--json',
      out,
    ]);
    expect(code).toBe(3);
    expect(stderr).toMatch(/training stopped at step \d: the loss is NaN/);
    const run = JSON.parse(await readFile(out, 'utf8')) as TrainResult;
    expect(run.stopped?.step).toBe(run.steps.length);
    expect(run.steps[0]!.gradNorm).toBeNull();
  });

  it('a GPU that cannot be had exits 4 with its message', async () => {
    const io = bufferIo();
    const gpu = (): Promise<never> => Promise.reject(new WebGpuUnavailableError('no GPU adapter is available'));
    expect(await runCli(['logits', 'test/fixtures/tiny-llama', '--ids', '1'], { io, gpu })).toBe(4);
    expect(io.stderr).toBe('error: no GPU adapter is available\n');
  });
});

// --- the real process ------------------------------------------------------------------------

function spawnCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    execFile(
      'npx',
      ['tsx', '--import', './scripts/register-raw-imports.mjs', 'src/cli/main.ts', ...args],
      { maxBuffer: 64 * 1024 * 1024, timeout: 90_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolvePromise({ code, stdout, stderr });
      },
    );
  });
}

describe('cli process', () => {
  it('logits --json matches the in-process forward; bad folders exit 3, an unknown command 2', async () => {
    const [logits, missing, pickle, unknown] = await Promise.all([
      spawnCli(['logits', 'test/fixtures/tiny-llama', '--ids', '1,2,3', '--json']),
      spawnCli(['info', join(tmp, 'does-not-exist')]),
      spawnCli(['logits', join(tmp, 'pickle-only'), '--ids', '1']),
      spawnCli(['frobnicate']),
    ]);
    expect(logits.code, logits.stderr).toBe(0);
    const spawned = (JSON.parse(logits.stdout) as { logits: number[][] }).logits;
    const inProcess = (JSON.parse((await cli(['logits', 'test/fixtures/tiny-llama', '--ids', '1,2,3', '--json'])).stdout) as { logits: number[][] }).logits;
    expect(spawned.length).toBe(3);
    spawned.forEach((row, t) => {
      expect(row.length).toBe(128);
      row.forEach((v, i) => expect(Math.abs(v - inProcess[t]![i]!)).toBeLessThan(1e-4));
    });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toContain('model folder not found');
    expect(pickle.code).toBe(3);
    expect(pickle.stderr).toContain('pytorch_model.bin');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    expect(unknown.stderr).toContain('Usage: npm run cli -- <command>');
  });
});
