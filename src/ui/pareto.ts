// The Pareto front of a comparison: each method is a point (cost x, score y); a method is on the
// front when no other method is at least as good on both and better on one. Cost is always
// smaller-is-better (memory, trainable parameters); the score is smaller-is-better (a loss) or
// larger-is-better (accuracy). Points with a non-finite coordinate take no part.
// Not here: drawing (ParetoPanel.tsx).

export interface ParetoPoint {
  readonly id: string;
  readonly x: number;
  readonly y: number;
}

export type ScoreSense = 'min' | 'max';

/** Whether `a` dominates `b`: no worse on both coordinates and strictly better on one. */
export function dominates(a: ParetoPoint, b: ParetoPoint, sense: ScoreSense): boolean {
  const yNoWorse = sense === 'min' ? a.y <= b.y : a.y >= b.y;
  return a.x <= b.x && yNoWorse && (a.x < b.x || a.y !== b.y);
}

/** The non-dominated points among the finite ones, by increasing cost (ties: best score first). */
export function paretoFront(points: readonly ParetoPoint[], sense: ScoreSense): ParetoPoint[] {
  const finite = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const front = finite.filter((p) => !finite.some((q) => q !== p && dominates(q, p, sense)));
  return front.sort((a, b) => a.x - b.x || (sense === 'min' ? a.y - b.y : b.y - a.y));
}

/**
 * The front as a staircase through its points (x increasing): from each point right at its own
 * score to the next point's cost, then up or down to the next score. The region it bounds is
 * what the methods attain.
 */
export function frontSteps(front: readonly ParetoPoint[]): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  front.forEach((p, i) => {
    if (i > 0) out.push({ x: p.x, y: front[i - 1]!.y });
    out.push({ x: p.x, y: p.y });
  });
  return out;
}

/**
 * The staircase closed off at the plot's edges, so a front of one point is drawn too: up from the
 * cheapest front point at the worst score shown (`yWorst`), through the steps, then across at the
 * last point's score to the largest cost shown (`xMax`).
 */
export function frontOutline(front: readonly ParetoPoint[], xMax: number, yWorst: number): { x: number; y: number }[] {
  if (front.length === 0) return [];
  const last = front[front.length - 1]!;
  return [{ x: front[0]!.x, y: yWorst }, ...frontSteps(front), { x: Math.max(xMax, last.x), y: last.y }];
}
