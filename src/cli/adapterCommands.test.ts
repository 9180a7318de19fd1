// Tests for the CLI's method commands (train with registry methods, compare, quant-error, nf4,
// export), run in-process through runCli with the shared test GPU context. The model is a tiny
// Llama written to a temp folder (C 32, I 64, H 4, KV 2, so every projection's output size is a
// multiple of 16, as SPP needs; V 272 with a byte-level tokenizer.json), the data {question,
// answer} rows as the built-in math set has them. Runs are kept to one or two steps: Dawn on
// SwiftShader manages about a GFLOP/s.

import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferIo, methodSettings, type CliEnv } from './commands/common';
import { joinRepeated, runCli } from './commands/index';
import type { CompareResult } from './commands/compare';
import type { QuantErrorResult } from './commands/quantError';
import type { TrainResult } from './commands/train';
import { UsageError } from './args';
import { full } from '../adapters/methods/full';
import { lora } from '../adapters/methods/lora';
import { pissa } from '../adapters/methods/pissa';
import { qlora, qpissa } from '../adapters/methods/quantized';
import { sorsa } from '../adapters/methods/sorsa';
import { spp } from '../adapters/methods/spp';
import { quantMethods } from './commands/quantError';
import { nodeFileSource } from '../io/nodeSource';
import { nf4BitsPerWeight, quantizeNf4Ref } from '../io/nf4Reference';
import { parseSafetensorsHeader, readTensorAsF32, readTensorBytes, writeSafetensors } from '../io/safetensors';
import { pseudoRandom, tinyConfigJson, tinyModelTensors } from '../io/testModels';
import { byteLevelBpeTokenizerJson } from '../io/tokenizer';
import { testContext } from '../test/gpu';

let tmp: string;
let modelDir: string;
let dataFile: string;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'studio-cli-methods-'));
  modelDir = join(tmp, 'llama');
  const config = {
    ...tinyConfigJson('llama'),
    hidden_size: 32,
    intermediate_size: 64,
    vocab_size: 272,
    max_position_embeddings: 64,
    bos_token_id: 256,
    eos_token_id: 256,
  };
  await mkdir(modelDir);
  await writeFile(join(modelDir, 'config.json'), JSON.stringify(config, null, 2));
  await writeFile(join(modelDir, 'model.safetensors'), writeSafetensors(tinyModelTensors(config, { seed: 5 }), { format: 'pt' }));
  await writeFile(
    join(modelDir, 'tokenizer.json'),
    JSON.stringify(
      byteLevelBpeTokenizerJson({
        merges: [
          [' ', 't'],
          ['h', 'e'],
          [' t', 'he'],
          ['a', 'n'],
        ],
      }),
    ),
  );
  await writeFile(join(modelDir, 'tokenizer_config.json'), JSON.stringify({ eos_token: '<|endoftext|>', bos_token: '<|endoftext|>' }));
  dataFile = join(tmp, 'math.jsonl');
  const rows = Array.from({ length: 12 }, (_, i) => JSON.stringify({ question: `${i} + 1?`, answer: `${i} + 1 = ${i + 1}\n#### ${i + 1}` }));
  await writeFile(dataFile, `${rows.join('\n')}\n`);
});

afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

async function cli(argv: string[], options: Pick<CliEnv, 'mathDatasetDir'> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = bufferIo();
  const env: CliEnv = { io, gpu: testContext, ...options };
  const code = await runCli(argv, env);
  return { code, stdout: io.stdout, stderr: io.stderr };
}

describe('cli helpers', () => {
  it('joins repeated --set flags into one, in both spellings, and leaves the rest', () => {
    expect(joinRepeated(['m', '--set', 'rank=4', '--steps', '2', '--set=alpha=8', '--set', 'lora.init=gaussian'], ['set'])).toEqual([
      'm',
      '--set=rank=4\nalpha=8\nlora.init=gaussian',
      '--steps',
      '2',
    ]);
    expect(joinRepeated(['m', '--set'], ['set'])).toEqual(['m', '--set']);
    expect(joinRepeated(['--', '--set', 'x'], ['set'])).toEqual(['--', '--set', 'x']);
  });

  it('converts --set values by the method schema; a bad key or value is a usage error listing the settings', () => {
    expect(
      methodSettings(
        qpissa,
        [
          ['rank', '16'],
          ['doubleQuant', 'false'],
          ['iterations', '5'],
        ],
        'x',
      ),
    ).toMatchObject({ rank: 16, doubleQuant: false, iterations: 5, alpha: 8 });
    expect(methodSettings(spp, [['pattern', '2:4']], 'x')).toMatchObject({ pattern: '2:4', pruning: 'wanda' });
    const bad = (pairs: [string, string][]) => {
      try {
        methodSettings(lora, pairs, 'train');
      } catch (error) {
        expect(error).toBeInstanceOf(UsageError);
        return (error as Error).message;
      }
      throw new Error('expected a UsageError');
    };
    expect(bad([['rnak', '4']])).toContain(`LoRA has no setting 'rnak'; ${lora.id} settings: rank (integer 1..1024, default 8)`);
    expect(bad([['rank', 'four']])).toContain("--set rank: 'four' is not a number");
    expect(bad([['rank', '2.5']])).toContain('Rank r must be an integer between 1 and 1024, is 2.5');
    expect(bad([['init', 'xavier']])).toContain('must be one of kaiming, gaussian');
  });
});

describe('method commands in-process', () => {
  it('train: LoRA on q,v with --set; prints trainable parameters and memory; usage errors exit 2', async () => {
    const out = join(tmp, 'lora.json');
    const run = await cli([
      'train',
      modelDir,
      '--data',
      dataFile,
      '--method',
      lora.id,
      '--targets',
      'q,v',
      '--set',
      'rank=4',
      '--set',
      'alpha=8',
      '--steps',
      '2',
      '--lr',
      '1e-2',
      '--batch',
      '2',
      '--json',
      out,
    ]);
    expect(run.code, run.stderr).toBe(0);
    // 2 layers × (q: 4·(32 + 32), v: 4·(32 + 16)) = 896
    expect(run.stdout).toMatch(/trainable parameters 896 \(\d+\.\d{3} % of \d+\)/);
    expect(run.stdout).toMatch(/memory: shared base .* \+ method 3\.50 KiB \+ optimizer 7\.00 KiB/);
    expect(run.stdout).toMatch(/step 2\/2 {2}loss \d+\.\d{4}/);
    const result = JSON.parse(await readFile(out, 'utf8')) as TrainResult;
    expect(result.config).toMatchObject({
      method: lora.id,
      targets: ['q', 'v'],
      settings: { rank: 4, alpha: 8, rslora: false, init: 'kaiming' },
      trainableParams: 896,
    });
    expect(result.config.adaptedModules).toEqual([
      'model.layers.0.self_attn.q_proj',
      'model.layers.0.self_attn.v_proj',
      'model.layers.1.self_attn.q_proj',
      'model.layers.1.self_attn.v_proj',
    ]);

    const base = ['train', modelDir, '--data', dataFile, '--steps', '1'];
    const badKey = await cli([...base, '--method', pissa.id, '--set', 'rnak=4']);
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain("PiSSA has no setting 'rnak'");
    const badTarget = await cli([...base, '--method', lora.id, '--targets', 'q,qkv']);
    expect(badTarget.code).toBe(2);
    expect(badTarget.stderr).toContain('--targets: unknown target qkv; this model has q, k, v, o, gate, up, down');
  });

  it('train: QLoRA loads the projections deferred; the shared base counts only what stays resident, and says deferred', async () => {
    const header = await parseSafetensorsHeader(await nodeFileSource(join(modelDir, 'model.safetensors')));
    const bytesOf = (keep: (name: string) => boolean) => [...header.tensors.values()].filter((t) => keep(t.name)).reduce((n, t) => n + t.byteLength, 0);
    const run = async (method: string) => {
      const out = join(tmp, `${method}-base.json`);
      const flags = ['--targets', 'q,v', '--set', 'rank=2', '--steps', '1', '--batch', '1', '--seq-len', '48', '--validation', '0', '--json', out];
      const r = await cli(['train', modelDir, '--data', dataFile, '--method', method, ...flags]);
      expect(r.code, r.stderr).toBe(0);
      return { stdout: r.stdout, config: (JSON.parse(await readFile(out, 'utf8')) as TrainResult).config };
    };
    const quantized = await run(qlora.id);
    // Every tensor of the f32 file but the targeted q and v projections, which the init read one at a time and let go.
    expect(quantized.config.deferredBase).toBe(true);
    expect(quantized.config.baseBytes).toBe(bytesOf((name) => !/\.(q|v)_proj\.weight$/.test(name)));
    expect(quantized.stdout).toMatch(/memory: shared base [\d.]+ KiB \(deferred: the init read each targeted projection from the checkpoint\) \+ method/);
    const dense = await run(lora.id);
    expect(dense.config.deferredBase).toBe(false);
    expect(dense.config.baseBytes).toBe(bytesOf(() => true));
    expect(dense.stdout).not.toContain('deferred');
  });

  it('compare: identical batches for LoRA, PiSSA, QLoRA; per-step lines, validation, table, JSON and CSV', async () => {
    const json = join(tmp, 'cmp.json');
    const csv = join(tmp, 'cmp.csv');
    const ids = [lora.id, pissa.id, qlora.id];
    const { code, stdout, stderr } = await cli([
      'compare',
      modelDir,
      '--data',
      dataFile,
      '--methods',
      ids.join(','),
      '--steps',
      '2',
      '--eval-every',
      '1',
      '--lr',
      '1e-2',
      '--batch',
      '2',
      '--validation',
      '0.25',
      '--set',
      'rank=4',
      '--set',
      `${pissa.id}.alpha=4`,
      '--targets',
      'q,v,down',
      '--json',
      json,
      '--csv',
      csv,
    ]);
    expect(code, stderr).toBe(0);
    const losses = ids.map((id) => `${id} \\d+\\.\\d{4}`).join(' {2}');
    expect(stdout).toMatch(new RegExp(`step 1/2 {2}${losses}\\n`));
    expect(stdout).toMatch(new RegExp(`step 2 {2}validation {2}${losses}\\n`));
    expect(stdout).toMatch(/method +trainable +memory +init ms +train loss +val loss +best val +tokens\/s\n/);
    const result = JSON.parse(await readFile(json, 'utf8')) as CompareResult;
    expect(result.config.methods.map((m) => m.id)).toEqual(ids);
    expect(result.config.methods[1]!.settings).toMatchObject({ rank: 4, alpha: 4 });
    expect(result.config.methods[0]!.settings).toMatchObject({ rank: 4, alpha: 8 });
    expect(result.config).toMatchObject({ trainExamples: 9, validationExamples: 3, steps: 2 });
    const [loraRun, pissaRun, qloraRun] = result.methods;
    // LoRA (B = 0) and PiSSA (W_res + sBA = W) start at the base model: the same first loss.
    expect(Math.abs(loraRun!.report.steps[0]!.loss - pissaRun!.report.steps[0]!.loss)).toBeLessThan(1e-3);
    expect(loraRun!.trainableParams).toBe(qloraRun!.trainableParams);
    expect(qloraRun!.bytes).toBeGreaterThan(loraRun!.bytes); // its NF4 copy of the targets
    for (const m of result.methods) {
      expect(m.report.validation.map((v) => v.step)).toEqual([1, 2]);
      expect(m.bestValidationLoss).toBe(Math.min(...m.report.validation.map((v) => v.loss)));
      expect(m.tokensPerSecond).toBeGreaterThan(0);
    }
    const rows = (await readFile(csv, 'utf8')).trim().split('\n');
    expect(rows[0]).toBe('step,method,loss,val_loss');
    expect(rows.length).toBe(1 + 2 * 3);
    expect(rows[1]).toMatch(new RegExp(`^1,${lora.id},\\d+\\.\\d+,\\d+\\.\\d+$`));

    const unknown = await cli(['compare', modelDir, '--data', dataFile, '--methods', `${lora.id},no-such-method`, '--steps', '1']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown method 'no-such-method'");
    const badSet = await cli(['compare', modelDir, '--data', dataFile, '--methods', lora.id, '--steps', '1', '--set', `${sorsa.id}.rank=2`]);
    expect(badSet.code).toBe(2);
    expect(badSet.stderr).toContain(`'${sorsa.id}' is not one of the compared methods`);
  });

  it('compare without --data and without the built-in math set says so (3)', async () => {
    // An empty folder stands in for public/datasets/math/ (the committed set is there in the repository).
    const empty = join(tmp, 'no-math');
    await mkdir(empty, { recursive: true });
    const { code, stderr } = await cli(['compare', modelDir, '--methods', lora.id, '--steps', '1'], { mathDatasetDir: empty });
    expect(code, stderr).toBe(3);
    expect(stderr).toContain('no --data FILE given, and the built-in math set is not there');
    expect(stderr).toContain(join(empty, 'train.jsonl'));
  });

  it('quant-error: the error-reducing inits (QPiSSA, LoftQ) reduce the nuclear-norm error against the baseline (QLoRA)', async () => {
    const { baseline, reduced } = quantMethods();
    expect(baseline).toBe(qlora);
    const ids = reduced.map((m) => m.id);
    expect(ids).toContain(qpissa.id);
    const { code, stdout, stderr } = await cli(['quant-error', modelDir, '--rank', '4', '--iters', '2', '--targets', 'q,k', '--json']);
    expect(code, stderr).toBe(0);
    const result = JSON.parse(stdout) as QuantErrorResult;
    expect(result.config).toMatchObject({ baseline: qlora.id, methods: ids });
    expect(result.layers.map((l) => l.role)).toEqual(['q', 'k', 'q', 'k']);
    for (const l of result.layers) {
      expect(l.baseline.nuclear).toBeGreaterThan(l.baseline.frobenius);
      expect(Object.keys(l.methods)).toEqual(ids);
      for (const id of ids) {
        expect(l.methods[id]!.length, id).toBe(2);
        for (const e of l.methods[id]!) {
          expect(e.reduction).toBeCloseTo((1 - e.nuclear / l.baseline.nuclear) * 100, 6);
          expect(e.reduction, id).toBeGreaterThan(0);
        }
      }
    }
    expect(Object.keys(result.averages)).toEqual(['q', 'k', 'all']);
    expect(result.averages.all!.layers).toBe(4);
    expect(result.averages.all!.methods[qpissa.id]!.last).toBeGreaterThan(result.averages.all!.methods[qpissa.id]!.first);
    const text = await cli(['quant-error', modelDir, '--rank', '4', '--iters', '1', '--targets', 'k']);
    expect(text.code).toBe(0);
    const header = ['layer', 'role', `${qlora.id} ‖E‖_F`, `${qlora.id} ‖E‖_\\*`, ...ids.flatMap((id) => [`${id} ‖E‖_\\*`, 'red\\.'])].join(' +');
    expect(text.stdout).toMatch(new RegExp(header));
    expect(text.stdout).toContain('mean reduction ratio per layer type');
    expect(text.stdout).toMatch(new RegExp(`\\nall +2${' +\\d+\\.\\d %'.repeat(ids.length)}\\n`));
    const tooBig = await cli(['quant-error', modelDir, '--rank', '20', '--targets', 'k']);
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toContain("--rank 20 is more than model.layers.0.self_attn.k_proj's smaller side (16 × 32)");
  });

  it('nf4: bitsandbytes bytes and absmax per 2-D tensor, double-quant stats, other tensors copied', async () => {
    const input = join(tmp, 'w.safetensors');
    const W = pseudoRandom(5 * 25, 9); // 125 values: an odd count and a partial last block
    const bias = Float32Array.of(1, 2, 3);
    await writeFile(
      input,
      writeSafetensors([
        { name: 'w', dtype: 'F32', shape: [5, 25], data: W },
        { name: 'b', dtype: 'F32', shape: [3], data: bias },
      ]),
    );
    for (const doubleQuant of [false, true]) {
      const out = join(tmp, `w-${doubleQuant}.safetensors`);
      const run = await cli(['nf4', input, '--out', out, ...(doubleQuant ? ['--double-quant'] : [])]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toContain(`bits/weight ${nf4BitsPerWeight(125, doubleQuant).toFixed(3)} as bitsandbytes stores them`);
      const source = await nodeFileSource(out);
      const header = await parseSafetensorsHeader(source);
      const expected = quantizeNf4Ref(W, { doubleQuant });
      const info = (name: string) => header.tensors.get(name)!;
      expect(info('w.nf4')).toMatchObject({ dtype: 'U8', shape: [63, 1] });
      expect(await readTensorBytes(source, info('w.nf4'))).toEqual(expected.bytes);
      expect(await readTensorAsF32(source, info('w.absmax'))).toEqual(expected.absmax);
      expect(await readTensorAsF32(source, info('b'))).toEqual(bias);
      expect(header.tensors.has('w')).toBe(false);
      expect(JSON.parse(header.metadata!.nf4!)).toMatchObject({ blocksize: 64, double_quant: doubleQuant, tensors: { w: { shape: [5, 25], dtype: 'F32' } } });
      if (doubleQuant) {
        expect(await readTensorBytes(source, info('w.absmax_codes8'))).toEqual(expected.double!.codes8);
        expect(await readTensorAsF32(source, info('w.absmax_scales'))).toEqual(expected.double!.scales);
        expect((await readTensorAsF32(source, info('w.absmax_mean')))[0]).toBe(expected.double!.mean);
      } else {
        expect(header.tensors.has('w.absmax_codes8')).toBe(false);
      }
    }
    const missing = await cli(['nf4', join(tmp, 'nope.safetensors'), '--out', join(tmp, 'x.safetensors')]);
    expect(missing.code).toBe(3);
    const noOut = await cli(['nf4', input]);
    expect(noOut.code).toBe(2);
  });

  it('export: PEFT adapter after training, merged model = base for LoRA at init, PEFT refused for SPP', async () => {
    const peftDir = join(tmp, 'peft');
    const peft = await cli([
      'export',
      modelDir,
      '--method',
      pissa.id,
      '--format',
      'peft',
      '--out',
      peftDir,
      '--data',
      dataFile,
      '--steps',
      '1',
      '--lr',
      '1e-2',
      '--batch',
      '2',
      '--targets',
      'q',
      '--set',
      'rank=2',
      '--set',
      'alpha=2',
      '--base-model',
      'org/tiny',
    ]);
    expect(peft.code, peft.stderr).toBe(0);
    expect(peft.stdout).toContain(join(peftDir, 'adapter_model.safetensors'));
    const config = JSON.parse(await readFile(join(peftDir, 'adapter_config.json'), 'utf8')) as Record<string, unknown>;
    // PiSSA converted to a LoRA on the original W: rank and alpha doubled.
    expect(config).toMatchObject({ peft_type: 'LORA', base_model_name_or_path: 'org/tiny', r: 4, lora_alpha: 4, target_modules: ['q_proj'] });
    const header = await parseSafetensorsHeader(await nodeFileSource(join(peftDir, 'adapter_model.safetensors')));
    expect(header.tensors.get('base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight')?.shape).toEqual([4, 32]);
    expect(header.tensors.size).toBe(4);

    const mergedDir = join(tmp, 'merged');
    const merged = await cli(['export', modelDir, '--method', lora.id, '--format', 'merged', '--out', mergedDir]);
    expect(merged.code, merged.stderr).toBe(0);
    expect(merged.stderr).toContain('(no training: the init)');
    expect(JSON.parse(await readFile(join(mergedDir, 'config.json'), 'utf8'))).toMatchObject({ model_type: 'llama', torch_dtype: 'float32' });
    expect(await readFile(join(mergedDir, 'tokenizer.json'), 'utf8')).toBe(await readFile(join(modelDir, 'tokenizer.json'), 'utf8'));
    const ids = ['--ids', '256,72,101,5', '--json'];
    const before = JSON.parse((await cli(['logits', modelDir, ...ids])).stdout) as { logits: number[][] };
    const after = JSON.parse((await cli(['logits', mergedDir, ...ids])).stdout) as { logits: number[][] };
    after.logits.forEach((row, t) => row.forEach((v, i) => expect(Math.abs(v - before.logits[t]![i]!)).toBeLessThan(1e-4)));

    // Methods without a PEFT form say why (their definition's reason) and point to the merged export.
    for (const method of [spp, full]) {
      if (method.peft.kind !== 'none') throw new Error(`${method.id} has a PEFT export now; pick another method for this check`);
      const refused = await cli(['export', modelDir, '--method', method.id, '--format', 'peft', '--out', join(tmp, method.id)]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toContain(method.peft.reason);
      expect(refused.stderr).toContain('--format merged');
    }
  });

  it('export: SPP merged after a step keeps every pruned zero', async () => {
    const out = join(tmp, 'spp-merged');
    const run = await cli([
      'export',
      modelDir,
      '--method',
      spp.id,
      '--format',
      'merged',
      '--out',
      out,
      '--data',
      dataFile,
      '--steps',
      '1',
      '--lr',
      '1e-2',
      '--batch',
      '2',
      '--targets',
      'up',
      '--set',
      'pruning=magnitude',
      '--set',
      'pattern=2:4',
    ]);
    expect(run.code, run.stderr).toBe(0);
    const source = await nodeFileSource(join(out, 'model.safetensors'));
    const header = await parseSafetensorsHeader(source);
    const up = await readTensorAsF32(source, header.tensors.get('model.layers.0.mlp.up_proj.weight')!);
    for (let g = 0; g < up.length; g += 4) expect([0, 1, 2, 3].filter((k) => up[g + k] === 0).length).toBeGreaterThanOrEqual(2);
    const q = await readTensorAsF32(source, header.tensors.get('model.layers.0.self_attn.q_proj.weight')!);
    expect(q.every((v) => v !== 0)).toBe(true);
  });

  it('--adapter: a PEFT adapter folder applies to logits and generate, merges, trains further and joins a comparison', async () => {
    const adapterDir = join(tmp, 'lora-adapter');
    const made = await cli([
      'export',
      modelDir,
      '--method',
      lora.id,
      '--format',
      'peft',
      '--out',
      adapterDir,
      '--data',
      dataFile,
      '--steps',
      '2',
      '--lr',
      '5e-2',
      '--batch',
      '2',
      '--set',
      'rank=2',
    ]);
    expect(made.code, made.stderr).toBe(0);
    const ids = ['--ids', '256,72,101,5', '--json'];
    const base = JSON.parse((await cli(['logits', modelDir, ...ids])).stdout) as { logits: number[][] };
    const withAdapter = await cli(['logits', modelDir, ...ids, '--adapter', adapterDir]);
    expect(withAdapter.code, withAdapter.stderr).toBe(0);
    const adapted = JSON.parse(withAdapter.stdout) as { logits: number[][] };
    expect(adapted.logits.flat().some((v, i) => Math.abs(v - base.logits.flat()[i]!) > 1e-3)).toBe(true);
    // Merged through the loaded adapter: the same logits as the adapter on the base.
    const mergedDir = join(tmp, 'adapter-merged');
    const merged = await cli(['export', modelDir, '--adapter', adapterDir, '--format', 'merged', '--out', mergedDir]);
    expect(merged.code, merged.stderr).toBe(0);
    const fromMerged = JSON.parse((await cli(['logits', mergedDir, ...ids])).stdout) as { logits: number[][] };
    fromMerged.logits.forEach((row, t) => row.forEach((v, i) => expect(Math.abs(v - adapted.logits[t]![i]!)).toBeLessThan(1e-4)));
    const generated = await cli(['generate', modelDir, '--prompt', 'the', '--max-new-tokens', '3', '--adapter', adapterDir]);
    expect(generated.code, generated.stderr).toBe(0);
    const trained = await cli([
      'train',
      modelDir,
      '--adapter',
      adapterDir,
      '--data',
      dataFile,
      '--steps',
      '1',
      '--batch',
      '2',
      '--json',
      join(tmp, 'adapter-train.json'),
    ]);
    expect(trained.code, trained.stderr).toBe(0);
    const compared = await cli([
      'compare',
      modelDir,
      '--methods',
      lora.id,
      '--adapter',
      adapterDir,
      '--data',
      dataFile,
      '--steps',
      '1',
      '--batch',
      '2',
      '--set',
      'rank=2',
    ]);
    expect(compared.code, compared.stderr).toBe(0);
    expect(compared.stdout).toContain('adapter:lora-adapter');
    // Both flags, or an adapter for another model, are refused with what to do.
    expect((await cli(['train', modelDir, '--adapter', adapterDir, '--method', lora.id, '--steps', '1'])).code).toBe(2);
    const wrong = await cli(['logits', 'test/fixtures/tiny-gpt2', '--ids', '1,2', '--adapter', adapterDir]);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toContain('load the base model the adapter was trained on');
  });
});
