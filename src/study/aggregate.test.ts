import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { claimKind, claimResults, methodLabel, paretoFront, quantClaimResults, seedBands, statOf, summarize, verdictOf } from './aggregate';
import type { DatasetId, StudyJson, StudyRun } from './results';
import { fixtureMethod, fixtureRun, fixtureStudy } from './studyFixture';

const method = fixtureMethod;
const run = fixtureRun;
const study = fixtureStudy;

describe('statOf', () => {
  it('takes the sample sd (n − 1) over the finite values and counts the rest', () => {
    const s = statOf([1, 2, 3, 4, Number.NaN, Infinity]);
    expect(s.mean).toBe(2.5);
    expect(s.sd).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(s.n).toBe(4);
    expect(s.values).toEqual([1, 2, 3, 4]);
    expect(s.dropped).toBe(2);
  });
  it('has no spread for one value and no mean for none', () => {
    expect(statOf([7])).toMatchObject({ mean: 7, n: 1 });
    expect(statOf([7]).sd).toBeNaN();
    expect(statOf([Number.NaN]).mean).toBeNaN();
    expect(statOf([]).n).toBe(0);
  });
});

describe('summarize', () => {
  const s = study(
    [
      run('math', 1, [method('base', 6), method('a', 2, { accuracy: { correct: 2, total: 4, answered: 4, samples: [], ms: 1, meanF1: 0.5 } })]),
      run('math', 2, [method('base', 6), method('a', 4, { stoppedAt: { step: 3, reason: 'nan' }, trainMs: 4000 })]),
      run('words', 1, [method('a', 3, { forgetting: { text: 't', tokens: 10, baseLoss: 2, loss: 2.5, delta: 0.5 } })]),
    ],
    { a: { label: 'Method A', family: 'low-rank', claims: [] } },
  );
  const rows = summarize(s);

  it('gives every task × method with the base row, labelled from methodInfo', () => {
    expect(rows.map((r) => `${r.dataset}/${r.method}/${r.label}`)).toEqual(['math/base/Base model', 'math/a/Method A', 'words/a/Method A']);
    expect(methodLabel(s, 'zzz')).toBe('zzz');
  });
  it('reduces over seeds with known answers', () => {
    const a = rows[1]!;
    expect(a.seeds).toBe(2);
    expect(a.stopped).toBe(1);
    expect(a.family).toBe('low-rank');
    expect(a.finalLoss.mean).toBe(3);
    expect(a.finalLoss.sd).toBeCloseTo(Math.SQRT2, 12);
    expect(a.bestLoss.values).toEqual([1.5, 3.5]);
    expect(a.accuracy.values).toEqual([0.5, 0.25]);
    // 1000 tokens in 2 s and in 4 s.
    expect(a.tokensPerSecond.values).toEqual([500, 250]);
    // F1 measured in one seed only: n 1; forgetting not at all on this task: absent.
    expect(a.f1).toMatchObject({ mean: 0.5, n: 1 });
    expect(a.forgetting).toBeUndefined();
    expect(rows[2]!.forgetting).toMatchObject({ mean: 0.5, n: 1 });
    expect(rows[0]!.bestLoss.mean).toBe(6 - 1); // base: its step-0 point (5)
    expect(rows[0]!.tokensPerSecond.n).toBe(0);
  });
});

describe('seedBands', () => {
  const s = study([run('math', 1, [method('base', 6), method('a', 2)]), run('math', 2, [method('base', 6), method('a', 4, { losses: [6, 5] })])]);
  it('gives mean ± sd per validation step, base left out', () => {
    const bands = seedBands(s, 'math', 'validation');
    expect(bands.map((b) => b.method)).toEqual(['a']);
    const last = bands[0]!.points.find((p) => p.step === 4)!;
    expect(last.mean).toBe(3);
    expect(last.sd).toBeCloseTo(Math.SQRT2, 12);
    expect(last.n).toBe(2);
  });
  it('smooths the training curve over the window and counts the seeds that reached each step', () => {
    const points = seedBands(s, 'math', 'train', 2)[0]!.points;
    // step 2: seed 1 mean(4, 3) = 3.5, seed 2 mean(6, 5) = 5.5.
    expect(points[1]).toMatchObject({ step: 2, mean: 4.5, n: 2 });
    // step 4: only seed 1 (mean(2, 1)).
    expect(points[3]).toMatchObject({ step: 4, mean: 1.5, n: 1 });
    expect(points[3]!.sd).toBeNaN();
  });
});

describe('paretoFront', () => {
  it('keeps the non-dominated points by increasing x, dropping non-finite ones', () => {
    const pts = [
      { id: 'a', x: 1, y: 5 },
      { id: 'b', x: 2, y: 3 },
      { id: 'c', x: 3, y: 4 }, // dominated by b
      { id: 'd', x: 4, y: 1 },
      { id: 'e', x: 2, y: 3 }, // equal to b: neither dominates
      { id: 'f', x: 0.5, y: Number.NaN },
      { id: 'g', x: 5, y: 1 }, // dominated by d
    ];
    expect(
      paretoFront(
        pts,
        (p) => p.x,
        (p) => p.y,
      ).map((p) => p.id),
    ).toEqual(['a', 'b', 'e', 'd']);
  });
});

describe('claims', () => {
  it('reads the kind of a claim from its wording', () => {
    expect(claimKind('PiSSA converges faster and ends lower than LoRA at the same rank')).toBe('lower');
    expect(claimKind('QLoRA matches LoRA with a 4-bit base')).toBe('parity');
    expect(claimKind('CorDA (KPM) learns the task as well as LoRA while forgetting less')).toBe('parity');
    expect(claimKind('SHiRA reaches LoRA’s loss or lower')).toBe('parity');
    expect(claimKind('LoRA+ reaches a lower loss than LoRA in the same number of steps')).toBe('lower');
    expect(claimKind('SPP keeps the pruned sparsity exactly while approaching LoRA’s loss')).toBe('parity');
    expect(claimKind('LoRA-SB reaches LoRA’s loss with far fewer trainable parameters')).toBe('parameters');
    expect(claimKind('QPiSSA reduces the quantization error more than LoftQ at the same T')).toBe('quantization');
    expect(claimKind('QPiSSA has a smaller quantization error and a lower loss than QLoRA')).toBe('lower');
  });
  it('applies the verdict rule', () => {
    expect(verdictOf(0, 0)).toBe('no data');
    expect(verdictOf(1, 1)).toBe('mixed');
    expect(verdictOf(3, 3)).toBe('supports');
    expect(verdictOf(0, 2)).toBe('contradicts');
    expect(verdictOf(1, 3)).toBe('mixed');
  });

  const info = {
    p: { label: 'P', family: 'low-rank', claims: [{ against: 'l', claim: 'P ends lower than L' }] },
    s: { label: 'S', family: 'low-rank', claims: [{ against: 'l', claim: 'S reaches L’s loss with far fewer trainable parameters' }] },
    x: { label: 'X', family: 'low-rank', claims: [{ against: 'missing', claim: 'X ends lower than Missing' }] },
  };
  const s = study(
    [
      run('math', 1, [method('l', 3), method('p', 2), method('s', 3.1, { trainableParams: 10 })]),
      run('math', 2, [method('l', 3), method('p', 2.5), method('s', 3.3, { trainableParams: 10 })]),
      run('math', 3, [method('l', 3), method('p', 4, { stoppedAt: { step: 2, reason: 'nan' } }), method('s', 2.9, { trainableParams: 10 })]),
      run('words', 1, [method('l', 1), method('p', 2)]),
      run('words', 2, [method('l', 1), method('p', 3)]),
    ],
    info,
  );
  const results = claimResults(s);
  const find = (m: string, d: DatasetId) => results.find((r) => r.method === m && r.dataset === d)!;

  it('pairs seeds where both finished and counts wins', () => {
    const p = find('p', 'math');
    expect(p.pairs).toBe(2); // seed 3: P stopped
    expect(p.wins).toBe(2);
    expect(p.diff.values).toEqual([-1, -0.5]);
    expect(p.verdict).toBe('supports');
    expect(find('p', 'words')).toMatchObject({ pairs: 2, wins: 0, verdict: 'contradicts' });
    expect(find('p', 'words').diff.mean).toBe(1.5);
  });
  it('judges a parameter claim on loss parity and the parameter ratio', () => {
    const c = find('s', 'math');
    expect(c.kind).toBe('parameters');
    expect(c.paramRatio).toBe(10);
    // 3.1 and 2.9 within 5 % of 3; 3.3 is not.
    expect(c.atParity).toBe(2);
    expect(c.wins).toBe(1);
    expect(c.verdict).toBe('mixed');
  });
  it('judges a claim of forgetting less on both halves once every pair measured forgetting', () => {
    const forgot = (delta: number) => ({ forgetting: { text: 't', tokens: 1, baseLoss: 1, loss: 1 + delta, delta } });
    const claim = { k: { label: 'K', family: 'low-rank', claims: [{ against: 'l', claim: 'K learns as well as L while forgetting less' }] } };
    const both = (k: number, l: number) =>
      claimResults(
        study(
          [run('math', 1, [method('l', 3, forgot(l)), method('k', 3, forgot(k))]), run('math', 2, [method('l', 3, forgot(l)), method('k', 3.05, forgot(k))])],
          claim,
        ),
      )[0]!;
    expect(both(0.1, 0.3)).toMatchObject({ kind: 'parity', atParity: 2, verdict: 'supports', forgetting: { pairs: 2, wins: 2 } });
    expect(both(0.1, 0.3).forgetting!.diff.mean).toBeCloseTo(-0.2, 12);
    expect(both(0.5, 0.3)).toMatchObject({ atParity: 2, verdict: 'contradicts', forgetting: { wins: 0 } });
    // Not measured: the loss half alone.
    expect(claimResults(study([run('math', 1, [method('l', 3), method('k', 3)]), run('math', 2, [method('l', 3), method('k', 3)])], claim))[0]).toMatchObject({
      verdict: 'supports',
    });
  });
  it('says no data where the other method never ran, and nothing without methodInfo', () => {
    expect(find('x', 'math')).toMatchObject({ pairs: 0, verdict: 'no data' });
    expect(find('x', 'math').diff.mean).toBeNaN();
    expect(claimResults(study(s.runs as StudyRun[]))).toEqual([]);
  });
  it('checks quantization claims per layer at the last common iteration', () => {
    const layer = (name: string, errs: number[]) => ({
      layer: name,
      role: 'q',
      errors: errs.map((nuclear, iteration) => ({ iteration, frobenius: 1, nuclear })),
    });
    const q: StudyJson = {
      ...study([], { a: { label: 'A', family: 'q', claims: [{ against: 'b', claim: 'A reduces the quantization error more than B' }] } }),
      quant: {
        seed: 1,
        settings: {},
        methods: [
          { id: 'a', iterations: 2, initMs: 1, layers: [layer('l0', [10, 8, 6]), layer('l1', [10, 9, 9])] },
          { id: 'b', iterations: 3, initMs: 1, layers: [layer('l0', [10, 9, 8, 1]), layer('l1', [10, 9, 10, 1])] },
        ],
      },
    };
    const [r] = quantClaimResults(q);
    expect(r).toMatchObject({ iteration: 2, layers: 2, wins: 2, verdict: 'supports' });
    expect(r!.reduction.values[0]).toBeCloseTo(0.25, 12);
    expect(r!.reduction.values[1]).toBeCloseTo(0.1, 12);
  });
});

describe('a results file written before the new fields (study v1, test/fixtures/study/results-v1.json)', () => {
  const v1 = JSON.parse(readFileSync('test/fixtures/study/results-v1.json', 'utf8')) as StudyJson;
  it('summarizes without throwing and leaves the new fields absent', () => {
    const rows = summarize(v1);
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(r.forgetting).toBeUndefined();
      expect(r.driftLeft).toBeUndefined();
      expect(r.plannedPeakBytes).toBeUndefined();
      expect(Number.isFinite(r.finalLoss.mean)).toBe(true);
    }
    const math = rows.filter((r) => r.dataset === 'math' && r.method !== 'base');
    expect(math.every((r) => r.finalLoss.n === 2 && Number.isFinite(r.finalLoss.sd))).toBe(true);
    expect(seedBands(v1, 'math', 'validation').every((b) => b.points.length > 0)).toBe(true);
    expect(claimResults(v1)).toEqual([]);
  });
});

describe('the committed reference study (docs/results.json)', () => {
  const committed = JSON.parse(readFileSync('docs/results.json', 'utf8')) as StudyJson;
  it('has forgetting, drift and a planned peak for every trained method, and a paired row for every claim and task', () => {
    const rows = summarize(committed).filter((r) => r.method !== 'base');
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      expect(Number.isFinite(r.finalLoss.mean), `${r.dataset} ${r.method}`).toBe(true);
      expect(Number.isFinite(r.forgetting?.mean), `${r.dataset} ${r.method} forgetting`).toBe(true);
      expect(Number.isFinite(r.driftLeft?.mean), `${r.dataset} ${r.method} drift`).toBe(true);
      expect(r.plannedPeakBytes, `${r.dataset} ${r.method}`).toBeGreaterThan(0);
    }
    const tasks = new Set(committed.runs.map((r) => r.dataset));
    const claims = claimResults(committed);
    expect(claims.length).toBeGreaterThan(0);
    for (const c of claims) if (tasks.has(c.dataset)) expect(c.pairs, `${c.method} vs ${c.against} on ${c.dataset}`).toBeGreaterThan(0);
  });
});
