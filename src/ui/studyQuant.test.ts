import { describe, expect, it } from 'vitest';
import type { QuantStudy } from '../study/results';
import { studyQuantTable } from './studyQuant';

const layer = (name: string, role: string, errors: [number, number][]) => ({
  layer: name,
  role,
  errors: errors.map(([iteration, nuclear]) => ({ iteration, nuclear, frobenius: nuclear / 10 })),
});

describe('studyQuantTable', () => {
  const quant: QuantStudy = {
    settings: {},
    methods: [
      {
        id: 'qa',
        iterations: 2,
        initMs: 1,
        layers: [
          layer('l0.q', 'q', [
            [0, 10],
            [1, 8],
            [2, 6],
          ]),
          layer('l1.q', 'q', [
            [0, 20],
            [1, 18],
            [2, 15],
          ]),
        ],
      },
      {
        id: 'qb',
        iterations: 3,
        initMs: 1,
        layers: [
          layer('l0.q', 'q', [
            [1, 9],
            [2, 7],
            [3, 5],
          ]),
        ],
      },
    ],
  };

  it('gives each method’s first and last iteration as a reduction against plain NF4(W), per layer type', () => {
    const table = studyQuantTable(quant, [])!;
    expect(table.baselineMethod).toBe('qa');
    expect(table.baselineNuclear).toBe(15);
    expect(table.roles).toEqual(['q']);
    expect(table.rows.map((r) => `${r.series.method}:${r.series.iteration}`)).toEqual(['qa:1', 'qa:2', 'qb:1', 'qb:3']);
    expect(table.rows[1]!.byRole.q).toBeCloseTo(((1 - 6 / 10) * 100 + (1 - 15 / 20) * 100) / 2, 12);
    expect(table.rows[3]!.byRole.all).toBeCloseTo(50, 12);
  });

  it('has no table without a plain NF4(W) error', () => {
    expect(studyQuantTable({ settings: {}, methods: [quant.methods[1]!] }, [])).toBeNull();
  });
});
