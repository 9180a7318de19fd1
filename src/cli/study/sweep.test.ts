// The learning-rate sweep's rules (study/sweep.ts): grid parsing, the choice (lowest final
// validation loss; a stopped trial never wins), resuming, the main study's refusal without rates,
// and the configuration comparison --resume and --merge rely on. No GPU: the one end-to-end check
// spawns `npm run study` and expects it to refuse before it loads anything.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { METHODS } from '../../adapters/registry';
import type { MethodFamily, MethodId } from '../../adapters/types';
import type { LrSweep, StudyJson } from '../../study/results';
import { UsageError } from '../args';
import {
  DEFAULT_SWEEP_GRID,
  chooseRates,
  choiceRule,
  describeRates,
  gridFlag,
  gridPoints,
  methodRates,
  parseSweepGrid,
  runSweep,
  sameConfiguration,
  setupDifferences,
  studyRates,
  sweepTable,
  type SweepTrial,
} from './sweep';

const ofFamily = (f: MethodFamily): MethodId[] => METHODS.filter((m) => m.family === f).map((m) => m.id);
const [lowA, lowB] = ofFamily('low-rank') as [MethodId, MethodId];
const sparse = ofFamily('sparse')[0]!;
const dense = ofFamily('dense')[0]!;

function usageMessage(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return (error as Error).message;
  }
  throw new UsageError('expected a UsageError', 'test');
}

describe('parseSweepGrid', () => {
  it('keeps the default grid without the flag, and round-trips its own flag form', () => {
    expect(parseSweepGrid(undefined)).toBe(DEFAULT_SWEEP_GRID);
    expect(parseSweepGrid(gridFlag(DEFAULT_SWEEP_GRID))).toEqual(DEFAULT_SWEEP_GRID);
  });

  it('replaces only the families given, sorting their rates', () => {
    const grid = parseSweepGrid(' dense = 3e-3:3e-4 , low-rank=5e-3');
    expect(grid.dense).toEqual([3e-4, 3e-3]);
    expect(grid['low-rank']).toEqual([5e-3]);
    expect(grid.sparse).toEqual(DEFAULT_SWEEP_GRID.sparse);
  });

  it("takes 'none' for a family none of whose methods are swept (a grid column of other families' extra rates)", () => {
    const grid = parseSweepGrid('low-rank=none,sparse=3e-2,dense=none');
    expect(grid).toEqual({ 'low-rank': [], sparse: [3e-2], dense: [] });
    expect(parseSweepGrid(gridFlag(grid))).toEqual(grid);
    expect(gridPoints([lowA, sparse, dense], grid)).toEqual([[{ method: sparse, learningRate: 3e-2 }]]);
  });

  it('adds rates for single methods, which a given family drops and METHOD=none removes', () => {
    const grid = parseSweepGrid(`low-rank=1e-3:3e-3,${lowB}=3e-2:1e-2`);
    expect(grid.extra).toEqual({ [lowB]: [1e-2, 3e-2] });
    expect(parseSweepGrid(gridFlag(grid))).toEqual(grid);
    expect(methodRates(lowA, grid)).toEqual([1e-3, 3e-3]);
    expect(methodRates(lowB, grid)).toEqual([1e-3, 3e-3, 1e-2, 3e-2]);
    expect(gridPoints([lowA, lowB], grid).map((p) => p.map((t) => `${t.method}@${t.learningRate}`))).toEqual([
      [`${lowA}@0.001`, `${lowB}@0.001`],
      [`${lowA}@0.003`, `${lowB}@0.003`],
      [`${lowB}@0.01`],
      [`${lowB}@0.03`],
    ]);
    // On top of that grid: another family's entry keeps the added rates, the method's own family's drops them, METHOD=none removes them.
    expect(parseSweepGrid('dense=1e-3', grid).extra).toEqual({ [lowB]: [1e-2, 3e-2] });
    expect(parseSweepGrid('low-rank=1e-3', grid).extra).toBeUndefined();
    expect(parseSweepGrid(`${lowB}=none`, grid)).toEqual({ 'low-rank': [1e-3, 3e-3], sparse: DEFAULT_SWEEP_GRID.sparse, dense: DEFAULT_SWEEP_GRID.dense });
    expect(usageMessage(() => parseSweepGrid(`${lowB}=1e-1,${lowB}=3e-1`))).toMatch(new RegExp(`${lowB} is given twice`));
  });

  it('refuses unknown families, bad or repeated rates and empty lists', () => {
    expect(usageMessage(() => parseSweepGrid('lowrank=1e-3'))).toMatch(/low-rank, sparse, dense.*or METHOD=RATE/);
    expect(usageMessage(() => parseSweepGrid('1e-3:3e-3'))).toMatch(/FAMILY=RATE/);
    expect(usageMessage(() => parseSweepGrid('dense=1e-3:abc'))).toMatch(/'abc' is not a learning rate/);
    expect(usageMessage(() => parseSweepGrid('dense=1e-3:0'))).toMatch(/'0' is not a learning rate/);
    expect(usageMessage(() => parseSweepGrid('dense=1e-3::3e-3'))).toMatch(/'' is not a learning rate/);
    expect(usageMessage(() => parseSweepGrid('dense=1e-3:1e-3'))).toMatch(/twice/);
    expect(usageMessage(() => parseSweepGrid('dense=1e-3,dense=3e-3'))).toMatch(/dense is given twice/);
    expect(usageMessage(() => parseSweepGrid(' , '))).toMatch(/at least one/);
  });
});

describe('gridPoints', () => {
  it("puts each method at its family's i-th rate in point i, leaving out families with shorter grids", () => {
    const grid = { 'low-rank': [1e-3, 3e-3, 1e-2], sparse: [4e-3], dense: [3e-4, 1e-3] };
    const points = gridPoints([lowA, sparse, dense], grid);
    expect(points).toEqual([
      [
        { method: lowA, learningRate: 1e-3 },
        { method: sparse, learningRate: 4e-3 },
        { method: dense, learningRate: 3e-4 },
      ],
      [
        { method: lowA, learningRate: 3e-3 },
        { method: dense, learningRate: 1e-3 },
      ],
      [{ method: lowA, learningRate: 1e-2 }],
    ]);
  });

  it('covers every registered method at 4 rates with the default grid, the sparse ones and those with added rates at 2 more', () => {
    const points = gridPoints(
      METHODS.map((m) => m.id),
      DEFAULT_SWEEP_GRID,
    );
    expect(points).toHaveLength(6);
    for (const p of points.slice(0, 4)) expect(p).toHaveLength(METHODS.length);
    const added = Object.keys(DEFAULT_SWEEP_GRID.extra ?? {});
    expect(added.length).toBeGreaterThan(0);
    const later = METHODS.filter((m) => m.family === 'sparse' || added.includes(m.id)).map((m) => m.id);
    for (const p of points.slice(4)) expect(p.map((t) => t.method)).toEqual(later);
    for (const id of added) expect(points.map((p) => p.find((t) => t.method === id)?.learningRate)).toEqual(methodRates(id as MethodId, DEFAULT_SWEEP_GRID));
  });
});

describe('chooseRates', () => {
  const trial = (method: string, learningRate: number, finalValidationLoss: number, stoppedAt?: number): SweepTrial => ({
    method,
    learningRate,
    finalValidationLoss,
    ...(stoppedAt !== undefined ? { stoppedAt } : {}),
  });

  it('takes the rate with the lowest final validation loss per method', () => {
    const chosen = chooseRates([trial(lowA, 1e-3, 2.5), trial(lowA, 3e-3, 1.9), trial(lowA, 1e-2, 2.1), trial(lowB, 1e-3, 1.2), trial(lowB, 3e-3, 1.4)]);
    expect(chosen).toEqual({ [lowA]: 3e-3, [lowB]: 1e-3 });
  });

  it('never lets a stopped trial win, whatever its recorded loss, and leaves out methods with no trial that counts', () => {
    const chosen = chooseRates([trial(lowA, 1e-3, 2.5), trial(lowA, 1e-2, 0.1, 7), trial(dense, 3e-3, 0.5, 2), trial(dense, 1e-3, Number.NaN)]);
    expect(chosen).toEqual({ [lowA]: 1e-3 });
  });

  it('reads a loss that JSON turned into null as no loss', () => {
    const fromJson = JSON.parse(JSON.stringify([trial(lowA, 1e-3, Number.NaN), trial(lowA, 3e-3, 3)])) as SweepTrial[];
    expect(fromJson[0]!.finalValidationLoss).toBeNull();
    expect(chooseRates(fromJson)).toEqual({ [lowA]: 3e-3 });
  });

  it('breaks a tie towards the lower rate, in any order', () => {
    expect(chooseRates([trial(lowA, 1e-2, 2), trial(lowA, 1e-3, 2)])).toEqual({ [lowA]: 1e-3 });
  });
});

describe('runSweep', () => {
  const grid = { 'low-rank': [1e-3, 1e-2], sparse: [4e-3], dense: [1e-3] };
  // A deterministic stand-in for training: the loss is smallest at 3e-3 on a log scale; the dense method stops at 1e-3.
  const lossOf = (rate: number) => Math.abs(Math.log10(rate / 3e-3));

  async function sweep(previous?: LrSweep, steps = 5, points?: number[], onlyMethods?: MethodId[]) {
    const ran: string[][] = [];
    const saved: LrSweep[] = [];
    const result = await runSweep({
      methods: [lowA, dense],
      grid,
      dataset: 'arithmetic',
      seed: 1,
      steps,
      rule: choiceRule(0),
      previous,
      ...(points ? { points } : {}),
      ...(onlyMethods ? { onlyMethods } : {}),
      runPoint: async (point) => {
        ran.push(point.map((p) => `${p.method}@${p.learningRate}`));
        return point.map((p) =>
          p.method === dense ? { finalValidationLoss: Number.NaN, stoppedAt: { step: 3 } } : { finalValidationLoss: lossOf(p.learningRate) },
        );
      },
      save: async (s) => {
        saved.push(s);
      },
      log: () => {},
    });
    return { result, ran, saved };
  }

  it('runs every point, records the trials and chooses per method', async () => {
    const { result, ran, saved } = await sweep();
    expect(ran).toEqual([[`${lowA}@0.001`, `${dense}@0.001`], [`${lowA}@0.01`]]);
    expect(saved).toHaveLength(2);
    expect(result.scope).toBe('method');
    expect(result.rule).toContain('(all validation rows)');
    expect(choiceRule(48)).toContain('(the first 48 validation rows)');
    expect(result.trials).toHaveLength(3);
    expect(result.planned).toBe(3);
    expect(saved[0]!.planned).toBe(3);
    expect(saved[0]!.trials).toHaveLength(2);
    expect(result.trials.find((t) => t.method === dense)!.stoppedAt).toBe(3);
    // 1e-3 is closer to 3e-3 (on a log scale) than 1e-2 is.
    expect(result.chosen).toEqual({ [lowA]: 1e-3 });
    const table = sweepTable(result, [lowA, dense]).join('\n');
    expect(table).toContain('stopped at 3');
    expect(table).toMatch(/1e-3 0\.4771\*/);
  });

  it('runs only the grid points asked for, keeping the whole grid planned, and refuses points the grid lacks', async () => {
    const second = await sweep(undefined, 5, [2]);
    expect(second.ran).toEqual([[`${lowA}@0.01`]]);
    expect(second.result.planned).toBe(3);
    expect(second.result.trials).toHaveLength(1);
    // The rest later, resumed: the second point is not run again.
    const rest = await sweep(second.result);
    expect(rest.ran).toEqual([[`${lowA}@0.001`, `${dense}@0.001`]]);
    expect(rest.result.trials).toHaveLength(3);
    await expect(sweep(undefined, 5, [3])).rejects.toThrow(/points 1 to 2, not 3/);
  });

  it('runs only the methods asked for, of the points asked for; the others stay planned for a resume', async () => {
    const part = await sweep(undefined, 5, [1], [dense]);
    expect(part.ran).toEqual([[`${dense}@0.001`]]);
    expect(part.result.planned).toBe(3);
    expect(part.result.trials.map((t) => t.method)).toEqual([dense]);
    const everyPoint = await sweep(part.result, 5, undefined, [lowA]);
    expect(everyPoint.ran).toEqual([[`${lowA}@0.001`], [`${lowA}@0.01`]]);
    expect(everyPoint.result.trials).toHaveLength(3);
    // In grid order, whichever part ran first.
    expect(everyPoint.result.trials.map((t) => `${t.method}@${t.learningRate}`)).toEqual([`${lowA}@0.001`, `${dense}@0.001`, `${lowA}@0.01`]);
    await expect(sweep(undefined, 5, undefined, [sparse])).rejects.toThrow(/--sweep-methods: .* not among the sweep's methods/);
  });

  it('keeps the trials of a resumed sweep of the same task, seed and steps, and starts over otherwise', async () => {
    const first = await sweep();
    const partial: LrSweep = { ...first.result, trials: first.result.trials.slice(0, 2) };
    const resumed = await sweep(partial);
    expect(resumed.ran).toEqual([[`${lowA}@0.01`]]);
    expect(resumed.result.trials).toEqual(first.result.trials);
    const other = await sweep(partial, 6);
    expect(other.ran).toHaveLength(2);
  });
});

describe('studyRates', () => {
  const sweepChose = { chosen: { [lowA]: 3e-3, [dense]: 1e-3 }, trials: [] };

  it('refuses without a sweep or explicit rates, and says to run the sweep first', () => {
    const message = usageMessage(() => studyRates([lowA, dense], undefined, {}, 'docs/results.json'));
    expect(message).toContain('npm run study -- --sweep');
    expect(message).toContain('docs/results.json');
    expect(message).toContain('--lr');
  });

  it("refuses a method the sweep chose no rate for, naming the flag of that method's family", () => {
    const message = usageMessage(() => studyRates([lowA, sparse], sweepChose, {}, '/tmp/s.json'));
    expect(message).toContain('--spp-lr for the sparse family');
    expect(message).not.toContain('for the low-rank family');
  });

  it('refuses the choice of a sweep that has not run every trial of its grid, unless the rates are given', () => {
    const unfinished = { ...sweepChose, trials: [{ method: lowA, learningRate: 3e-3, finalValidationLoss: 1 }], planned: 6 };
    const message = usageMessage(() => studyRates([lowA, dense], unfinished, {}, 'docs/study/parts/sweep.json'));
    expect(message).toContain('not finished (1 of 6 trials)');
    expect(message).toContain('--sweep --resume');
    expect(studyRates([lowA, dense], unfinished, { lr: 5e-3 }, 'f').rates).toEqual({ [lowA]: 5e-3, [dense]: 5e-3 });
    expect(studyRates([lowA], { ...unfinished, planned: 1 }, {}, 'f').rates).toEqual({ [lowA]: 3e-3 });
  });

  it("takes the sweep's choice, and an explicit family rate over it (--full-lr falling back to --lr)", () => {
    expect(studyRates([lowA, dense], sweepChose, {}, 'f')).toEqual({ rates: { [lowA]: 3e-3, [dense]: 1e-3 }, fromSweep: [lowA, dense], explicit: [] });
    expect(studyRates([lowA, dense, sparse], undefined, { lr: 5e-3, sppLr: 4e-3 }, 'f').rates).toEqual({ [lowA]: 5e-3, [dense]: 5e-3, [sparse]: 4e-3 });
    const mixed = studyRates([lowA, dense], sweepChose, { fullLr: 2e-3 }, 'f');
    expect(mixed).toEqual({ rates: { [lowA]: 3e-3, [dense]: 2e-3 }, fromSweep: [lowA], explicit: [dense] });
  });

  it('describes where the rates came from', () => {
    const sweep: LrSweep = {
      dataset: 'arithmetic',
      seed: 1,
      steps: 100,
      scope: 'method',
      trials: [
        { method: lowA, learningRate: 3e-3, finalValidationLoss: 1 },
        { method: lowA, learningRate: 1e-3, finalValidationLoss: 2 },
      ],
      chosen: { [lowA]: 3e-3 },
      rule: 'Lowest loss wins.',
      wallMs: 1,
    };
    const text = describeRates(sweep, 'docs/results.json', [lowA], [dense], { [lowA]: 3e-3, [dense]: 2e-3 });
    expect(text).toContain('arithmetic, seed 1, 100 steps');
    expect(text).toContain('low-rank 0.001, 0.003');
    expect(text).toContain('(low-rank 0.001, 0.003). Lowest loss wins.');
    expect(text).toMatch(/Given on the command line, not swept: .* 0\.002/);
  });

  it("names the family's shared rates and the rates added for single methods", () => {
    const trial = (method: MethodId, learningRate: number) => ({ method, learningRate, finalValidationLoss: 1 });
    const sweep: LrSweep = {
      dataset: 'arithmetic',
      seed: 1,
      steps: 100,
      scope: 'method',
      trials: [trial(lowA, 1e-3), trial(lowB, 1e-3), trial(lowA, 3e-3), trial(lowB, 3e-3), trial(lowB, 1e-2), trial(lowB, 3e-2)],
      chosen: { [lowA]: 3e-3, [lowB]: 3e-2 },
      rule: 'Lowest loss wins.',
      wallMs: 1,
    };
    const text = describeRates(sweep, 'docs/results.json', [lowA, lowB], [], { [lowA]: 3e-3, [lowB]: 3e-2 });
    expect(text).toContain(`(low-rank 0.001, 0.003; ${METHODS.find((m) => m.id === lowB)!.label} also 0.01, 0.03). Lowest loss wins.`);
  });
});

describe('sameConfiguration and setupDifferences', () => {
  const config: StudyJson['config'] = {
    model: 'public/models/kjv-llama-1m',
    modelParams: 1,
    baseBytes: 4,
    gpu: 'g',
    host: 'h',
    methods: [lowA, dense],
    methodInfo: { [lowA]: { label: 'A', family: 'low-rank', claims: [] } },
    targets: ['layers.0.q'],
    steps: 200,
    batch: 8,
    schedule: 'cosine',
    warmupSteps: 6,
    clip: 1,
    weightDecay: 0,
    learningRates: { [lowA]: 3e-3, [dense]: 1e-3 },
    lrFamilies: 'from the sweep',
    rank: 8,
    alpha: 8,
    methodSettings: { [lowA]: { rank: 8, alpha: 8 }, [dense]: {} },
    evalEvery: 25,
    evalRows: 48,
    finalValRows: 0,
    accuracyItems: 100,
    calibrationBatches: 4,
    plannedRuns: [{ dataset: 'arithmetic', seed: 1 }],
    command: 'npm run study',
  };

  it('ignores what does not change training (labels, the rate text, the command, the host) but not the rates or steps', () => {
    expect(sameConfiguration(config, { ...config, methodInfo: undefined, lrFamilies: 'other', command: 'x', host: 'y', plannedRuns: [] })).toBe(true);
    expect(sameConfiguration(config, { ...config, learningRates: { ...config.learningRates, [dense]: 3e-3 } })).toBe(false);
    expect(sameConfiguration(config, { ...config, steps: 100 })).toBe(false);
    expect(sameConfiguration(config, { ...config, methods: [lowA] })).toBe(false);
    expect(sameConfiguration(config, { ...config, evalRows: 24 })).toBe(false);
  });

  it("compares a sweep's training setup with a study's apart from steps, rates, methods and evaluation, on the settings of the methods both have", () => {
    const sweepConfig = {
      ...config,
      steps: 100,
      warmupSteps: 3,
      learningRates: {},
      accuracyItems: 0,
      methods: [lowA, lowB, dense],
      methodSettings: { ...config.methodSettings, [lowB]: { rank: 8 } },
    };
    expect(setupDifferences(sweepConfig, config)).toEqual([]);
    expect(setupDifferences({ ...sweepConfig, evalRows: 24, finalValRows: 100, evalEvery: 10 }, config)).toEqual([]);
    expect(setupDifferences({ ...sweepConfig, batch: 16, rank: 4 }, config)).toEqual(['batch', 'rank']);
    expect(setupDifferences({ ...sweepConfig, methodSettings: { ...sweepConfig.methodSettings, [lowA]: { rank: 4, alpha: 4 } } }, config)).toEqual([
      'methodSettings',
    ]);
  });
});

describe('npm run study without learning rates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'study-sweep-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to start (exit 2) and says to run the sweep first', async () => {
    const json = join(dir, 'none.json');
    const other = join(dir, 'other.json');
    writeFileSync(other, '{"not": "a results file"}');
    const [noSweep, badLrs] = await Promise.all([
      spawnStudy(['--json', json, '--out', join(dir, 'r.md')]),
      spawnStudy(['--json', json, '--out', join(dir, 'r.md'), '--lrs', other]),
    ]);
    expect(noSweep.code).toBe(2);
    expect(noSweep.stderr).toContain('npm run study -- --sweep');
    expect(badLrs.code).toBe(2);
    expect(badLrs.stderr).toContain(`--lrs: cannot read ${other}`);
  }, 120_000);
});

function spawnStudy(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('npx', ['tsx', '--import', './scripts/register-raw-imports.mjs', 'src/cli/study.ts', ...args], { timeout: 110_000 }, (error, _stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr });
    });
  });
}
