// What a run was trained on, as plain data a saved run carries: the model (its name, a
// fingerprint of its weight files, its shape) and the data (its name, a hash of its text, the
// split sizes). Computed where the bytes are (the worker's model and data loads) and compared on
// the page, so a chart is never shown as if it came from the model that is loaded now.
//
// The fingerprint is SHA-256 over each safetensors file's header (tensor names, dtypes, shapes,
// offsets) and 16 samples of 4 KiB spread over its tensor data: two checkpoints of one
// architecture have the same header, and the samples tell them apart without reading gigabytes.

import type { ByteSource } from './byteSource';
import { Sha256 } from './sha256';

export interface ModelIdentity {
  /** As the model card shows it: "kjv-llama-1m (built-in)" or the dropped folder's name. */
  readonly name: string;
  /** 64 hex digits (weightsFingerprint); absent in runs saved before fingerprints. */
  readonly fingerprint?: string;
  /** L, C, V. */
  readonly layers: number;
  readonly hidden: number;
  readonly vocab: number;
}

export interface DataIdentity {
  readonly name: string;
  /** 64 hex digits (textHash of the training text and the data's own validation text). */
  readonly hash?: string;
  /** Rows after the split. */
  readonly train: number;
  readonly validation: number;
}

const SAMPLES = 16;
const SAMPLE_BYTES = 4096;

/** Each file's header, then 16 × 4 KiB spread over its data (all of it when smaller), in order: the bytes a weights fingerprint hashes. */
export async function* weightFileSamples(
  files: readonly { readonly source: ByteSource; readonly header: { readonly headerLength: number } }[],
): AsyncGenerator<Uint8Array> {
  for (const { source, header } of files) {
    const dataOffset = 8 + header.headerLength;
    yield await source.read(0, dataOffset);
    const dataBytes = source.size - dataOffset;
    if (dataBytes <= SAMPLES * SAMPLE_BYTES) {
      if (dataBytes > 0) yield await source.read(dataOffset, dataBytes);
      continue;
    }
    const stride = Math.floor((dataBytes - SAMPLE_BYTES) / (SAMPLES - 1));
    for (let i = 0; i < SAMPLES; i++) yield await source.read(dataOffset + i * stride, SAMPLE_BYTES);
  }
}

/** SHA-256 of weightFileSamples. `headerLength` is N of the file's u64 length prefix. */
export async function weightsFingerprint(
  files: readonly { readonly source: ByteSource; readonly header: { readonly headerLength: number } }[],
): Promise<string> {
  const hash = new Sha256();
  for await (const bytes of weightFileSamples(files)) hash.update(bytes);
  return hash.hex();
}

const CHUNK = 1 << 20;

/** SHA-256 of the texts' UTF-8, each part ended by a NUL (so ["ab", ""] and ["a", "b"] differ). Encoded in 1M-character chunks. */
export function textHash(...parts: readonly string[]): string {
  const hash = new Sha256();
  const encoder = new TextEncoder();
  const nul = new Uint8Array(1);
  for (const text of parts) {
    for (let at = 0; at < text.length;) {
      let end = Math.min(text.length, at + CHUNK);
      // Never split a surrogate pair between two chunks.
      const last = text.charCodeAt(end - 1);
      if (end < text.length && last >= 0xd800 && last <= 0xdbff) end++;
      hash.update(encoder.encode(text.slice(at, end)));
      at = end;
    }
    hash.update(nul);
  }
  return hash.hex();
}

/** The first 12 hex digits, for display. */
export function shortHash(hash: string | undefined): string {
  return hash ? hash.slice(0, 12) : 'no hash';
}

/** Whether two identities name the same model: by fingerprint when both have one, else by name and shape. */
export function sameModel(a: ModelIdentity, b: ModelIdentity): boolean {
  if (a.fingerprint && b.fingerprint) return a.fingerprint === b.fingerprint;
  return a.name === b.name && a.layers === b.layers && a.hidden === b.hidden && a.vocab === b.vocab;
}

/** Whether two identities name the same data: by text hash when both have one, else by name. Split sizes follow settings, so they are not compared. */
export function sameData(a: DataIdentity, b: DataIdentity): boolean {
  if (a.hash && b.hash) return a.hash === b.hash;
  return a.name === b.name;
}

/** "kjv-llama-1m (built-in) · L 4, C 128, V 1024 · 3f9a0c12d4e5". */
export function describeModel(m: ModelIdentity): string {
  return `${m.name} · L ${m.layers}, C ${m.hidden}, V ${m.vocab} · ${shortHash(m.fingerprint)}`;
}

/** "math (built-in) · 900 train / 100 validation rows · 0c1d2e3f4a5b". */
export function describeData(d: DataIdentity): string {
  return `${d.name} · ${d.train} train / ${d.validation} validation rows · ${shortHash(d.hash)}`;
}
