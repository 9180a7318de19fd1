import { describe, expect, it } from 'vitest';
import { baselineOf, quantRows, reductionRatios } from './quantData';

const layers = [
  { name: 'l.0.q', role: 'q', out: 4, in: 4 },
  { name: 'l.0.v', role: 'v', out: 4, in: 4 },
  { name: 'l.1.q', role: 'q', out: 4, in: 4 },
];
const p = (method: string, layer: string, iteration: number, nuclear: number) => ({ method, layer, iteration, nuclear, frobenius: nuclear / 2 });

describe('quantization error rows', () => {
  it('averages (1 − E_m / E_qlora)·100 per role and over all layers', () => {
    const points = [p('qlora', 'l.0.q', 0, 10), p('qlora', 'l.0.v', 0, 4), p('qlora', 'l.1.q', 0, 20), p('qpissa', 'l.0.q', 1, 8), p('qpissa', 'l.0.v', 1, 3), p('qpissa', 'l.1.q', 1, 10)];
    const { roles, rows } = reductionRatios(points, layers, baselineOf(points)!);
    expect(roles).toEqual(['q', 'v']);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.byRole.q).toBeCloseTo((20 + 50) / 2, 10);
    expect(rows[0]!.byRole.v).toBeCloseTo(25, 10);
    expect(rows[0]!.byRole.all).toBeCloseTo((20 + 25 + 50) / 3, 10);
    const chart = quantRows(points, layers, 'frobenius');
    expect(chart.map((r) => r.layer)).toEqual(['l.0.q', 'l.0.v', 'l.1.q']);
    expect(chart[2]!['qpissa:1']).toBe(5);
  });

  it('falls back to LoftQ iteration 0 and has no baseline with QPiSSA alone', () => {
    expect(baselineOf([p('loftq', 'l.0.q', 0, 1), p('qpissa', 'l.0.q', 1, 1)])).toEqual({ method: 'loftq', iteration: 0 });
    expect(baselineOf([p('qpissa', 'l.0.q', 1, 1)])).toBeNull();
  });
});
