// Packing (io/datasets.ts packBatches + createBatcher, train/packing.ts, train/runData.ts): whole
// examples placed first-fit in data order, exact ids, targets and EOS positions in a packed row,
// an example longer than the row, empty data, the padding counts against a direct count over the
// batches, and a run's batches with packing on (validation unpacked, every example trained once).

import { describe, expect, it } from 'vitest';
import { IGNORE_INDEX, createBatcher, packBatches, type TokenizedExample } from '../io/datasets';
import { DatasetError } from '../errors';
import { packingSummary, packingText, paddingSaved, paddingShare } from './packing';
import { runData } from './runData';

const EOS = 2;
const PAD = 0;

/** An example of `prompt` uncounted then `completion` counted tokens, ending with EOS (counted), as tokenizeExamples renders it. */
function example(prompt: number[], completion: number[]): { ids: number[]; lossMask: boolean[] } {
  const ids = [...prompt, ...completion, EOS];
  return { ids, lossMask: ids.map((_, i) => i >= prompt.length) };
}

const ofLength = (n: number, base = 10): { ids: number[]; lossMask: boolean[] } =>
  example(
    [base],
    Array.from({ length: n - 2 }, (_, i) => base + 1 + i),
  );

/** A small seeded generator for the property tests. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('packBatches (first-fit in data order)', () => {
  it('puts each example into the first row that still has room', () => {
    const lengths = [6, 5, 2, 3, 1];
    const examples = lengths.map((n) => ofLength(n));
    // 6 → row 0; 5 → row 1; 2 → row 0 (full: 8); 3 → row 1 (full: 8); 1 → a new row. Next-fit would leave row 0 at 6.
    expect(packBatches(examples, 8, true)).toEqual([[0, 2], [1, 3], [4]]);
    expect(packBatches(examples, 8, false)).toEqual([[0], [1], [2], [3], [4]]);
  });

  it('gives an example longer than the row a row of its own, cut to T', () => {
    const examples = [ofLength(3), { ids: Array.from({ length: 11 }, (_, i) => 40 + i), lossMask: Array<boolean>(11).fill(true) }, ofLength(4)];
    expect(packBatches(examples, 7, true)).toEqual([[0, 2], [1]]);
    const batcher = createBatcher(examples, { batchSize: 2, seqLen: 7, seed: 0, packing: true, shuffle: false, padId: PAD });
    const b = batcher.batch(0);
    expect(Array.from(b.ids.slice(7, 14))).toEqual([40, 41, 42, 43, 44, 45, 46]);
    // The cut example's last kept token has no next token in the row: it predicts nothing.
    expect(Array.from(b.targets.slice(7, 14))).toEqual([41, 42, 43, 44, 45, 46, IGNORE_INDEX]);
    expect(batcher.fill).toBeCloseTo((3 + 4 + 7) / 14);
  });

  it('returns no rows for no examples, and the batcher refuses them with a DatasetError', () => {
    expect(packBatches([], 8, true)).toEqual([]);
    const s = packingSummary([], 8);
    expect([s.rowsUnpacked, s.rowsPacked, s.paddingUnpacked, s.paddingPacked, paddingShare(s, true)]).toEqual([0, 0, 0, 0, 0]);
    expect(() => createBatcher([], { batchSize: 1, seqLen: 8, seed: 0, packing: true })).toThrow(DatasetError);
  });

  it('places every example exactly once, whole, first-fit, for odd lengths and row sizes', () => {
    for (const T of [7, 33, 100]) {
      const random = lcg(T);
      const lengths = Array.from({ length: 101 }, () => 1 + Math.floor(random() * (T + 3)));
      const examples = lengths.map((n) => ({ ids: Array<number>(n).fill(5), lossMask: Array<boolean>(n).fill(true) }));
      const rows = packBatches(examples, T, true);
      expect(rows.flat().sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
      const used = rows.map((row) => row.reduce((n, i) => n + Math.min(lengths[i]!, T), 0));
      used.forEach((u) => expect(u).toBeLessThanOrEqual(T));
      // First-fit: replaying data order, each example's row is the first started row with room at that time.
      const replay: number[] = [];
      const rowOf = new Map(rows.flatMap((row, r) => row.map((i) => [i, r] as const)));
      lengths.forEach((n, i) => {
        const length = Math.min(n, T);
        const first = replay.findIndex((u) => u + length <= T);
        const expected = first < 0 ? replay.length : first;
        expect(rowOf.get(i)).toBe(expected);
        if (first < 0) replay.push(length);
        else replay[first]! += length;
      });
    }
  });
});

describe('packed batches', () => {
  it('keeps each example’s ids, loss mask and EOS exact, and no target crosses into the next example', () => {
    const a = example([101, 102], [103, 104]); // 5 tokens: P P C C EOS
    const b = example([201], [202]); // 3 tokens: P C EOS
    const c = example([301, 302, 303], [304]); // 5 tokens
    const batcher = createBatcher([a, b, c], { batchSize: 2, seqLen: 9, seed: 0, packing: true, shuffle: false, padId: PAD });
    expect(batcher.rows).toEqual([[0, 1], [2]]);
    const batch = batcher.batch(0);
    const X = IGNORE_INDEX;
    expect(Array.from(batch.ids)).toEqual([101, 102, 103, 104, EOS, 201, 202, EOS, PAD, 301, 302, 303, 304, EOS, PAD, PAD, PAD, PAD]);
    // Row 0: a's prompt predicts nothing until its last prompt token predicts 103; EOS (position 4)
    // is predicted by 104 and itself predicts nothing (not b's first token); then b's prompt → 202 → EOS.
    expect(Array.from(batch.targets)).toEqual([X, 103, 104, EOS, X, 202, EOS, X, X, X, X, 304, EOS, X, X, X, X, X]);
    expect(batch.countedTokens).toBe(3 + 2 + 2);
    expect(batch.tokens).toBe(5 + 3 + 5);
  });

  it('trains every counted token once per epoch, the same tokens as unpacked, in fewer rows', () => {
    const random = lcg(7);
    const examples = Array.from({ length: 33 }, (_, k) => {
      const prompt = Array.from({ length: 1 + Math.floor(random() * 5) }, (_, i) => 1000 + 10 * k + i);
      const completion = Array.from({ length: 1 + Math.floor(random() * 6) }, (_, i) => 5000 + 10 * k + i);
      return example(prompt, completion);
    });
    const T = 33;
    const epochTargets = (packing: boolean): number[] => {
      const batcher = createBatcher(examples, { batchSize: 1, seqLen: T, seed: 3, packing, shuffle: false, padId: PAD });
      const out: number[] = [];
      for (let step = 0; step < batcher.rows.length; step++) for (const t of batcher.batch(step).targets) if (t !== IGNORE_INDEX) out.push(t);
      return out.sort((x, y) => x - y);
    };
    expect(epochTargets(true)).toEqual(epochTargets(false));
    const s = packingSummary(examples, T);
    expect(s.rowsPacked).toBe(packBatches(examples, T, true).length);
    expect(s.rowsPacked).toBeLessThan(s.rowsUnpacked);
  });

  it('counts padding as the batches hold it', () => {
    const examples = [3, 7, 1, 33, 12, 5, 9].map((n, i) => ofLength(Math.max(n, 2), 100 * i));
    const T = 13;
    const s = packingSummary(examples, T);
    for (const packing of [false, true]) {
      const batcher = createBatcher(examples, { batchSize: 1, seqLen: T, seed: 1, packing, shuffle: false, padId: PAD });
      let padding = 0;
      for (let step = 0; step < batcher.rows.length; step++) padding += T - batcher.batch(step).tokens;
      expect(padding).toBe(packing ? s.paddingPacked : s.paddingUnpacked);
      expect(paddingShare(s, packing)).toBeCloseTo(1 - batcher.fill, 12);
    }
    expect(paddingSaved(s)).toBe(s.paddingUnpacked - s.paddingPacked);
    expect(packingText(s)).toContain(`${s.rowsUnpacked} → ${s.rowsPacked} rows of 13`);
  });
});

describe('runData with packing', () => {
  const examples: TokenizedExample[] = Array.from({ length: 40 }, (_, i) => {
    const e = ofLength(2 + (i % 9), 100 * i);
    return { ...e, fullLength: e.ids.length, line: i + 1, format: 'text', promptText: '', completionText: '', segments: [] };
  });
  const options = { batch: 4, seqLen: 17, seed: 5, validationFraction: 0.2 };

  it('packs the training rows only: validation batches and the split are those of an unpacked run', () => {
    const plain = runData(examples, null, PAD, options);
    const packed = runData(examples, null, PAD, { ...options, packing: true });
    expect(packed.train).toEqual(plain.train);
    expect(packed.validationBatches).toEqual(plain.validationBatches);
    expect(packed.batcher.rows.length).toBe(packed.packing.rowsPacked);
    expect(plain.batcher.rows.length).toBe(plain.packing.rowsUnpacked);
    expect(packed.batcher.stepsPerEpoch).toBeLessThan(plain.batcher.stepsPerEpoch);
  });

  it('gives every method the same batches: a pure function of the data, seed and step', () => {
    const first = runData(examples, null, PAD, { ...options, packing: true });
    const again = runData(examples, null, PAD, { ...options, packing: true });
    for (const step of [0, 1, 7, 30]) expect(again.batcher.batch(step)).toEqual(first.batcher.batch(step));
  });
});
