import { describe, expect, it } from 'vitest';
import { colourDistance, deltaE2000, labOf, simulate, type Lab } from './colourVision';

describe('CIEDE2000', () => {
  // Sharma, Wu & Dalal (2005), table 1: pairs chosen to exercise every branch of the formula.
  const PAIRS: readonly [Lab, Lab, number][] = [
    [[50, 2.6772, -79.7751], [50, 0, -82.7485], 2.0425],
    [[50, 3.1571, -77.2803], [50, 0, -82.7485], 2.8615],
    [[50, 2.8361, -74.02], [50, 0, -82.7485], 3.4412],
    [[50, 0, 0], [50, -1, 2], 2.3669],
    [[50, 2.5, 0], [73, 25, -18], 27.1492],
    [[60.2574, -34.0099, 36.2677], [60.4626, -34.1751, 39.4387], 1.2644],
    [[63.0109, -31.0961, -5.8663], [62.8187, -29.7946, -4.0864], 1.263],
    [[61.2901, 3.7196, -5.3901], [61.4292, 2.248, -4.962], 1.8731],
    [[35.0831, -44.1164, 3.7933], [35.0232, -40.0716, 1.5901], 1.8645],
    [[22.7233, 20.0904, -46.694], [23.0331, 14.973, -42.5619], 2.0373],
    [[2.0776, 0.0795, -1.135], [0.9033, -0.0636, -0.5514], 0.9082],
  ];

  it("matches Sharma's published differences, in either order", () => {
    for (const [a, b, expected] of PAIRS) {
      expect(deltaE2000(a, b)).toBeCloseTo(expected, 4);
      expect(deltaE2000(b, a)).toBeCloseTo(expected, 4);
    }
  });

  it('is zero for equal colours', () => {
    expect(deltaE2000([40, 10, -20], [40, 10, -20])).toBe(0);
  });
});

describe('sRGB to CIELAB', () => {
  it('puts white at L 100 and black at 0, greys on the neutral axis', () => {
    const white = labOf('#ffffff');
    expect(white[0]).toBeCloseTo(100, 3);
    expect(Math.hypot(white[1], white[2])).toBeLessThan(0.01);
    expect(labOf('#000000')[0]).toBeCloseTo(0, 6);
    const grey = labOf('#777777');
    expect(Math.hypot(grey[1], grey[2])).toBeLessThan(0.01);
  });

  it('gives the textbook Lab of pure red (D65)', () => {
    const [l, a, b] = labOf('#ff0000');
    expect(l).toBeCloseTo(53.24, 1);
    expect(a).toBeCloseTo(80.09, 1);
    expect(b).toBeCloseTo(67.2, 1);
  });

  it('refuses anything but #rrggbb', () => {
    expect(() => labOf('red')).toThrow(/is not a #rrggbb colour/);
  });
});

describe('dichromacy simulation', () => {
  it('leaves greys grey for every deficiency', () => {
    for (const vision of ['deuteranopia', 'protanopia', 'tritanopia'] as const) {
      const [r, g, b] = simulate('#808080', vision);
      expect(Math.abs(r - g)).toBeLessThan(2e-3);
      expect(Math.abs(g - b)).toBeLessThan(2e-3);
    }
  });

  it('brings red and green together for deuteranopes and protanopes, not for tritanopes', () => {
    const normal = colourDistance('#d62728', '#2ca02c');
    expect(colourDistance('#d62728', '#2ca02c', 'deuteranopia')).toBeLessThan(normal / 3);
    expect(colourDistance('#d62728', '#2ca02c', 'protanopia')).toBeLessThan(normal / 2);
    expect(colourDistance('#d62728', '#2ca02c', 'tritanopia')).toBeGreaterThan(normal / 2);
  });
});
