import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { StudyJson } from '../../study/results';
import { fixtureMethod, fixtureRun, fixtureStudy } from '../../study/studyFixture';
import { BEGIN, END, mergeResults, renderResults, studySvgs } from './report';

const generated = (md: string): string => md.slice(md.indexOf(BEGIN), md.indexOf(END) + END.length);

describe('RESULTS.md from a study v1 results file (test/fixtures/study/results-v1.json: 30 steps, no new fields)', () => {
  const committed = JSON.parse(readFileSync('test/fixtures/study/results-v1.json', 'utf8')) as StudyJson;
  const md = renderResults(committed);

  it('renders mean ± sd tables with – for what it did not measure, plot links and the registry labels', () => {
    expect(md.startsWith(BEGIN) && md.endsWith(END)).toBe(true);
    expect(md).toContain('## Math word problems (2 seeds: 1, 2)');
    expect(md).toContain('## Word instructions (one seed: 1)');
    // PiSSA's final loss over math seeds 5.988 and 6.034.
    expect(md).toMatch(/\| PiSSA \| 2 \| 6\.011 ± 0\.032 \|/);
    // Forgetting, token F1, planned peak, drift: not in this file.
    expect(md).toMatch(/\| PiSSA \| 2 \| [^|]+\| [^|]+\| [^|]+\| [^|]+\| – \| – \|/);
    expect(md).toContain('Measured GPU peak: not recorded by this results file.');
    for (const f of ['math-validation', 'math-train', 'math-pareto', 'words-pareto']) expect(md).toContain(`](study/${f}.svg)`);
    expect(md).toContain('## Quantization error at init');
  });

  it('fills the paper-claim table from the registry claims, paired by seed', () => {
    expect(md).toContain('## Paper claims, paired by seed');
    expect(md).toMatch(/\| PiSSA vs LoRA: [^|]+\| math \| lower loss \| 2 \| 2\/2 \| 2\/2 \| – \| -5\.434 ± 0\.014 \| – \| \*\*supports\*\* \|/);
    expect(md).toMatch(/\| SPP vs LoRA: [^|]+\| math \| loss within 5 % \| 2 \| 0\/2 \| 0\/2 \| – \| 2\.940 ± 0\.111 \| – \| \*\*contradicts\*\* \|/);
    expect(md).toMatch(/\| LoRA-SB vs LoRA: [^|]+\| math \| [^|]+\| 2 \| 2\/2 \| 2\/2 \| 41\.7× \|/);
    expect(md).toMatch(/\| QPiSSA vs LoftQ: [^|]+\| T=5 \| 28 \| 27\/28 \|/);
  });

  it('writes the six plots', () => {
    expect(studySvgs(committed).map((f) => f.name)).toHaveLength(6);
  });
});

describe('the committed reference study (docs/results.json, docs/RESULTS.md, docs/study/*.svg)', () => {
  const committed = JSON.parse(readFileSync('docs/results.json', 'utf8')) as StudyJson;
  const stale = 'stale: run bash scripts/study-slices.sh join';

  it("RESULTS.md's generated part and the plots are what the results file renders to", () => {
    expect(generated(readFileSync('docs/RESULTS.md', 'utf8')), `docs/RESULTS.md is ${stale}`).toBe(renderResults(committed));
    for (const f of studySvgs(committed)) expect(readFileSync(`docs/study/${f.name}`, 'utf8'), `docs/study/${f.name} is ${stale}`).toBe(f.svg);
  });
});

describe('a sweep alone (the committed docs/study/parts/sweep.json)', () => {
  const sweepOnly = JSON.parse(readFileSync('docs/study/parts/sweep.json', 'utf8')) as StudyJson;
  const md = renderResults(sweepOnly);
  const sweep = sweepOnly.lrSweep!;

  it('says it is the sweep alone, with its seed, and pairs no claims', () => {
    expect(sweepOnly.config.plannedRuns).toEqual([]);
    expect(md).toContain(`> **PARTIAL RESULTS.** The learning-rate sweep alone (${sweep.trials.length} of ${sweep.planned} trials so far); no main runs yet.`);
    expect(md).toContain(`- **Seeds:** ${sweep.seed}, the sweep's (`);
    expect(md).toContain('no accuracy scored (0 prompts)');
    expect(md).toContain('## Learning-rate sweep');
    expect(md).not.toContain('## Paper claims');
  });
});

describe('RESULTS.md with the v2 fields', () => {
  const info = {
    a: { label: 'Alpha', family: 'low-rank', claims: [{ against: 'b', claim: 'Alpha ends lower than Beta' }] },
    b: { label: 'Beta', family: 'low-rank', claims: [] },
  };
  const measured = (delta: number, drift: number) => ({
    forgetting: { text: 'heldout', tokens: 100, baseLoss: 3, loss: 3 + delta, delta },
    spectralDrift: { k: 4, layers: [], meanLeft: drift, meanRight: drift / 2, meanSigmaChange: 0.1, ms: 1 },
    plannedPeakBytes: 3 << 20,
  });
  const acc = (correct: number, meanF1: number) => ({ accuracy: { correct, total: 4, answered: 4, samples: [], ms: 1, meanF1 } });
  const study = fixtureStudy(
    [
      {
        ...fixtureRun('arithmetic', 1, [fixtureMethod('base', 6), fixtureMethod('a', 2, { ...measured(0.4, 0.2), ...acc(2, 0.5) }), fixtureMethod('b', 3)]),
        peakGpuBytes: 10 << 20,
      },
      {
        ...fixtureRun('arithmetic', 2, [fixtureMethod('base', 6), fixtureMethod('a', 2.2, { ...measured(0.6, 0.4), ...acc(4, 1) }), fixtureMethod('b', 3.4)]),
        peakGpuBytes: 12 << 20,
      },
    ],
    info,
    {
      lrSweep: {
        dataset: 'arithmetic',
        seed: 1,
        steps: 20,
        scope: 'family',
        trials: [
          { method: 'a', learningRate: 1e-3, finalValidationLoss: 2.5 },
          { method: 'a', learningRate: 1e-2, finalValidationLoss: 9, stoppedAt: 7 },
          { method: 'b', learningRate: 1e-3, finalValidationLoss: 3.5 },
        ],
        chosen: { 'low-rank': 1e-3 },
        rule: 'the lowest final validation loss.',
        wallMs: 120000,
      },
    },
  );
  const md = renderResults(study);

  it('shows the new figures as mean ± sd', () => {
    // Alpha: forgetting 0.4 / 0.6, accuracy 50 % / 100 %, F1 0.5 / 1.
    expect(md).toMatch(
      /\| Alpha \| 2 \| 2\.100 ± 0\.141 \| [^|]+\| 75\.0 ± 35\.4 % \| 100\.0 ± 0\.0 % \| 75\.0 ± 35\.4 % \| 0\.500 ± 0\.141 \| 500\.0 ± 0\.0 \|/,
    );
    expect(md).toMatch(
      /\| Alpha \| 0\.001 \| 100 \| 1 KiB \| 5 KiB \| 3\.00 MiB \| 0\.0 ± 0\.0 \| 2 ± 0 \| 0\.300 ± 0\.141 \| 0\.150 ± 0\.071 \| 0\.100 ± 0\.000 \|/,
    );
    expect(md).toMatch(/\| Beta \| 2 \| 3\.200 ± 0\.283 \| [^|]+\| [^|]+\| [^|]+\| – \| – \|/);
    expect(md).toContain('Measured GPU pool peak per run (every method of the run together): 11.00 ± 1.41 MiB over 2 runs.');
    expect(md).toMatch(/\| Alpha vs Beta: Alpha ends lower than Beta \| arithmetic \| lower loss \| 2 \| 2\/2 \|/);
  });

  it('tabulates the learning-rate sweep with the chosen rate in bold, marked where it sits at the edge of the rates tried', () => {
    expect(md).toContain('## Learning-rate sweep');
    expect(md).toContain('| method | family | lr 0.001 | lr 0.01 | chosen |');
    expect(md).toContain('| Alpha | low-rank | **2.500** | stopped at 7 | 0.001 ↓ |');
    expect(md).toContain('(bold: the chosen rate; ↓: the best at the lowest rate tried: the best rate may lie below the grid):');
    expect(md).toContain('| Beta | low-rank | **3.500** |  | 0.001 |');
  });

  it('keeps the hand-written text around the markers', () => {
    const merged = mergeResults(`# Title\n\nintro\n\n${BEGIN}\nold\n${END}\n\n## Reading\nhand-written`, md);
    expect(merged.startsWith('# Title\n\nintro\n\n')).toBe(true);
    expect(merged.endsWith('\n\n## Reading\nhand-written')).toBe(true);
    expect(generated(merged)).toBe(md);
  });
});
