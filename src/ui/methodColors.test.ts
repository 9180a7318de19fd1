import { describe, expect, it } from 'vitest';
import { colourDistance } from './colourVision';
import { methodStyle, paletteClashes, PALETTE, styleAt, type SeriesStyle } from './methodColors';

const FIRST = Array.from({ length: 18 }, (_, i) => styleAt(i));
const VISIONS = ['normal', 'deuteranopia', 'protanopia'] as const;
/** CIEDE2000 between lines of one dash pattern. Okabe & Ito's palette, the usual colour-blind-safe choice, has 11.6 at worst. */
const MIN_DELTA_E = 15;

describe('method palette', () => {
  it('keeps any two of the first 18 methods that share a dash pattern at least ΔE2000 15 apart, for normal, deuteranope and protanope vision', () => {
    const clashes = paletteClashes(FIRST, MIN_DELTA_E, VISIONS);
    expect(clashes.map((c) => `${c.a}/${c.b} ${c.vision} ${c.deltaE.toFixed(1)}`)).toEqual([]);
  });

  it("flags the previous palette's LoRA and PiSSA/SORSA colours, which deuteranopes see as one", () => {
    const old = ['#5aa9ff', '#ff9f43', '#4cc38a', '#c77dff', '#ff6b9a', '#ffd166', '#3dd6d0', '#d4a373', '#e0e0e0'];
    const oldStyles: SeriesStyle[] = old.map((color) => ({ color, dash: 'solid', marker: 'circle' }));
    const clashes = paletteClashes(oldStyles, MIN_DELTA_E, VISIONS);
    expect(clashes.some((c) => c.a === 0 && c.b === 3 && c.vision === 'deuteranopia' && c.deltaE < 2)).toBe(true);
  });

  it('gives the first 18 methods 18 different colour-and-dash pairs, and different markers where the colour is shared', () => {
    expect(new Set(FIRST.map((s) => `${s.color} ${s.dash}`)).size).toBe(18);
    for (let a = 0; a < 18; a++) for (let b = a + 1; b < 18; b++) if (FIRST[a]!.color === FIRST[b]!.color) expect(FIRST[a]!.marker).not.toBe(FIRST[b]!.marker);
  });

  it('stands out from the chart background for every vision, tritanopes included', () => {
    for (const color of PALETTE) for (const vision of [...VISIONS, 'tritanopia'] as const) expect(colourDistance(color, '#1e232b', vision)).toBeGreaterThan(30);
  });

  it("keys a method's style by its registry position, and gives an unknown id the next one", () => {
    const order = ['a', 'b', 'c'];
    expect(methodStyle('b', order)).toEqual(styleAt(1));
    expect(methodStyle('zz', order)).toEqual(styleAt(3));
  });
});
