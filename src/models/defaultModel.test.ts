// The built-in model (public/models/kjv-llama-1m): loads through the same path as a user's
// folder, its tokenizer gives the reference ids, and its logits and loss match the float64
// reference of scripts/make_default_model.py (test/fixtures/default-model-reference.json).

import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { openModelFiles } from '../io/modelFiles';
import { nodeDirectorySources } from '../io/nodeSource';
import { loadModelTokenizer } from '../io/tokenizer';
import { Graph } from '../tensor/graph';
import { crossEntropy } from '../tensor/ops/crossEntropy';
import { readTensor, targetIds, tokenIds } from '../tensor/values';
import { testContext } from '../test/gpu';
import { loadCausalLM, releaseModel } from './load';

interface Sequence {
  readonly text: string;
  readonly input_ids: number[];
  readonly loss: number;
  readonly logits_first_positions: number[][];
}

describe('built-in model', () => {
  it('tokenizes, and gives the reference logits (1e-4) and loss (1e-5)', async () => {
    const ctx = await testContext();
    const reference = JSON.parse(await readFile('test/fixtures/default-model-reference.json', 'utf8')) as { sequences: Sequence[] };
    const source = await openModelFiles(await nodeDirectorySources('public/models/kjv-llama-1m'));
    const tokenizer = await loadModelTokenizer(source);
    const model = await loadCausalLM(ctx, source);
    try {
      for (const seq of reference.sequences) {
        expect(tokenizer.encode(seq.text)).toEqual(seq.input_ids);
        const T = seq.input_ids.length;
        const g = new Graph(ctx, false);
        try {
          const logits = model.forward(g, tokenIds(g, seq.input_ids, [1, T]));
          const got = await readTensor(ctx, logits);
          const V = model.config.vocabSize;
          let worst = 0;
          seq.logits_first_positions.forEach((row, t) => row.forEach((v, j) => (worst = Math.max(worst, Math.abs(got[t * V + j]! - v) - 5e-6 * Math.abs(v)))));
          expect(worst).toBeLessThan(1e-4);
          const targets = seq.input_ids.map((_, t) => (t + 1 < T ? seq.input_ids[t + 1]! : -100));
          const [loss] = await readTensor(ctx, crossEntropy(g, logits, targetIds(g, targets, [1, T])));
          expect(Math.abs(loss! - seq.loss)).toBeLessThan(1e-5);
        } finally {
          g.destroy();
        }
      }
    } finally {
      releaseModel(ctx, model);
    }
  });
});
