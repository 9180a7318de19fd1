import { describe, expect, it } from 'vitest';
import { crc32, dosDateTime, zipBytes } from './zip';

const enc = new TextEncoder();

/** A reader written from APPNOTE for the test only: walks the central directory. */
function readZip(bytes: Uint8Array): { name: string; data: Uint8Array; crc: number }[] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const eocd = bytes.length - 22;
  expect(v.getUint32(eocd, true)).toBe(0x06054b50);
  const count = v.getUint16(eocd + 10, true);
  let at = v.getUint32(eocd + 16, true);
  const out = [];
  for (let i = 0; i < count; i++) {
    expect(v.getUint32(at, true)).toBe(0x02014b50);
    expect(v.getUint16(at + 10, true)).toBe(0); // stored
    const crc = v.getUint32(at + 16, true);
    const size = v.getUint32(at + 24, true);
    const nameLen = v.getUint16(at + 28, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLen));
    const local = v.getUint32(at + 42, true);
    expect(v.getUint32(local, true)).toBe(0x04034b50);
    const localName = v.getUint16(local + 26, true);
    const start = local + 30 + localName + v.getUint16(local + 28, true);
    out.push({ name, data: bytes.subarray(start, start + size), crc });
    at += 46 + nameLen;
  }
  return out;
}

describe('crc32', () => {
  it('matches the standard check values', () => {
    expect(crc32(enc.encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array())).toBe(0);
    expect(crc32(enc.encode('The quick brown fox jumps over the lazy dog'))).toBe(0x414fa339);
  });
});

describe('zip', () => {
  it('stores files that read back byte for byte with their CRCs', () => {
    const big = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff);
    const files = [
      { name: 'adapter/adapter_config.json', data: enc.encode('{"r": 8}\n') },
      { name: 'adapter/adapter_model.safetensors', data: big },
      { name: 'empty.txt', data: new Uint8Array() },
      { name: 'ünïcødé.md', data: enc.encode('# hi') },
    ];
    const zip = zipBytes(files, new Date(2024, 4, 17, 13, 45, 10));
    const back = readZip(zip);
    expect(back.map((f) => f.name)).toEqual(files.map((f) => f.name));
    back.forEach((f, i) => {
      expect([...f.data]).toEqual([...files[i]!.data]);
      expect(f.crc).toBe(crc32(files[i]!.data));
    });
    const sizes = files.reduce((n, f) => n + 30 + enc.encode(f.name).length + f.data.length + 46 + enc.encode(f.name).length, 22);
    expect(zip.length).toBe(sizes);
  });

  it('refuses empty and repeated names', () => {
    expect(() => zipBytes([{ name: '', data: new Uint8Array() }])).toThrow(/needs a name/);
    expect(() =>
      zipBytes([
        { name: 'a', data: new Uint8Array() },
        { name: '/a', data: new Uint8Array() },
      ]),
    ).toThrow(/twice/);
  });

  it('writes only entry names that stay inside the folder the zip is unpacked into', () => {
    const names = readZip(
      zipBytes([
        { name: '../../.bashrc', data: enc.encode('x') },
        { name: '/etc/cron.d/job', data: enc.encode('y') },
        { name: 'adapter\u202egnp.exe/..\\..\\w\u0000.bin', data: enc.encode('z') },
      ]),
    ).map((e) => e.name);
    expect(names).toEqual(['.bashrc', 'etc/cron.d/job', 'adaptergnp.exe/w.bin']);
    for (const n of names) expect(n).not.toMatch(/(^|\/)\.\.(\/|$)|^\/|[\u0000-\u001f]/);
  });

  it('writes an empty archive as just the end record', () => {
    expect(zipBytes([]).length).toBe(22);
  });

  it('encodes DOS dates', () => {
    const { time, date } = dosDateTime(new Date(2024, 4, 17, 13, 45, 10));
    expect(date).toBe(((2024 - 1980) << 9) | (5 << 5) | 17);
    expect(time).toBe((13 << 11) | (45 << 5) | 5);
  });
});
