// Tests for the safetensors reader/writer and the f16/bf16 conversions: round trips for every
// dtype, a hand-made file independent of our writer, one corrupt file per validation rule, chunked
// reads, and bit-exact conversions (known patterns, exhaustive f16, brute-force nearest reference).

import { describe, expect, it } from 'vitest';
import { blobSource, bytesSource, type ByteSource } from './byteSource';
import {
  DTYPE_BYTES,
  F32_CONVERTIBLE_DTYPES,
  MAX_HEADER_BYTES,
  bf16BitsToF32,
  decodeBf16,
  decodeF16,
  encodeBf16,
  encodeF16,
  encodeSafetensorsParts,
  f16BitsToF32,
  f32ToBf16Bits,
  f32ToF16Bits,
  parseSafetensorsHeader,
  readAllTensorsAsF32,
  readTensorAsF32,
  readTensorBytes,
  writeSafetensors,
  type Dtype,
} from './safetensors';
import { f32Bits, f32FromBits } from './halfFloat';
import { InternalError, ModelFormatError, UnsupportedModelError } from '../errors';

const FILE = 'weights.safetensors';

/** A safetensors file built by hand from a header (object or raw JSON text) and a data buffer. */
function rawFile(header: unknown, data: Uint8Array = new Uint8Array(0), lengthField?: bigint): Uint8Array {
  const json = new TextEncoder().encode(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.byteLength + data.byteLength);
  new DataView(out.buffer).setBigUint64(0, lengthField ?? BigInt(json.byteLength), true);
  out.set(json, 8);
  out.set(data, 8 + json.byteLength);
  return out;
}

async function errorOf(promise: Promise<unknown>): Promise<Error> {
  const result = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(result instanceof Error)) throw new Error('expected the promise to reject');
  return result;
}

async function expectFormatError(bytes: Uint8Array, ...patterns: RegExp[]): Promise<void> {
  const error = await errorOf(parseSafetensorsHeader(bytesSource(FILE, bytes)));
  expect(error).toBeInstanceOf(ModelFormatError);
  expect(error.message).toContain(FILE);
  for (const p of patterns) expect(error.message).toMatch(p);
}

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** Independent decoding of one element with DataView, for checking readTensorAsF32. */
function referenceElement(dtype: Dtype, view: DataView, i: number): number {
  switch (dtype) {
    case 'F32':
      return view.getFloat32(i * 4, true);
    case 'F64':
      return Math.fround(view.getFloat64(i * 8, true));
    case 'F16':
      return f16BitsToF32(view.getUint16(i * 2, true));
    case 'BF16':
      return f32FromBits(view.getUint16(i * 2, true) * 65536);
    case 'I32':
      return Math.fround(view.getInt32(i * 4, true));
    case 'U32':
      return Math.fround(view.getUint32(i * 4, true));
    case 'I16':
      return view.getInt16(i * 2, true);
    case 'U16':
      return view.getUint16(i * 2, true);
    case 'I8':
      return view.getInt8(i);
    case 'U8':
      return view.getUint8(i);
    case 'BOOL':
      return view.getUint8(i) !== 0 ? 1 : 0;
    default:
      throw new Error(dtype);
  }
}

function sameF32(a: Float32Array, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (!(Object.is(x, y) || (Number.isNaN(x) && Number.isNaN(y)))) return false;
  }
  return true;
}

/** A source that records every read, to check chunking. */
function countingSource(bytes: Uint8Array): ByteSource & { reads: [number, number][] } {
  const inner = bytesSource(FILE, bytes);
  const reads: [number, number][] = [];
  return {
    name: inner.name,
    size: inner.size,
    reads,
    read(offset, length) {
      reads.push([offset, length]);
      return inner.read(offset, length);
    },
  };
}

describe('safetensors round trip', () => {
  it('writes and reads back every dtype, raw bytes unchanged', async () => {
    const dtypes = Object.keys(DTYPE_BYTES) as Dtype[];
    const shapes = [[2, 3], [5], [], [1, 2, 2]];
    const tensors = dtypes.map((dtype, i) => {
      const shape = shapes[i % shapes.length]!;
      const count = shape.reduce((a, b) => a * b, 1);
      return { name: `t.${i}.${dtype}`, dtype, shape, data: randomBytes(count * DTYPE_BYTES[dtype], i + 1) };
    });
    const file = writeSafetensors(tensors, { format: 'pt', note: 'héllo' });
    const source = bytesSource(FILE, file);
    const header = await parseSafetensorsHeader(source);
    expect(header.metadata).toEqual({ format: 'pt', note: 'héllo' });
    expect([...header.tensors.keys()]).toEqual(tensors.map((t) => t.name));
    let expectedOffset = header.dataOffset;
    for (const t of tensors) {
      const info = header.tensors.get(t.name)!;
      expect(info.dtype).toBe(t.dtype);
      expect(info.shape).toEqual(t.shape);
      expect(info.byteOffset).toBe(expectedOffset); // laid out in the given order
      expectedOffset += t.data.byteLength;
      expect(await readTensorBytes(source, info)).toEqual(t.data);
      if (F32_CONVERTIBLE_DTYPES.includes(t.dtype)) {
        const values = await readTensorAsF32(source, info);
        const view = new DataView(t.data.buffer);
        const expected = Array.from({ length: values.length }, (_, k) => referenceElement(t.dtype, view, k));
        expect(sameF32(values, expected)).toBe(true);
      } else {
        await expect(readTensorAsF32(source, info)).rejects.toThrow(UnsupportedModelError);
      }
    }
    expect(expectedOffset).toBe(file.byteLength);
  });

  it('encodes Float32Array data as F32, F16, BF16 and F64', async () => {
    const values = new Float32Array([0, -0, 1, -2.5, 65504, 1e-7, 3.14159, -1e30, Infinity, NaN]);
    const file = writeSafetensors((['F32', 'F16', 'BF16', 'F64'] as const).map((dtype) => ({ name: dtype, dtype, shape: [2, 5], data: values })));
    const { tensors } = await readAllTensorsAsF32(bytesSource(FILE, file));
    expect(sameF32(tensors.get('F32')!.data, values)).toBe(true);
    expect(sameF32(tensors.get('F64')!.data, values)).toBe(true);
    expect(sameF32(tensors.get('F16')!.data, decodeF16(encodeF16(values)))).toBe(true);
    expect(sameF32(tensors.get('BF16')!.data, decodeBf16(encodeBf16(values)))).toBe(true);
    expect(tensors.get('F16')!.data[4]).toBe(65504);
    expect(tensors.get('BF16')!.data[2]).toBe(1);
  });

  it('pads the header with spaces to a multiple of 8 and keeps the given key order', async () => {
    for (let nameLength = 1; nameLength <= 9; nameLength++) {
      const name = 'x'.repeat(nameLength);
      const file = writeSafetensors(
        [
          { name: '10', dtype: 'U8', shape: [1], data: new Uint8Array([7]) },
          { name, dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 3]) },
        ],
        { b: '1', a: '2' },
      );
      const n = Number(new DataView(file.buffer).getBigUint64(0, true));
      expect(n % 8).toBe(0);
      const text = new TextDecoder().decode(file.subarray(8, 8 + n));
      expect(text.trimEnd().endsWith('}')).toBe(true);
      expect(text.slice(text.trimEnd().length)).toMatch(/^ *$/);
      // "10" would move first under JSON.stringify of an object; order must stay as given.
      expect(text.indexOf('"__metadata__"')).toBeLessThan(text.indexOf('"10"'));
      expect(text.indexOf('"b"')).toBeLessThan(text.indexOf('"a"'));
      expect(file.subarray(8 + n)).toEqual(new Uint8Array([7, 1, 2, 3]));
    }
  });

  it('returns the parts that make up the file for streaming exports', () => {
    const tensors = [
      { name: 'a', dtype: 'F32' as const, shape: [2], data: new Float32Array([1, 2]) },
      { name: 'b', dtype: 'BF16' as const, shape: [1], data: new Float32Array([3]) },
    ];
    const parts = encodeSafetensorsParts(tensors);
    expect(parts).toHaveLength(3);
    expect(parts.slice(1).map((p) => p.byteLength)).toEqual([8, 2]);
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
    let at = 0;
    for (const p of parts) {
      joined.set(p, at);
      at += p.byteLength;
    }
    expect(joined).toEqual(writeSafetensors(tensors));
  });

  it('refuses to write inconsistent tensors', () => {
    const ok = { name: 'a', dtype: 'F32' as const, shape: [2], data: new Float32Array(2) };
    expect(() => writeSafetensors([ok, ok])).toThrow(/appears twice/);
    expect(() => writeSafetensors([{ ...ok, data: new Float32Array(3) }])).toThrow(/2 elements, got 3/);
    expect(() => writeSafetensors([{ ...ok, data: new Uint8Array(7) }])).toThrow(/needs 8 bytes, got 7/);
    expect(() => writeSafetensors([{ ...ok, name: '__metadata__' }])).toThrow(ModelFormatError);
    expect(() => writeSafetensors([{ ...ok, dtype: 'I32' }])).toThrow(/pass raw bytes/);
    expect(() => writeSafetensors([{ ...ok, shape: [-2] }])).toThrow(/non-negative integers/);
    expect(() => writeSafetensors([{ ...ok, dtype: 'F99' as Dtype }])).toThrow(/unknown dtype/);
    expect(() => writeSafetensors([ok], { n: 1 as unknown as string })).toThrow(/must be a string/);
  });
});

describe('safetensors reader on hand-made files', () => {
  it('reads a file written the way the reference implementation writes it', async () => {
    // Compact JSON, __metadata__ first, space padding, tensors in offset order, one empty tensor.
    const json =
      '{"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},' +
      '"e":{"dtype":"F16","shape":[0,4],"data_offsets":[16,16]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[16,20]}}';
    const padded = json + ' '.repeat((8 - (json.length % 8)) % 8);
    const data = new Uint8Array(20);
    const view = new DataView(data.buffer);
    [1.5, -2, 0.25, 1e-3].forEach((v, i) => view.setFloat32(i * 4, v, true));
    view.setUint16(16, 0x3f80, true); // bf16 1.0
    view.setUint16(18, 0xc049, true); // bf16 -3.140625
    const bytes = rawFile(padded, data);
    const source = bytesSource(FILE, bytes);
    const header = await parseSafetensorsHeader(source);
    expect(header.headerLength).toBe(padded.length);
    expect(header.metadata).toEqual({ format: 'pt' });
    expect(header.tensors.get('w')).toEqual({ name: 'w', dtype: 'F32', shape: [2, 2], byteOffset: 8 + padded.length, byteLength: 16 });
    expect(header.tensors.get('e')!.byteLength).toBe(0);
    expect(Array.from(await readTensorAsF32(source, header.tensors.get('w')!))).toEqual([1.5, -2, 0.25, Math.fround(1e-3)]);
    expect(Array.from(await readTensorAsF32(source, header.tensors.get('b')!))).toEqual([1, -3.140625]);
    expect((await readTensorAsF32(source, header.tensors.get('e')!)).length).toBe(0);
  });

  it('accepts a file with no tensors and null metadata', async () => {
    const header = await parseSafetensorsHeader(bytesSource(FILE, rawFile({ __metadata__: null })));
    expect(header.tensors.size).toBe(0);
    expect(header.metadata).toEqual({});
  });

  it('works from a Blob the same as from memory', async () => {
    const file = writeSafetensors([{ name: 'x', dtype: 'F16', shape: [3], data: new Float32Array([1, 2, 3]) }]);
    const source = blobSource(new Blob([file as Uint8Array<ArrayBuffer>]), 'blob.safetensors');
    const header = await parseSafetensorsHeader(source);
    expect(Array.from(await readTensorAsF32(source, header.tensors.get('x')!))).toEqual([1, 2, 3]);
    await expect(source.read(file.byteLength - 2, 4)).rejects.toThrow(/outside the file/);
  });
});

describe('safetensors validation', () => {
  const f32 = (name: string, begin: number, count = 2) => ({
    [name]: { dtype: 'F32', shape: [count], data_offsets: [begin, begin + count * 4] },
  });

  it('refuses files shorter than 8 bytes', async () => {
    await expectFormatError(new Uint8Array(0), /0 bytes, too short/);
    await expectFormatError(new Uint8Array(7), /7 bytes, too short/);
  });

  it('refuses a header length over the cap, even one past 2^53', async () => {
    await expectFormatError(rawFile({}, new Uint8Array(0), BigInt(MAX_HEADER_BYTES) + 1n), /over the 100000000-byte limit/);
    await expectFormatError(rawFile({}, new Uint8Array(0), 0xffffffffffffffffn), /18446744073709551615 bytes/);
  });

  it('refuses a header length that runs past the end of the file', async () => {
    const good = rawFile(f32('a', 0), new Uint8Array(8));
    const lying = good.slice();
    new DataView(lying.buffer).setBigUint64(0, BigInt(good.byteLength), true);
    await expectFormatError(lying, /says \d+ bytes but only \d+ bytes follow/);
    await expectFormatError(good.subarray(0, 20), /truncated/);
  });

  it('refuses a header that is not UTF-8, not JSON or not an object', async () => {
    const notUtf8 = rawFile('{"a":1}');
    notUtf8[10] = 0xff;
    await expectFormatError(notUtf8, /not valid UTF-8/);
    await expectFormatError(rawFile('{"a": {"dtype": "F32",'), /not valid JSON/);
    await expectFormatError(rawFile(''), /not valid JSON/);
    await expectFormatError(rawFile('[1, 2]'), /must be a JSON object/);
    await expectFormatError(rawFile('"text"'), /must be a JSON object/);
    await expectFormatError(rawFile({ a: [1] }), /tensor 'a': entry must be an object/);
  });

  it('refuses entries with missing or mistyped fields', async () => {
    const entry = { dtype: 'F32', shape: [2], data_offsets: [0, 8] };
    const data = new Uint8Array(8);
    const without = (key: string) => Object.fromEntries(Object.entries(entry).filter(([k]) => k !== key));
    await expectFormatError(rawFile({ w: without('dtype') }, data), /tensor 'w': missing "dtype"/);
    await expectFormatError(rawFile({ w: without('shape') }, data), /tensor 'w': missing "shape"/);
    await expectFormatError(rawFile({ w: without('data_offsets') }, data), /tensor 'w': missing "data_offsets"/);
    await expectFormatError(rawFile({ w: { ...entry, dtype: 4 } }, data), /tensor 'w': "dtype" must be a string/);
    await expectFormatError(rawFile({ w: { ...entry, shape: 2 } }, data), /tensor 'w': "shape" must be an array/);
    await expectFormatError(rawFile({ w: { ...entry, shape: ['2'] } }, data), /tensor 'w'.*non-negative integers/);
    await expectFormatError(rawFile({ w: { ...entry, data_offsets: [0] } }, data), /tensor 'w': "data_offsets" must be/);
    await expectFormatError(rawFile({ w: { ...entry, data_offsets: [0, '8'] } }, data), /tensor 'w': "data_offsets" must be/);
    await expectFormatError(rawFile({ w: { ...entry, data_offsets: [-8, 0] } }, data), /tensor 'w': "data_offsets" must be/);
    await expectFormatError(rawFile({ w: { ...entry, data_offsets: [8, 0] } }, data), /tensor 'w'.*end before they begin/);
  });

  it('refuses negative and non-integer dimensions', async () => {
    const data = new Uint8Array(8);
    await expectFormatError(rawFile({ w: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data), /tensor 'w'.*has -2/);
    await expectFormatError(rawFile({ w: { dtype: 'F32', shape: [1.5, 2], data_offsets: [0, 8] } }, data), /tensor 'w'.*has 1.5/);
  });

  it('refuses unknown dtypes and names the known ones; sub-byte dtypes are unsupported', async () => {
    await expectFormatError(rawFile({ w: { dtype: 'F33', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)), /tensor 'w': unknown dtype 'F33'.*BF16/);
    await expectFormatError(rawFile({ w: { dtype: 'f32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(8)), /unknown dtype 'f32'/);
    const error = await errorOf(
      parseSafetensorsHeader(bytesSource(FILE, rawFile({ w: { dtype: 'F4', shape: [2], data_offsets: [0, 1] } }, new Uint8Array(1)))),
    );
    expect(error).toBeInstanceOf(UnsupportedModelError);
    expect(error.message).toMatch(/tensor 'w'.*F4/);
  });

  it('refuses offsets outside the data buffer', async () => {
    await expectFormatError(rawFile(f32('w', 0, 4), new Uint8Array(8)), /tensor 'w': data_offsets \[0, 16\] run past the end of the data buffer \(8 bytes\)/);
  });

  it('refuses a byte length that does not match shape × dtype size', async () => {
    await expectFormatError(
      rawFile({ w: { dtype: 'F16', shape: [2, 3], data_offsets: [0, 8] } }, new Uint8Array(8)),
      /tensor 'w': shape \[2, 3\] of F16 needs 12 bytes \(6 × 2\) but data_offsets \[0, 8\] hold 8/,
    );
    await expectFormatError(rawFile({ w: { dtype: 'F32', shape: [], data_offsets: [0, 8] } }, new Uint8Array(8)), /needs 4 bytes/);
  });

  it('refuses overlapping tensors', async () => {
    const header = { ...f32('a', 0), ...f32('b', 4) }; // a = [0, 8), b = [4, 12)
    await expectFormatError(rawFile(header, new Uint8Array(12)), /tensor 'b' data_offsets \[4, 12\] overlap tensor 'a' \[0, 8\]/);
    const aliased = { ...f32('a', 0), ...f32('b', 0) };
    await expectFormatError(rawFile(aliased, new Uint8Array(8)), /overlap/);
  });

  it('refuses holes: before the first tensor, between tensors, after the last', async () => {
    await expectFormatError(rawFile({ ...f32('a', 0), ...f32('b', 12) }, new Uint8Array(20)), /bytes \[8, 12\) .*between 'a' and 'b'/);
    await expectFormatError(rawFile(f32('a', 4), new Uint8Array(12)), /bytes \[0, 4\) .*before 'a'/);
    await expectFormatError(rawFile(f32('a', 0), new Uint8Array(12)), /4 bytes after the last tensor \('a'/);
    await expectFormatError(rawFile({}, new Uint8Array(4)), /4 bytes after the last tensor/);
  });

  it('accepts tensors listed out of offset order as long as they tile the buffer', async () => {
    const header = await parseSafetensorsHeader(bytesSource(FILE, rawFile({ ...f32('b', 8), ...f32('a', 0) }, new Uint8Array(16))));
    expect(header.tensors.get('b')!.byteOffset - header.tensors.get('a')!.byteOffset).toBe(8);
  });

  it('refuses __metadata__ that is not an object of strings', async () => {
    await expectFormatError(rawFile({ __metadata__: { format: 'pt', step: 3 } }), /"__metadata__" entry 'step' must be a string/);
    await expectFormatError(rawFile({ __metadata__: ['pt'] }), /"__metadata__" must be an object/);
  });

  it('refuses to read a tensor past the end of a (replaced) file', async () => {
    const file = writeSafetensors([{ name: 'x', dtype: 'F32', shape: [4], data: new Float32Array(4) }]);
    const header = await parseSafetensorsHeader(bytesSource(FILE, file));
    const shorter = bytesSource(FILE, file.subarray(0, file.byteLength - 4));
    await expect(readTensorAsF32(shorter, header.tensors.get('x')!)).rejects.toThrow(/tensor 'x' lies at bytes .* past the end/);
  });
});

describe('chunked tensor reads', () => {
  it('reads in chunks of whole elements and never more than asked', async () => {
    const values = Float32Array.from({ length: 37 }, (_, i) => i * 0.5 - 3);
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const file = writeSafetensors([{ name: 'x', dtype, shape: [37], data: values }]);
      const source = countingSource(file);
      const header = await parseSafetensorsHeader(source);
      source.reads.length = 0;
      const out = await readTensorAsF32(source, header.tensors.get('x')!, { chunkBytes: 10 });
      expect(Array.from(out)).toEqual(Array.from(values)); // all exactly representable in bf16/f16
      const size = DTYPE_BYTES[dtype];
      const perChunk = Math.floor(10 / size) * size;
      expect(source.reads.length).toBe(Math.ceil((37 * size) / perChunk));
      for (const [, length] of source.reads) expect(length).toBeLessThanOrEqual(perChunk);
    }
  });

  it('fills a caller-provided array and checks its length', async () => {
    const file = writeSafetensors([{ name: 'x', dtype: 'BF16', shape: [3], data: new Float32Array([1, 2, 4]) }]);
    const source = bytesSource(FILE, file);
    const info = (await parseSafetensorsHeader(source)).tensors.get('x')!;
    const backing = new Float32Array(5);
    const out = new Float32Array(backing.buffer, 4, 3);
    await readTensorAsF32(source, info, { out, chunkBytes: 2 });
    expect(Array.from(backing)).toEqual([0, 1, 2, 4, 0]);
    await expect(readTensorAsF32(source, info, { out: new Float32Array(2) })).rejects.toThrow(InternalError);
  });
});

describe('f16 conversion', () => {
  it('decodes known bit patterns, subnormals, infinities and NaN', () => {
    expect(f16BitsToF32(0x3c00)).toBe(1);
    expect(f16BitsToF32(0xc000)).toBe(-2);
    expect(f16BitsToF32(0x3555)).toBe(0.333251953125);
    expect(f16BitsToF32(0x7bff)).toBe(65504);
    expect(f16BitsToF32(0x0400)).toBe(2 ** -14);
    expect(f16BitsToF32(0x0001)).toBe(2 ** -24);
    expect(f16BitsToF32(0x03ff)).toBe(1023 * 2 ** -24);
    expect(f16BitsToF32(0x8001)).toBe(-(2 ** -24));
    expect(f16BitsToF32(0x7c00)).toBe(Infinity);
    expect(f16BitsToF32(0xfc00)).toBe(-Infinity);
    expect(Number.isNaN(f16BitsToF32(0x7e00))).toBe(true);
    expect(Number.isNaN(f16BitsToF32(0x7c01))).toBe(true);
    expect(Object.is(f16BitsToF32(0x8000), -0)).toBe(true);
  });

  it('decodes every f16 to the exact value sign · 2^e · mantissa', () => {
    for (let h = 0; h < 0x10000; h++) {
      const exp = (h >> 10) & 0x1f;
      const mant = h & 0x3ff;
      if (exp === 0x1f) continue;
      const magnitude = exp === 0 ? mant * 2 ** -24 : (1 + mant / 1024) * 2 ** (exp - 15);
      const value = h & 0x8000 ? -magnitude : magnitude;
      if (!Object.is(f16BitsToF32(h), value)) throw new Error(`f16 0x${h.toString(16)} decoded wrong`);
    }
  });

  it('encodes every finite f16 value back to its own bits', () => {
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0) continue; // NaN
      if (f32ToF16Bits(f16BitsToF32(h)) !== h) throw new Error(`f16 0x${h.toString(16)} did not round-trip`);
    }
  });

  it('rounds halfway cases to even, including subnormals and the overflow edge', () => {
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie, 0x3c00 even
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02); // tie, 0x3c01 odd → up
    expect(f32ToF16Bits(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // just above the tie
    expect(f32ToF16Bits(65519)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // tie between 65504 and 2^16: even is Inf
    expect(f32ToF16Bits(-1e6)).toBe(0xfc00);
    expect(f32ToF16Bits(2 ** -25)).toBe(0x0000); // tie between 0 and the smallest subnormal
    expect(f32ToF16Bits(-(2 ** -25))).toBe(0x8000);
    expect(f32ToF16Bits(2 ** -25 * 1.0001)).toBe(0x0001);
    expect(f32ToF16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2 units: even
    expect(f32ToF16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // rounds up from subnormal into the smallest normal
    expect(f32ToF16Bits(1e-30)).toBe(0);
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    const nan = f32ToF16Bits(NaN);
    expect(nan & 0x7c00).toBe(0x7c00);
    expect(nan & 0x3ff).not.toBe(0);
    // Values checked against numpy's float32 → float16 cast.
    expect(f32ToF16Bits(0.1)).toBe(0x2e66);
    expect(f32ToF16Bits(Math.PI)).toBe(0x4248);
    expect(f32ToF16Bits(-123.456)).toBe(0xd7b7);
    expect(f32ToF16Bits(6e-6)).toBe(0x0065);
    // Every midpoint between neighbouring finite f16 values goes to the even neighbour.
    for (let h = 0; h < 0x7bff; h++) {
      const mid = (f16BitsToF32(h) + f16BitsToF32(h + 1)) / 2; // exact in f32
      const even = h % 2 === 0 ? h : h + 1;
      if (f32ToF16Bits(mid) !== even) throw new Error(`midpoint after 0x${h.toString(16)} rounded wrong`);
    }
  });

  it('matches a brute-force nearest-value reference on random f32 inputs', () => {
    const positives: number[] = [];
    for (let h = 0; h <= 0x7bff; h++) positives.push(f16BitsToF32(h));
    let s = 12345;
    for (let trial = 0; trial < 20000; trial++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      const x = f32FromBits((s & 0x807fffff) | ((((s >>> 23) & 0x1f) + 100) << 23)); // exponents 2^-27 .. 2^4
      const a = Math.abs(x);
      let lo = 0;
      let hi = positives.length - 1;
      while (hi - lo > 1) {
        const m = (lo + hi) >> 1;
        if (positives[m]! <= a) lo = m;
        else hi = m;
      }
      const dLo = a - positives[lo]!;
      const dHi = positives[hi]! - a;
      const nearest = dLo < dHi ? lo : dHi < dLo ? hi : lo % 2 === 0 ? lo : hi;
      const expected = (x < 0 || Object.is(x, -0) ? 0x8000 : 0) | nearest;
      if (f32ToF16Bits(x) !== expected) throw new Error(`f32 ${x} encoded to 0x${f32ToF16Bits(x).toString(16)}, expected 0x${expected.toString(16)}`);
    }
  });
});

describe('bf16 conversion', () => {
  it('decodes as the upper half of an f32', () => {
    expect(bf16BitsToF32(0x3f80)).toBe(1);
    expect(bf16BitsToF32(0x4049)).toBe(3.140625);
    expect(bf16BitsToF32(0xc000)).toBe(-2);
    expect(bf16BitsToF32(0x7f80)).toBe(Infinity);
    expect(bf16BitsToF32(0x0001)).toBe(f32FromBits(0x00010000)); // f32 subnormal
    expect(Number.isNaN(bf16BitsToF32(0x7fc0))).toBe(true);
    expect(Object.is(bf16BitsToF32(0x8000), -0)).toBe(true);
  });

  it('rounds to nearest even', () => {
    expect(f32ToBf16Bits(Math.PI)).toBe(0x4049); // 0x40490fdb: below half
    expect(f32ToBf16Bits(f32FromBits(0x3f808000))).toBe(0x3f80); // tie, even stays
    expect(f32ToBf16Bits(f32FromBits(0x3f818000))).toBe(0x3f82); // tie, odd goes up
    expect(f32ToBf16Bits(f32FromBits(0x3f808001))).toBe(0x3f81); // above the tie
    expect(f32ToBf16Bits(f32FromBits(0x7f7fffff))).toBe(0x7f80); // largest f32 rounds to Inf
    expect(f32ToBf16Bits(-0)).toBe(0x8000);
    expect(f32ToBf16Bits(-Infinity)).toBe(0xff80);
    const nan = f32ToBf16Bits(NaN);
    expect(nan & 0x7f80).toBe(0x7f80);
    expect(nan & 0x7f).not.toBe(0);
    // A NaN whose payload sits only in the low 16 bits must stay NaN, not become Inf.
    expect(f32ToBf16Bits(f32FromBits(0x7f800001)) & 0x7f).not.toBe(0);
  });

  it('round-trips every bf16 value and matches truncation-with-rounding on random inputs', () => {
    for (let b = 0; b < 0x10000; b++) {
      if ((b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0) continue;
      if (f32ToBf16Bits(bf16BitsToF32(b)) !== b) throw new Error(`bf16 0x${b.toString(16)} did not round-trip`);
    }
    let s = 99;
    for (let trial = 0; trial < 20000; trial++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const x = f32FromBits(s & 0xbfffffff); // finite, below 2^64 in magnitude
      const lo = s & 0xbfff0000;
      const down = f32FromBits(lo);
      const up = f32FromBits(lo + 0x10000);
      const dd = Math.abs(x - down);
      const du = Math.abs(up - x);
      const expected = (dd < du ? lo : du < dd ? lo + 0x10000 : (lo >>> 16) % 2 === 0 ? lo : lo + 0x10000) >>> 16;
      if (f32ToBf16Bits(x) !== expected) throw new Error(`bits 0x${f32Bits(x).toString(16)} rounded wrong`);
    }
  });
});
