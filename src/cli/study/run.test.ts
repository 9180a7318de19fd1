// The study's run path (runStudy + baseResult) on the built-in model with a tiny configuration:
// full fine-tuning and the registry's first plain low-rank method, 2 steps on the arithmetic task,
// 2 accuracy items, the drift on 2 projections, the first paragraphs of heldout.txt. Every measurement the study adds per method is
// there and finite: forgetting against the base's loss on heldout.txt, spectral drift in [0, 1],
// token F1, the memory plan's peak; the run's GPU pool peak is at least every plan's.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { METHODS } from '../../adapters/registry';
import type { MethodDefinition, MethodSettings } from '../../adapters/types';
import { loadModelTokenizer, type TextTokenizer } from '../../io/tokenizer';
import type { CausalLM } from '../../models/causalLM';
import { loadCausalLM, releaseModel } from '../../models/load';
import { testContext } from '../../test/gpu';
import type { MethodResult } from '../../study/results';
import { openModelDir } from '../commands/common';
import { loadStudyData, type StudyData } from './data';
import { loadHeldout } from './forgetting';
import { baseResult, runStudy, type RunOptions } from './run';
import { studyCheckpoints, studyRunIdentity } from './runCheckpoints';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MODEL_DIR = 'public/models/kjv-llama-1m';
const RANK = 4;

describe('runStudy and baseResult', () => {
  let model: CausalLM;
  let tokenizer: TextTokenizer;
  let data: StudyData;
  let eosIds: number[];
  beforeAll(async () => {
    const rt = await testContext();
    const source = await openModelDir(MODEL_DIR);
    tokenizer = await loadModelTokenizer(source);
    eosIds = [...new Set([...source.config.eosTokenIds, ...(tokenizer.eosId !== undefined ? [tokenizer.eosId] : [])])];
    model = await loadCausalLM(rt, source, { trainable: false });
    // Short answers are enough to score: generation is most of an accuracy check's time on SwiftShader.
    data = { ...(await loadStudyData('arithmetic', tokenizer, { seqLen: 64, batch: 2, seed: 1, accuracyItems: 2 })), maxNewTokens: 12 };
  }, 60_000);
  afterAll(async () => releaseModel(await testContext(), model));

  const lowRank = METHODS.find((m) => m.family === 'low-rank' && m.quantError === undefined && m.settings.some((s) => s.key === 'rank'))!;
  const dense = METHODS.find((m) => m.family === 'dense')!;
  const plan = (m: MethodDefinition, learningRate: number) => {
    const settings: MethodSettings = m.settings.some((s) => s.key === 'rank') ? { rank: RANK, alpha: RANK } : {};
    return { id: m.id, settings, learningRate };
  };
  /** Two steps of batch 2 on the first and last projections, validated once on 4 rows; `o` overrides. */
  const tinyRun = (o: Pick<RunOptions, 'methods'> & Partial<RunOptions>): RunOptions => {
    const names = model.linearNames();
    return {
      model,
      targets: [names[0]!, names[names.length - 1]!],
      data,
      steps: 2,
      schedule: 'constant',
      warmupSteps: 0,
      clipNorm: 1,
      weightDecay: 0,
      seed: 1,
      batch: 2,
      seqLen: 64,
      evalEvery: 2,
      evalRows: 4,
      finalValRows: 4,
      calibrationBatches: 1,
      log: () => undefined,
      ...o,
    };
  };
  const tok = () => ({ eosIds, decode: (ids: readonly number[]) => tokenizer.decode(ids, { skipSpecialTokens: true }) });

  it('measures forgetting, spectral drift, token F1 and memory for the base and every method', async () => {
    const rt = await testContext();
    const full = (await loadHeldout(MODEL_DIR, tokenizer))!;
    expect(full.name).toBe('kjv-llama-1m/heldout.txt');
    // Its first paragraphs: two rows of the model's context instead of the study's sixteen.
    const heldout = { ...full, text: full.text.slice(0, 1500) };
    const options = tinyRun({ methods: [dense, lowRank].map((m) => plan(m, 1e-3)), heldout });
    const targets = options.targets;
    const peak = rt.pool.trackPeak();
    const base = await baseResult(rt, options, tok());
    const methods = await runStudy(rt, options, tok());
    const peakGpuBytes = peak.stop();

    const checkAccuracy = (r: MethodResult) => {
      expect(r.accuracy.samples).toHaveLength(2);
      for (const s of r.accuracy.samples) {
        expect(s.f1).toBeGreaterThanOrEqual(0);
        expect(s.f1).toBeLessThanOrEqual(1);
        if (s.correct) expect(s.f1).toBe(1); // an exact match scores F1 1
      }
      const mean = r.accuracy.samples.reduce((a, s) => a + s.f1!, 0) / 2;
      expect(r.accuracy.meanF1).toBeCloseTo(mean, 12);
    };

    const f0 = base.forgetting!;
    expect(f0.text).toBe(heldout.name);
    expect(f0.tokens).toBeGreaterThan(200);
    expect(Number.isFinite(f0.baseLoss)).toBe(true);
    expect(f0.loss).toBe(f0.baseLoss);
    expect(f0.delta).toBe(0);
    // The built-in model knows its own text: well under the uniform loss ln V.
    expect(f0.baseLoss).toBeLessThan(Math.log(model.config.vocabSize));
    checkAccuracy(base);

    expect(methods.map((m) => m.id)).toEqual([dense.id, lowRank.id]);
    for (const m of methods) {
      const f = m.forgetting!;
      expect(f.baseLoss).toBe(f0.baseLoss);
      expect(f.tokens).toBe(f0.tokens);
      expect(Number.isFinite(f.loss)).toBe(true);
      expect(f.delta).toBeCloseTo(f.loss - f.baseLoss, 12);
      expect(f.delta).not.toBe(0); // two steps at 1e-3 moved the weights

      const d = m.spectralDrift!;
      expect(d.k).toBe(RANK);
      expect(d.layers.map((l) => l.layer)).toEqual(targets);
      for (const l of d.layers) {
        for (const x of [l.left, l.right]) {
          expect(x).toBeGreaterThanOrEqual(0);
          expect(x).toBeLessThanOrEqual(1);
        }
        expect(Number.isFinite(l.sigmaChange)).toBe(true);
        expect(l.sigmaChange).toBeGreaterThanOrEqual(0);
      }
      expect(d.meanLeft).toBeCloseTo(d.layers.reduce((a, l) => a + l.left, 0) / d.layers.length, 12);
      // Training changed the weights: their top singular values moved.
      expect(d.meanSigmaChange).toBeGreaterThan(0);
      expect(d.ms).toBeGreaterThan(0);

      expect(m.plannedPeakBytes).toBeGreaterThan(0);
      expect(Number.isFinite(m.plannedPeakBytes)).toBe(true);
      checkAccuracy(m);
    }
    // Full fine-tuning plans a copy of the whole model and its AdamW state: more than the low-rank method.
    expect(methods[0]!.plannedPeakBytes!).toBeGreaterThan(methods[1]!.plannedPeakBytes!);
    expect(peakGpuBytes).toBeGreaterThanOrEqual(Math.max(...methods.map((m) => m.trainableParams * 4)));
  }, 180_000);

  // What `--merge` relies on to join method groups trained in separate processes into one run.
  it('gives each method the same numbers whichever methods share its run, and in whatever order', async () => {
    const rt = await testContext();
    const sparse = METHODS.find((m) => m.family === 'sparse')!;
    const names = model.linearNames();
    const optionsFor = (methods: MethodDefinition[]): RunOptions =>
      tinyRun({
        targets: [names[1]!, names[names.length - 2]!],
        methods: methods.map((m) => plan(m, 2e-3)),
        schedule: 'cosine',
        warmupSteps: 1,
        seed: 5,
        spectralDrift: false,
      });
    const together = await runStudy(rt, optionsFor([dense, lowRank, sparse]), tok());
    const alone = [...(await runStudy(rt, optionsFor([sparse, lowRank]), tok())), ...(await runStudy(rt, optionsFor([dense]), tok()))];
    for (const t of together) {
      const a = alone.find((m) => m.id === t.id)!;
      expect(a.losses, t.id).toEqual(t.losses);
      expect(a.gradNorms, t.id).toEqual(t.gradNorms);
      expect(a.validation, t.id).toEqual(t.validation);
      expect(a.finalValidationLoss, t.id).toBe(t.finalValidationLoss);
      expect(
        a.accuracy.samples.map((s) => s.generated),
        t.id,
      ).toEqual(t.accuracy.samples.map((s) => s.generated));
      expect(a.trainableParams, t.id).toBe(t.trainableParams);
    }
    // The steps moved every method: equal numbers are not equal because nothing trained.
    for (const t of together) expect(t.validation[t.validation.length - 1]!.loss, t.id).not.toBe(t.validation[0]!.loss);
  }, 240_000);

  it('saves a checkpoint after each validation and resumes from it with the numbers of a run that never stopped', async () => {
    const rt = await testContext();
    const dir = await mkdtemp(join(tmpdir(), 'study-run-checkpoints-'));
    try {
      const optionsFor = (learningRate: number, lines: string[]): RunOptions => {
        const options = tinyRun({
          methods: [plan(lowRank, learningRate), plan(dense, learningRate)],
          steps: 4,
          schedule: 'cosine',
          warmupSteps: 1,
          seed: 3,
          log: (line) => lines.push(line),
          spectralDrift: false,
        });
        return { ...options, checkpoints: studyCheckpoints(dir, studyRunIdentity({ name: 'kjv-llama-1m', fingerprint: 'test' }, options)) };
      };
      const firstLines: string[] = [];
      const began = performance.now();
      const wholeOptions = optionsFor(1e-3, firstLines);
      const whole = await runStudy(rt, wholeOptions, tok());
      const wholeMs = performance.now() - began;
      expect(wholeOptions.checkpoints!.resumedWallMs).toBe(0);
      // One checkpoint: after the validation at step 2 (none after the last step).
      expect((await readdir(dir)).filter((f) => f.startsWith('step-'))).toEqual(['step-00000002']);
      expect(firstLines.some((l) => l.includes('resumed from'))).toBe(false);

      // Same run again: it finds that checkpoint, as a run stopped after step 2 would.
      const lines: string[] = [];
      const resumedOptions = optionsFor(1e-3, lines);
      const resumed = await runStudy(rt, resumedOptions, tok());
      expect(lines.some((l) => l.includes('resumed from') && l.includes('steps 3–4 left'))).toBe(true);
      // The time the first run had spent when it saved step 2 comes with the checkpoint.
      expect(resumedOptions.checkpoints!.resumedWallMs).toBeGreaterThan(0);
      expect(resumedOptions.checkpoints!.resumedWallMs).toBeLessThan(wholeMs);
      expect(resumed.map((m) => m.id)).toEqual(whole.map((m) => m.id));
      resumed.forEach((r, i) => {
        const w = whole[i]!;
        expect(r.losses).toEqual(w.losses);
        expect(r.gradNorms).toEqual(w.gradNorms);
        expect(r.validation).toEqual(w.validation);
        expect(r.finalValidationLoss).toBe(w.finalValidationLoss);
        expect(r.accuracy.samples.map((s) => s.generated)).toEqual(w.accuracy.samples.map((s) => s.generated));
        expect(r.tokens).toBe(w.tokens);
      });

      // Another learning rate is another run: the checkpoint refuses it, naming why.
      await expect(runStudy(rt, optionsFor(2e-3, []), tok())).rejects.toThrow(/cannot resume from .*step-00000002/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 240_000);
});
