import { describe, expect, it } from 'vitest';
import { baselineOf, quantRows, reductionRatios, type QuantInfo } from './quantData';

// Method ids are opaque here: the panel reads the baseline from the methods' infos (ui/ never
// names a method; the real ids live in the registry).
const infos: QuantInfo[] = [
  { id: 'nf4-only', quantError: 'baseline' },
  { id: 'residual', quantError: 'reduced' },
  { id: 'quantize-first', quantError: 'reduced' },
  { id: 'plain' },
];
const layers = [
  { name: 'l.0.q', role: 'q', out: 4, in: 4 },
  { name: 'l.0.v', role: 'v', out: 4, in: 4 },
  { name: 'l.1.q', role: 'q', out: 4, in: 4 },
];
const p = (method: string, layer: string, iteration: number, nuclear: number) => ({ method, layer, iteration, nuclear, frobenius: nuclear / 2 });

describe('quantization error rows', () => {
  it('averages (1 − E_m / E_baseline)·100 per role and over all layers', () => {
    const points = [
      p('nf4-only', 'l.0.q', 0, 10),
      p('nf4-only', 'l.0.v', 0, 4),
      p('nf4-only', 'l.1.q', 0, 20),
      p('residual', 'l.0.q', 1, 8),
      p('residual', 'l.0.v', 1, 3),
      p('residual', 'l.1.q', 1, 10),
    ];
    const baseline = baselineOf(points, infos);
    expect(baseline).toEqual({ method: 'nf4-only', iteration: 0 });
    const { roles, rows } = reductionRatios(points, layers, baseline!);
    expect(roles).toEqual(['q', 'v']);
    expect(rows).toHaveLength(1);
    expect(rows[0]!.byRole.q).toBeCloseTo((20 + 50) / 2, 10);
    expect(rows[0]!.byRole.v).toBeCloseTo(25, 10);
    expect(rows[0]!.byRole.all).toBeCloseTo((20 + 25 + 50) / 3, 10);
    const chart = quantRows(points, layers, 'frobenius');
    expect(chart.map((r) => r.layer)).toEqual(['l.0.q', 'l.0.v', 'l.1.q']);
    expect(chart[2]!['residual:1']).toBe(5);
  });

  it('prefers the declared baseline, falls back to any iteration 0, and has none without one', () => {
    const zero = [p('quantize-first', 'l.0.q', 0, 1), p('residual', 'l.0.q', 1, 1)];
    expect(baselineOf(zero, infos)).toEqual({ method: 'quantize-first', iteration: 0 });
    expect(baselineOf([...zero, p('nf4-only', 'l.0.q', 0, 1)], infos)).toEqual({ method: 'nf4-only', iteration: 0 });
    expect(baselineOf([p('residual', 'l.0.q', 1, 1)], infos)).toBeNull();
  });

  it('shows no ratio for iteration-0 series: they are the baseline error itself', () => {
    const points = [p('nf4-only', 'l.0.q', 0, 10), p('quantize-first', 'l.0.q', 0, 10), p('quantize-first', 'l.0.q', 1, 5)];
    const { rows } = reductionRatios(points, layers, baselineOf(points, infos)!);
    expect(rows.map((r) => r.series.key)).toEqual(['quantize-first:1']);
    expect(rows[0]!.byRole.q).toBeCloseTo(50, 10);
  });
});
