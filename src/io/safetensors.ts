// Strict safetensors reader and writer (https://github.com/huggingface/safetensors, format section).
// Layout: u64 little-endian header length N | N bytes of UTF-8 JSON | data buffer.
// JSON: { "<tensor>": { "dtype", "shape": [..], "data_offsets": [begin, end] }, "__metadata__": {str: str} }
// with offsets relative to the data buffer, tensors row-major, little-endian.
// The reader works on a ByteSource: it reads the header, validates it as strictly as the reference
// Rust implementation (every byte of the data buffer covered by exactly one tensor, in order), and
// reads tensors one at a time, in chunks, converting to f32. It never reads a whole file.
// The writer lays tensors out in the given order and pads the header with spaces to 8 bytes.
// Not here: GPU upload (the loader streams tensors from here), pickle files (never read).

import type { ByteSource } from './byteSource';
import { concatBytes, decodeUtf8 } from './byteSource';
import { ModelFormatError, UnsupportedModelError, InternalError } from '../errors';
import { clipText, parseJsonText, showJson } from './json';
import { f16DecodeTable, f32ToBf16Bits, f32ToF16Bits } from './halfFloat';

export { f16BitsToF32, bf16BitsToF32, f32ToF16Bits, f32ToBf16Bits, encodeF16, encodeBf16, decodeF16, decodeBf16 } from './halfFloat';

/** Bytes per element of every dtype the safetensors format defines with a whole byte size. */
export const DTYPE_BYTES = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
} as const;

export type Dtype = keyof typeof DTYPE_BYTES;

/** Sub-byte dtypes newer safetensors versions define; valid files, but we cannot use them. */
const SUB_BYTE_DTYPES = new Set(['F4', 'F6_E2M3', 'F6_E3M2']);

/** dtypes readTensorAsF32 converts. 64-bit integers and 8-bit floats are refused. */
export const F32_CONVERTIBLE_DTYPES: readonly Dtype[] = ['F32', 'F16', 'BF16', 'F64', 'I32', 'U32', 'I16', 'U16', 'I8', 'U8', 'BOOL'];

export function isDtype(value: string): value is Dtype {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, value);
}

/** Largest header we accept. The reference implementation caps it at 100 MB too. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorInfo {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /** Absolute offset of the first byte in the file (8 + N + data_offsets[0]). */
  readonly byteOffset: number;
  readonly byteLength: number;
}

export interface SafetensorsHeader {
  readonly file: string;
  /** N, the JSON header's length in bytes. */
  readonly headerLength: number;
  /** Absolute offset of the data buffer: 8 + N. */
  readonly dataOffset: number;
  /** Tensors in header order. */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
}

export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function formatShape(shape: readonly number[]): string {
  // Real tensors have at most a few dimensions; a damaged header can claim thousands.
  if (shape.length > 8) return `[${shape.slice(0, 6).join(', ')}, …, ${shape[shape.length - 1]}] (${shape.length} dimensions)`;
  return `[${shape.join(', ')}]`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Reads and validates the header of a safetensors file. Throws ModelFormatError naming file and tensor. */
export async function parseSafetensorsHeader(source: ByteSource): Promise<SafetensorsHeader> {
  const file = source.name;
  const fail = (message: string): never => {
    throw new ModelFormatError(message, file);
  };
  if (source.size < 8) {
    fail(
      `file is ${source.size} bytes, too short for a safetensors file (it starts with an 8-byte header length); ` + `the file is truncated or not safetensors`,
    );
  }
  const prefix = await source.read(0, 8);
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length field says ${n} bytes, over the ${MAX_HEADER_BYTES}-byte limit; ` + `this is not a safetensors file or its first 8 bytes are corrupt`);
  }
  const headerLength = Number(n);
  const dataOffset = 8 + headerLength;
  if (dataOffset > source.size) {
    fail(`header length field says ${headerLength} bytes but only ${source.size - 8} bytes follow it; ` + `the file is truncated or not safetensors`);
  }
  const dataSize = source.size - dataOffset;
  const text = decodeUtf8(await source.read(8, headerLength), file, 'the safetensors header');
  const json = parseJsonText(text, (reason) => new ModelFormatError(`the safetensors header ${reason}; the file is corrupt or not safetensors`, file));
  if (!isPlainObject(json)) fail('the safetensors header must be a JSON object of tensor entries');
  const header = json as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  const rawMetadata = header.__metadata__;
  if (rawMetadata !== undefined && rawMetadata !== null) {
    if (!isPlainObject(rawMetadata)) fail('"__metadata__" must be an object of string values');
    for (const [key, value] of Object.entries(rawMetadata as Record<string, unknown>)) {
      if (typeof value !== 'string') {
        fail(`"__metadata__" entry '${key}' must be a string, found ${showJson(value)}`);
      }
      metadata[key] = value as string;
    }
  }

  interface Placed {
    info: TensorInfo;
    begin: number;
    end: number;
  }
  const placed: Placed[] = [];
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bad = (what: string): never => fail(`tensor '${clipText(name, 100)}': ${what}`);
    if (!isPlainObject(entry)) bad('entry must be an object with dtype, shape and data_offsets');
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (dtype === undefined) bad('missing "dtype"');
    if (shape === undefined) bad('missing "shape"');
    if (offsets === undefined) bad('missing "data_offsets"');
    if (typeof dtype !== 'string') bad(`"dtype" must be a string, found ${showJson(dtype)}`);
    const dtypeName = dtype as string;
    if (!isDtype(dtypeName)) {
      if (SUB_BYTE_DTYPES.has(dtypeName)) {
        throw new UnsupportedModelError(
          `${file}: tensor '${name}' uses the sub-byte dtype ${dtypeName}, which Adapter Studio cannot load; ` + `use F32, F16 or BF16 weights`,
        );
      }
      bad(`unknown dtype '${clipText(dtypeName, 20)}' (safetensors dtypes: ${Object.keys(DTYPE_BYTES).join(', ')})`);
    }
    if (!Array.isArray(shape)) bad(`"shape" must be an array of integers, found ${showJson(shape)}`);
    for (const d of shape as unknown[]) {
      if (!isNonNegativeInteger(d)) {
        bad(`"shape" ${showJson(shape)} has ${showJson(d)}; dimensions must be non-negative integers`);
      }
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !isNonNegativeInteger(offsets[0]) || !isNonNegativeInteger(offsets[1])) {
      bad(`"data_offsets" must be [begin, end] with non-negative integers, found ${showJson(offsets)}`);
    }
    const dims = shape as number[];
    const [begin, end] = offsets as [number, number];
    if (begin > end) bad(`data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) {
      bad(`data_offsets [${begin}, ${end}] run past the end of the data buffer (${dataSize} bytes); ` + `the file is truncated or the header lies`);
    }
    const elementBytes = DTYPE_BYTES[dtypeName as Dtype];
    const expectedBytes = numElements(dims) * elementBytes;
    if (!Number.isSafeInteger(expectedBytes) || expectedBytes !== end - begin) {
      bad(
        `shape ${formatShape(dims)} of ${dtypeName} needs ${expectedBytes} bytes ` +
          `(${numElements(dims)} × ${elementBytes}) but data_offsets [${begin}, ${end}] hold ${end - begin}`,
      );
    }
    const info: TensorInfo = {
      name,
      dtype: dtypeName as Dtype,
      shape: Object.freeze(dims.slice()),
      byteOffset: dataOffset + begin,
      byteLength: end - begin,
    };
    tensors.set(name, info);
    placed.push({ info, begin, end });
  }

  // The data buffer must be tiled exactly: sorted by offset, each tensor starts where the previous
  // ends, the first at 0 and the last at the end of the file. Anything else hides bytes or aliases them.
  placed.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: Placed | undefined;
  for (const p of placed) {
    if (p.begin < cursor && previous) {
      fail(
        `tensor '${clipText(p.info.name, 100)}' data_offsets [${p.begin}, ${p.end}] overlap tensor ` +
          `'${clipText(previous.info.name, 100)}' [${previous.begin}, ${previous.end}]; the header is corrupt`,
      );
    }
    if (p.begin > cursor) {
      fail(
        `bytes [${cursor}, ${p.begin}) of the data buffer belong to no tensor ` +
          `(${previous ? `between '${clipText(previous.info.name, 100)}' and ` : 'before '}'${clipText(p.info.name, 100)}'); ` +
          `safetensors requires the tensors to cover the data contiguously`,
      );
    }
    cursor = p.end;
    previous = p;
  }
  if (cursor !== dataSize) {
    fail(
      `the data buffer has ${dataSize - cursor} bytes after the last tensor` +
        `${previous ? ` ('${clipText(previous.info.name, 100)}', ending at ${cursor})` : ''} that belong to no tensor; ` +
        `the file or its header is corrupt`,
    );
  }
  return { file, headerLength, dataOffset, tensors, metadata };
}

function checkInfoInSource(source: ByteSource, info: TensorInfo): void {
  if (info.byteOffset < 0 || info.byteOffset + info.byteLength > source.size) {
    throw new ModelFormatError(
      `tensor '${info.name}' lies at bytes [${info.byteOffset}, ${info.byteOffset + info.byteLength}), ` +
        `past the end of the file (${source.size} bytes); was the file replaced after its header was read?`,
      source.name,
    );
  }
}

/** The tensor's raw little-endian bytes, in one read. */
export async function readTensorBytes(source: ByteSource, info: TensorInfo): Promise<Uint8Array> {
  checkInfoInSource(source, info);
  return source.read(info.byteOffset, info.byteLength);
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface ReadOptions {
  /** Bytes read per call to `source.read` (rounded down to whole elements). Default 16 MiB. */
  chunkBytes?: number;
  /** Write into this array (length must equal the element count) instead of allocating. */
  out?: Float32Array;
}

/**
 * Reads one tensor as a Float32Array, converting in chunks. F32/F16/BF16 are exact; F64 rounds to
 * nearest f32; integers convert to the nearest f32 (exact below 2^24); BOOL gives 0 or 1.
 */
export async function readTensorAsF32(source: ByteSource, info: TensorInfo, options: ReadOptions = {}): Promise<Float32Array> {
  checkInfoInSource(source, info);
  if (!F32_CONVERTIBLE_DTYPES.includes(info.dtype)) {
    throw new UnsupportedModelError(
      `${source.name}: tensor '${info.name}' has dtype ${info.dtype}, which cannot be converted to f32 here ` +
        `(supported: ${F32_CONVERTIBLE_DTYPES.join(', ')})`,
    );
  }
  const elementBytes = DTYPE_BYTES[info.dtype];
  const count = info.byteLength / elementBytes;
  const out = options.out ?? new Float32Array(count);
  if (out.length !== count) {
    throw new InternalError(`readTensorAsF32: out has ${out.length} elements, tensor '${info.name}' has ${count}`);
  }
  const chunkElements = Math.max(1, Math.floor((options.chunkBytes ?? 16 * 1024 * 1024) / elementBytes));
  for (let first = 0; first < count; first += chunkElements) {
    const n = Math.min(chunkElements, count - first);
    const bytes = await source.read(info.byteOffset + first * elementBytes, n * elementBytes);
    convertChunk(info.dtype, bytes, out, first, n);
  }
  return out;
}

/** Decodes `n` little-endian elements of `dtype` from `bytes` into out[first .. first + n). */
function convertChunk(dtype: Dtype, bytes: Uint8Array, out: Float32Array, first: number, n: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) {
        new Uint8Array(out.buffer, out.byteOffset + first * 4, n * 4).set(bytes);
      } else {
        for (let i = 0; i < n; i++) out[first + i] = view.getFloat32(i * 4, true);
      }
      return;
    case 'F16': {
      const table = f16DecodeTable();
      for (let i = 0; i < n; i++) out[first + i] = table[view.getUint16(i * 2, true)]!;
      return;
    }
    case 'BF16': {
      const outBits = new Uint32Array(out.buffer, out.byteOffset + first * 4, n);
      for (let i = 0; i < n; i++) outBits[i] = view.getUint16(i * 2, true) << 16;
      return;
    }
    case 'F64':
      for (let i = 0; i < n; i++) out[first + i] = view.getFloat64(i * 8, true);
      return;
    case 'I32':
      for (let i = 0; i < n; i++) out[first + i] = view.getInt32(i * 4, true);
      return;
    case 'U32':
      for (let i = 0; i < n; i++) out[first + i] = view.getUint32(i * 4, true);
      return;
    case 'I16':
      for (let i = 0; i < n; i++) out[first + i] = view.getInt16(i * 2, true);
      return;
    case 'U16':
      for (let i = 0; i < n; i++) out[first + i] = view.getUint16(i * 2, true);
      return;
    case 'I8':
      for (let i = 0; i < n; i++) out[first + i] = view.getInt8(i);
      return;
    case 'U8':
      for (let i = 0; i < n; i++) out[first + i] = bytes[i]!;
      return;
    case 'BOOL':
      for (let i = 0; i < n; i++) out[first + i] = bytes[i]! !== 0 ? 1 : 0;
      return;
    default:
      throw new UnsupportedModelError(`cannot convert dtype ${dtype} to f32`);
  }
}

/** Every tensor of a (small) file as f32, in header order: for adapters and tests, not for base models. */
export async function readAllTensorsAsF32(source: ByteSource): Promise<{
  header: SafetensorsHeader;
  tensors: Map<string, { shape: readonly number[]; dtype: Dtype; data: Float32Array }>;
}> {
  const header = await parseSafetensorsHeader(source);
  const tensors = new Map<string, { shape: readonly number[]; dtype: Dtype; data: Float32Array }>();
  for (const info of header.tensors.values()) {
    tensors.set(info.name, { shape: info.shape, dtype: info.dtype, data: await readTensorAsF32(source, info) });
  }
  return { header, tensors };
}

// ---------------------------------------------------------------------------------------------
// Writer

export interface TensorToWrite {
  readonly name: string;
  readonly dtype: Dtype;
  readonly shape: readonly number[];
  /**
   * Uint8Array: the raw little-endian bytes of `dtype`, as stored. Float32Array: values, encoded
   * to `dtype` (F32, F16 and BF16 round to nearest even; F64 widens). Row-major either way.
   */
  readonly data: Uint8Array | Float32Array;
}

const FLOAT_ENCODABLE: readonly Dtype[] = ['F32', 'F16', 'BF16', 'F64'];

function writerError(message: string): ModelFormatError {
  return new ModelFormatError(`cannot write safetensors: ${message}`);
}

function encodeData(t: TensorToWrite): Uint8Array {
  const count = numElements(t.shape);
  const bytes = count * DTYPE_BYTES[t.dtype];
  if (t.data instanceof Uint8Array) {
    if (t.data.byteLength !== bytes) {
      throw writerError(`tensor '${t.name}' shape ${formatShape(t.shape)} of ${t.dtype} needs ${bytes} bytes, got ${t.data.byteLength}`);
    }
    return t.data;
  }
  if (t.data.length !== count) {
    throw writerError(`tensor '${t.name}' shape ${formatShape(t.shape)} has ${count} elements, got ${t.data.length} values`);
  }
  if (!FLOAT_ENCODABLE.includes(t.dtype)) {
    throw writerError(`tensor '${t.name}': Float32Array data can be written as ${FLOAT_ENCODABLE.join(', ')}, not ${t.dtype}; pass raw bytes`);
  }
  const out = new Uint8Array(bytes);
  const view = new DataView(out.buffer);
  const data = t.data;
  switch (t.dtype) {
    case 'F32':
      if (LITTLE_ENDIAN) out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      else for (let i = 0; i < count; i++) view.setFloat32(i * 4, data[i]!, true);
      break;
    case 'F16':
      for (let i = 0; i < count; i++) view.setUint16(i * 2, f32ToF16Bits(data[i]!), true);
      break;
    case 'BF16':
      for (let i = 0; i < count; i++) view.setUint16(i * 2, f32ToBf16Bits(data[i]!), true);
      break;
    default: // F64
      for (let i = 0; i < count; i++) view.setFloat64(i * 8, data[i]!, true);
      break;
  }
  return out;
}

/**
 * The file as parts (header, then each tensor's bytes) so a large export can become a Blob
 * without one contiguous copy: `new Blob(encodeSafetensorsParts(...))`.
 */
export function encodeSafetensorsParts(tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): Uint8Array[] {
  const entries: string[] = [];
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') throw writerError(`__metadata__ '${key}' must be a string`);
    }
    // Built by hand (not JSON.stringify of an object) so key order is exactly the given order.
    const pairs = Object.entries(metadata).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
    entries.push(`"__metadata__":{${pairs.join(',')}}`);
  }
  const seen = new Set<string>();
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__') throw writerError('a tensor cannot be named "__metadata__"');
    if (seen.has(t.name)) throw writerError(`tensor name '${t.name}' appears twice`);
    seen.add(t.name);
    if (!isDtype(t.dtype)) throw writerError(`tensor '${t.name}' has unknown dtype '${String(t.dtype)}'`);
    for (const d of t.shape) {
      if (!isNonNegativeInteger(d)) throw writerError(`tensor '${t.name}' has shape ${formatShape(t.shape)}; dimensions must be non-negative integers`);
    }
    const data = encodeData(t);
    entries.push(
      `${JSON.stringify(t.name)}:{"dtype":${JSON.stringify(t.dtype)},"shape":[${t.shape.join(',')}],` +
        `"data_offsets":[${offset},${offset + data.byteLength}]}`,
    );
    parts.push(data);
    offset += data.byteLength;
  }
  const json = new TextEncoder().encode(`{${entries.join(',')}}`);
  const padded = Math.ceil(json.byteLength / 8) * 8; // 8 + N stays 8-aligned, so every tensor start is too
  const head = new Uint8Array(8 + padded).fill(0x20, 8 + json.byteLength);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  return [head, ...parts];
}

/** A complete safetensors file in memory: header padded to 8 bytes, tensors in the given order. */
export function writeSafetensors(tensors: readonly TensorToWrite[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  return concatBytes(encodeSafetensorsParts(tensors, metadata));
}
