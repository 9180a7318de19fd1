// A training checkpoint as files: a JSON manifest (checkpoint.json) and one safetensors file
// (tensors.safetensors). Pure data in and out; the GPU side (capture, restore) is train/checkpoint.ts
// and the folder on disk is cli/checkpointDir.ts.
//
// Manifest (format "adapter-studio-checkpoint", version 1):
//   step       updates the run has done (the next step index); data-order position of the batcher
//   run        what must match on resume: model and data identity, seed, total steps, shared settings
//   rng        every random stream training draws from and its position (the batch order: seed, step)
//   methods[i] identity (id, settings, start step, lr, clip, weight decay), the trainer's own step
//              count, why it stopped (if it did), its divergence monitor, fingerprints of the frozen
//              bases its init built, its trainable tensors (name, shape, AdamW t) and its history
//   tensorsFingerprint  hashFingerprint of tensors.safetensors, so a damaged file is refused
// Tensors, all F32, row-major: `method{i}/{name}:value`, `:adam_m`, `:adam_v` for every trainable
// tensor of method i, in the method's order.
// Non-finite numbers (a NaN loss in a history, an infinite minimum) are written as {"$float": "NaN"},
// since JSON has no spelling for them.
// Every refusal is an InputError (ModelFormatError for the safetensors file) naming the file, the
// field and what to do.

import { InputError, ModelFormatError } from '../errors';
import type { ByteSource } from './byteSource';
import { decodeUtf8 } from './byteSource';
import { parseJsonText, showJson } from './json';
import { encodeSafetensorsParts, formatShape, numElements, parseSafetensorsHeader, readTensorAsF32 } from './safetensors';
import { weightFileSamples } from './runIdentity';

export const CHECKPOINT_FORMAT = 'adapter-studio-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const MANIFEST_FILE = 'checkpoint.json';
export const TENSORS_FILE = 'tensors.safetensors';
/** A manifest over this size is refused before it is parsed (histories of 100k steps fit easily). */
export const MAX_MANIFEST_BYTES = 256 * 1024 * 1024;

export type TensorPart = 'value' | 'adam_m' | 'adam_v';
export const TENSOR_PARTS: readonly TensorPart[] = ['value', 'adam_m', 'adam_v'];

export type JsonScalar = string | number | boolean;

export interface ModelIdentity {
  /** As the user named it (a folder name). Not compared: a moved folder is the same model. */
  readonly name: string;
  /** Compared exactly. */
  readonly fingerprint: string;
}

export interface DataIdentity {
  readonly name: string;
  readonly fingerprint: string;
  readonly trainExamples: number;
}

export interface RunIdentity {
  readonly model: ModelIdentity;
  readonly data?: DataIdentity;
  readonly seed: number;
  /** Total steps of the run (the schedule spans them). */
  readonly steps: number;
  /** The shared settings that change the numbers (lr, schedule, batch, clip, targets …), compared exactly. */
  readonly settings: Readonly<Record<string, JsonScalar>>;
}

export interface MethodIdentity {
  readonly id: string;
  readonly settings: Readonly<Record<string, JsonScalar>>;
  /** The run step it joined at (its schedule spans the steps from there). */
  readonly startStep: number;
  readonly learningRate: number;
  /** 0: no clipping. */
  readonly clipNorm: number;
  readonly weightDecay: number;
}

export interface CheckpointTensor {
  readonly name: string;
  readonly shape: readonly number[];
  /** AdamW's t for this tensor (updates it has received). */
  readonly adamSteps: number;
}

export interface FrozenFingerprint {
  /** Module path of the adapted projection. */
  readonly layer: string;
  readonly fingerprint: string;
}

export interface StepRow {
  readonly step: number;
  readonly loss: number;
  readonly gradNorm: number;
  readonly lr: number;
  readonly tokens: number;
  readonly ms: number;
  readonly nonFinite?: 'loss' | 'gradient';
  readonly diverging?: boolean;
}

/** What a host showed of a method so far, so a resumed run reports its whole history. */
export interface MethodHistory {
  readonly steps: readonly StepRow[];
  readonly validation: readonly { readonly step: number; readonly loss: number }[];
  readonly trainMs: number;
  readonly peakGpuBytes: number;
}

export interface StoppedMethod {
  readonly step: number;
  readonly reason: string;
  /** 'forward activation', 'gradient' or 'optimizer state' (train/health.ts). */
  readonly source?: string;
  readonly layer?: string;
  readonly tensor?: string;
  /** The first non-finite value found. */
  readonly value?: number;
}

export interface CheckpointMethod extends MethodIdentity {
  /** Updates its trainer has made (steps done since startStep). */
  readonly trainerSteps: number;
  readonly stopped?: StoppedMethod;
  /** The divergence monitor's state (train/health.ts), numbers only. */
  readonly health: Readonly<Record<string, number>>;
  readonly frozen: readonly FrozenFingerprint[];
  readonly tensors: readonly CheckpointTensor[];
  readonly history?: MethodHistory;
}

export interface RngPosition {
  /** What draws from it, e.g. "batch order". */
  readonly stream: string;
  readonly seed: number;
  /** Draws made so far (for the batcher: steps, as batches are a pure function of seed and step). */
  readonly position: number;
}

export interface CheckpointManifest {
  readonly format: typeof CHECKPOINT_FORMAT;
  readonly version: typeof CHECKPOINT_VERSION;
  readonly createdAt: string;
  readonly step: number;
  readonly run: RunIdentity;
  readonly rng: readonly RngPosition[];
  readonly methods: readonly CheckpointMethod[];
  readonly tensorsFingerprint: string;
}

export type ManifestDraft = Omit<CheckpointManifest, 'format' | 'version' | 'tensorsFingerprint'>;

export interface Checkpoint {
  readonly manifest: CheckpointManifest;
  /** By tensorKey(method, name, part). */
  readonly tensors: ReadonlyMap<string, Float32Array>;
}

export function tensorKey(methodIndex: number, name: string, part: TensorPart): string {
  return `method${methodIndex}/${name}:${part}`;
}

// ---------------------------------------------------------------------------------------------
// Fingerprints

/**
 * A 64-bit fingerprint (16 hex digits) of bytes: two independent 32-bit multiply-xorshift lanes
 * over the little-endian words, length mixed in. Tells a changed or damaged file or tensor from
 * the original; not a cryptographic hash. About 1 GB/s in V8 (SHA-256 in io/ is 150 MB/s, too
 * slow for a full fine-tuning checkpoint's optimizer state).
 */
export class Fingerprint {
  private a = 0x9e3779b9;
  private b = 0x85ebca6b;
  private length = 0;
  private tail = new Uint8Array(4);
  private tailLength = 0;

  update(bytes: Uint8Array): this {
    let at = 0;
    this.length += bytes.length;
    while (this.tailLength > 0 && this.tailLength < 4 && at < bytes.length) this.tail[this.tailLength++] = bytes[at++]!;
    if (this.tailLength === 4) {
      this.word(new DataView(this.tail.buffer).getUint32(0, true));
      this.tailLength = 0;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (; at + 4 <= bytes.length; at += 4) this.word(view.getUint32(at, true));
    while (at < bytes.length) this.tail[this.tailLength++] = bytes[at++]!;
    return this;
  }

  private word(w: number): void {
    this.a = Math.imul(this.a ^ w, 0x2c1b3c6d);
    this.a ^= this.a >>> 15;
    this.b = Math.imul(this.b + w, 0x297a2d39) ^ Math.imul(this.a, 0x85ebca77);
    this.b ^= this.b >>> 13;
  }

  /** The digest; call once, at the end. */
  hex(): string {
    for (let i = this.tailLength; i < 4; i++) this.tail[i] = 0;
    if (this.tailLength > 0) this.word(new DataView(this.tail.buffer).getUint32(0, true));
    this.tailLength = 0;
    let a = this.a ^ this.length;
    let b = this.b ^ Math.floor(this.length / 2 ** 32);
    a = Math.imul(a ^ (a >>> 16), 0x85ebca6b);
    b = Math.imul(b ^ (b >>> 16), 0xc2b2ae35) ^ a;
    a ^= b >>> 13;
    return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
  }
}

/** The fingerprint of float32 values, by their bits (so −0, NaN payloads and ±Inf count). */
export function f32Fingerprint(values: Float32Array): string {
  return new Fingerprint().update(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).hex();
}

/**
 * A model's identity from its files: config.json, then each safetensors file's header and 16
 * samples of 4 KiB spread over its data (runIdentity.ts weightFileSamples). Two checkpoints of one
 * architecture share headers and differ in the samples; gigabytes are never read.
 */
export async function modelFilesFingerprint(
  configFile: ByteSource,
  weightFiles: readonly { readonly source: ByteSource; readonly header: { readonly headerLength: number } }[],
): Promise<string> {
  const fingerprint = new Fingerprint().update(await configFile.read(0, configFile.size));
  for await (const bytes of weightFileSamples(weightFiles)) fingerprint.update(bytes);
  return fingerprint.hex();
}

/** Training rows as the batcher sees them: each row's token ids and loss mask, in order. */
export function sequencesFingerprint(rows: readonly { readonly ids: ArrayLike<number>; readonly lossMask: ArrayLike<boolean> }[]): string {
  const fingerprint = new Fingerprint();
  for (const row of rows) {
    const words = new Int32Array(row.ids.length + 1);
    words[0] = row.ids.length;
    for (let i = 0; i < row.ids.length; i++) words[i + 1] = row.ids[i]!;
    fingerprint.update(new Uint8Array(words.buffer));
    fingerprint.update(Uint8Array.from({ length: row.lossMask.length }, (_, i) => (row.lossMask[i] ? 1 : 0)));
  }
  return fingerprint.hex();
}

// ---------------------------------------------------------------------------------------------
// Writing

/** Values JSON cannot spell, as {"$float": "NaN" | "Infinity" | "-Infinity"}. */
function encodeNumbers(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? { $float: String(value) } : value;
}

/**
 * The two files of a checkpoint: the manifest's text and the safetensors file as parts (header,
 * then each tensor), so a large one can be written without one contiguous copy. Every tensor the
 * manifest lists must be in `tensors` with its three parts, and nothing else.
 */
export function encodeCheckpoint(draft: ManifestDraft, tensors: ReadonlyMap<string, Float32Array>): { manifest: string; tensors: Uint8Array[] } {
  const ordered: { name: string; dtype: 'F32'; shape: readonly number[]; data: Float32Array }[] = [];
  draft.methods.forEach((method, i) => {
    for (const t of method.tensors) {
      for (const part of TENSOR_PARTS) {
        const key = tensorKey(i, t.name, part);
        const data = tensors.get(key);
        if (!data || data.length !== numElements(t.shape)) {
          throw new InputError(
            `cannot write the checkpoint: tensor ${key} ${data ? `has ${data.length} values, ${formatShape(t.shape)} needs ${numElements(t.shape)}` : 'is missing'}`,
          );
        }
        ordered.push({ name: key, dtype: 'F32', shape: t.shape, data });
      }
    }
  });
  if (ordered.length !== tensors.size)
    throw new InputError(`cannot write the checkpoint: ${tensors.size - ordered.length} tensors are not listed in the manifest`);
  const parts = encodeSafetensorsParts(ordered, { format: CHECKPOINT_FORMAT });
  const fingerprint = new Fingerprint();
  for (const part of parts) fingerprint.update(part);
  const manifest: CheckpointManifest = { format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, ...draft, tensorsFingerprint: fingerprint.hex() };
  return { manifest: `${JSON.stringify(manifest, encodeNumbers, 1)}\n`, tensors: parts };
}

// ---------------------------------------------------------------------------------------------
// Reading

class ManifestReader {
  constructor(private readonly file: string) {}

  fail(path: string, what: string): never {
    throw new InputError(`${this.file}: ${path} ${what}; the checkpoint is damaged or was not written by this version of Adapter Studio`);
  }

  object(v: unknown, path: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(path, `must be an object, is ${showJson(v)}`);
    return v as Record<string, unknown>;
  }

  array(v: unknown, path: string): unknown[] {
    if (!Array.isArray(v)) this.fail(path, `must be a list, is ${showJson(v)}`);
    return v as unknown[];
  }

  string(v: unknown, path: string): string {
    if (typeof v !== 'string') this.fail(path, `must be text, is ${showJson(v)}`);
    return v as string;
  }

  /** Any number, NaN and ±Infinity included (written as {"$float": …}). */
  number(v: unknown, path: string): number {
    if (typeof v === 'number') return v;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const f = (v as Record<string, unknown>).$float;
      if (Object.keys(v).length === 1 && (f === 'NaN' || f === 'Infinity' || f === '-Infinity')) return Number(f);
    }
    return this.fail(path, `must be a number, is ${showJson(v)}`);
  }

  finite(v: unknown, path: string): number {
    const n = this.number(v, path);
    if (!Number.isFinite(n)) this.fail(path, `must be finite, is ${n}`);
    return n;
  }

  count(v: unknown, path: string): number {
    const n = this.number(v, path);
    if (!Number.isSafeInteger(n) || n < 0) this.fail(path, `must be a whole number ≥ 0, is ${showJson(v)}`);
    return n;
  }

  scalars(v: unknown, path: string): Record<string, JsonScalar> {
    const out: Record<string, JsonScalar> = {};
    for (const [key, value] of Object.entries(this.object(v, path))) {
      if (typeof value === 'string' || typeof value === 'boolean') out[key] = value;
      else out[key] = this.number(value, `${path}.${key}`);
    }
    return out;
  }

  numbers(v: unknown, path: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const [key, value] of Object.entries(this.object(v, path))) out[key] = this.number(value, `${path}.${key}`);
    return out;
  }

  optionalString(o: Record<string, unknown>, key: string, path: string): string | undefined {
    return o[key] === undefined ? undefined : this.string(o[key], `${path}.${key}`);
  }
}

function readRun(r: ManifestReader, v: unknown): RunIdentity {
  const o = r.object(v, 'run');
  const model = r.object(o.model, 'run.model');
  const run = {
    model: { name: r.string(model.name, 'run.model.name'), fingerprint: r.string(model.fingerprint, 'run.model.fingerprint') },
    seed: r.count(o.seed, 'run.seed'),
    steps: r.count(o.steps, 'run.steps'),
    settings: r.scalars(o.settings, 'run.settings'),
  };
  if (o.data === undefined) return run;
  const data = r.object(o.data, 'run.data');
  return {
    ...run,
    data: {
      name: r.string(data.name, 'run.data.name'),
      fingerprint: r.string(data.fingerprint, 'run.data.fingerprint'),
      trainExamples: r.count(data.trainExamples, 'run.data.trainExamples'),
    },
  };
}

function readHistory(r: ManifestReader, v: unknown, path: string): MethodHistory {
  const o = r.object(v, path);
  return {
    steps: r.array(o.steps, `${path}.steps`).map((s, i) => {
      const p = `${path}.steps[${i}]`;
      const row = r.object(s, p);
      const base = {
        step: r.count(row.step, `${p}.step`),
        loss: r.number(row.loss, `${p}.loss`),
        gradNorm: r.number(row.gradNorm, `${p}.gradNorm`),
        lr: r.number(row.lr, `${p}.lr`),
        tokens: r.count(row.tokens, `${p}.tokens`),
        ms: r.number(row.ms, `${p}.ms`),
      };
      const flags: { nonFinite?: 'loss' | 'gradient'; diverging?: boolean } = {};
      if (row.nonFinite === 'loss' || row.nonFinite === 'gradient') flags.nonFinite = row.nonFinite;
      if (row.diverging === true) flags.diverging = true;
      return { ...base, ...flags };
    }),
    validation: r.array(o.validation, `${path}.validation`).map((e, i) => {
      const p = `${path}.validation[${i}]`;
      const row = r.object(e, p);
      return { step: r.count(row.step, `${p}.step`), loss: r.number(row.loss, `${p}.loss`) };
    }),
    trainMs: r.finite(o.trainMs, `${path}.trainMs`),
    peakGpuBytes: r.count(o.peakGpuBytes, `${path}.peakGpuBytes`),
  };
}

function readMethod(r: ManifestReader, v: unknown, i: number): CheckpointMethod {
  const path = `methods[${i}]`;
  const o = r.object(v, path);
  const names = new Set<string>();
  const tensors = r.array(o.tensors, `${path}.tensors`).map((t, j) => {
    const p = `${path}.tensors[${j}]`;
    const e = r.object(t, p);
    const name = r.string(e.name, `${p}.name`);
    if (names.has(name)) r.fail(`${p}.name`, `repeats "${name}"`);
    names.add(name);
    return { name, shape: r.array(e.shape, `${p}.shape`).map((d, k) => r.count(d, `${p}.shape[${k}]`)), adamSteps: r.count(e.adamSteps, `${p}.adamSteps`) };
  });
  const method: CheckpointMethod = {
    id: r.string(o.id, `${path}.id`),
    settings: r.scalars(o.settings, `${path}.settings`),
    startStep: r.count(o.startStep, `${path}.startStep`),
    learningRate: r.finite(o.learningRate, `${path}.learningRate`),
    clipNorm: r.finite(o.clipNorm, `${path}.clipNorm`),
    weightDecay: r.finite(o.weightDecay, `${path}.weightDecay`),
    trainerSteps: r.count(o.trainerSteps, `${path}.trainerSteps`),
    health: r.numbers(o.health, `${path}.health`),
    frozen: r.array(o.frozen, `${path}.frozen`).map((f, j) => {
      const e = r.object(f, `${path}.frozen[${j}]`);
      return { layer: r.string(e.layer, `${path}.frozen[${j}].layer`), fingerprint: r.string(e.fingerprint, `${path}.frozen[${j}].fingerprint`) };
    }),
    tensors,
  };
  const extra: { stopped?: StoppedMethod; history?: MethodHistory } = {};
  if (o.stopped !== undefined) {
    const s = r.object(o.stopped, `${path}.stopped`);
    const p = `${path}.stopped`;
    extra.stopped = {
      step: r.count(s.step, `${p}.step`),
      reason: r.string(s.reason, `${p}.reason`),
      source: r.optionalString(s, 'source', p),
      layer: r.optionalString(s, 'layer', p),
      tensor: r.optionalString(s, 'tensor', p),
      ...(s.value === undefined ? {} : { value: r.number(s.value, `${p}.value`) }),
    };
  }
  if (o.history !== undefined) extra.history = readHistory(r, o.history, `${path}.history`);
  return { ...method, ...extra };
}

/** Parses and validates a manifest's text; `file` names it in messages. */
export function parseManifest(text: string, file: string): CheckpointManifest {
  if (text.length > MAX_MANIFEST_BYTES)
    throw new InputError(`${file}: ${text.length} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit for a checkpoint manifest`);
  const json = parseJsonText(text, (reason) => new InputError(`${file}: ${reason}; the checkpoint manifest is damaged (was it cut short?)`));
  const r = new ManifestReader(file);
  const o = r.object(json, 'the manifest');
  if (o.format !== CHECKPOINT_FORMAT) r.fail('format', `is ${showJson(o.format)}, not "${CHECKPOINT_FORMAT}"`);
  if (o.version !== CHECKPOINT_VERSION) {
    throw new InputError(
      `${file}: checkpoint format version ${showJson(o.version)}; this Adapter Studio reads version ${CHECKPOINT_VERSION}. Resume it with the version that wrote it, or start the run again.`,
    );
  }
  const methods = r.array(o.methods, 'methods').map((m, i) => readMethod(r, m, i));
  if (methods.length === 0) r.fail('methods', 'is empty');
  return {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    createdAt: r.string(o.createdAt, 'createdAt'),
    step: r.count(o.step, 'step'),
    run: readRun(r, o.run),
    rng: r.array(o.rng, 'rng').map((e, i) => {
      const p = r.object(e, `rng[${i}]`);
      return { stream: r.string(p.stream, `rng[${i}].stream`), seed: r.count(p.seed, `rng[${i}].seed`), position: r.count(p.position, `rng[${i}].position`) };
    }),
    methods,
    tensorsFingerprint: r.string(o.tensorsFingerprint, 'tensorsFingerprint'),
  };
}

/**
 * Reads a checkpoint: the manifest's bytes and the safetensors file. Refuses (InputError or
 * ModelFormatError) a manifest that does not parse, a tensors file that is truncated or damaged
 * (its fingerprint differs), a tensor the manifest lists that is missing or has another shape or
 * dtype, and tensors it does not list.
 */
export async function readCheckpoint(manifestBytes: Uint8Array, manifestName: string, tensors: ByteSource): Promise<Checkpoint> {
  const manifest = parseManifest(decodeUtf8(manifestBytes, manifestName, 'the checkpoint manifest'), manifestName);
  const header = await parseSafetensorsHeader(tensors);
  const fingerprint = new Fingerprint();
  const CHUNK = 16 * 1024 * 1024;
  for (let at = 0; at < tensors.size; at += CHUNK) fingerprint.update(await tensors.read(at, Math.min(CHUNK, tensors.size - at)));
  const found = fingerprint.hex();
  if (found !== manifest.tensorsFingerprint) {
    throw new ModelFormatError(
      `its contents differ from what ${manifestName} recorded (fingerprint ${found}, expected ${manifest.tensorsFingerprint}): the file is damaged or belongs to another checkpoint. Resume from an older checkpoint or start again.`,
      tensors.name,
    );
  }
  const out = new Map<string, Float32Array>();
  for (const [i, method] of manifest.methods.entries()) {
    for (const t of method.tensors) {
      for (const part of TENSOR_PARTS) {
        const key = tensorKey(i, t.name, part);
        const info = header.tensors.get(key);
        if (!info) throw new ModelFormatError(`tensor ${key} (${method.id}) is missing; the checkpoint is incomplete`, tensors.name);
        if (info.dtype !== 'F32') throw new ModelFormatError(`tensor ${key} is ${info.dtype}; checkpoints hold F32`, tensors.name);
        if (formatShape(info.shape) !== formatShape(t.shape)) {
          throw new ModelFormatError(`tensor ${key} has shape ${formatShape(info.shape)} but ${manifestName} says ${formatShape(t.shape)}`, tensors.name);
        }
        out.set(key, await readTensorAsF32(tensors, info));
      }
    }
  }
  if (out.size !== header.tensors.size) {
    const extra = [...header.tensors.keys()].filter((k) => !out.has(k));
    throw new ModelFormatError(
      `holds ${extra.length} tensors ${manifestName} does not list (first: ${extra[0]}); the two files do not belong together`,
      tensors.name,
    );
  }
  return { manifest, tensors: out };
}

// ---------------------------------------------------------------------------------------------
// Matching a checkpoint to the run that wants to resume from it

function showScalar(v: JsonScalar | undefined): string {
  return v === undefined ? '(none)' : typeof v === 'string' ? `"${v}"` : String(v);
}

function scalarDiffs(what: string, saved: Readonly<Record<string, JsonScalar>>, now: Readonly<Record<string, JsonScalar>>): string[] {
  const keys = [...new Set([...Object.keys(saved), ...Object.keys(now)])];
  return keys.filter((k) => !Object.is(saved[k], now[k])).map((k) => `${what}${k} is ${showScalar(saved[k])} in the checkpoint, ${showScalar(now[k])} now`);
}

/**
 * Throws an InputError listing every difference between the run a checkpoint was made in and the
 * run asking to resume from it (model, data, seed, steps, shared settings, methods and their
 * settings). `where` names the checkpoint (its folder). A resume that differs in any of these
 * would not continue the same run, so none is allowed.
 */
export function checkCheckpointMatches(manifest: CheckpointManifest, where: string, run: RunIdentity, methods: readonly MethodIdentity[]): void {
  const diffs: string[] = [];
  const saved = manifest.run;
  if (saved.model.fingerprint !== run.model.fingerprint) {
    diffs.push(`it was made with the model ${saved.model.name} (fingerprint ${saved.model.fingerprint}), not ${run.model.name} (${run.model.fingerprint})`);
  }
  if (saved.data?.fingerprint !== run.data?.fingerprint || saved.data?.trainExamples !== run.data?.trainExamples) {
    diffs.push(
      `it was made with the data ${saved.data ? `${saved.data.name} (${saved.data.trainExamples} training rows, fingerprint ${saved.data.fingerprint})` : '(none recorded)'}, ` +
        `not ${run.data ? `${run.data.name} (${run.data.trainExamples} rows, ${run.data.fingerprint})` : '(none)'}`,
    );
  }
  if (saved.seed !== run.seed) diffs.push(`seed is ${saved.seed} in the checkpoint, ${run.seed} now`);
  if (saved.steps !== run.steps) diffs.push(`steps is ${saved.steps} in the checkpoint, ${run.steps} now (the schedule spans them)`);
  diffs.push(...scalarDiffs('', saved.settings, run.settings));
  const savedIds = manifest.methods.map((m) => m.id);
  const nowIds = methods.map((m) => m.id);
  if (savedIds.join(',') !== nowIds.join(',')) {
    diffs.push(`the methods are ${savedIds.join(', ')} in the checkpoint, ${nowIds.join(', ') || '(none)'} now`);
  } else {
    manifest.methods.forEach((m, i) => {
      const now = methods[i]!;
      const numbers: [string, number, number][] = [
        ['start step', m.startStep, now.startStep],
        ['learning rate', m.learningRate, now.learningRate],
        ['clip', m.clipNorm, now.clipNorm],
        ['weight decay', m.weightDecay, now.weightDecay],
      ];
      for (const [label, a, b] of numbers) if (!Object.is(a, b)) diffs.push(`${m.id}: ${label} is ${a} in the checkpoint, ${b} now`);
      diffs.push(...scalarDiffs(`${m.id}: setting `, m.settings, now.settings));
    });
  }
  if (diffs.length > 0) {
    throw new InputError(
      `cannot resume from ${where}: it belongs to another run: ${diffs.join('; ')}. Resume with the settings it was made with, or start a new run in another folder.`,
    );
  }
}

/** The folder name of the checkpoint after `step` updates: step-00000042 (sorts by step). */
export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}`;
}

/** The step of a checkpoint folder name, or undefined for other names (temporary folders included). */
export function checkpointStep(name: string): number | undefined {
  const match = /^step-(\d{8,})$/.exec(name);
  return match ? Number(match[1]) : undefined;
}
