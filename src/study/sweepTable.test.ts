import { describe, expect, it } from 'vitest';
import type { LrSweep } from './results';
import { sweepTable } from './sweepTable';

const trial = (method: string, learningRate: number, finalValidationLoss: number, stoppedAt?: number): LrSweep['trials'][number] => ({
  method,
  learningRate,
  finalValidationLoss,
  ...(stoppedAt !== undefined ? { stoppedAt } : {}),
});

const sweep = (trials: LrSweep['trials'], chosen: Record<string, number>, extra: Partial<LrSweep> = {}): LrSweep => ({
  dataset: 'arithmetic',
  seed: 1,
  steps: 100,
  scope: 'method',
  trials,
  chosen,
  rule: 'lowest final loss',
  wallMs: 60_000,
  ...extra,
});

const families: Record<string, string> = { a: 'low-rank', b: 'low-rank', s: 'sparse' };
const family = (id: string) => families[id];

describe('sweepTable', () => {
  it('puts every rate of any trial in ascending order and leaves untried cells empty', () => {
    const t = sweepTable(sweep([trial('a', 3e-3, 1.5), trial('a', 1e-3, 2), trial('s', 1e-1, 1.2)], { a: 3e-3, s: 1e-1 }), family);
    expect(t.rates).toEqual([1e-3, 3e-3, 1e-1]);
    expect(t.rows.map((r) => r.method)).toEqual(['a', 's']);
    const a = t.rows[0]!;
    expect(a.cells.map((c) => c?.loss)).toEqual([2, 1.5, undefined]);
    expect(a.cells.map((c) => c?.chosen)).toEqual([false, true, undefined]);
    expect(a.family).toBe('low-rank');
    expect(t.rows[1]!.cells[0]).toBeUndefined();
  });

  it('marks a choice at the top or bottom of the rates a method was tried at, not one in between or a single trial', () => {
    const t = sweepTable(
      sweep(
        [
          trial('a', 1e-3, 2),
          trial('a', 3e-3, 1.5),
          trial('b', 1e-3, 1.4),
          trial('b', 3e-3, 1.5),
          trial('b', 1e-2, 1.2),
          trial('s', 3e-2, 1.9),
          trial('s', 1e-1, 1.3),
          trial('s', 3e-1, 1.6),
        ],
        { a: 3e-3, b: 1e-2, s: 1e-1 },
      ),
      family,
    );
    expect(t.rows.map((r) => r.edge)).toEqual(['top', 'top', undefined]);
    expect(t.edges).toEqual(['top']);
    const bottom = sweepTable(sweep([trial('a', 1e-3, 1), trial('a', 3e-3, 2)], { a: 1e-3 }), family);
    expect(bottom.rows[0]!.edge).toBe('bottom');
    expect(bottom.edges).toEqual(['bottom']);
    const single = sweepTable(sweep([trial('a', 1e-3, 1)], { a: 1e-3 }), family);
    expect(single.rows[0]!.edge).toBeUndefined();
  });

  it('keeps where a trial stopped, reads a per-family choice, and counts trials against the plan', () => {
    const t = sweepTable(
      sweep([trial('a', 1e-3, 1.9), trial('a', 1e-2, Number.NaN, 12), trial('b', 1e-3, 2.1)], { 'low-rank': 1e-3 }, { scope: 'family', planned: 6 }),
      family,
    );
    expect(t.rows[0]!.cells[1]).toEqual({ loss: Number.NaN, stoppedAt: 12, chosen: false });
    expect(t.rows.map((r) => r.chosen)).toEqual([1e-3, 1e-3]);
    expect(t.rows[1]!.edge).toBeUndefined();
    expect([t.done, t.planned]).toEqual([3, 6]);
  });

  it('has no chosen rate for a method the sweep did not choose for', () => {
    const t = sweepTable(sweep([trial('a', 1e-3, 1.9)], {}), () => undefined);
    expect(t.rows[0]).toMatchObject({ family: undefined, chosen: undefined, edge: undefined });
    expect(t.rows[0]!.cells[0]!.chosen).toBe(false);
  });
});
