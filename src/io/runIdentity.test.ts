import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { bytesSource } from './byteSource';
import { parseSafetensorsHeader, writeSafetensors } from './safetensors';
import { sameData, sameModel, textHash, weightsFingerprint } from './runIdentity';
import { Sha256, sha256Hex } from './sha256';

function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const nodeSha = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

describe('sha256', () => {
  it('matches node:crypto on random inputs of odd sizes and around the padding boundaries', () => {
    for (const n of [0, 1, 7, 33, 55, 56, 57, 63, 64, 65, 100, 119, 120, 1000, 70_001]) {
      const bytes = randomBytes(n, n + 11);
      expect(sha256Hex(bytes), `${n} bytes`).toBe(nodeSha(bytes));
    }
  });

  it('gives the same digest fed in pieces of any size', () => {
    const bytes = randomBytes(1000, 3);
    for (const piece of [1, 7, 33, 64, 100]) {
      const h = new Sha256();
      for (let at = 0; at < bytes.length; at += piece) h.update(bytes.subarray(at, at + piece));
      expect(h.hex(), `pieces of ${piece}`).toBe(nodeSha(bytes));
    }
  });
});

describe('run identity', () => {
  it('hashes text as UTF-8 with each part ended, across chunk boundaries and surrogate pairs', () => {
    expect(textHash('héllo', '')).toBe(nodeSha(Buffer.concat([Buffer.from('héllo\0'), Buffer.from('\0')])));
    expect(textHash('ab', '')).not.toBe(textHash('a', 'b'));
    // A long text with an emoji straddling the 1M-character chunk edge.
    const long = `${'x'.repeat((1 << 20) - 1)}😀${'y'.repeat(10)}`;
    expect(textHash(long)).toBe(nodeSha(Buffer.from(`${long}\0`, 'utf8')));
  });

  it('fingerprints a safetensors file by its header and sampled data: a changed weight changes it, a renamed file does not', async () => {
    const bytes = new Uint8Array(readFileSync('test/fixtures/tiny-llama/model.safetensors'));
    const file = bytesSource('a/model.safetensors', bytes);
    const header = await parseSafetensorsHeader(file);
    const fp = await weightsFingerprint([{ source: file, header }]);
    expect(fp).toMatch(/^[0-9a-f]{64}$/);
    expect(await weightsFingerprint([{ source: bytesSource('b/model.safetensors', bytes), header }])).toBe(fp);
    // Flip a byte the 16 samples cover (the start of the data): a different checkpoint.
    const changed = bytes.slice();
    changed[8 + header.headerLength] = changed[8 + header.headerLength]! ^ 1;
    expect(await weightsFingerprint([{ source: bytesSource('a/model.safetensors', changed), header }])).not.toBe(fp);
    // A small file (data under 16 × 4 KiB) is hashed whole.
    const small = writeSafetensors([{ name: 'w', dtype: 'F32', shape: [7, 33], data: new Float32Array(231).map((_, i) => Math.sin(i)) }]);
    const smallHeader = await parseSafetensorsHeader(bytesSource('m', small));
    expect(await weightsFingerprint([{ source: bytesSource('m', small), header: smallHeader }])).toBe(nodeSha(small));
  });

  it('compares models by fingerprint when both have one, else by name and shape; data by hash, else name', () => {
    const m = { name: 'm', layers: 2, hidden: 8, vocab: 10 };
    expect(sameModel({ ...m, fingerprint: 'a' }, { ...m, name: 'renamed', fingerprint: 'a' })).toBe(true);
    expect(sameModel({ ...m, fingerprint: 'a' }, { ...m, fingerprint: 'b' })).toBe(false);
    expect(sameModel(m, { ...m, fingerprint: 'b' })).toBe(true);
    expect(sameModel(m, { ...m, hidden: 16 })).toBe(false);
    const d = { name: 'd', train: 9, validation: 1 };
    expect(sameData({ ...d, hash: 'x' }, { ...d, train: 8, hash: 'x' })).toBe(true);
    expect(sameData({ ...d, hash: 'x' }, { ...d, hash: 'y' })).toBe(false);
    expect(sameData(d, { ...d, name: 'e' })).toBe(false);
  });
});
