// `export <model-dir> --method M --format peft|merged --out DIR [--data FILE --steps N]`:
// initialises a method (same create() as the studio, --targets and --set as in `train`), trains
// it N steps (default 0: the export of the init), and writes
//   peft    DIR/adapter_config.json + DIR/adapter_model.safetensors, a PEFT LoRA adapter on the
//           ORIGINAL weights (src/adapters/export.ts: PiSSA/QPiSSA/SORSA converted to rank 2r,
//           LoRA-SB as B·R, A); methods without a LoRA form (spp, full) are refused;
//   merged  DIR/model.safetensors (f32, Hugging Face names and layouts, adapted projections
//           merged), DIR/config.json (torch_dtype float32) and the model's tokenizer files.
// Data (--data, default the built-in math set) is read only when it is needed: N > 0, or an init
// that looks at training batches (LoRA-SB, SPP with Wanda pruning).

import { copyFile, mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { UsageError, type CommandSpec, type ParsedArgs } from '../args';
import { mergedTensors, peftAdapter } from '../../adapters/export';
import { METHODS } from '../../adapters/registry';
import type { AdaptedModel, CalibrationBatch } from '../../adapters/types';
import { readJsonFile } from '../../io/byteSource';
import { mergedModelSafetensors, peftAdapterFiles, peftSummary, type OutputFile } from '../../io/peft';
import { loadModelTokenizer } from '../../io/tokenizer';
import { loadCausalLM, releaseModel } from '../../models/load';
import { Trainer } from '../../train/trainer';
import { StudioError, errorMessage, formatBytes } from '../../errors';
import {
  ADAPTER_BASE_FLAG,
  ADAPTER_FLAG,
  adapterSettings,
  openAdapterDir,
  fmtNumber as fmt,
  formatCount,
  initError,
  methodOrUsage,
  methodSettings,
  openModelDir,
  parseRoles,
  parseSetPairs,
  prepareRunData,
  targetsOrUsage,
  trainableCount,
  type CliEnv,
  type PreparedRun,
} from './common';

const FORMATS = ['peft', 'merged'] as const;

/** Files a merged model folder takes over from the original (those present). */
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.json',
  'merges.txt',
  'tokenizer.model',
  'added_tokens.json',
  'chat_template.jinja',
  'generation_config.json',
];

export const exportSpec: CommandSpec = {
  name: 'export',
  summary: 'Train a method N steps (default 0) and write a PEFT adapter or the merged model.',
  positionals: [{ name: 'model-dir', description: 'model folder' }],
  flags: {
    method: { type: 'string', value: 'NAME', description: `method (required unless --adapter): ${METHODS.map((m) => m.id).join(', ')}` },
    adapter: ADAPTER_FLAG,
    'adapter-base': ADAPTER_BASE_FLAG,
    format: { type: 'string', value: 'KIND', description: 'peft (adapter_config.json + adapter_model.safetensors) or merged (required)' },
    out: { type: 'string', value: 'DIR', description: 'output folder, created if missing (required)' },
    data: { type: 'string', value: 'FILE', description: 'training data (default: the built-in math set), read only if needed' },
    steps: { type: 'int', value: 'N', min: 0, default: 0, description: 'optimizer steps before exporting' },
    targets: { type: 'string', value: 'ROLES', default: 'all', description: 'projections to adapt: q,k,v,o,gate,up,down or all' },
    set: { type: 'string', value: 'KEY=VALUE', description: 'a method setting, e.g. rank=16 (repeatable)' },
    lr: { type: 'number', value: 'LR', above: 0, default: 1e-4, description: 'learning rate (constant)' },
    batch: { type: 'int', value: 'B', min: 1, default: 4, description: 'sequences per step' },
    'seq-len': { type: 'int', value: 'T', min: 2, default: 64, description: 'tokens per sequence' },
    seed: { type: 'int', value: 'S', min: 0, default: 0, description: 'seed for the init and the batch order' },
    clip: { type: 'number', value: 'NORM', min: 0, default: 1, description: 'global gradient-norm clip (0: none)' },
    'base-model': { type: 'string', value: 'NAME', description: "base_model_name_or_path in adapter_config.json (default: the model folder's absolute path)" },
  },
  examples: [
    'export path/to/model --method pissa --format peft --out pissa-adapter --data data.jsonl --steps 100',
    'export path/to/model --method spp --format merged --out pruned-model --set ratio=0.5 --steps 50',
  ],
};

export interface ExportResult {
  readonly method: string;
  readonly format: 'peft' | 'merged';
  readonly out: string;
  readonly files: { name: string; bytes: number }[];
  readonly steps: { step: number; loss: number }[];
  readonly trainableParams: number;
}

async function copyTokenizerFiles(modelDir: string, out: string): Promise<string[]> {
  const present = new Set(await readdir(modelDir));
  const copied: string[] = [];
  for (const name of TOKENIZER_FILES) {
    if (!present.has(name) || resolve(modelDir, name) === resolve(out, name)) continue;
    if (!(await stat(join(modelDir, name))).isFile()) continue;
    await copyFile(join(modelDir, name), join(out, name));
    copied.push(name);
  }
  return copied;
}

export async function runExport(args: ParsedArgs, env: CliEnv): Promise<ExportResult> {
  const { io } = env;
  const methodName = args.string('method');
  const adapterDir = args.string('adapter');
  if (methodName === undefined && adapterDir === undefined) throw new UsageError("'export' needs --method NAME (or --adapter DIR)", 'export');
  if (methodName !== undefined && adapterDir !== undefined) throw new UsageError('give --method or --adapter, not both', 'export');
  const format = args.string('format');
  if (format === undefined) throw new UsageError("'export' needs --format peft|merged", 'export');
  if (!(FORMATS as readonly string[]).includes(format)) throw new UsageError(`--format must be peft or merged, got '${format}'`, 'export');
  const out = args.string('out');
  if (out === undefined) throw new UsageError("'export' needs --out DIR", 'export');
  const method = adapterDir !== undefined ? await openAdapterDir(adapterDir) : methodOrUsage(methodName!, 'export');
  if (format === 'peft' && method.peft.kind === 'none') throw new UsageError(`${method.peft.reason} (--format merged)`, 'export');
  const settings =
    adapterDir !== undefined ? adapterSettings(method, args, 'export') : methodSettings(method, parseSetPairs(args.string('set'), 'export'), 'export');
  const roles = parseRoles(args.string('targets', 'all'), 'export');
  const steps = args.number('steps', 0);
  const seqLen = args.number('seq-len', 64);
  const batch = args.number('batch', 4);
  const seed = args.number('seed', 0);
  const lr = args.number('lr', 1e-4);
  const modelDir = args.positionals[0]!;

  const source = await openModelDir(modelDir);
  const c = source.config;
  const needsData = steps > 0 || method.calibrationBatches(settings) > 0;
  let data: PreparedRun | undefined;
  if (needsData) {
    if (seqLen > c.maxPositions)
      throw new StudioError(`--seq-len ${seqLen} is more than the model's ${c.maxPositions} positions; use --seq-len ${c.maxPositions} or less`);
    const tokenizer = await loadModelTokenizer(source);
    data = await prepareRunData(io, tokenizer, { data: args.string('data'), seqLen, batch, seed, validation: 0, builtinDir: env.mathDatasetDir });
  } else if (args.has('data')) {
    io.err('note: --data is not used (no --steps, and this init needs no data)\n');
  }
  try {
    await mkdir(out, { recursive: true });
  } catch (error) {
    throw new StudioError(`cannot create the output folder ${out} (${errorMessage(error)})`);
  }

  const rt = await env.gpu();
  const model = await loadCausalLM(rt, source, { trainable: false });
  let adapted: AdaptedModel | undefined;
  let trainer: Trainer | undefined;
  const result: ExportResult = { method: method.id, format: format as ExportResult['format'], out, files: [], steps: [], trainableParams: 0 };
  try {
    const targets = targetsOrUsage(model, roles, 'export');
    const calibration = data ? (count: number): readonly CalibrationBatch[] => Array.from({ length: count }, (_, i) => data.batcher.batch(i)) : undefined;
    try {
      adapted = await method.create({ rt, model, targets, seed, learningRate: lr, calibration }, settings);
    } catch (error) {
      throw initError(method.id, error);
    }
    (result as { trainableParams: number }).trainableParams = trainableCount(adapted.trainable);
    io.err(
      `${method.id}: ${adapted.linears.size > 0 ? `${adapted.linears.size} projections` : 'every parameter'}, ${formatCount(result.trainableParams)} trainable parameters\n`,
    );
    if (steps > 0 && data) {
      trainer = new Trainer(rt, adapted, { schedule: { kind: 'constant', peak: lr, warmupSteps: 0, totalSteps: steps }, clipNorm: args.number('clip', 1) });
      for (let i = 0; i < steps; i++) {
        const m = await trainer.step(data.batcher.batch(i));
        result.steps.push({ step: i + 1, loss: m.loss });
        io.err(`step ${i + 1}/${steps}  loss ${fmt(m.loss)}\n`);
        if (!Number.isFinite(m.loss))
          throw new StudioError(`training stopped at step ${i + 1}: the loss is ${m.loss}; nothing was exported. Try a lower --lr (now ${lr})`);
      }
    }
    let files: OutputFile[];
    if (format === 'peft') {
      const adapter = await peftAdapter(rt, method, adapted, args.string('base-model', resolve(modelDir)));
      files = peftAdapterFiles(adapter);
      io.err(`${peftSummary(adapter)} (${method.peft.kind === 'adapter' ? method.peft.note : ''})\n`);
    } else {
      const tensors = await mergedTensors(rt, adapted);
      const config = (await readJsonFile(source.configFile)) as Record<string, unknown>;
      files = [
        { name: 'model.safetensors', data: mergedModelSafetensors(c.family, tensors) },
        { name: 'config.json', data: new TextEncoder().encode(`${JSON.stringify({ ...config, torch_dtype: 'float32' }, null, 2)}\n`) },
      ];
    }
    for (const f of files) {
      await writeFile(join(out, f.name), f.data);
      result.files.push({ name: f.name, bytes: f.data.byteLength });
    }
    if (format === 'merged') {
      for (const name of await copyTokenizerFiles(modelDir, out)) result.files.push({ name, bytes: (await stat(join(out, name))).size });
    }
    for (const f of result.files) io.out(`${join(out, f.name)}  ${formatBytes(f.bytes)}\n`);
    io.err(`exported ${method.id} as ${format}${steps > 0 ? ` after ${steps} steps` : ' (no training: the init)'} to ${out}\n`);
    return result;
  } finally {
    trainer?.destroy();
    adapted?.release(rt);
    releaseModel(rt, model);
  }
}
