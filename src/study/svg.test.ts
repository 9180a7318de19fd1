import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { styleAt } from '../ui/methodColors';
import type { StudyJson } from './results';
import { fixtureMethod, fixtureRun, fixtureStudy } from './studyFixture';
import { HEIGHT, WIDTH, studyCurvesSvg, studyParetoSvg, studySvgFiles } from './svg';

/** The element names in document order, checking that every tag closes in order and every attribute is quoted. */
function wellFormed(svg: string): string[] {
  const open: string[] = [];
  const names: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z0-9:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, close, name, , selfClose] = m;
    if (close) expect(open.pop(), `</${name}>`).toBe(name);
    else {
      names.push(name!);
      if (!selfClose) open.push(name!);
    }
  }
  expect(open).toEqual([]);
  // Every '<' began a tag the pattern accepted (text is escaped).
  expect((svg.match(/</g) ?? []).length).toBe([...svg.matchAll(/<(\/?)([a-zA-Z]+)((?:\s+[a-zA-Z0-9:-]+="[^"<]*")*)\s*(\/?)>/g)].length);
  return names;
}

/** Every absolute coordinate: x / y / cx / cy attributes and the points of M and L path commands. */
function coordinates(svg: string): number[] {
  const out: number[] = [];
  for (const m of svg.matchAll(/\s(?:x|y|x1|x2|y1|y2|cx|cy)="(-?[\d.]+)"/g)) out.push(Number(m[1]));
  for (const m of svg.matchAll(/\sd="([^"]*)"/g)) for (const p of m[1]!.matchAll(/[ML](-?[\d.]+),(-?[\d.]+)/g)) out.push(Number(p[1]), Number(p[2]));
  return out;
}

const info = {
  a: { label: 'Alpha & <co>', family: 'low-rank', claims: [] },
  b: { label: 'Beta', family: 'low-rank', claims: [] },
  c: { label: 'Gamma', family: 'dense', claims: [] },
};
const study: StudyJson = fixtureStudy(
  [
    fixtureRun('math', 1, [
      fixtureMethod('base', 6),
      fixtureMethod('a', 2),
      fixtureMethod('b', 3, { trainableParams: 10 }),
      fixtureMethod('c', 4, { trainableParams: 1000 }),
    ]),
    fixtureRun('math', 2, [
      fixtureMethod('base', 6),
      fixtureMethod('a', 2.4),
      fixtureMethod('b', 3.2, { trainableParams: 10 }),
      fixtureMethod('c', 1, { trainableParams: 1000 }),
    ]),
  ],
  info,
);

describe('study plots', () => {
  it('draws a band and a mean line per method, in the studio colours, escaped labels, all on the canvas', () => {
    const svg = studyCurvesSvg(study, 'math', 'validation', 'Math');
    const names = wellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    expect(svg).toContain('Alpha &amp; &lt;co&gt;');
    // Three methods with two seeds each: three bands (fill-opacity), base model as a reference line.
    expect((svg.match(/fill-opacity="0.13"/g) ?? []).length).toBe(3);
    expect(svg).toContain('base model');
    for (const i of [0, 1, 2]) expect(svg).toContain(styleAt(i).color);
    expect(names.filter((n) => n === 'svg')).toHaveLength(1);
    expect(coordinates(svg).length).toBeGreaterThan(50);
    for (const v of coordinates(svg)) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(Math.max(WIDTH, HEIGHT));
    }
  });

  it('rings the Pareto front: the cheapest method and the lowest loss, not the dominated one', () => {
    // Means: a (100 params) 2.2, b (10) 3.1, c (1000) 2.5 → c is dominated by a.
    const svg = studyParetoSvg(study, 'math', 'Math');
    wellFormed(svg);
    expect(svg).not.toMatch(/NaN|Infinity|undefined/);
    expect((svg.match(/<circle [^>]*r="9"/g) ?? []).length).toBe(2);
    expect(svg).toContain('Beta<tspan fill="#8a939f"> (front)</tspan>');
    expect(svg).toContain('Gamma</text>');
    expect(svg).not.toContain('Gamma<tspan');
    // Error bars: each method has two seeds, so a spread.
    expect((svg.match(/h8M/g) ?? []).length).toBe(3);
  });

  it('renders a results file with the older fields (study v1: two seeds on math, one on words) without NaN', () => {
    const v1 = JSON.parse(readFileSync('test/fixtures/study/results-v1.json', 'utf8')) as StudyJson;
    const files = studySvgFiles(v1, (d) => d);
    expect(files.map((f) => f.name)).toEqual([
      'math-validation.svg',
      'math-train.svg',
      'math-pareto.svg',
      'words-validation.svg',
      'words-train.svg',
      'words-pareto.svg',
    ]);
    for (const f of files) {
      wellFormed(f.svg);
      expect(f.svg, f.name).not.toMatch(/NaN|Infinity|undefined/);
    }
  });

  it('renders the committed reference study, three plots per task, without NaN', () => {
    const committed = JSON.parse(readFileSync('docs/results.json', 'utf8')) as StudyJson;
    const tasks = [...new Set(committed.runs.map((r) => r.dataset))];
    const files = studySvgFiles(committed, (d) => d);
    expect(files.map((f) => f.name).sort()).toEqual(tasks.flatMap((t) => [`${t}-validation.svg`, `${t}-train.svg`, `${t}-pareto.svg`]).sort());
    for (const f of files) {
      wellFormed(f.svg);
      expect(f.svg, f.name).not.toMatch(/NaN|Infinity|undefined/);
    }
  });

  it('says so when a task has nothing to draw', () => {
    const empty = fixtureStudy([fixtureRun('words', 1, [fixtureMethod('base', 6)])]);
    expect(studyCurvesSvg(empty, 'words', 'validation', 'Words')).toContain('no data');
    expect(studyParetoSvg(empty, 'words', 'Words')).toContain('no data');
  });
});
