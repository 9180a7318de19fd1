// Results over seeds as the table and the CSV show them: means in the row, "mean ± sd" cells, no
// spread for one seed or a number equal in every seed, and the CSV's mean, sd, n and per-seed columns.

import { describe, expect, it } from 'vitest';
import type { RunPoint, RunSeed } from '../io/runRecord';
import { aggregateSeeds } from '../io/seedStats';
import { seedResultsCsv } from './resultsCsv';
import { seedCaption, seedRows, spreadCell, type SeedView } from './seedResults';

function points(losses: readonly number[]): RunPoint[] {
  return losses.map((loss, i) => ({ step: i + 1, loss, gradNorm: 1, lr: 1e-3, tokens: 10, ms: 100 }));
}

function seed(s: number, val: number): RunSeed {
  return {
    seed: s,
    stopped: false,
    series: { alpha: points([3, 2]) },
    evals: { alpha: [{ step: 2, loss: val }] },
    ready: { alpha: { trainableParams: 64, bytes: 768, initMs: 3 } },
    halted: {},
    accuracy: { alpha: 0.5 },
    forgetting: { name: 'h', tokens: 10, baseLoss: 4, loss: { alpha: 4 + val / 10 } },
  };
}

const METHODS = [{ id: 'alpha', label: 'Alpha' }];

function view(vals: readonly number[]): SeedView {
  const seeds = vals.map((v, i) => seed(i + 5, v));
  return { aggregates: aggregateSeeds(METHODS, seeds), seeds: seeds.map((s) => s.seed), count: 3 };
}

describe('seed results', () => {
  it('puts the means in the row, with sd and n beside, and shows "mean ± sd" only where seeds differ', () => {
    const [row] = seedRows(view([2, 3, 4]));
    expect(row!.finalVal).toBe(3);
    expect(row!.sd?.finalVal).toBe(1);
    expect(row!.n).toBe(3);
    const loss = (r: { finalVal: number }) => r.finalVal.toFixed(3);
    expect(spreadCell(row!, 'finalVal', loss)).toBe('3.000 ± 1.000');
    // The same in every seed: the trainable count has sd 0 and is shown alone.
    expect(spreadCell(row!, 'trainable', (r) => String(r.trainable))).toBe('64');
    // Forgetting is signed; its sd is not.
    expect(spreadCell(row!, 'forgetting', (r) => `${r.forgetting >= 0 ? '+' : '−'}${Math.abs(r.forgetting).toFixed(2)}`)).toBe('+0.30 ± 0.10');
    const [one] = seedRows(view([2]));
    expect(spreadCell(one!, 'finalVal', loss)).toBe('2.000');
    expect(seedCaption(view([2, 3]))).toBe('Mean ± standard deviation (n − 1) over 2 of 3 seeds (5, 6) so far; a seed stopped early is not counted.');
    expect(seedCaption(view([2]))).toBe('The one seed done so far (5) of 3: no spread yet.');
  });

  it('writes n, mean and sd of each number and its value per seed to the CSV', () => {
    const csv = seedResultsCsv(view([2, 3, 4]).aggregates);
    const [header, line] = csv.trimEnd().split('\n');
    const cells = Object.fromEntries(line!.split(',').map((v, i) => [header!.split(',')[i]!, v]));
    expect(cells.method).toBe('Alpha');
    expect(cells.n).toBe('3');
    expect(cells.final_val_loss_mean).toBe('3');
    expect(cells.final_val_loss_sd).toBe('1');
    expect([cells.final_val_loss_seed5, cells.final_val_loss_seed6, cells.final_val_loss_seed7]).toEqual(['2', '3', '4']);
    expect(cells.trainable_params_sd).toBe('0');
    expect(cells.accuracy_mean).toBe('0.5');
    expect(cells.forgetting_mean).toBe('0.3');
    // One seed: no sd (empty cell), n = 1.
    const single = seedResultsCsv(view([2]).aggregates)
      .trimEnd()
      .split('\n');
    const one = Object.fromEntries(single[1]!.split(',').map((v, i) => [single[0]!.split(',')[i]!, v]));
    expect(one.n).toBe('1');
    expect(one.final_val_loss_sd).toBe('');
  });
});
