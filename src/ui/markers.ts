// SVG path data of the marker shapes that tell methods apart beside their colour and dash. Each
// shape fits a circle of radius r around (cx, cy); open shapes (plus, cross) are stroked, the
// others filled.

import type { MarkerKind } from './methodColors';

const f = (v: number): string => String(Number(v.toFixed(2)));

export function markerPath(kind: MarkerKind, cx: number, cy: number, r: number): string {
  const p = (pts: readonly (readonly [number, number])[]): string => `M${pts.map(([x, y]) => `${f(cx + x)},${f(cy + y)}`).join('L')}Z`;
  const s = r * 0.85;
  switch (kind) {
    case 'circle':
      return `M${f(cx - r)},${f(cy)}a${f(r)},${f(r)} 0 1,0 ${f(2 * r)},0a${f(r)},${f(r)} 0 1,0 ${f(-2 * r)},0Z`;
    case 'square':
      return p([
        [-s, -s],
        [s, -s],
        [s, s],
        [-s, s],
      ]);
    case 'triangle':
      return p([
        [0, -r * 1.1],
        [r, r * 0.75],
        [-r, r * 0.75],
      ]);
    case 'triangleDown':
      return p([
        [0, r * 1.1],
        [r, -r * 0.75],
        [-r, -r * 0.75],
      ]);
    case 'diamond':
      return p([
        [0, -r * 1.2],
        [r, 0],
        [0, r * 1.2],
        [-r, 0],
      ]);
    case 'plus':
      return `M${f(cx - r)},${f(cy)}H${f(cx + r)}M${f(cx)},${f(cy - r)}V${f(cy + r)}`;
    case 'cross':
      return `M${f(cx - s)},${f(cy - s)}L${f(cx + s)},${f(cy + s)}M${f(cx - s)},${f(cy + s)}L${f(cx + s)},${f(cy - s)}`;
  }
}

/** Whether the shape is drawn by its outline only (no area to fill). */
export const isOpenMarker = (kind: MarkerKind): boolean => kind === 'plus' || kind === 'cross';
