// How each method is drawn, fixed by its position in the registry so a method looks the same in
// every chart, legend and table: a colour, a dash pattern and a marker shape. Seven colours chosen
// to stay apart for deuteranopes and protanopes as well as for normal vision (methodColors.test.ts
// measures it), times three dash patterns: the 18 methods get 18 different colour-and-dash pairs,
// and methods that share a colour also differ in marker. Overlaid saved runs are drawn plainly
// dashed and fainter (OVERLAY_DASH), a pattern no method uses.

import { colourDistance, type Vision } from './colourVision';

/** On the dark panel (#1e232b): cyan, pink, green, orange, violet, yellow, pale rose. */
export const PALETTE: readonly string[] = ['#00dcff', '#dc81af', '#28bc80', '#d07a08', '#bb5cf7', '#e7e420', '#f7d8d8'];

export type DashKind = 'solid' | 'dashdot' | 'dotted';
export const DASHES: readonly DashKind[] = ['solid', 'dashdot', 'dotted'];
/** SVG stroke-dasharray of each dash kind. */
export const DASH_ARRAY: Readonly<Record<DashKind, string | undefined>> = { solid: undefined, dashdot: '9 3 2 3', dotted: '1.5 3.5' };
/** An overlaid saved run's lines. */
export const OVERLAY_DASH = '6 4';

export type MarkerKind = 'circle' | 'square' | 'triangle' | 'diamond' | 'triangleDown' | 'plus' | 'cross';
export const MARKERS: readonly MarkerKind[] = ['circle', 'square', 'triangle', 'diamond', 'triangleDown', 'plus', 'cross'];

export interface SeriesStyle {
  readonly color: string;
  readonly dash: DashKind;
  readonly marker: MarkerKind;
}

/** The style of the i-th method: colour i mod 7, dash ⌊i/7⌋, and a marker shifted by 3 per dash so equal colours get different markers. */
export function styleAt(i: number): SeriesStyle {
  const n = PALETTE.length;
  const round = Math.floor(i / n);
  return { color: PALETTE[i % n]!, dash: DASHES[round % DASHES.length]!, marker: MARKERS[(i + 3 * round) % MARKERS.length]! };
}

export function methodStyle(id: string, order: readonly string[]): SeriesStyle {
  const i = order.indexOf(id);
  return styleAt(i < 0 ? order.length : i);
}

export function methodColor(id: string, order: readonly string[]): string {
  return methodStyle(id, order).color;
}

/** A series for a chart: what it is called and how it is drawn. */
export interface ChartSeries {
  readonly id: string;
  readonly label: string;
  readonly color: string;
  readonly dash?: DashKind | 'overlay';
  readonly marker?: MarkerKind;
  /** The legend group it belongs to (an overlaid saved run), and its label inside that group. */
  readonly group?: string;
  readonly short?: string;
}

/** The chart series of a method of the page's run. */
export function methodSeries(id: string, label: string, order: readonly string[]): ChartSeries {
  return { id, label, ...methodStyle(id, order) };
}

export interface PaletteClash {
  readonly a: number;
  readonly b: number;
  readonly vision: Vision;
  readonly deltaE: number;
}

/** Pairs among `styles` that share a dash pattern yet whose colours are closer than `minDeltaE` (CIEDE2000) for some vision. */
export function paletteClashes(styles: readonly SeriesStyle[], minDeltaE: number, visions: readonly Vision[]): PaletteClash[] {
  const out: PaletteClash[] = [];
  for (let a = 0; a < styles.length; a++) {
    for (let b = a + 1; b < styles.length; b++) {
      if (styles[a]!.dash !== styles[b]!.dash) continue;
      for (const vision of visions) {
        const deltaE = colourDistance(styles[a]!.color, styles[b]!.color, vision);
        if (deltaE < minDeltaE) out.push({ a, b, vision, deltaE });
      }
    }
  }
  return out;
}
