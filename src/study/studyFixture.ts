// Hand-built results files for the tests of the study's readers (aggregate, svg, the CLI report):
// a method result with round numbers, a run, and a study around runs. Test-only.

import type { DatasetId, MethodResult, StudyJson, StudyRun } from './results';

/** A method's result: 4 steps, validation at steps 0, 2 and 4 ending at `final`, 1 of 4 correct, 1000 tokens in 2 s. */
export function fixtureMethod(id: string, final: number, over: Partial<MethodResult> = {}): MethodResult {
  const base = id === 'base';
  return {
    id,
    learningRate: base ? null : 1e-3,
    settings: {},
    trainableParams: base ? 0 : 100,
    bytes: base ? 0 : 800,
    initMs: 1,
    trainMs: base ? 0 : 2000,
    losses: base ? [] : [4, 3, 2, 1],
    gradNorms: [],
    tokens: base ? 0 : 1000,
    countedTokens: 500,
    validation: base
      ? [{ step: 0, loss: 5 }]
      : [
          { step: 0, loss: 5 },
          { step: 2, loss: final - 0.5 },
          { step: 4, loss: final },
        ],
    finalValidationLoss: final,
    accuracy: { correct: 1, total: 4, answered: 4, samples: [], ms: 1 },
    ...over,
  };
}

export const fixtureRun = (dataset: DatasetId, seed: number, methods: MethodResult[]): StudyRun => ({ dataset, seed, wallMs: 60000, methods });

export function fixtureStudy(runs: StudyRun[], methodInfo?: StudyJson['config']['methodInfo'], over: Partial<StudyJson> = {}): StudyJson {
  const datasets = [...new Set(runs.map((r) => r.dataset))];
  const methods = [...new Set(runs.flatMap((r) => r.methods.map((m) => m.id)))].filter((id) => id !== 'base');
  return {
    partial: false,
    started: '',
    updated: '',
    config: {
      model: 'm',
      modelParams: 1000,
      baseBytes: 4000,
      gpu: 'gpu',
      host: 'host',
      methods,
      ...(methodInfo ? { methodInfo } : {}),
      targets: [],
      steps: 4,
      batch: 1,
      schedule: 'constant',
      warmupSteps: 0,
      clip: 1,
      weightDecay: 0,
      learningRates: {},
      lrFamilies: '',
      rank: 8,
      alpha: 8,
      methodSettings: {},
      evalEvery: 2,
      evalRows: 1,
      finalValRows: 0,
      accuracyItems: 4,
      calibrationBatches: 0,
      plannedRuns: runs.map((r) => ({ dataset: r.dataset, seed: r.seed })),
      command: 'npm run study',
    },
    datasets: datasets.map((id) => ({ id, trainRows: 10, validationRows: 5, seqLen: 8, truncated: 0, stepsPerEpoch: 10, describe: id })),
    runs,
    ...over,
  };
}
