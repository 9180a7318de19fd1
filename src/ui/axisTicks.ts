// Axis domains, ticks and labels for the charts, computed here rather than left to recharts (whose
// automatic ticks fall at odd values such as 17, 112, 207 and, on a log scale, at values that
// repeat or lie outside the data). Ticks are round: 1, 2 or 5 times a power of ten. Pure functions.

export interface Axis {
  /** [low, high] of the axis; every tick lies within it. */
  readonly domain: readonly [number, number];
  /** Ascending and distinct. */
  readonly ticks: readonly number[];
}

/** The round step (1, 2 or 5 × 10^k) nearest to splitting `span` into `count` parts (at least `minStep`). */
export function niceStep(span: number, count = 5, minStep = 0): number {
  const raw = Math.max(span / Math.max(1, count), minStep, Number.MIN_VALUE);
  const power = 10 ** Math.floor(Math.log10(raw));
  const mantissa = raw / power;
  // Nearest round step (as d3 does): fewer than 2× too many or too few ticks.
  const step = (mantissa >= Math.sqrt(50) ? 10 : mantissa >= Math.sqrt(10) ? 5 : mantissa >= Math.sqrt(2) ? 2 : 1) * power;
  return Math.max(step, minStep);
}

/** Removes the floating-point noise of k × step (0.30000000000000004 → 0.3). */
const clean = (v: number): number => Number(v.toPrecision(12));

/**
 * A linear axis over [min, max] widened to the round steps around it, with ticks at every step.
 * `integer`: steps of at least 1 (step and token counts).
 */
export function linearAxis(min: number, max: number, options: { integer?: boolean; count?: number } = {}): Axis {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { domain: [0, 1], ticks: [0, 1] };
  if (min > max) [min, max] = [max, min];
  if (min === max) {
    // One value: a little room either side, never below 0 for a non-negative value.
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    max += pad;
    min = min >= 0 && min - pad < 0 ? 0 : min - pad;
  }
  const step = niceStep(max - min, options.count ?? 5, options.integer ? 1 : 0);
  const lo = clean(Math.floor(min / step + 1e-9) * step);
  const hi = clean(Math.ceil(max / step - 1e-9) * step);
  const ticks: number[] = [];
  for (let i = 0; lo + i * step <= hi + step * 1e-9; i++) ticks.push(clean(lo + i * step));
  return { domain: [lo, hi], ticks };
}

const MANTISSAS: readonly (readonly number[])[] = [[1], [1, 2, 5], [1, 2, 3, 4, 5, 6, 7, 8, 9]];

/**
 * A log axis over [min, max] (both > 0): the domain widened to the nearest round values around the
 * data, ticks at 1-2-5 × 10^k inside it (decades only when those are many; every value 1…9 × 10^k
 * when the range is narrow), at most about `maxTicks` of them.
 */
export function logAxis(min: number, max: number, maxTicks = 7): Axis {
  if (!(min > 0) || !(max > 0) || !Number.isFinite(min) || !Number.isFinite(max)) return { domain: [1, 10], ticks: [1, 10] };
  if (min > max) [min, max] = [max, min];
  // A narrow range (less than ×3): the linear round ticks, so the points do not huddle in the middle.
  if (max / min < 3) {
    const linear = linearAxis(min, max);
    if (linear.domain[0] > 0 && linear.ticks.length >= 2) return linear;
  }
  const candidates = (mantissas: readonly number[]): number[] => {
    const out: number[] = [];
    for (let k = Math.floor(Math.log10(min)) - 1; k <= Math.ceil(Math.log10(max)) + 1; k++) for (const m of mantissas) out.push(clean(m * 10 ** k));
    return out;
  };
  const fine = candidates(MANTISSAS[2]!);
  // Domain: the nearest 1…9 × 10^k at or outside the data (so nothing is cut off at either end).
  const lo = [...fine].reverse().find((v) => v <= min * (1 + 1e-9)) ?? min;
  const hi = fine.find((v) => v >= max * (1 - 1e-9)) ?? max;
  const inside = (vs: readonly number[]) => vs.filter((v) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9));
  let ticks = inside(candidates(MANTISSAS[1]!));
  if (ticks.length > maxTicks) ticks = inside(candidates(MANTISSAS[0]!));
  if (ticks.length < 3) ticks = inside(fine);
  while (ticks.length > maxTicks) ticks = ticks.filter((_, i) => i % 2 === 0);
  if (ticks.length < 2) return { domain: [lo, hi], ticks: [lo, hi] };
  return { domain: [lo, hi], ticks };
}

/** The data's range over the given values (non-finite, and on a log axis non-positive, left out); null when empty. */
export function extent(values: Iterable<number | undefined>, log = false): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (v === undefined || !Number.isFinite(v) || (log && v <= 0)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  return lo <= hi ? [lo, hi] : null;
}

/** The axis for a range, linear or log. */
export function axisFor(range: [number, number] | null, log: boolean, integer = false): Axis | null {
  if (!range) return null;
  return log ? logAxis(range[0], range[1]) : linearAxis(range[0], range[1], { integer });
}

/** A short tick label: 1.5k, 2M, 0.25, 5e-4 (3 significant digits). */
export function formatTick(v: number): string {
  return formatDigits(v, 3);
}

function formatDigits(v: number, digits: number): string {
  if (!Number.isFinite(v)) return '';
  const a = Math.abs(v);
  const short = (x: number) => String(Number(x.toPrecision(digits)));
  if (a === 0) return '0';
  if (a >= 1e9) return `${short(v / 1e9)}G`;
  if (a >= 1e6) return `${short(v / 1e6)}M`;
  if (a >= 1e3) return `${short(v / 1e3)}k`;
  if (a < 1e-2) {
    const [m, e] = v.toExponential(digits - 1).split('e');
    return `${String(Number(m))}e${String(Number(e))}`;
  }
  return short(v);
}

/**
 * The labeller for an axis's ticks: 3 significant digits, or as many more as it takes for no two
 * labels to read the same (ticks 15.95, 16, 16.05 need 4: "16.1" would repeat).
 */
export function tickLabeller(ticks: readonly number[]): (v: number) => string {
  for (let digits = 3; digits < 12; digits++) {
    const labels = ticks.map((t) => formatDigits(t, digits));
    if (new Set(labels).size === labels.length) return (v: number) => formatDigits(v, digits);
  }
  return (v: number) => formatDigits(v, 12);
}

/** Pixels a y axis needs for its longest label at an 11 px font. */
export function axisWidth(ticks: readonly number[]): number {
  const label = tickLabeller(ticks);
  const longest = ticks.reduce((n, t) => Math.max(n, label(t).length), 1);
  return Math.max(32, Math.ceil(longest * 6.8) + 14);
}
