// `info <model-dir>`: what a model folder holds, read from config.json, the safetensors headers
// and the tokenizer files (no weights are read, no GPU is used): architecture and shapes,
// parameter counts, stored dtypes and bytes, the tokenizer, a planning estimate of GPU memory for
// full fine-tuning (hfConfig.memoryEstimate: weights held as f32 on the GPU, as the loader
// uploads them), and the warnings the folder check produced.

import type { CommandSpec, ParsedArgs } from '../args';
import { full } from '../../adapters/methods/full';
import type { MethodId } from '../../adapters/types';
import { linearParamCounts, memoryEstimate, paramCount, type MemoryEstimate, type ModelConfig } from '../../io/hfConfig';
import type { ModelSource } from '../../io/modelFiles';
import { formatBytes } from '../../errors';
import { sizeClassOf } from '../../gpu/pool';
import { tokenizerVocabWarning } from '../../io/tokenizer';
import { lmHeadChunkRows } from '../../tensor/ops/lmHeadLoss';
import { formatCount, openModelDir, tryTokenizer, writeJson, type CliEnv } from './common';

export const infoSpec: CommandSpec = {
  name: 'info',
  summary: 'Describe a Hugging Face model folder: architecture, sizes, dtypes, tokenizer, memory estimate.',
  positionals: [{ name: 'model-dir', description: 'folder with config.json, model.safetensors (or shards), tokenizer.json' }],
  flags: {
    json: { type: 'boolean', description: 'print one JSON object instead of text' },
    batch: { type: 'int', value: 'B', min: 1, default: 4, description: 'batch size for the memory estimate' },
    'seq-len': { type: 'int', value: 'T', min: 1, default: 64, description: 'sequence length for the memory estimate' },
  },
  examples: ['info test/fixtures/tiny-llama', 'info path/to/SmolLM2-135M --json'],
};

/** Bytes per weight as the engine keeps the base model on the GPU (loadCausalLM uploads f32). */
const GPU_WEIGHT_BYTES_PER_PARAM = 4;
/** WebGPU's default buffer limits: the LM-head loss's chunk of logits is planned for these. */
const DEFAULT_LIMITS = { maxBufferSize: 256 * 1024 ** 2, maxStorageBufferBindingSize: 128 * 1024 ** 2 };

export interface ModelInfo {
  readonly path: string;
  readonly modelType: string;
  readonly family: string;
  readonly architectures: readonly string[];
  readonly layers: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly hiddenSize: number;
  readonly intermediateSize: number;
  readonly vocabSize: number;
  readonly maxPositions: number;
  readonly normEps: number;
  readonly ropeTheta: number | null;
  readonly slidingWindow: number | null;
  readonly tieWordEmbeddings: boolean;
  readonly bosTokenId: number | null;
  readonly eosTokenIds: readonly number[];
  readonly torchDtype: string | null;
  readonly params: number;
  /** Parameters of the linear layers adapters can target, per module name. */
  readonly linearParams: Readonly<Record<string, number>>;
  readonly weightFiles: readonly string[];
  /** Needed tensors per stored dtype. */
  readonly dtypes: Readonly<Record<string, number>>;
  readonly weightBytes: number;
  readonly unusedTensors: readonly string[];
  readonly tokenizer: {
    readonly present: boolean;
    readonly file: string | null;
    readonly kind?: string;
    readonly vocabSize?: number;
    readonly bosToken?: string;
    readonly eosToken?: string;
    readonly chatTemplate?: boolean;
    /** Why it cannot be used, when it is present but broken. */
    readonly error?: string;
  };
  readonly memoryEstimate: MemoryEstimate & {
    /** The method the estimate plans for: full fine-tuning. */
    readonly method: MethodId;
    readonly batch: number;
    readonly seqLen: number;
    readonly weightBytesPerParam: number;
    readonly note: string;
  };
  readonly warnings: readonly string[];
}

export async function modelInfo(path: string, batch: number, seqLen: number): Promise<ModelInfo> {
  const source = await openModelDir(path);
  return describeModel(path, source, batch, seqLen);
}

export async function describeModel(path: string, source: ModelSource, batch: number, seqLen: number): Promise<ModelInfo> {
  const c: ModelConfig = source.config;
  const params = paramCount(c);
  const warnings = [...source.warnings];
  const tok = source.tokenizer.tokenizerJson ? await tryTokenizer(source) : {};
  const tokenizerInfo: ModelInfo['tokenizer'] = !source.tokenizer.tokenizerJson
    ? { present: false, file: null }
    : tok.tokenizer
      ? {
          present: true,
          file: source.tokenizer.tokenizerJson.name,
          kind: tok.tokenizer.kind,
          vocabSize: tok.tokenizer.vocabSize,
          ...(tok.tokenizer.bosToken !== undefined ? { bosToken: tok.tokenizer.bosToken } : {}),
          ...(tok.tokenizer.eosToken !== undefined ? { eosToken: tok.tokenizer.eosToken } : {}),
          chatTemplate: tok.tokenizer.chatTemplate !== undefined,
        }
      : { present: true, file: source.tokenizer.tokenizerJson.name, error: tok.error ?? 'unknown error' };
  if (!tokenizerInfo.present && !warnings.some((w) => w.includes('tokenizer')))
    warnings.push('no tokenizer.json: `generate` and `train` need one (logits and info work without)');
  if (tokenizerInfo.error) warnings.push(`the tokenizer cannot be used: ${tokenizerInfo.error}`);
  const vocabWarning = tok.tokenizer ? tokenizerVocabWarning(tok.tokenizer.vocabSize, c.vocabSize) : undefined;
  if (vocabWarning) warnings.push(vocabWarning);
  if (c.family === 'llama' && c.slidingWindow !== null && seqLen > c.slidingWindow) {
    warnings.push(`sequence length ${seqLen} exceeds the sliding window (${c.slidingWindow}); training needs T ≤ ${c.slidingWindow}`);
  }
  if (seqLen > c.maxPositions) warnings.push(`sequence length ${seqLen} exceeds the model's ${c.maxPositions} positions`);
  const lmHeadRows = lmHeadChunkRows(batch * seqLen, c.vocabSize, DEFAULT_LIMITS);
  const estimate = memoryEstimate(c, {
    weightBytesPerParam: GPU_WEIGHT_BYTES_PER_PARAM,
    trainableParams: params,
    batch,
    seqLen,
    lmHeadRows,
    roundBuffer: sizeClassOf,
  });
  return {
    path,
    modelType: c.modelType,
    family: c.family,
    architectures: c.architectures,
    layers: c.numLayers,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    hiddenSize: c.hiddenSize,
    intermediateSize: c.intermediateSize,
    vocabSize: c.vocabSize,
    maxPositions: c.maxPositions,
    normEps: c.normEps,
    ropeTheta: c.family === 'llama' ? c.ropeTheta : null,
    slidingWindow: c.family === 'llama' ? c.slidingWindow : null,
    tieWordEmbeddings: c.tieWordEmbeddings,
    bosTokenId: c.bosTokenId,
    eosTokenIds: c.eosTokenIds,
    torchDtype: c.torchDtype,
    params,
    linearParams: linearParamCounts(c),
    weightFiles: source.weightFiles.map((f) => f.source.name),
    dtypes: { ...source.dtypes },
    weightBytes: source.weightBytes,
    unusedTensors: source.unusedTensors,
    tokenizer: tokenizerInfo,
    memoryEstimate: {
      method: full.id,
      batch,
      seqLen,
      weightBytesPerParam: GPU_WEIGHT_BYTES_PER_PARAM,
      ...estimate,
      note: 'planning estimate for one full fine-tuning step (weights f32, gradients and AdamW state, activations); not a measurement',
    },
    warnings,
  };
}

export function formatInfo(info: ModelInfo): string {
  const lines: string[] = [];
  const row = (label: string, value: string): void => {
    lines.push(`${label.padEnd(20)}${value}`);
  };
  row('model', info.path);
  row('architecture', `${info.architectures.join(', ') || '(none listed)'} (model_type ${info.modelType}, ${info.family} family)`);
  row('layers (L)', String(info.layers));
  row('heads (H / KV)', `${info.heads} / ${info.kvHeads}${info.kvHeads !== info.heads ? ' (grouped-query)' : ''}`);
  row('head dim (D)', String(info.headDim));
  row('width (C)', String(info.hiddenSize));
  row('MLP width (I)', String(info.intermediateSize));
  row('vocabulary (V)', String(info.vocabSize));
  row('positions (P)', String(info.maxPositions));
  if (info.ropeTheta !== null) row('rope theta', String(info.ropeTheta));
  if (info.slidingWindow !== null) row('sliding window', String(info.slidingWindow));
  row('tied embeddings', info.tieWordEmbeddings ? 'yes' : 'no');
  row('bos / eos ids', `${info.bosTokenId ?? '-'} / ${info.eosTokenIds.length > 0 ? info.eosTokenIds.join(', ') : '-'}`);
  row('parameters', `${formatCount(info.params)} (${info.params.toLocaleString('en-US')})`);
  const linear = Object.entries(info.linearParams)
    .map(([k, v]) => `${k} ${formatCount(v)}`)
    .join(', ');
  row('linear layers', linear || '-');
  row('weights', `${info.weightFiles.join(', ')}: ${formatBytes(info.weightBytes)}`);
  row(
    'dtypes',
    Object.entries(info.dtypes)
      .map(([d, n]) => `${d} (${n} tensors)`)
      .join(', ') + (info.torchDtype ? `; config torch_dtype ${info.torchDtype}` : ''),
  );
  if (info.unusedTensors.length > 0) row('unused tensors', String(info.unusedTensors.length));
  const t = info.tokenizer;
  row(
    'tokenizer',
    !t.present
      ? 'missing (no tokenizer.json)'
      : t.error
        ? `${t.file}: unusable`
        : `${t.file} (${t.kind}, ${t.vocabSize} ids${t.eosToken ? `, eos ${JSON.stringify(t.eosToken)}` : ''}${t.chatTemplate ? ', chat template' : ''})`,
  );
  const m = info.memoryEstimate;
  row(
    'memory estimate',
    `${formatBytes(m.totalBytes)} for full fine-tuning at B=${m.batch}, T=${m.seqLen} ` +
      `(weights ${formatBytes(m.weightBytes)} + grads/AdamW ${formatBytes(m.trainableBytes)} + activations ${formatBytes(m.activationBytes)}; an estimate)`,
  );
  if (info.warnings.length > 0) {
    lines.push('warnings:');
    for (const w of info.warnings) lines.push(`  - ${w}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function runInfo(args: ParsedArgs, env: CliEnv): Promise<void> {
  const info = await modelInfo(args.positionals[0]!, args.number('batch', 4), args.number('seq-len', 64));
  if (args.bool('json')) writeJson(env.io, info);
  else env.io.out(formatInfo(info));
}
