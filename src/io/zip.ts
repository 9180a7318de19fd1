// A minimal ZIP writer: STORE only (no compression), so an export folder (a PEFT adapter, a
// merged model) downloads as one file without a dependency. Safetensors weights barely compress,
// and storing keeps the writer a few dozen lines that any unzip, Python's zipfile and Windows
// Explorer read.
//
// Layout (APPNOTE.TXT 6.3.x): for each file a local header (30 bytes + name) then its bytes;
// then a central directory entry per file (46 bytes + name); then the end-of-central-directory
// record (22 bytes). Names are UTF-8 (general-purpose flag bit 11). CRC-32 is the IEEE
// polynomial 0xEDB88320 (reflected), table-driven.
//
// Not here: compression, ZIP64 (archives or files of 4 GiB and more are refused with a message),
// reading archives.

import { safeZipPath } from './safeName';
import { InternalError, UnsupportedError } from '../errors';
import { concatBytes } from './byteSource';

export interface ZipEntry {
  /** Path inside the archive, '/'-separated (e.g. "lora-adapter/adapter_config.json"). */
  readonly name: string;
  readonly data: Uint8Array;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3, as ZIP and PNG use it) of `data`. */
export function crc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** MS-DOS time and date words of a local time (2-second resolution, years 1980–2107). */
export function dosDateTime(date: Date): { time: number; date: number } {
  const year = Math.min(2107, Math.max(1980, date.getFullYear()));
  return {
    time: (date.getHours() << 11) | (date.getMinutes() << 5) | Math.floor(date.getSeconds() / 2),
    date: ((year - 1980) << 9) | ((date.getMonth() + 1) << 5) | date.getDate(),
  };
}

const LIMIT = 0xffffffff;
const UTF8_FLAG = 1 << 11;
const encoder = new TextEncoder();

/**
 * The archive as parts to hand to `new Blob(parts)` (file bytes are not copied).
 * Throws when a name is empty or repeated, or the archive would need ZIP64.
 */
export function zipParts(entries: readonly ZipEntry[], modified: Date = new Date()): Uint8Array[] {
  const { time, date } = dosDateTime(modified);
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const entry of entries) {
    const name = safeZipPath(entry.name);
    if (!name) throw new InternalError('a zip entry needs a name');
    if (seen.has(name)) throw new InternalError(`the zip would hold "${name}" twice`);
    seen.add(name);
    const nameBytes = encoder.encode(name);
    const size = entry.data.byteLength;
    if (size >= LIMIT || offset >= LIMIT)
      throw new UnsupportedError(`"${name}" does not fit a zip without ZIP64 (4 GiB limit); download the files one by one instead`);
    const crc = crc32(entry.data);

    const local = new Uint8Array(30 + nameBytes.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true); // local file header signature
    l.setUint16(4, 20, true); // version needed: 2.0
    l.setUint16(6, UTF8_FLAG, true);
    l.setUint16(8, 0, true); // method: stored
    l.setUint16(10, time, true);
    l.setUint16(12, date, true);
    l.setUint32(14, crc, true);
    l.setUint32(18, size, true); // compressed size
    l.setUint32(22, size, true); // uncompressed size
    l.setUint16(26, nameBytes.length, true);
    l.setUint16(28, 0, true); // extra field length
    local.set(nameBytes, 30);

    const dir = new Uint8Array(46 + nameBytes.length);
    const d = new DataView(dir.buffer);
    d.setUint32(0, 0x02014b50, true); // central directory signature
    d.setUint16(4, 20, true); // version made by
    d.setUint16(6, 20, true); // version needed
    d.setUint16(8, UTF8_FLAG, true);
    d.setUint16(10, 0, true);
    d.setUint16(12, time, true);
    d.setUint16(14, date, true);
    d.setUint32(16, crc, true);
    d.setUint32(20, size, true);
    d.setUint32(24, size, true);
    d.setUint16(28, nameBytes.length, true);
    // extra, comment, disk number, internal attributes, external attributes: 0
    d.setUint32(42, offset, true); // offset of the local header
    dir.set(nameBytes, 46);

    parts.push(local, entry.data);
    central.push(dir);
    offset += local.length + size;
  }
  const dirSize = central.reduce((n, c) => n + c.length, 0);
  if (entries.length > 0xffff || offset + dirSize >= LIMIT)
    throw new UnsupportedError('the zip would need ZIP64 (over 65535 files or 4 GiB); download the files one by one instead');
  const end = new Uint8Array(22);
  const e = new DataView(end.buffer);
  e.setUint32(0, 0x06054b50, true);
  e.setUint16(8, entries.length, true); // entries on this disk
  e.setUint16(10, entries.length, true); // entries in all
  e.setUint32(12, dirSize, true);
  e.setUint32(16, offset, true); // where the central directory starts
  return [...parts, ...central, end];
}

/** The whole archive in one buffer (tests, small exports). */
export function zipBytes(entries: readonly ZipEntry[], modified?: Date): Uint8Array {
  return concatBytes(zipParts(entries, modified));
}
