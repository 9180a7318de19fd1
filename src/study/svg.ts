// The study's plots as standalone SVG files (docs/study/*.svg, linked from RESULTS.md), dependency
// free: per task, the validation- and training-loss curves (each method's mean over seeds with a
// ±1 sd band) and the Pareto plot (trainable parameters, log scale, against final validation loss,
// ±1 sd error bars, the front drawn as a staircase). Methods are drawn as in the studio: its
// palette, dashes and markers on its dark panel, by the method's position in the study's method
// list, so a method looks the same in every plot. Pure: strings in, strings out.

import { linearAxis, logAxis, tickLabeller, type Axis } from '../ui/axisTicks';
import { markerPath, isOpenMarker } from '../ui/markers';
import { DASH_ARRAY, styleAt, type SeriesStyle } from '../ui/methodColors';
import { BASE_ID, defaultTrainWindow, paretoFront, seedBands, studyDatasets, summarize, type BandPoint, type MethodSummary } from './aggregate';
import type { DatasetId, StudyJson } from './results';

export const WIDTH = 800;
export const HEIGHT = 500;
const BACKGROUND = '#1e232b';
const INK = '#d8dde4';
const FAINT = '#8a939f';
const GRID = '#2f3640';
const FONT = 'font-family="system-ui, -apple-system, Segoe UI, Helvetica, Arial, sans-serif"';
const MARGIN = { left: 64, right: 196, top: 44, bottom: 52 } as const;
const LEGEND_ROW = 19;

const num = (v: number): string => String(Number(v.toFixed(2)));
const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** The style of each method by its position in the study's method list (then the order met). */
export function studyStyles(study: StudyJson, ids: readonly string[]): Map<string, SeriesStyle> {
  const order = [...study.config.methods.filter((id) => id !== BASE_ID)];
  for (const id of ids) if (id !== BASE_ID && !order.includes(id)) order.push(id);
  return new Map(ids.map((id) => [id, styleAt(order.indexOf(id))]));
}

interface Frame {
  readonly x: (v: number) => number;
  readonly y: (v: number) => number;
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
}

function frameOf(xAxis: Axis, yAxis: Axis, xLog: boolean): Frame {
  const left = MARGIN.left;
  const right = WIDTH - MARGIN.right;
  const top = MARGIN.top;
  const bottom = HEIGHT - MARGIN.bottom;
  const tx = (v: number) => (xLog ? Math.log10(v) : v);
  const [x0, x1] = [tx(xAxis.domain[0]), tx(xAxis.domain[1])];
  const [y0, y1] = yAxis.domain;
  return {
    x: (v) => left + ((tx(v) - x0) / (x1 - x0 || 1)) * (right - left),
    y: (v) => bottom - ((v - y0) / (y1 - y0 || 1)) * (bottom - top),
    left,
    right,
    top,
    bottom,
  };
}

function axesSvg(frame: Frame, xAxis: Axis, yAxis: Axis, xTitle: string, yTitle: string): string {
  const xl = tickLabeller(xAxis.ticks);
  const yl = tickLabeller(yAxis.ticks);
  const out: string[] = [];
  for (const t of yAxis.ticks) {
    const y = num(frame.y(t));
    out.push(`<line x1="${frame.left}" x2="${frame.right}" y1="${y}" y2="${y}" stroke="${GRID}"/>`);
    out.push(`<text x="${frame.left - 6}" y="${y}" dy="0.32em" text-anchor="end" fill="${FAINT}" font-size="11">${esc(yl(t))}</text>`);
  }
  for (const t of xAxis.ticks) {
    const x = num(frame.x(t));
    out.push(`<line x1="${x}" x2="${x}" y1="${frame.top}" y2="${frame.bottom}" stroke="${GRID}"/>`);
    out.push(`<text x="${x}" y="${frame.bottom + 16}" text-anchor="middle" fill="${FAINT}" font-size="11">${esc(xl(t))}</text>`);
  }
  out.push(
    `<rect x="${frame.left}" y="${frame.top}" width="${frame.right - frame.left}" height="${frame.bottom - frame.top}" fill="none" stroke="${FAINT}"/>`,
    `<text x="${(frame.left + frame.right) / 2}" y="${HEIGHT - 14}" text-anchor="middle" fill="${INK}" font-size="12">${esc(xTitle)}</text>`,
    `<text transform="translate(16 ${(frame.top + frame.bottom) / 2}) rotate(-90)" text-anchor="middle" fill="${INK}" font-size="12">${esc(yTitle)}</text>`,
  );
  return out.join('\n');
}

function markerSvg(style: SeriesStyle, cx: number, cy: number, r: number): string {
  const d = markerPath(style.marker, cx, cy, r);
  return isOpenMarker(style.marker)
    ? `<path d="${d}" fill="none" stroke="${style.color}" stroke-width="1.6"/>`
    : `<path d="${d}" fill="${style.color}" stroke="${BACKGROUND}" stroke-width="0.8"/>`;
}

const dashAttr = (style: SeriesStyle): string => {
  const dash = DASH_ARRAY[style.dash];
  return dash ? ` stroke-dasharray="${dash}"` : '';
};

function legendSvg(entries: readonly { label: string; style: SeriesStyle; note?: string }[], note: string): string {
  const x = WIDTH - MARGIN.right + 14;
  const rows = entries.map((e, i) => {
    const y = MARGIN.top + 6 + i * LEGEND_ROW;
    return [
      `<line x1="${x}" x2="${x + 26}" y1="${y}" y2="${y}" stroke="${e.style.color}" stroke-width="2"${dashAttr(e.style)}/>`,
      markerSvg(e.style, x + 13, y, 3.6),
      `<text x="${x + 33}" y="${y}" dy="0.32em" fill="${INK}" font-size="11.5">${esc(e.label)}${e.note ? `<tspan fill="${FAINT}"> ${esc(e.note)}</tspan>` : ''}</text>`,
    ].join('');
  });
  const noteY = MARGIN.top + 6 + entries.length * LEGEND_ROW + 6;
  const lines = wrap(note, 30).map((l, i) => `<text x="${x}" y="${noteY + i * 14}" dy="0.32em" fill="${FAINT}" font-size="10.5">${esc(l)}</text>`);
  return [...rows, ...lines].join('\n');
}

function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  return line ? [...lines, line] : lines;
}

function document(title: string, body: string): string {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ${FONT}>`,
    `<title>${esc(title)}</title>`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="${BACKGROUND}"/>`,
    `<text x="${MARGIN.left}" y="26" fill="${INK}" font-size="15" font-weight="600">${esc(title)}</text>`,
    body,
    '</svg>',
    '',
  ].join('\n');
}

const pathOf = (pts: readonly { x: number; y: number }[]): string => pts.map((p, i) => `${i === 0 ? 'M' : 'L'}${num(p.x)},${num(p.y)}`).join('');

/** A band's outline: along mean + sd, back along mean − sd (points without a spread add nothing). */
function bandPath(points: readonly BandPoint[], frame: Frame): string {
  const spread = points.filter((p) => Number.isFinite(p.sd));
  if (spread.length < 2) return '';
  const upper = spread.map((p) => ({ x: frame.x(p.step), y: frame.y(p.mean + p.sd) }));
  const lower = [...spread].reverse().map((p) => ({ x: frame.x(p.step), y: frame.y(p.mean - p.sd) }));
  return `${pathOf([...upper, ...lower])}Z`;
}

/** A dashed horizontal line across the plot at `value`, labelled at its right end (below the line when it runs close to the top). */
function referenceLine(frame: Frame, value: number, label: string): string {
  const y = frame.y(value);
  const dy = y - frame.top < 16 ? '1.1em' : '-0.45em';
  return [
    `<line x1="${frame.left}" x2="${frame.right}" y1="${num(y)}" y2="${num(y)}" stroke="${FAINT}" stroke-width="1.2" stroke-dasharray="6 4"/>`,
    `<text x="${frame.right - 6}" y="${num(y)}" dy="${dy}" text-anchor="end" fill="${FAINT}" font-size="11">${esc(label)}</text>`,
  ].join('\n');
}

export interface CurvesOptions {
  readonly title: string;
  readonly yTitle: string;
  /** Markers at every point (validation: few points) or only at the last (training: one per step). */
  readonly markEvery: boolean;
  readonly note: string;
  /** A horizontal reference line (the base model's loss). */
  readonly reference?: { readonly label: string; readonly value: number };
}

/** Mean lines with ±1 sd bands per method, a legend with each method's n seeds. */
export function curvesSvg(
  curves: readonly { method: string; label: string; points: BandPoint[] }[],
  styles: ReadonlyMap<string, SeriesStyle>,
  o: CurvesOptions,
): string {
  const drawn = curves.filter((c) => c.points.length > 0);
  const values = drawn.flatMap((c) => c.points.flatMap((p) => (Number.isFinite(p.sd) ? [p.mean - p.sd, p.mean + p.sd] : [p.mean])));
  if (o.reference && Number.isFinite(o.reference.value)) values.push(o.reference.value);
  const steps = drawn.flatMap((c) => c.points.map((p) => p.step));
  if (drawn.length === 0 || values.length === 0)
    return document(o.title, `<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" fill="${FAINT}">no data</text>`);
  const xAxis = linearAxis(Math.min(...steps), Math.max(...steps), { integer: true, count: 8 });
  const yAxis = linearAxis(Math.min(...values), Math.max(...values), { count: 7 });
  const frame = frameOf(xAxis, yAxis, false);
  const style = (id: string) => styles.get(id) ?? styleAt(0);
  const body: string[] = [axesSvg(frame, xAxis, yAxis, 'step', o.yTitle), `<g clip-path="url(#plot)">`];
  for (const c of drawn) {
    const band = bandPath(c.points, frame);
    if (band) body.push(`<path d="${band}" fill="${style(c.method).color}" fill-opacity="0.13" stroke="none"/>`);
  }
  if (o.reference && Number.isFinite(o.reference.value)) body.push(referenceLine(frame, o.reference.value, o.reference.label));
  for (const c of drawn) {
    const s = style(c.method);
    const pts = c.points.map((p) => ({ x: frame.x(p.step), y: frame.y(p.mean) }));
    body.push(`<path d="${pathOf(pts)}" fill="none" stroke="${s.color}" stroke-width="1.8"${dashAttr(s)} stroke-linejoin="round"/>`);
    for (const p of o.markEvery ? pts : pts.slice(-1)) body.push(markerSvg(s, p.x, p.y, 3.4));
  }
  body.push('</g>');
  const clip = `<defs><clipPath id="plot"><rect x="${frame.left}" y="${frame.top - 6}" width="${frame.right - frame.left + 6}" height="${frame.bottom - frame.top + 12}"/></clipPath></defs>`;
  const seedNote = (c: (typeof drawn)[number]) => {
    const n = Math.max(...c.points.map((p) => p.n));
    return `n ${n}`;
  };
  const legend = legendSvg(
    drawn.map((c) => ({ label: c.label, style: style(c.method), note: seedNote(c) })),
    o.note,
  );
  return document(o.title, [clip, ...body, legend].join('\n'));
}

/** Validation or training loss curves of one task. */
export function studyCurvesSvg(study: StudyJson, dataset: DatasetId, series: 'train' | 'validation', taskTitle: string): string {
  const curves = seedBands(study, dataset, series);
  const styles = studyStyles(
    study,
    curves.map((c) => c.method),
  );
  const base = summarize(study).find((s) => s.dataset === dataset && s.method === BASE_ID);
  const validation = series === 'validation';
  const window = defaultTrainWindow(study.config.steps);
  const rows = study.config.evalRows;
  return curvesSvg(curves, styles, {
    title: `${taskTitle}: ${validation ? 'validation' : 'training'} loss`,
    yTitle: validation ? `validation loss (first ${rows} rows), nats/token` : 'training loss, nats/token',
    markEvery: validation,
    note: validation
      ? 'Line: mean over seeds; shaded: ±1 sample sd (two or more seeds).'
      : `Line: mean over seeds of ${window === 1 ? "each step's loss" : `the loss averaged over the ${window} steps ending at each step`}; shaded: ±1 sample sd.`,
    ...(validation && base && Number.isFinite(base.bestLoss.mean) ? { reference: { label: 'base model', value: base.bestLoss.mean } } : {}),
  });
}

/** Final validation loss against trainable parameters (log x), ±1 sd bars, the front as a staircase. */
export function paretoSvg(rows: readonly MethodSummary[], styles: ReadonlyMap<string, SeriesStyle>, title: string, base?: number): string {
  const pts = rows.filter((r) => r.trainableParams > 0 && Number.isFinite(r.finalLoss.mean));
  if (pts.length === 0) return document(title, `<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" fill="${FAINT}">no data</text>`);
  const front = paretoFront(
    pts,
    (r) => r.trainableParams,
    (r) => r.finalLoss.mean,
  );
  const sd = (r: MethodSummary) => (Number.isFinite(r.finalLoss.sd) ? r.finalLoss.sd : 0);
  const ys = pts.flatMap((r) => [r.finalLoss.mean - sd(r), r.finalLoss.mean + sd(r)]);
  if (base !== undefined && Number.isFinite(base)) ys.push(base);
  const xs = pts.map((r) => r.trainableParams);
  const xAxis = logAxis(Math.min(...xs) / 1.3, Math.max(...xs) * 1.3);
  const yAxis = linearAxis(Math.min(...ys), Math.max(...ys), { count: 7 });
  const frame = frameOf(xAxis, yAxis, true);
  const style = (id: string) => styles.get(id) ?? styleAt(0);
  const body: string[] = [axesSvg(frame, xAxis, yAxis, 'trainable parameters (log scale)', 'final validation loss, nats/token')];
  if (base !== undefined && Number.isFinite(base)) body.push(referenceLine(frame, base, 'base model'));
  // Methods with the same parameter count (LoRA, PiSSA, QLoRA, ...) are spread a few pixels apart.
  const dodge = new Map<MethodSummary, number>();
  for (const r of pts) {
    const same = pts.filter((q) => Math.abs(Math.log(q.trainableParams / r.trainableParams)) < 0.01);
    dodge.set(r, (same.indexOf(r) - (same.length - 1) / 2) * 7);
  }
  const xOf = (r: MethodSummary) => frame.x(r.trainableParams) + dodge.get(r)!;
  // The front as a staircase, closed off to the right edge at its last point's loss.
  const stairs: { x: number; y: number }[] = [];
  front.forEach((r, i) => {
    if (i > 0) stairs.push({ x: xOf(r), y: frame.y(front[i - 1]!.finalLoss.mean) });
    stairs.push({ x: xOf(r), y: frame.y(r.finalLoss.mean) });
  });
  stairs.push({ x: frame.right, y: frame.y(front[front.length - 1]!.finalLoss.mean) });
  body.push(`<path d="${pathOf(stairs)}" fill="none" stroke="${INK}" stroke-width="1.4" stroke-opacity="0.7" stroke-dasharray="3 3"/>`);
  for (const r of pts) {
    const s = style(r.method);
    const cx = xOf(r);
    if (sd(r) > 0) {
      const [y0, y1] = [frame.y(r.finalLoss.mean - sd(r)), frame.y(r.finalLoss.mean + sd(r))];
      body.push(`<path d="M${num(cx)},${num(y0)}V${num(y1)}M${num(cx - 4)},${num(y0)}h8M${num(cx - 4)},${num(y1)}h8" stroke="${s.color}" stroke-width="1.3"/>`);
    }
  }
  for (const r of pts) {
    const cx = xOf(r);
    const cy = frame.y(r.finalLoss.mean);
    if (front.includes(r)) body.push(`<circle cx="${num(cx)}" cy="${num(cy)}" r="9" fill="none" stroke="${INK}" stroke-width="1.5"/>`);
    body.push(markerSvg(style(r.method), cx, cy, 5));
  }
  body.push(...frontLabels(front.map((r) => ({ x: xOf(r), y: frame.y(r.finalLoss.mean), text: r.label }))));
  const n = Math.max(...pts.map((r) => r.finalLoss.n));
  const legend = legendSvg(
    pts.map((r) => ({ label: r.label, style: style(r.method), ...(front.includes(r) ? { note: '(front)' } : {}) })),
    `Mean over ${n === 1 ? 'one seed' : `up to ${n} seeds`}; bars: ±1 sample sd. Ringed and joined: the Pareto front (no method has fewer parameters and a lower loss).`,
  );
  return document(title, [...body, legend].join('\n'));
}

/**
 * Labels beside the front's points, each at the first of four spots (below right, above right,
 * below left, above left) that overlaps neither an earlier label nor another ringed point.
 */
function frontLabels(points: readonly { x: number; y: number; text: string }[]): string[] {
  const placed: { x0: number; x1: number; y0: number; y1: number }[] = [];
  const hitsPoint = (b: (typeof placed)[number]) => points.some((p) => p.x + 9 > b.x0 && p.x - 9 < b.x1 && p.y + 9 > b.y0 && p.y - 9 < b.y1);
  const hitsLabel = (b: (typeof placed)[number]) => placed.some((q) => q.x0 < b.x1 && b.x0 < q.x1 && q.y0 < b.y1 && b.y0 < q.y1);
  return points.map((p) => {
    const w = p.text.length * 6.3;
    const spots = [
      { dx: 12, dy: 14, anchor: 'start' },
      { dx: 12, dy: -8, anchor: 'start' },
      { dx: -12, dy: 14, anchor: 'end' },
      { dx: -12, dy: -8, anchor: 'end' },
    ].map((s) => {
      const x = p.x + s.dx;
      const box = { x0: s.anchor === 'start' ? x : x - w, x1: s.anchor === 'start' ? x + w : x, y0: p.y + s.dy - 10, y1: p.y + s.dy + 2 };
      return { ...s, x, box };
    });
    const inside = spots.filter((s) => s.box.x0 >= MARGIN.left && s.box.x1 <= WIDTH - MARGIN.right);
    const spot = inside.find((s) => !hitsLabel(s.box) && !hitsPoint(s.box)) ?? inside[0] ?? spots[0]!;
    placed.push(spot.box);
    return `<text x="${num(spot.x)}" y="${num(p.y + spot.dy)}" text-anchor="${spot.anchor}" fill="${INK}" font-size="11">${esc(p.text)}</text>`;
  });
}

export function studyParetoSvg(study: StudyJson, dataset: DatasetId, taskTitle: string): string {
  const rows = summarize(study).filter((s) => s.dataset === dataset);
  const base = rows.find((r) => r.method === BASE_ID);
  const methods = rows.filter((r) => r.method !== BASE_ID);
  return paretoSvg(
    methods,
    studyStyles(
      study,
      methods.map((r) => r.method),
    ),
    `${taskTitle}: final validation loss against trainable parameters`,
    base?.finalLoss.mean,
  );
}

/** The files the report writes per task, by name under docs/study/. */
export function studySvgFiles(study: StudyJson, titles: (dataset: DatasetId) => string): { name: string; svg: string }[] {
  return studyDatasets(study).flatMap((d) => [
    { name: `${d}-validation.svg`, svg: studyCurvesSvg(study, d, 'validation', titles(d)) },
    { name: `${d}-train.svg`, svg: studyCurvesSvg(study, d, 'train', titles(d)) },
    { name: `${d}-pareto.svg`, svg: studyParetoSvg(study, d, titles(d)) },
  ]);
}
