// Finds and checks a Hugging Face model folder given as a set of named ByteSources (a browser
// folder drop or file pick, a Node directory): config.json, model.safetensors or
// model.safetensors.index.json with its shards, and the tokenizer files. Every tensor the config
// needs must be present with the right shape and a float dtype; the result (ModelSource) says
// where each one lives so a GPU loader can stream them one at a time. Only headers are read here.
// Pickle weights (.bin/.pt/.pth/.ckpt) are never opened: unpickling can run arbitrary code.

import { readJsonFile, type ByteSource } from './byteSource';
import { clipText } from './json';
import { expectedTensors, isIgnoredTensor, parseModelConfig, type ExpectedTensor, type ModelConfig } from './hfConfig';
import { formatShape, parseSafetensorsHeader, readTensorAsF32, type Dtype, type ReadOptions, type SafetensorsHeader, type TensorInfo } from './safetensors';
import { ModelFormatError, UnsupportedModelError } from '../errors';

/** Weight dtypes a base model may use. */
export const MODEL_WEIGHT_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16'];

const PICKLE_EXTENSIONS = ['.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle'];
const SINGLE_FILE = 'model.safetensors';
const INDEX_FILE = 'model.safetensors.index.json';

export interface WeightFile {
  readonly source: ByteSource;
  readonly header: SafetensorsHeader;
}

export interface ModelTensor {
  /** Canonical HF name, as in expectedTensors(). */
  readonly name: string;
  /** The name in the file (GPT-2 may carry a `transformer.` prefix). */
  readonly storedName: string;
  readonly shape: readonly number[];
  readonly dtype: Dtype;
  /** Block index, or null for embeddings, final norm and head. */
  readonly layer: number | null;
  readonly source: ByteSource;
  readonly info: TensorInfo;
}

export interface TokenizerFiles {
  readonly tokenizerJson: ByteSource | null;
  readonly tokenizerConfig: ByteSource | null;
  readonly specialTokensMap: ByteSource | null;
  readonly vocabJson: ByteSource | null;
  readonly mergesTxt: ByteSource | null;
  readonly generationConfig: ByteSource | null;
}

export interface ModelSource {
  /** Folder of the model inside the selection ('' when its files are at the top), with a trailing '/'. */
  readonly root: string;
  readonly config: ModelConfig;
  readonly configFile: ByteSource;
  /** model.safetensors, or the shards in index order. */
  readonly weightFiles: readonly WeightFile[];
  readonly indexFile: ByteSource | null;
  /** Needed tensors in expectedTensors() order. */
  readonly tensors: readonly ModelTensor[];
  readonly tensorByName: ReadonlyMap<string, ModelTensor>;
  /** How many needed tensors use each dtype. */
  readonly dtypes: Readonly<Partial<Record<Dtype, number>>>;
  /** Bytes of the needed tensors as stored. */
  readonly weightBytes: number;
  /** Tensors in the files that this architecture does not use (ignored buffers excluded). */
  readonly unusedTensors: readonly string[];
  readonly tokenizer: TokenizerFiles;
  /** Things the user should know that did not stop loading. */
  readonly warnings: readonly string[];
}

function normalizePath(name: string): string {
  return name.replace(/\\/g, '/').replace(/^(\.\/|\/)+/, '');
}

function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

function dirName(path: string): string {
  return path.slice(0, path.lastIndexOf('/') + 1);
}

function isPickle(path: string): boolean {
  const lower = path.toLowerCase();
  return PICKLE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

function listSome(names: readonly string[], max = 8): string {
  if (names.length === 0) return '(none)';
  const shown = names
    .slice(0, max)
    .map((n) => (n === '' ? "''" : clipText(n, 80)))
    .join(', ');
  return names.length > max ? `${shown} and ${names.length - max} more` : shown;
}

function pickleMessage(names: readonly string[]): string {
  return (
    `found only pickle weights (${listSome(names)}). Adapter Studio never loads pickle files ` +
    `(.bin, .pt, .pth, .ckpt): unpickling can run arbitrary code on your machine. Please provide ` +
    `safetensors weights: most Hugging Face models ship a model.safetensors, or convert with ` +
    `model.save_pretrained(folder, safe_serialization=True) in Python.`
  );
}

/** Finds the folder holding config.json: the shallowest one; several at that depth is ambiguous. */
function findRoot(paths: readonly string[]): string {
  const configs = paths.filter((p) => baseName(p) === 'config.json');
  if (configs.length === 0) {
    const pickles = paths.filter(isPickle);
    if (paths.some((p) => baseName(p) === 'adapter_config.json')) {
      throw new ModelFormatError(
        'this looks like a PEFT adapter folder (adapter_config.json), not a model: drop the base model ' + 'folder (config.json and model.safetensors) first',
      );
    }
    throw new ModelFormatError(
      `no config.json among the ${paths.length} files given (${listSome(paths)}); drop the whole model ` +
        `folder, which holds config.json, model.safetensors and tokenizer.json` +
        (pickles.length > 0 && !paths.some((p) => p.endsWith('.safetensors')) ? `. Also: ${pickleMessage(pickles)}` : ''),
    );
  }
  const depth = (p: string): number => p.split('/').length;
  const minDepth = Math.min(...configs.map(depth));
  const shallowest = configs.filter((p) => depth(p) === minDepth);
  if (shallowest.length > 1) {
    throw new ModelFormatError(`the selection holds several models (${listSome(shallowest)}); drop one model folder at a time`);
  }
  return dirName(shallowest[0]!);
}

interface Located {
  readonly file: WeightFile;
  readonly info: TensorInfo;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** Reads the index and the shard headers; returns where each mapped tensor lives. */
async function openSharded(
  index: ByteSource,
  filesAtRoot: ReadonlyMap<string, ByteSource>,
  warnings: string[],
): Promise<{ weightFiles: WeightFile[]; located: Map<string, Located> }> {
  const json = await readJsonFile(index, 64 * 1024 * 1024);
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ModelFormatError('must be a JSON object with a "weight_map"', index.name);
  }
  const weightMap = (json as Record<string, unknown>).weight_map;
  if (!isStringRecord(weightMap)) {
    throw new ModelFormatError('"weight_map" must be an object mapping each tensor name to its shard file name', index.name);
  }
  const shardNames = [...new Set(Object.values(weightMap))]; // a Set: an index may map a million tensors
  if (shardNames.length === 0) throw new ModelFormatError('"weight_map" is empty', index.name);
  const missing = shardNames.filter((s) => !filesAtRoot.has(normalizePath(s)));
  if (missing.length > 0) {
    throw new ModelFormatError(`the index needs shard files that were not given: ${listSome(missing)}; drop the whole folder with every shard`, index.name);
  }
  const nonSafetensors = shardNames.filter((s) => !s.endsWith('.safetensors'));
  if (nonSafetensors.length > 0) {
    throw new ModelFormatError(`the index maps tensors to files that are not safetensors: ${listSome(nonSafetensors)}`, index.name);
  }
  const weightFiles = await Promise.all(
    shardNames.map(async (shard) => {
      const source = filesAtRoot.get(normalizePath(shard))!;
      return { source, header: await parseSafetensorsHeader(source) };
    }),
  );
  const byShard = new Map(shardNames.map((s, i) => [s, weightFiles[i]!]));
  const located = new Map<string, Located>();
  for (const [tensor, shard] of Object.entries(weightMap)) {
    const file = byShard.get(shard)!;
    const info = file.header.tensors.get(tensor);
    if (!info) {
      throw new ModelFormatError(
        `${index.name} maps tensor '${clipText(tensor, 100)}' to this shard, but the shard has no such tensor; ` +
          `the index and shards do not belong together`,
        file.source.name,
      );
    }
    located.set(tensor, { file, info });
  }
  const unmapped: string[] = [];
  for (const file of weightFiles) {
    for (const name of file.header.tensors.keys()) if (!(name in weightMap)) unmapped.push(name);
  }
  if (unmapped.length > 0) {
    warnings.push(`${unmapped.length} tensors in the shards are not in ${baseName(index.name)} and were ignored: ${listSome(unmapped)}`);
  }
  return { weightFiles, located };
}

function describeExpected(t: ExpectedTensor): string {
  const where = t.aliases.length > 0 ? ` (also looked for ${t.aliases.map((a) => `'${a}'`).join(', ')})` : '';
  const hint = t.name === 'lm_head.weight' ? '; config.json says tie_word_embeddings is false, so the output head must be stored separately' : '';
  return `tensor '${t.name}' with shape ${formatShape(t.shape)} is missing${where}${hint}`;
}

/**
 * Finds the model in `files` and checks it against its config. Throws ModelFormatError (bad or
 * missing files, missing tensors, wrong shapes) or UnsupportedModelError (architecture, dtype).
 */
export async function openModelFiles(files: Iterable<ByteSource>): Promise<ModelSource> {
  const byPath = new Map<string, ByteSource>();
  for (const source of files) byPath.set(normalizePath(source.name), source);
  const paths = [...byPath.keys()];
  const root = findRoot(paths);
  const filesAtRoot = new Map<string, ByteSource>();
  for (const [path, source] of byPath) {
    if (path.startsWith(root)) filesAtRoot.set(path.slice(root.length), source);
  }
  const topLevel = [...filesAtRoot.keys()].filter((p) => !p.includes('/'));
  const warnings: string[] = [];

  const configFile = filesAtRoot.get('config.json')!;
  const config = parseModelConfig(await readJsonFile(configFile), configFile.name);

  let weightFiles: WeightFile[];
  let located: Map<string, Located>;
  let indexFile: ByteSource | null = null;
  const single = filesAtRoot.get(SINGLE_FILE);
  const index = filesAtRoot.get(INDEX_FILE);
  if (single) {
    if (index) warnings.push(`both ${SINGLE_FILE} and ${INDEX_FILE} are present; using ${SINGLE_FILE}`);
    const file: WeightFile = { source: single, header: await parseSafetensorsHeader(single) };
    weightFiles = [file];
    located = new Map([...file.header.tensors].map(([name, info]) => [name, { file, info }]));
  } else if (index) {
    indexFile = index;
    ({ weightFiles, located } = await openSharded(index, filesAtRoot, warnings));
  } else {
    const safetensors = topLevel.filter((p) => p.endsWith('.safetensors'));
    const pickles = topLevel.filter(isPickle);
    if (safetensors.length > 0) {
      throw new ModelFormatError(
        `found ${listSome(safetensors)} but no ${SINGLE_FILE} or ${INDEX_FILE}; a sharded model needs its ` +
          `index file, and adapter or differently named weights are not a Hugging Face model folder`,
      );
    }
    if (pickles.length > 0) throw new ModelFormatError(pickleMessage(pickles));
    throw new ModelFormatError(`no weights found: expected ${SINGLE_FILE} or ${INDEX_FILE} next to config.json (found ${listSome(topLevel)})`);
  }
  const ignoredPickles = topLevel.filter(isPickle);
  if (ignoredPickles.length > 0) {
    warnings.push(`pickle files were not opened (they can run code): ${listSome(ignoredPickles)}`);
  }

  const weightsName = indexFile ? indexFile.name : weightFiles[0]!.source.name;
  const tensors: ModelTensor[] = [];
  const used = new Set<string>();
  const dtypes: Partial<Record<Dtype, number>> = {};
  let weightBytes = 0;
  for (const expected of expectedTensors(config)) {
    const candidates = [expected.name, ...expected.aliases].filter((n) => located.has(n));
    if (candidates.length === 0) throw new ModelFormatError(describeExpected(expected), weightsName);
    if (candidates.length > 1) warnings.push(`tensor '${expected.name}' is stored twice (${candidates.join(', ')}); using '${candidates[0]}'`);
    const storedName = candidates[0]!;
    for (const c of candidates) used.add(c);
    const { file, info } = located.get(storedName)!;
    const sameShape = info.shape.length === expected.shape.length && info.shape.every((d, i) => d === expected.shape[i]);
    if (!sameShape) {
      throw new ModelFormatError(
        `tensor '${storedName}' has shape ${formatShape(info.shape)} but config.json implies ` +
          `${formatShape(expected.shape)}; the weights and config.json do not belong together`,
        file.source.name,
      );
    }
    if (!MODEL_WEIGHT_DTYPES.includes(info.dtype)) {
      throw new UnsupportedModelError(
        `${file.source.name}: tensor '${storedName}' has dtype ${info.dtype}; model weights must be ` +
          `${MODEL_WEIGHT_DTYPES.join(', ')} (quantized or integer checkpoints are not supported)`,
      );
    }
    dtypes[info.dtype] = (dtypes[info.dtype] ?? 0) + 1;
    weightBytes += info.byteLength;
    tensors.push({
      name: expected.name,
      storedName,
      shape: info.shape,
      dtype: info.dtype,
      layer: expected.layer,
      source: file.source,
      info,
    });
  }
  const unusedTensors = [...located.keys()].filter((n) => !used.has(n) && !isIgnoredTensor(config, n));
  const tiedHead = config.tieWordEmbeddings && unusedTensors.includes('lm_head.weight');
  const reportedUnused = unusedTensors.filter((n) => !(tiedHead && n === 'lm_head.weight'));
  if (reportedUnused.length > 0) {
    warnings.push(`${reportedUnused.length} tensors in the weights are not used by this architecture: ${listSome(reportedUnused)}`);
  }

  const find = (name: string): ByteSource | null => filesAtRoot.get(name) ?? null;
  const tokenizer: TokenizerFiles = {
    tokenizerJson: find('tokenizer.json'),
    tokenizerConfig: find('tokenizer_config.json'),
    specialTokensMap: find('special_tokens_map.json'),
    vocabJson: find('vocab.json'),
    mergesTxt: find('merges.txt'),
    generationConfig: find('generation_config.json'),
  };
  if (!tokenizer.tokenizerJson) {
    warnings.push(
      'no tokenizer.json' +
        (tokenizer.vocabJson && tokenizer.mergesTxt ? ' (vocab.json and merges.txt are present)' : '') +
        (find('tokenizer.model') ? ' (tokenizer.model, a SentencePiece file, is not read)' : ''),
    );
  }

  return {
    root,
    config,
    configFile,
    weightFiles,
    indexFile,
    tensors,
    tensorByName: new Map(tensors.map((t) => [t.name, t])),
    dtypes,
    weightBytes,
    unusedTensors,
    tokenizer,
    warnings,
  };
}

/** One tensor of a ModelSource as f32 (exact for F32/F16/BF16), read in chunks. */
export function readModelTensorAsF32(tensor: ModelTensor, options?: ReadOptions): Promise<Float32Array> {
  return readTensorAsF32(tensor.source, tensor.info, options);
}

/**
 * How frozen base weights are kept on the GPU: 'checkpoint' keeps F16/BF16 matrices 16-bit and
 * F32 ones f32; 'f16' also stores F32 matrices as f16 (rounded to nearest even: a 2× saving, at
 * f16's 11-bit precision and ±65504 range); 'f32' expands everything (the pre-16-bit behaviour).
 * Only matrices (projections, embeddings, the LM head) are packed; norms and biases stay f32, as
 * does anything trainable (full fine-tuning's own copy).
 */
export type FrozenPrecision = 'checkpoint' | 'f16' | 'f32';

export type FrozenStorage = 'f32' | 'bf16' | 'f16';

/** The GPU storage of one frozen tensor under `precision`. */
export function frozenStorage(tensor: { readonly shape: readonly number[]; readonly dtype: Dtype }, precision: FrozenPrecision = 'checkpoint'): FrozenStorage {
  if (precision === 'f32' || tensor.shape.length !== 2) return 'f32';
  if (tensor.dtype === 'BF16') return 'bf16';
  if (tensor.dtype === 'F16') return 'f16';
  return precision === 'f16' ? 'f16' : 'f32';
}

/** GPU bytes of a frozen tensor of `count` elements kept as `storage` (two 16-bit values per 4-byte word). */
export function storageBytes(count: number, storage: FrozenStorage): number {
  return storage === 'f32' ? 4 * count : 4 * Math.ceil(count / 2);
}

/** GPU bytes of the frozen base weights of `source` under `precision` (buffer rounding not included). */
export function frozenWeightBytes(source: Pick<ModelSource, 'tensors'>, precision: FrozenPrecision = 'checkpoint'): number {
  let bytes = 0;
  for (const t of source.tensors)
    bytes += storageBytes(
      t.shape.reduce((a, b) => a * b, 1),
      frozenStorage(t, precision),
    );
  return bytes;
}
