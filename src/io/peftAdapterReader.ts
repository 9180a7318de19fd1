// Reading a Hugging Face PEFT LoRA adapter folder back: adapter_config.json (peft_type LORA, with
// rsLoRA, DoRA, fan_in_fan_out, rank_pattern and alpha_pattern) and adapter_model.safetensors, into
// one factor pair per adapted module, with every shape checked against the config. It reads what
// peft.ts writes and what PEFT's save_pretrained writes. Pure data; applying the factors to a
// model is the caller's job, and so is checking in/out features against the base model's layers.
//
// Keys: `base_model.model.<module>.lora_A.weight` [r, in], `…lora_B.weight` [out, r], and for DoRA
// `…lora_magnitude_vector` [out] (PEFT ≥ 0.10 drops the `.weight` of the magnitude; older files
// keep it, and both are read). The `base_model.model.` prefix is optional (transformers' own
// adapter saving omits it). PEFT keeps nn.Linear layouts for the factors even when the base layer is
// a Conv1D (GPT-2, fan_in_fan_out = true), so the factor shapes never depend on fan_in_fan_out.
// Scale: s = lora_alpha / r, or lora_alpha / √r with use_rslora (Kalajdzievski 2023), per module
// with rank_pattern / alpha_pattern applied.
// Not read: other PEFT types (LoHa, LoKr, IA³, prompt tuning…), LoRA on embeddings, modules_to_save
// and trained biases (all refused by name), pickle adapter_model.bin (never opened).

import { readJsonFile, type ByteSource } from './byteSource';
import { formatShape, parseSafetensorsHeader, readTensorAsF32, type Dtype, type TensorInfo } from './safetensors';
import { showJson } from './json';
import { ModelFormatError, UnsupportedModelError } from '../errors';

export const ADAPTER_CONFIG_FILE = 'adapter_config.json';
export const ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors';

/** Factor dtypes read (converted to f32). */
const FACTOR_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16'];

/** Longest module name or pattern key accepted: real ones are under 100 characters. */
const MAX_NAME_CHARS = 1024;

/** Largest rank accepted; real adapters use 4 to 256. */
export const MAX_ADAPTER_RANK = 65536;

export interface PeftLoraConfig {
  readonly peftType: 'LORA';
  /** Default rank (`r`). */
  readonly r: number;
  readonly loraAlpha: number;
  readonly useRslora: boolean;
  readonly useDora: boolean;
  /** The base layers store W as [in, out] (GPT-2's Conv1D); the factors do not change layout. */
  readonly fanInFanOut: boolean;
  /** A list of module names, a regular expression (PEFT full-matches it; not evaluated here), or null. */
  readonly targetModules: readonly string[] | string | null;
  /** Rank per module-name key (matched as PEFT does: the whole name or a `.`-separated suffix). */
  readonly rankPattern: Readonly<Record<string, number>>;
  readonly alphaPattern: Readonly<Record<string, number>>;
  readonly baseModel: string | null;
  readonly taskType: string | null;
  /** `init_lora_weights` as given (true, false, or an init name such as PEFT's principal-SVD one). */
  readonly initLoraWeights: boolean | string;
}

export interface PeftLoraLayer {
  /** The module path in the base model, as in the file without `base_model.model.`, e.g. `model.layers.0.self_attn.q_proj`. */
  readonly module: string;
  /** [rank, in] row-major */
  readonly A: Float32Array;
  /** [out, rank] row-major */
  readonly B: Float32Array;
  /** [out]: DoRA's magnitude vector, when use_dora. */
  readonly magnitude?: Float32Array;
  readonly rank: number;
  readonly alpha: number;
  /** lora_alpha / rank, or lora_alpha / √rank with rsLoRA. */
  readonly scale: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
}

export interface PeftLoraAdapter {
  readonly config: PeftLoraConfig;
  /** One entry per adapted module, in the order the safetensors header lists them. */
  readonly layers: ReadonlyMap<string, PeftLoraLayer>;
  readonly configFile: string;
  readonly weightsFile: string;
  /** Things to know that did not stop reading (e.g. a PiSSA adapter saved unconverted). */
  readonly warnings: readonly string[];
}

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clip(text: string, max = 80): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}

/** A pattern key PEFT would treat as a regular expression beyond plain dotted names. */
const PLAIN_KEY = /^[\w.-]+$/;

/**
 * Checks adapter_config.json's contents. Throws UnsupportedModelError for a PEFT type other than
 * LORA, ModelFormatError (naming the file and the field) for anything malformed.
 */
export function parsePeftAdapterConfig(raw: unknown, fileName = ADAPTER_CONFIG_FILE): PeftLoraConfig {
  const fail = (message: string): never => {
    throw new ModelFormatError(message, fileName);
  };
  if (!isObject(raw)) fail('must be a JSON object with "peft_type", "r" and "lora_alpha"');
  const c = raw as Json;
  const peftType = c.peft_type;
  if (peftType === undefined) fail('"peft_type" is missing; a PEFT LoRA adapter says "peft_type": "LORA"');
  if (typeof peftType !== 'string') fail(`"peft_type" must be a string, found ${showJson(peftType)}`);
  if (peftType !== 'LORA') {
    throw new UnsupportedModelError(
      `${fileName}: peft_type '${clip(peftType as string, 40)}' is not supported; Adapter Studio reads LoRA adapters ` +
        `(peft_type "LORA", including rsLoRA and DoRA), not LoHa, LoKr, IA³, prompt tuning or other PEFT types`,
    );
  }
  const bool = (key: string, fallback: boolean): boolean => {
    const v = c[key] ?? fallback;
    return typeof v === 'boolean' ? v : fail(`"${key}" must be true or false, found ${showJson(v)}`);
  };
  const rank = (value: unknown, field: string): number =>
    typeof value === 'number' && Number.isSafeInteger(value) && value > 0 && value <= MAX_ADAPTER_RANK
      ? value
      : fail(`${field} must be a whole number from 1 to ${MAX_ADAPTER_RANK}, found ${showJson(value)}`);
  const alpha = (value: unknown, field: string): number =>
    typeof value === 'number' && Number.isFinite(value) ? value : fail(`${field} must be a finite number, found ${showJson(value)}`);
  const pattern = (key: string, check: (v: unknown, field: string) => number): Record<string, number> => {
    const v = c[key];
    if (v === undefined || v === null) return {};
    if (!isObject(v)) return fail(`"${key}" must be an object mapping module names to values, found ${showJson(v)}`);
    const out: Record<string, number> = Object.create(null) as Record<string, number>;
    for (const [k, value] of Object.entries(v)) {
      if (k.length === 0 || k.length > MAX_NAME_CHARS) fail(`"${key}" has a key of ${k.length} characters; keys are module names`);
      if (!PLAIN_KEY.test(k)) {
        fail(
          `"${key}" key '${clip(k, 60)}' is a regular expression; Adapter Studio matches module names ` +
            `(letters, digits, '_', '-', '.') and does not evaluate patterns: list the modules by name`,
        );
      }
      out[k] = check(value, `"${key}" entry '${clip(k, 60)}'`);
    }
    return out;
  };
  const r = rank(c.r ?? 8, '"r"');
  const loraAlpha = alpha(c.lora_alpha ?? 8, '"lora_alpha"');
  let targetModules: readonly string[] | string | null = null;
  const t = c.target_modules;
  if (typeof t === 'string') targetModules = t;
  else if (Array.isArray(t)) {
    if (!t.every((m) => typeof m === 'string')) fail(`"target_modules" must be a list of module names or one pattern, found ${showJson(t)}`);
    targetModules = [...(t as string[])];
  } else if (t !== undefined && t !== null) fail(`"target_modules" must be a list of module names or one pattern, found ${showJson(t)}`);
  const init = c.init_lora_weights ?? true;
  if (typeof init !== 'boolean' && typeof init !== 'string') fail(`"init_lora_weights" must be true, false or a method name, found ${showJson(init)}`);
  const optionalString = (key: string): string | null => {
    const v = c[key];
    if (v === undefined || v === null) return null;
    return typeof v === 'string' ? v : fail(`"${key}" must be a string, found ${showJson(v)}`);
  };
  return {
    peftType: 'LORA',
    r,
    loraAlpha,
    useRslora: bool('use_rslora', false),
    useDora: bool('use_dora', false),
    fanInFanOut: bool('fan_in_fan_out', false),
    targetModules,
    rankPattern: pattern('rank_pattern', rank),
    alphaPattern: pattern('alpha_pattern', alpha),
    baseModel: optionalString('base_model_name_or_path'),
    taskType: optionalString('task_type'),
    initLoraWeights: init as boolean | string,
  };
}

/** PEFT's pattern lookup: the first key equal to the module name or to a `.`-separated suffix of it. */
export function patternValue(pattern: Readonly<Record<string, number>>, module: string): number | undefined {
  for (const key of Object.keys(pattern)) {
    if (module === key || module.endsWith(`.${key}`)) return pattern[key];
  }
  return undefined;
}

type Factor = 'A' | 'B' | 'magnitude';

const SUFFIXES: readonly [string, Factor][] = [
  ['.lora_A.weight', 'A'],
  ['.lora_B.weight', 'B'],
  ['.lora_magnitude_vector.weight', 'magnitude'],
  ['.lora_magnitude_vector', 'magnitude'],
];

/** The module and factor a tensor name holds, or why it is not a LoRA factor. */
function classifyKey(name: string): { module: string; factor: Factor } | { problem: string } {
  const suffix = SUFFIXES.find(([s]) => name.endsWith(s));
  if (!suffix) {
    if (/\.lora_embedding_[AB]$/.test(name)) return { problem: 'is a LoRA on an embedding layer, which Adapter Studio does not apply' };
    if (/\.lora_[AB]\.bias$/.test(name) || /\.bias$/.test(name))
      return { problem: 'is a trained bias (PEFT "bias" or "lora_bias"), which Adapter Studio does not apply' };
    if (/\.lora_[AB]\.[^.]+\.weight$/.test(name))
      return { problem: "carries an adapter name inside the key; save the adapter with PEFT's save_pretrained, which removes it" };
    return { problem: 'is not a LoRA factor (lora_A, lora_B or a DoRA lora_magnitude_vector); adapters with modules_to_save are not supported' };
  }
  const withPrefix = name.slice(0, name.length - suffix[0].length);
  const module = withPrefix.startsWith('base_model.model.') ? withPrefix.slice('base_model.model.'.length) : withPrefix;
  if (module === '') return { problem: 'names no module' };
  if (module.length > MAX_NAME_CHARS) return { problem: `has a module name of ${module.length} characters` };
  return { module, factor: suffix[1] };
}

/**
 * Reads an adapter: its config and every factor, checked against each other. Throws
 * ModelFormatError naming the file (and tensor or field) or UnsupportedModelError.
 */
export async function readPeftAdapter(configSource: ByteSource, weightsSource: ByteSource): Promise<PeftLoraAdapter> {
  const config = parsePeftAdapterConfig(await readJsonFile(configSource), configSource.name);
  const file = weightsSource.name;
  const header = await parseSafetensorsHeader(weightsSource);
  const warnings: string[] = [];

  const found = new Map<string, Partial<Record<Factor, TensorInfo>>>();
  for (const info of header.tensors.values()) {
    const key = classifyKey(info.name);
    if ('problem' in key) throw new ModelFormatError(`tensor '${clip(info.name)}' ${key.problem}`, file);
    if (!FACTOR_DTYPES.includes(info.dtype)) {
      throw new UnsupportedModelError(`${file}: tensor '${clip(info.name)}' has dtype ${info.dtype}; LoRA factors must be ${FACTOR_DTYPES.join(', ')}`);
    }
    const entry = found.get(key.module) ?? {};
    if (entry[key.factor]) {
      throw new ModelFormatError(
        `module '${clip(key.module)}' has two ${key.factor === 'magnitude' ? 'DoRA magnitude vectors' : `lora_${key.factor} tensors`} ('${clip(entry[key.factor]!.name)}' and '${clip(info.name)}')`,
        file,
      );
    }
    entry[key.factor] = info;
    found.set(key.module, entry);
  }
  if (found.size === 0) {
    throw new ModelFormatError('holds no LoRA tensors (expected keys like base_model.model.<module>.lora_A.weight); is this an adapter file?', file);
  }

  const layers = new Map<string, PeftLoraLayer>();
  for (const [module, entry] of found) {
    const bad = (message: string): never => {
      throw new ModelFormatError(`module '${clip(module)}': ${message}`, file);
    };
    if (!entry.A || !entry.B) bad(`has lora_${entry.A ? 'A' : 'B'} but no lora_${entry.A ? 'B' : 'A'}; every adapted module needs both factors`);
    const A = entry.A!;
    const B = entry.B!;
    if (A.shape.length !== 2) bad(`lora_A must be a matrix [r, in], found shape ${formatShape(A.shape)}`);
    if (B.shape.length !== 2) bad(`lora_B must be a matrix [out, r], found shape ${formatShape(B.shape)}`);
    const [rank, inFeatures] = A.shape as [number, number];
    const [outFeatures, bRank] = B.shape as [number, number];
    if (bRank !== rank)
      bad(`lora_A ${formatShape(A.shape)} has rank ${rank} but lora_B ${formatShape(B.shape)} has rank ${bRank}; they must match ([r, in] and [out, r])`);
    if (rank === 0 || inFeatures === 0 || outFeatures === 0) bad(`lora_A ${formatShape(A.shape)} and lora_B ${formatShape(B.shape)} have an empty dimension`);
    const expectedRank = patternValue(config.rankPattern, module) ?? config.r;
    if (rank !== expectedRank) {
      bad(
        `the factors have rank ${rank} but ${configSource.name} says ${expectedRank} ` +
          `(${patternValue(config.rankPattern, module) !== undefined ? 'its rank_pattern' : '"r"'}); the config and the weights do not belong together`,
      );
    }
    const magnitude = entry.magnitude;
    if (config.useDora && !magnitude) bad(`${configSource.name} sets use_dora but the module has no lora_magnitude_vector`);
    if (!config.useDora && magnitude) bad(`has a DoRA lora_magnitude_vector but ${configSource.name} does not set use_dora`);
    if (magnitude && (magnitude.shape.length !== 1 || magnitude.shape[0] !== outFeatures)) {
      bad(`the DoRA magnitude vector must have shape [${outFeatures}] (one value per output), found ${formatShape(magnitude.shape)}`);
    }
    const alpha = patternValue(config.alphaPattern, module) ?? config.loraAlpha;
    const layer: PeftLoraLayer = {
      module,
      A: await readTensorAsF32(weightsSource, A),
      B: await readTensorAsF32(weightsSource, B),
      ...(magnitude ? { magnitude: await readTensorAsF32(weightsSource, magnitude) } : {}),
      rank,
      alpha,
      scale: config.useRslora ? alpha / Math.sqrt(rank) : alpha / rank,
      inFeatures,
      outFeatures,
    };
    layers.set(module, layer);
  }

  const init = config.initLoraWeights;
  if (typeof init === 'string' && /^(pissa|olora|corda|loftq|eva)/i.test(init)) {
    warnings.push(
      `${configSource.name} says init_lora_weights "${clip(init, 40)}": unless the adapter was converted when it was saved ` +
        `(path_initial_model_for_weight_conversion), it applies to a modified base model, not the original`,
    );
  }
  return { config, layers, configFile: configSource.name, weightsFile: file, warnings };
}

/**
 * Finds adapter_config.json and adapter_model.safetensors among a dropped folder's files and
 * reads them. A pickle adapter_model.bin is refused, never opened.
 */
export async function openPeftAdapterFiles(files: Iterable<ByteSource>): Promise<PeftLoraAdapter> {
  const list = [...files];
  const byBase = (name: string): ByteSource[] => list.filter((f) => f.name.replace(/\\/g, '/').split('/').pop() === name);
  const configs = byBase(ADAPTER_CONFIG_FILE);
  const weights = byBase(ADAPTER_WEIGHTS_FILE);
  if (configs.length > 1 || weights.length > 1) {
    throw new ModelFormatError(`the selection holds several adapters (${configs.length} ${ADAPTER_CONFIG_FILE}); drop one adapter folder at a time`);
  }
  if (configs.length === 0) {
    throw new ModelFormatError(
      `no ${ADAPTER_CONFIG_FILE} among the files given; drop the whole adapter folder (${ADAPTER_CONFIG_FILE} and ${ADAPTER_WEIGHTS_FILE})`,
    );
  }
  if (weights.length === 0) {
    const pickle = byBase('adapter_model.bin').length > 0;
    throw new ModelFormatError(
      pickle
        ? `found only adapter_model.bin, a pickle file, which Adapter Studio never opens (unpickling can run code); save the adapter with safe_serialization=True to get ${ADAPTER_WEIGHTS_FILE}`
        : `no ${ADAPTER_WEIGHTS_FILE} next to ${ADAPTER_CONFIG_FILE}; drop the whole adapter folder`,
      configs[0]!.name,
    );
  }
  return readPeftAdapter(configs[0]!, weights[0]!);
}
