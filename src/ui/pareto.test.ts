import { describe, expect, it } from 'vitest';
import { dominates, frontOutline, frontSteps, paretoFront, type ParetoPoint } from './pareto';

const ids = (points: readonly ParetoPoint[]) => points.map((p) => p.id);

/** Brute force from the definition, independent of paretoFront's filter: no point is better or equal on both and better on one. */
function bruteFront(points: readonly ParetoPoint[], sense: 'min' | 'max'): string[] {
  const score = (p: ParetoPoint) => (sense === 'min' ? p.y : -p.y);
  return points
    .filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y))
    .filter((p) =>
      points.every(
        (q) => q === p || !Number.isFinite(q.x) || !Number.isFinite(q.y) || !(q.x <= p.x && score(q) <= score(p) && (q.x < p.x || score(q) < score(p))),
      ),
    )
    .map((p) => p.id)
    .sort();
}

describe('paretoFront', () => {
  it('keeps the methods no other beats on both cost and loss, ordered by cost', () => {
    const points = [
      { id: 'big', x: 1000, y: 1.0 },
      { id: 'mid', x: 100, y: 1.5 },
      { id: 'midBetter', x: 100, y: 1.3 },
      { id: 'small', x: 10, y: 2.0 },
      { id: 'bad', x: 500, y: 1.6 },
    ];
    expect(ids(paretoFront(points, 'min'))).toEqual(['small', 'midBetter', 'big']);
  });

  it('reverses the score for accuracy (larger is better)', () => {
    const points = [
      { id: 'a', x: 10, y: 0.2 },
      { id: 'b', x: 20, y: 0.1 },
      { id: 'c', x: 30, y: 0.5 },
    ];
    expect(ids(paretoFront(points, 'max'))).toEqual(['a', 'c']);
    expect(ids(paretoFront(points, 'min'))).toEqual(['a', 'b']);
  });

  it('keeps exact ties together and leaves out non-finite points', () => {
    const points = [
      { id: 'x', x: 5, y: 1 },
      { id: 'y', x: 5, y: 1 },
      { id: 'nan', x: Number.NaN, y: 0 },
      { id: 'inf', x: 1, y: Number.POSITIVE_INFINITY },
    ];
    expect(ids(paretoFront(points, 'min')).sort()).toEqual(['x', 'y']);
    expect(dominates(points[0]!, points[1]!, 'min')).toBe(false);
  });

  it('agrees with the definition on random point sets', () => {
    let s = 12345;
    const rand = () => (s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (const n of [1, 7, 33, 100]) {
      for (const sense of ['min', 'max'] as const) {
        const points = Array.from({ length: n }, (_, i) => ({ id: `m${i}`, x: Math.floor(rand() * 20), y: Math.floor(rand() * 20) / 4 }));
        const front = paretoFront(points, sense);
        expect(ids(front).sort()).toEqual(bruteFront(points, sense));
        for (let i = 1; i < front.length; i++) expect(front[i]!.x).toBeGreaterThanOrEqual(front[i - 1]!.x);
      }
    }
  });
});

describe('frontSteps', () => {
  it('draws a staircase: across at the previous score, then to the next point', () => {
    const front = [
      { id: 'a', x: 1, y: 3 },
      { id: 'b', x: 2, y: 2 },
      { id: 'c', x: 4, y: 1 },
    ];
    expect(frontSteps(front)).toEqual([
      { x: 1, y: 3 },
      { x: 2, y: 3 },
      { x: 2, y: 2 },
      { x: 4, y: 2 },
      { x: 4, y: 1 },
    ]);
    expect(frontSteps([])).toEqual([]);
  });
});

describe('frontOutline', () => {
  it('closes the staircase at the plot edges, so one point on the front is drawn too', () => {
    expect(frontOutline([{ id: 'a', x: 2, y: 1.5 }], 10, 3)).toEqual([
      { x: 2, y: 3 },
      { x: 2, y: 1.5 },
      { x: 10, y: 1.5 },
    ]);
    const two = frontOutline(
      [
        { id: 'a', x: 1, y: 0.2 },
        { id: 'b', x: 4, y: 0.6 },
      ],
      8,
      0,
    );
    expect(two).toEqual([
      { x: 1, y: 0 },
      { x: 1, y: 0.2 },
      { x: 4, y: 0.2 },
      { x: 4, y: 0.6 },
      { x: 8, y: 0.6 },
    ]);
    expect(frontOutline([], 1, 1)).toEqual([]);
  });
});
