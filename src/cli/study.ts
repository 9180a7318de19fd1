// `npm run study`: the fine-tuning study of issues 5 and 16. First `npm run study -- --sweep`
// chooses each method's learning rate on one seed of one task (study/sweep.ts) and writes it into
// the --json file; then `npm run study` fine-tunes the built-in model (public/models/kjv-llama-1m)
// with every method at those rates on the built-in tasks (arithmetic, verses, words; math stays
// selectable), 200 steps, seeds 1, 2, 3, all methods interleaved on identical batches; measures
// the quantization error of QPiSSA and LoftQ against QLoRA at init; and writes docs/RESULTS.md
// (tables) and docs/results.json (everything, per step). Same engine as the studio (Dawn in Node;
// SwiftShader without a GPU). Results are written after every run (and every sweep point), marked
// partial until all planned runs are done; --resume reuses finished runs and sweep points.

import { readFile, writeFile } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { METHODS, methodById } from '../adapters/registry';
import { selectTargets } from '../adapters/targets';
import type { MethodId, MethodSettings } from '../adapters/types';
import { paramCount } from '../io/hfConfig';
import { loadModelTokenizer } from '../io/tokenizer';
import { loadCausalLM, releaseModel } from '../models/load';
import type { ScheduleKind } from '../train/schedule';
import { parseArgs, formatUsage, UsageError, type CommandSpec, type ParsedArgs } from './args';
import { exitCodeFor, modelBytes, nodeGpuProvider, openModelDir, processIo } from './commands/common';
import { errorKind, errorMessage } from '../errors';
import { DATASET_IDS, loadStudyData, type DatasetId, type StudyData } from './study/data';
import { mergeResults, renderResults, writeStudySvgs, type DatasetInfo, type StudyJson, type StudyRun } from './study/report';
import { isComplete, mergeStudy, sortRuns } from './study/merge';
import { baseResult, quantStudy, runStudy, type MethodPlan } from './study/run';
import { studyCheckpoints, studyRunIdentity } from './study/runCheckpoints';
import { modelFilesFingerprint } from '../io/checkpointFile';
import { loadHeldout } from './study/forgetting';
import {
  DEFAULT_SWEEP_GRID,
  GRID_REASONS,
  choiceRule,
  describeRates,
  gridFlag,
  parseSweepGrid,
  runSweep,
  sameConfiguration,
  setupDifferences,
  studyRates,
  sweepTable,
} from './study/sweep';
import type { LrSweep, MethodResult, StudyMethodInfo } from '../study/results';

const DEFAULT_DATASETS = 'arithmetic,verses,words';
const DEFAULT_SWEEP_DATASET = 'arithmetic';

const spec: CommandSpec = {
  name: 'study',
  summary: 'Fine-tune the built-in model with every method on the built-in data sets and write docs/RESULTS.md.',
  positionals: [],
  flags: {
    model: { type: 'string', value: 'DIR', default: 'public/models/kjv-llama-1m', description: 'model folder' },
    datasets: {
      type: 'string',
      value: 'LIST',
      default: DEFAULT_DATASETS,
      description: `data sets: ${DATASET_IDS.join(', ')} (with --sweep: one, default ${DEFAULT_SWEEP_DATASET})`,
    },
    methods: { type: 'string', value: 'LIST', default: 'every method', description: `methods: ${METHODS.map((m) => m.id).join(', ')}` },
    seeds: { type: 'string', value: 'LIST', default: '1,2,3', description: 'seeds for every data set (with --sweep: one, default 1)' },
    'words-seeds': { type: 'string', value: 'LIST', description: 'seeds for the word set only (default: --seeds)' },
    steps: { type: 'int', value: 'N', min: 1, default: 200, description: 'optimizer steps per method and run' },
    batch: { type: 'int', value: 'B', min: 1, default: 8, description: 'sequences per step' },
    'seq-len': {
      type: 'int',
      value: 'T',
      min: 8,
      description: 'tokens per sequence (default: the longest example of each set, rounded up to 8: nothing is cut)',
    },
    sweep: {
      type: 'boolean',
      description: "choose the learning rates: every method at every rate of its family's grid on one seed of one task; writes them into --json as lrSweep",
    },
    'sweep-steps': { type: 'int', value: 'N', min: 1, default: 100, description: 'optimizer steps per sweep trial' },
    'sweep-points': {
      type: 'string',
      value: 'LIST',
      description: 'with --sweep: run only these grid points (1-based, e.g. 4,5) now; the others stay planned for a later --sweep --resume',
    },
    'sweep-methods': {
      type: 'string',
      value: 'LIST',
      description:
        "with --sweep: run only these methods' trials now (of --sweep-points, else of every point); the others stay planned for a later --sweep --resume",
    },
    'sweep-grid': {
      type: 'string',
      value: 'GRID',
      default: gridFlag(DEFAULT_SWEEP_GRID),
      description:
        'rates per family to sweep, e.g. low-rank=1e-3:3e-3:1e-2,sparse=1e-3:4e-3:1e-2,dense=3e-4:1e-3:3e-3 (families not given keep their default grid; FAMILY=none: none of its methods), ' +
        "and rates added for single methods, e.g. vera=1e-1 (a family given drops the default's added rates for its methods; METHOD=none: none added)",
    },
    lrs: { type: 'string', value: 'FILE', description: "results JSON whose lrSweep gives the learning rates (default: the --json file's)" },
    lr: { type: 'number', value: 'LR', above: 0, description: "peak learning rate of every low-rank method (instead of the sweep's choice)" },
    'spp-lr': { type: 'number', value: 'LR', above: 0, description: "peak learning rate of the sparse methods (instead of the sweep's choice)" },
    'full-lr': {
      type: 'number',
      value: 'LR',
      above: 0,
      description: "peak learning rate of full fine-tuning (default: --lr if given, else the sweep's choice)",
    },
    schedule: { type: 'string', value: 'KIND', default: 'cosine', description: 'constant, linear or cosine' },
    'warmup-ratio': { type: 'number', value: 'F', min: 0, max: 0.5, default: 0.03, description: 'warm-up steps as a fraction of the steps (PiSSA: 0.03)' },
    clip: { type: 'number', value: 'NORM', min: 0, default: 1, description: 'global gradient-norm clip (0: none)' },
    'weight-decay': { type: 'number', value: 'WD', min: 0, default: 0, description: 'AdamW weight decay' },
    rank: { type: 'int', value: 'R', min: 1, default: 8, description: 'rank of every low-rank method (alpha = rank, s = 1)' },
    'eval-every': { type: 'int', value: 'K', min: 1, default: 25, description: 'validation loss every K steps' },
    'eval-rows': { type: 'int', value: 'N', min: 1, default: 48, description: 'validation rows for the periodic validation loss' },
    'final-val-rows': { type: 'int', value: 'N', min: 0, default: 0, description: 'validation rows for the loss after training (0: all)' },
    'accuracy-items': { type: 'int', value: 'N', min: 0, default: 100, description: 'validation prompts whose greedy answers are scored' },
    'calibration-batches': {
      type: 'int',
      value: 'N',
      min: 1,
      default: 4,
      description: "training batches for LoRA-SB's gradient estimate and SPP's Wanda norms",
    },
    'quant-iterations': {
      type: 'int',
      value: 'T',
      min: 0,
      max: 16,
      default: 5,
      description: 'QPiSSA/LoftQ rounds for the quantization-error table (0: skip it)',
    },
    out: { type: 'string', value: 'FILE', default: 'docs/RESULTS.md', description: 'Markdown results' },
    json: { type: 'string', value: 'FILE', default: 'docs/results.json', description: 'JSON results (every step)' },
    'render-only': { type: 'boolean', description: 'only rewrite --out from the results in --json (no training)' },
    merge: {
      type: 'string',
      value: 'FILES',
      description:
        'with --render-only: add to --json what other results JSON files of the same study have and it lacks: finished runs (--only TASK:SEED) and methods of a run (--only TASK:SEED --methods GROUP): a study run in slices',
    },
    resume: { type: 'boolean', description: 'reuse finished runs of the same configuration from --json' },
    'checkpoint-dir': {
      type: 'string',
      value: 'DIR',
      description:
        "save every run's methods after each validation into DIR/<run> and continue a stopped run from there (default: the --json file's name + .checkpoints; 'none': no checkpoints); a run's folder goes once its results are written",
    },
    only: {
      type: 'string',
      value: 'RUNS',
      description:
        'run only these of the planned runs, e.g. arithmetic:1,words:3 (the others are left to processes run beside this one; join their --json files with --render-only --merge)',
    },
    'quant-only': {
      type: 'boolean',
      description:
        "recompute only the quantization-error table (--quant-iterations rounds, the --json file's rank and seed) into --json, keep its runs, and rewrite --out",
    },
    help: { type: 'boolean', description: 'show this help' },
  },
  // After `npm run study --` (the plain study is `npm run study`).
  examples: [
    '--sweep',
    '--resume',
    '--sweep --sweep-steps 3 --datasets arithmetic --json /tmp/s.json --out /tmp/s.md',
    '--steps 3 --seeds 1 --datasets arithmetic --accuracy-items 4 --quant-iterations 0 --json /tmp/s.json --out /tmp/s.md',
    '--methods full,pissa --lr 5e-3 --full-lr 1e-3 --steps 100 --seeds 1 --datasets arithmetic --out /tmp/r.md --json /tmp/r.json',
  ],
};

function list(raw: string, what: string): string[] {
  const xs = raw
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (xs.length === 0) throw new UsageError(`--${what} needs at least one value`, 'study');
  return xs;
}

function seedsOf(raw: string, what: string): number[] {
  return list(raw, what).map((s) => {
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${what}: '${s}' is not a whole number ≥ 0`, 'study');
    return n;
  });
}

async function main(argv: readonly string[]): Promise<number> {
  const io = processIo();
  const log = (line: string) => io.err(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, spec);
  } catch (error) {
    io.err(`${errorMessage(error)}\n\n${formatUsage('npm run study --', spec)}\n`);
    return 2;
  }
  if (args.bool('help')) {
    io.out(`${formatUsage('npm run study --', spec)}\n`);
    return 0;
  }
  const gpu = nodeGpuProvider(io);
  try {
    return await study(args, log);
  } catch (error) {
    io.err(`study: ${error instanceof Error && errorKind(error) === 'internal' && error.stack ? error.stack : errorMessage(error)}\n`);
    return exitCodeFor(error);
  } finally {
    gpu.destroy();
  }

  async function study(a: ParsedArgs, log: (line: string) => void): Promise<number> {
    const sweepMode = a.bool('sweep');
    const datasets = list(a.string('datasets', sweepMode ? DEFAULT_SWEEP_DATASET : DEFAULT_DATASETS), 'datasets').map((d) => {
      if (!(DATASET_IDS as readonly string[]).includes(d)) throw new UsageError(`unknown data set '${d}'; available: ${DATASET_IDS.join(', ')}`, 'study');
      return d as DatasetId;
    });
    const methodList = (flag: string, fallback: string): MethodId[] =>
      list(a.string(flag, fallback), flag).map((m) => {
        if (!METHODS.some((d) => d.id === m)) throw new UsageError(`unknown method '${m}'; available: ${METHODS.map((d) => d.id).join(', ')}`, 'study');
        return m as MethodId;
      });
    const methodIds = methodList('methods', METHODS.map((m) => m.id).join(','));
    const seeds = seedsOf(a.string('seeds', sweepMode ? '1' : '1,2,3'), 'seeds');
    const wordsSeeds = a.has('words-seeds') ? seedsOf(a.string('words-seeds', ''), 'words-seeds') : seeds;
    if (sweepMode && (datasets.length !== 1 || seeds.length !== 1)) {
      throw new UsageError('--sweep runs on one seed of one task: give one --datasets and one --seeds (default: arithmetic, seed 1)', 'study');
    }
    const grid = parseSweepGrid(a.string('sweep-grid'));
    const steps = sweepMode ? a.number('sweep-steps', 100) : a.number('steps', 200);
    const batch = a.number('batch', 8);
    const schedule = a.string('schedule', 'cosine');
    if (!['constant', 'linear', 'cosine'].includes(schedule)) throw new UsageError(`--schedule must be constant, linear or cosine, got '${schedule}'`, 'study');
    const warmupSteps = Math.round(a.number('warmup-ratio', 0.03) * steps);
    const rank = a.number('rank', 8);
    const evalEvery = a.number('eval-every', 25);
    const evalRows = a.number('eval-rows', 48);
    // The sweep compares final validation losses only: no generation.
    const accuracyItems = sweepMode ? 0 : a.number('accuracy-items', 100);
    const finalValRows = a.number('final-val-rows', 0);
    const calibrationBatches = a.number('calibration-batches', 4);
    const quantIterations = sweepMode ? 0 : a.number('quant-iterations', 5);
    const outPath = a.string('out', 'docs/RESULTS.md');
    const jsonPath = a.string('json', 'docs/results.json');
    const modelDir = a.string('model', 'public/models/kjv-llama-1m');
    if (a.bool('render-only')) {
      let json = JSON.parse(await readFile(jsonPath, 'utf8')) as StudyJson;
      const mergeFiles = a.string('merge');
      if (mergeFiles !== undefined) {
        for (const file of list(mergeFiles, 'merge')) {
          json = mergeStudy(
            json,
            JSON.parse(await readFile(file, 'utf8')) as StudyJson,
            file,
            METHODS.map((m) => m.id),
          );
          log(`merged ${file}`);
        }
        await writeFile(jsonPath, `${JSON.stringify(json)}\n`);
      }
      await writeMarkdown(outPath, json);
      log(`wrote ${resolve(outPath)} from ${resolve(jsonPath)}${json.partial ? ' (partial)' : ''}`);
      return 0;
    }

    // The rates, before anything is loaded: the main study refuses to start without them.
    const existing = await readJson(jsonPath);
    const ratesFile = a.string('lrs') ?? jsonPath;
    const ratesJson = a.has('lrs') ? await readJson(ratesFile) : existing;
    if (a.has('lrs') && !ratesJson) throw new UsageError(`--lrs: cannot read ${ratesFile} as a results JSON file`, 'study');
    const sweepFound = ratesJson?.lrSweep;
    const given = { lr: a.number('lr'), fullLr: a.number('full-lr'), sppLr: a.number('spp-lr') };
    const main = sweepMode ? undefined : studyRates(methodIds, sweepFound, given, ratesFile);

    // The study's rank, where a method has one (alpha = rank: s = 1, as the PiSSA paper runs).
    const settingsFor = (id: MethodId): MethodSettings => {
      const keys = new Set(methodById(id).settings.map((spec) => spec.key));
      if (!keys.has('rank')) return {};
      return keys.has('alpha') ? { rank, alpha: rank } : { rank };
    };
    const seedsFor = (id: DatasetId): readonly number[] => (id === 'words' ? wordsSeeds : seeds);
    const chosen = DATASET_IDS.filter((id) => datasets.includes(id));
    const plannedRuns = sweepMode ? [] : chosen.flatMap((dataset) => seedsFor(dataset).map((seed) => ({ dataset, seed })));
    const mine = a.has('only')
      ? list(a.string('only', ''), 'only').map((r) => {
          const run = plannedRuns.find((p) => `${p.dataset}:${p.seed}` === r);
          if (!run)
            throw new UsageError(`--only: '${r}' is not a planned run; planned: ${plannedRuns.map((p) => `${p.dataset}:${p.seed}`).join(', ')}`, 'study');
          return run;
        })
      : plannedRuns;
    // Each set's first seed, then each set's second seed, and so on (in DATASET_IDS order), so a
    // study cut short still covers every data set.
    const order = [...mine].sort((x, y) => rankOf(x) - rankOf(y));
    function rankOf(r: { dataset: DatasetId; seed: number }): number {
      return seedsFor(r.dataset).indexOf(r.seed) * chosen.length + chosen.indexOf(r.dataset);
    }

    const source = await openModelDir(modelDir);
    const tokenizer = await loadModelTokenizer(source);
    const heldout = await loadHeldout(modelDir, tokenizer);
    const eosIds = [...new Set([...source.config.eosTokenIds, ...(tokenizer.eosId !== undefined ? [tokenizer.eosId] : [])])];
    const gpuCtx = await gpu.gpu();
    const rt = gpuCtx;
    const model = await loadCausalLM(rt, source, { trainable: false });
    try {
      const targets = selectTargets(model, ['all']);
      if (a.bool('quant-only')) {
        const json = JSON.parse(await readFile(jsonPath, 'utf8')) as StudyJson;
        const seed = json.quant?.seed ?? json.config.plannedRuns[0]?.seed ?? seeds[0]!;
        const studyRank = json.config.rank;
        log(`quantization error only: rank ${studyRank}, seed ${seed}, T=${quantIterations} on ${targets.length} projections; runs kept from ${jsonPath}`);
        const q = await quantStudy(rt, model, targets, seed, { rank: studyRank, alpha: studyRank, doubleQuant: false }, quantIterations, log);
        const withQuant: StudyJson = { ...json, updated: new Date().toISOString(), quant: { ...q, seed } };
        // A study joined from parts (--merge) waited only for this table.
        const updated: StudyJson = { ...withQuant, partial: withQuant.runs.length === 0 || !isComplete(withQuant) };
        await writeFile(jsonPath, `${JSON.stringify(updated)}\n`);
        await writeMarkdown(outPath, updated);
        log(`wrote ${resolve(outPath)} and ${resolve(jsonPath)}`);
        return 0;
      }
      const dataCache = new Map<string, StudyData>();
      const dataFor = async (id: DatasetId, seed: number): Promise<StudyData> => {
        const key = `${id}:${seed}`;
        let d = dataCache.get(key);
        if (!d) {
          let seqLen = a.number('seq-len');
          if (seqLen === undefined) {
            const probe = await loadStudyData(id, tokenizer, { seqLen: source.config.maxPositions, batch, seed, accuracyItems: 0 });
            const longest = Math.max(...[...probe.train, ...probe.validation].map((e) => e.fullLength));
            seqLen = Math.min(source.config.maxPositions, Math.ceil(longest / 8) * 8);
          }
          d = await loadStudyData(id, tokenizer, { seqLen, batch, seed, accuracyItems });
          dataCache.set(key, d);
        }
        return d;
      };
      const infos: DatasetInfo[] = [];
      for (const id of datasets) {
        const d = await dataFor(id, seedsFor(id)[0]!);
        infos.push({
          id,
          trainRows: d.train.length,
          validationRows: d.validation.length,
          seqLen: d.batcher.rows.length > 0 ? dataSeqLen(d) : 0,
          truncated: d.truncatedTrain + d.truncatedValidation,
          stepsPerEpoch: d.batcher.stepsPerEpoch,
          describe: d.describe,
        });
        log(
          `${id}: ${d.train.length} train / ${d.validation.length} validation rows, seq len ${dataSeqLen(d)}, ${d.truncatedTrain + d.truncatedValidation} cut, ${d.batcher.stepsPerEpoch} steps per epoch; ${d.items.length} accuracy prompts`,
        );
      }
      const methodSettings: Record<string, unknown> = {};
      for (const id of methodIds) methodSettings[id] = settingsFor(id);
      const methodInfo: Record<string, StudyMethodInfo> = {};
      for (const id of methodIds) {
        const m = methodById(id);
        methodInfo[id] = { label: m.label, family: m.family, claims: (m.claims ?? []).map((c) => ({ against: c.against, claim: c.claim })) };
      }
      const configWith = (learningRates: Record<string, number>, lrFamilies: string): StudyJson['config'] => ({
        model: modelDir,
        modelParams: paramCount(source.config),
        baseBytes: modelBytes(model),
        gpu: `WebGPU adapter "${rt.info.description || rt.info.vendor}" (${rt.info.architecture || 'unknown architecture'})${/swiftshader/i.test(`${rt.info.architecture} ${rt.info.description}`) ? ': SwiftShader, software Vulkan on the CPU' : ''}`,
        host: `Node ${process.version} on ${cpus().length} CPU core${cpus().length === 1 ? '' : 's'} (${cpus()[0]?.model ?? 'unknown CPU'}), load average at start ${loadavg()
          .map((x) => x.toFixed(1))
          .join(' / ')} (shared with other jobs)`,
        methods: methodIds,
        methodInfo,
        targets,
        steps,
        batch,
        schedule,
        warmupSteps,
        clip: a.number('clip', 1),
        weightDecay: a.number('weight-decay', 0),
        learningRates,
        lrFamilies,
        rank,
        alpha: rank,
        methodSettings,
        evalEvery,
        evalRows,
        finalValRows,
        accuracyItems,
        calibrationBatches,
        plannedRuns,
        command: `npm run study${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
      });
      // Mid-run checkpoints (study/runCheckpoints.ts): one folder per run, under --checkpoint-dir.
      const checkpointRoot = a.string('checkpoint-dir', `${jsonPath}.checkpoints`);
      const modelIdentity = { name: modelDir, fingerprint: await modelFilesFingerprint(source.configFile, source.weightFiles) };
      const runOptionsFor = (data: StudyData, seed: number, methods: readonly MethodPlan[], releaseBase: boolean, checkpointFolder: string) => {
        const options = {
          model,
          targets,
          data,
          methods,
          steps,
          schedule: schedule as ScheduleKind,
          warmupSteps,
          clipNorm: a.number('clip', 1),
          weightDecay: a.number('weight-decay', 0),
          seed,
          batch,
          seqLen: dataSeqLen(data),
          evalEvery,
          evalRows,
          finalValRows,
          calibrationBatches,
          log,
          releaseBase,
          // The sweep compares final validation losses only: no forgetting or drift measurements.
          heldout: sweepMode ? undefined : heldout,
          spectralDrift: !sweepMode,
        };
        const checkpoints =
          checkpointRoot === 'none'
            ? undefined
            : studyCheckpoints<MethodResult>(join(checkpointRoot, checkpointFolder), studyRunIdentity(modelIdentity, options));
        return { ...options, checkpoints };
      };
      const tok = { eosIds, decode: (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: true }) };

      if (sweepMode) {
        const dataset = datasets[0]!;
        const seed = seeds[0]!;
        const data = await dataFor(dataset, seed);
        const setupOf = (sweep: LrSweep | undefined) =>
          configWith(
            sweep?.chosen ?? {},
            `Learning-rate sweep only (no main runs yet): ${dataset}, seed ${seed}, ${steps} steps, grid ${gridFlag(grid)}. ${choiceRule(finalValRows)}${gridFlag(grid) === gridFlag(DEFAULT_SWEEP_GRID) ? ` ${GRID_REASONS}` : ''}`,
          );
        const sweepConfig = setupOf(undefined);
        // A --json file of the same setup: its sweep can be resumed, and a main study's runs in it stay (its --resume decides whether they still apply).
        const sameSetup = existing !== undefined && setupDifferences(existing.config, sweepConfig).length === 0;
        const keep = sameSetup && existing.runs.length > 0 ? existing : undefined;
        if (existing && !sameSetup)
          log(`${jsonPath} was run with another setup (${setupDifferences(existing.config, sweepConfig).join(', ')}): replaced by the sweep`);
        const started = new Date().toISOString();
        let saved = '';
        const save = async (sweep: LrSweep) => {
          saved = JSON.stringify(sweep);
          const json: StudyJson = keep
            ? { ...keep, updated: new Date().toISOString(), lrSweep: sweep }
            : { partial: true, started, updated: new Date().toISOString(), config: setupOf(sweep), datasets: infos, runs: [], lrSweep: sweep };
          await writeFile(jsonPath, `${JSON.stringify(json)}\n`);
          await writeMarkdown(outPath, json);
          log(`wrote the sweep so far into ${resolve(jsonPath)}`);
        };
        log(`learning-rate sweep: ${dataset}, seed ${seed}, ${steps} steps, grid ${gridFlag(grid)}, ${methodIds.length} methods`);
        let finishedPoint: { clear(): Promise<void> } | undefined;
        const sweep = await runSweep({
          methods: methodIds,
          grid,
          dataset,
          seed,
          steps,
          rule: choiceRule(finalValRows),
          previous: a.bool('resume') && sameSetup ? existing.lrSweep : undefined,
          ...(a.has('sweep-points') ? { points: seedsOf(a.string('sweep-points', ''), 'sweep-points') } : {}),
          ...(a.has('sweep-methods') ? { onlyMethods: methodList('sweep-methods', '') } : {}),
          runPoint: async (point) => {
            // The previous point's trials are saved by now: its checkpoints can go.
            await finishedPoint?.clear();
            // A part of a point (--sweep-methods) keeps its own checkpoints: a resume of another part must not find them.
            const part = a.has('sweep-methods') ? `-${point.map((p) => p.method).join('-')}` : '';
            const folder = `sweep-${dataset}-seed${seed}-${[...new Set(point.map((p) => p.learningRate))].join('-')}${part}`;
            const options = runOptionsFor(
              data,
              seed,
              point.map((p) => ({ id: p.method, settings: settingsFor(p.method), learningRate: p.learningRate })),
              false,
              folder,
            );
            const results = await runStudy(rt, options, tok);
            finishedPoint = options.checkpoints;
            return results;
          },
          save,
          log,
        });
        await finishedPoint?.clear();
        // A resumed sweep that ran nothing may still have dropped trials outside the current grid.
        if (JSON.stringify(sweep) !== saved) await save(sweep);
        for (const line of sweepTable(sweep, methodIds)) log(line);
        if (sweep.planned !== undefined && sweep.trials.length < sweep.planned) {
          log(
            `sweep so far: ${sweep.trials.length} of ${sweep.planned} trials (${(sweep.wallMs / 60000).toFixed(1)} min); the rest with \`npm run study -- --sweep --resume\` (same --json)`,
          );
          return 0;
        }
        log(
          `sweep done (${(sweep.wallMs / 60000).toFixed(1)} min over its grid points); \`npm run study\` with --json ${jsonPath} (or --lrs ${jsonPath}) takes these rates`,
        );
        return 0;
      }

      const config = configWith(main!.rates, describeRates(sweepFound, ratesFile, main!.fromSweep, main!.explicit, main!.rates));
      if (sweepFound && main!.fromSweep.length > 0) {
        const differ = setupDifferences(ratesJson!.config, config);
        if (differ.length > 0) {
          throw new UsageError(
            `the learning-rate sweep in ${ratesFile} was run with another ${differ.join(', ')} than this study: rerun \`npm run study -- --sweep\` with the same settings, or give the rates with --lr, --full-lr and --spp-lr`,
            'study',
          );
        }
        log(
          `learning rates from the sweep in ${ratesFile} (${sweepFound.dataset}, seed ${sweepFound.seed}, ${sweepFound.steps} steps): ${main!.fromSweep.map((id) => `${id} ${main!.rates[id]}`).join(', ')}`,
        );
      }
      if (main!.explicit.length > 0) log(`learning rates given on the command line: ${main!.explicit.map((id) => `${id} ${main!.rates[id]}`).join(', ')}`);
      const plans: MethodPlan[] = methodIds.map((id) => ({ id, settings: settingsFor(id), learningRate: main!.rates[id]! }));
      const lrSweep = main!.fromSweep.length > 0 ? sweepFound : undefined;
      let runs: StudyRun[] = [];
      let quant: StudyJson['quant'];
      const started = new Date().toISOString();
      if (a.bool('resume')) {
        if (existing && sameConfiguration(existing.config, config)) {
          // A run joined from method groups (--merge) that still lacks a method is trained again, whole.
          runs = existing.runs.filter(
            (r) => plannedRuns.some((p) => p.dataset === r.dataset && p.seed === r.seed) && methodIds.every((id) => r.methods.some((m) => m.id === id)),
          );
          quant = existing.quant;
          log(`resuming: ${runs.length} finished run(s) reused from ${jsonPath}${quant ? ' and the quantization table' : ''}`);
        } else {
          log(existing ? `--resume: ${jsonPath} has a different configuration; starting over` : `--resume: no readable ${jsonPath}; starting over`);
        }
      }
      const write = async () => {
        const partial = plannedRuns.some((p) => !runs.some((r) => r.dataset === p.dataset && r.seed === p.seed)) || (quantIterations > 0 && !quant);
        const json: StudyJson = {
          partial,
          started,
          updated: new Date().toISOString(),
          config,
          datasets: infos,
          runs: sortRuns(runs, plannedRuns),
          quant,
          lrSweep,
        };
        await writeFile(jsonPath, `${JSON.stringify(json)}\n`);
        await writeMarkdown(outPath, json);
        log(`wrote ${resolve(outPath)} and ${resolve(jsonPath)}${partial ? ' (partial)' : ''}`);
      };
      for (const planned of order) {
        if (runs.some((r) => r.dataset === planned.dataset && r.seed === planned.seed)) continue;
        const data = await dataFor(planned.dataset, planned.seed);
        const seqLen = dataSeqLen(data);
        log(`run: ${planned.dataset}, seed ${planned.seed}: ${plans.map((p) => p.id).join(', ')}; ${steps} steps, batch ${batch} × ${seqLen}`);
        const start = performance.now();
        // The model's last use: no run and no quantization-error study after this one.
        const releaseBase = planned === order[order.length - 1] && !(quantIterations > 0 && !quant);
        const runOptions = runOptionsFor(data, planned.seed, plans, releaseBase, `${planned.dataset}-seed${planned.seed}`);
        const peak = rt.pool.trackPeak();
        const base = await baseResult(rt, runOptions, tok);
        log(`  base model: validation loss ${base.finalValidationLoss.toFixed(4)}, accuracy ${base.accuracy.correct}/${base.accuracy.total}`);
        const methods = await runStudy(rt, runOptions, tok);
        // A run resumed from a checkpoint adds the time the processes before this one spent on it.
        const wallMs = performance.now() - start + (runOptions.checkpoints?.resumedWallMs ?? 0);
        runs.push({ dataset: planned.dataset, seed: planned.seed, wallMs, methods: [base, ...methods], peakGpuBytes: peak.stop() });
        await write();
        await runOptions.checkpoints?.clear();
        if (planned === order[0] && quantIterations > 0 && !quant) {
          log(
            `quantization error: ${METHODS.filter((m) => m.quantError === 'reduced')
              .map((m) => m.label)
              .join(' and ')} with T=${quantIterations} on ${targets.length} projections`,
          );
          const q = await quantStudy(rt, model, targets, seeds[0]!, { rank, alpha: rank, doubleQuant: false }, quantIterations, log);
          quant = { ...q, seed: seeds[0]! };
          await write();
        }
      }
      if (quantIterations > 0 && !quant) {
        const q = await quantStudy(rt, model, targets, seeds[0]!, { rank, alpha: rank, doubleQuant: false }, quantIterations, log);
        quant = { ...q, seed: seeds[0]! };
      }
      await write();
      return 0;
    } finally {
      releaseModel(rt, model);
    }
  }
}

/** The results file at `path`, or undefined when there is none or it cannot be read as one. */
async function readJson(path: string): Promise<StudyJson | undefined> {
  try {
    const json = JSON.parse(await readFile(path, 'utf8')) as StudyJson;
    return typeof json === 'object' && json !== null && typeof json.config === 'object' ? json : undefined;
  } catch {
    return undefined;
  }
}

/** Rewrites the generated part of the Markdown results (the text around its markers is kept) and the plots beside it. */
async function writeMarkdown(outPath: string, json: StudyJson): Promise<void> {
  let existing: string | undefined;
  try {
    existing = await readFile(outPath, 'utf8');
  } catch {
    existing = undefined;
  }
  await writeFile(outPath, mergeResults(existing, renderResults(json)));
  await writeStudySvgs(outPath, json);
}

function dataSeqLen(d: StudyData): number {
  return d.batcher.batch(0).seqLen;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`unexpected error: ${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
