// The page's charts as standalone images: each recharts <svg> is cloned into a new SVG with a
// background, its caption as a title and its legend (drawn as HTML outside the <svg>: our
// ChartLegend, whose items carry their look as data attributes, or recharts' own) redrawn as SVG,
// series hidden on the page left out, so the file reads on its own. PNG: that SVG drawn on a canvas at 2×.
// Charts are found by their markup (figure.chart with a recharts surface), so panels added later
// are exported too.

import { InputError, UnsupportedError } from '../errors';
import { isOpenMarker, markerPath } from './markers';
import { DASH_ARRAY, MARKERS, OVERLAY_DASH, type DashKind, type MarkerKind } from './methodColors';

const NS = 'http://www.w3.org/2000/svg';
const BACKGROUND = '#1e232b';
const TEXT = '#e6e9ee';
const TITLE_H = 28;
const LEGEND_ROW = 20;

export interface PageChart {
  /** The figure's test id or an index, for file names. */
  readonly id: string;
  readonly title: string;
  readonly figure: HTMLElement;
}

/** The plot's <svg> (recharts also draws each legend icon as a small svg.recharts-surface). */
function plotSurface(figure: HTMLElement): SVGSVGElement | null {
  const surfaces = [...figure.querySelectorAll<SVGSVGElement>('svg.recharts-surface')].filter((s) => !s.closest('.recharts-legend-wrapper'));
  let best: SVGSVGElement | null = null;
  let area = -1;
  for (const s of surfaces) {
    const r = s.getBoundingClientRect();
    if (r.width * r.height > area) {
      area = r.width * r.height;
      best = s;
    }
  }
  return best;
}

export function pageCharts(root: ParentNode = document): PageChart[] {
  const out: PageChart[] = [];
  root.querySelectorAll<HTMLElement>('figure.chart').forEach((figure, i) => {
    if (!plotSurface(figure)) return;
    const title = (figure.querySelector('figcaption')?.textContent ?? `chart ${i + 1}`).replace(/\s+/g, ' ').trim();
    out.push({ id: figure.dataset.testid ?? `chart-${i + 1}`, title, figure });
  });
  return out;
}

interface LegendEntry {
  readonly label: string;
  readonly color: string;
  readonly dash: string | undefined;
  readonly marker?: MarkerKind;
}

function legendItems(figure: HTMLElement): LegendEntry[] {
  const ours = [...figure.querySelectorAll<HTMLElement>('[data-legend-item]')];
  if (ours.length > 0)
    return ours
      .filter((item) => item.dataset.hidden !== 'true')
      .map((item) => {
        const dash = item.dataset.dash ?? 'solid';
        const marker = MARKERS.find((m) => m === item.dataset.marker);
        return {
          label: item.dataset.label ?? (item.textContent ?? '').trim(),
          color: item.dataset.color ?? TEXT,
          dash: dash === 'overlay' ? OVERLAY_DASH : DASH_ARRAY[dash as DashKind],
          marker,
        };
      });
  return [...figure.querySelectorAll('.recharts-legend-item')].map((item) => {
    const icon = item.querySelector('svg path, svg line');
    const stroke = icon?.getAttribute('stroke');
    const fill = icon?.getAttribute('fill');
    const color = stroke && stroke !== 'none' ? stroke : fill && fill !== 'none' ? fill : TEXT;
    return { label: (item.textContent ?? '').trim(), color, dash: icon?.getAttribute('stroke-dasharray') ? '5 3' : undefined };
  });
}

function el(name: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A standalone SVG document (as text) for one chart figure. */
export function chartSvg(chart: PageChart): string {
  const surface = plotSurface(chart.figure);
  if (!surface) throw new InputError(`${chart.title} has no chart drawn yet`);
  const box = surface.getBoundingClientRect();
  const width = Math.round(Number(surface.getAttribute('width')) || box.width || 480);
  const height = Math.round(Number(surface.getAttribute('height')) || box.height || 190);
  // Legend items flow left to right and wrap; widths estimated from the label (≈ 7 px a character at 12 px).
  const placed: { item: ReturnType<typeof legendItems>[number]; x: number; row: number }[] = [];
  let x = 12;
  let row = 0;
  for (const item of legendItems(chart.figure)) {
    const w = 24 + item.label.length * 7 + 16;
    if (x > 12 && x + w > width) {
      x = 12;
      row++;
    }
    placed.push({ item, x, row });
    x += w;
  }
  const legendH = placed.length > 0 ? (row + 1) * LEGEND_ROW + 6 : 0;
  const total = TITLE_H + height + legendH;

  const root = el('svg', {
    xmlns: NS,
    width,
    height: total,
    viewBox: `0 0 ${width} ${total}`,
    'font-family': 'system-ui, -apple-system, Segoe UI, sans-serif',
    'font-size': 12,
  });
  root.append(el('rect', { x: 0, y: 0, width, height: total, fill: BACKGROUND }));
  const titleSize = Math.max(9, Math.min(14, (width - 20) / (chart.title.length * 0.56)));
  root.append(el('text', { x: 10, y: 19, fill: TEXT, 'font-size': titleSize.toFixed(1) }, chart.title));
  const plot = surface.cloneNode(true) as SVGSVGElement;
  plot.removeAttribute('class');
  plot.removeAttribute('style');
  plot.setAttribute('x', '0');
  plot.setAttribute('y', String(TITLE_H));
  plot.setAttribute('width', String(width));
  plot.setAttribute('height', String(height));
  plot.querySelectorAll('.recharts-tooltip-cursor, .recharts-active-dot').forEach((n) => n.remove());
  root.append(plot);
  placed.forEach(({ item, x: left, row: r }) => {
    const y = TITLE_H + height + 4 + r * LEGEND_ROW + LEGEND_ROW / 2;
    root.append(
      el('line', { x1: left, y1: y, x2: left + 18, y2: y, stroke: item.color, 'stroke-width': 2.5, ...(item.dash ? { 'stroke-dasharray': item.dash } : {}) }),
    );
    if (item.marker) {
      const open = isOpenMarker(item.marker);
      root.append(
        el('path', {
          d: markerPath(item.marker, left + 9, y, 3.6),
          fill: open ? 'none' : item.color,
          stroke: open ? item.color : BACKGROUND,
          'stroke-width': open ? 1.8 : 1,
        }),
      );
    }
    root.append(el('text', { x: left + 24, y: y + 4, fill: TEXT }, item.label));
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n${new XMLSerializer().serializeToString(root)}`;
}

/** The SVG without the XML declaration, for inlining in HTML. */
export function inlineSvg(chart: PageChart): string {
  return chartSvg(chart).replace(/^<\?xml[^>]*>\s*/, '');
}

/** The chart as a PNG at `scale`× its size. */
export async function chartPng(chart: PageChart, scale = 2): Promise<Blob> {
  const svg = chartSvg(chart);
  const url = URL.createObjectURL(new Blob([svg], { type: 'image/svg+xml' }));
  try {
    const image = new Image();
    image.decoding = 'async';
    await new Promise<void>((resolve, reject) => {
      image.onload = () => resolve();
      image.onerror = () => reject(new UnsupportedError(`${chart.title} could not be drawn as an image`));
      image.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(image.width * scale);
    canvas.height = Math.round(image.height * scale);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new UnsupportedError('this browser gave no 2D canvas for the PNG');
    ctx.scale(scale, scale);
    ctx.drawImage(image, 0, 0);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new UnsupportedError('the PNG could not be encoded'))), 'image/png'),
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}
