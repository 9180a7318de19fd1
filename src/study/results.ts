// The study's results file (docs/results.json), as `npm run study` writes it and as the CLI report
// (src/cli/study/report.ts) and the studio's Study view (src/ui/) read it. Pure data: no engine
// code, so the UI may import it. Fields marked optional were added after the first results files
// were written: readers treat a missing one as "not measured".

export type DatasetId = 'math' | 'words' | 'arithmetic' | 'verses';

export interface AccuracyResult {
  readonly correct: number;
  readonly total: number;
  /** Generations that produced an answer at all (math: a `####` line). */
  readonly answered: number;
  /** Mean token F1 of the extracted answers against the references (whitespace tokens, SQuAD-style), 0–1. */
  readonly meanF1?: number;
  readonly samples: readonly { prompt: string; generated: string; reference: string; correct: boolean; f1?: number }[];
  readonly ms: number;
}

/** Loss on held-out pretraining text (the built-in model's heldout.txt): before any training, and after this method's. */
export interface ForgettingResult {
  /** Where the text came from ("kjv-llama-1m/heldout.txt") and how many tokens were scored. */
  readonly text: string;
  readonly tokens: number;
  readonly baseLoss: number;
  readonly loss: number;
  /** loss − baseLoss, nats per token: positive = forgot. */
  readonly delta: number;
}

/** How far training turned the top-k singular subspaces of the effective weights away from where they were at init. */
export interface SpectralDriftResult {
  readonly k: number;
  readonly layers: readonly {
    readonly layer: string;
    /** 1 − ‖U₀ᵀU₁‖²_F / k over the top-k left singular vectors (0: same subspace, 1: orthogonal); `right` likewise for V. */
    readonly left: number;
    readonly right: number;
    /** ‖σ₁..k(after) − σ₁..k(before)‖ / ‖σ₁..k(before)‖. */
    readonly sigmaChange: number;
  }[];
  readonly meanLeft: number;
  readonly meanRight: number;
  readonly meanSigmaChange: number;
  readonly ms: number;
}

export interface MethodResult {
  /** A method id of the registry, or 'base' for the frozen pretrained model. */
  readonly id: string;
  readonly learningRate: number | null;
  readonly settings: Readonly<Record<string, unknown>>;
  readonly trainableParams: number;
  /** Adapter tensors, bases the method made for itself, optimizer state (the shared base not counted). */
  readonly bytes: number;
  readonly initMs: number;
  readonly trainMs: number;
  /** Training loss per step (1-based step i at index i − 1). */
  readonly losses: number[];
  readonly gradNorms: number[];
  /** Non-padding tokens processed, and the tokens whose loss counted. */
  readonly tokens: number;
  readonly countedTokens: number;
  /** On the first evalRows validation rows, at fixed steps (step 0: before training). */
  readonly validation: { step: number; loss: number }[];
  /** On the first finalValRows validation rows (all when 0), after training. */
  readonly finalValidationLoss: number;
  readonly accuracy: AccuracyResult;
  readonly stoppedAt?: { step: number; reason: string };
  readonly forgetting?: ForgettingResult;
  readonly spectralDrift?: SpectralDriftResult;
  /** The memory plan's peak for this method alone at the run's settings (train/memoryPlan.ts), bytes. */
  readonly plannedPeakBytes?: number;
}

export interface StudyRun {
  readonly dataset: DatasetId;
  readonly seed: number;
  readonly wallMs: number;
  readonly methods: readonly MethodResult[];
  /** The GPU pool's measured peak over the whole run (every method together, interleaved), bytes; of the largest group where methodGroups > 1. */
  readonly peakGpuBytes?: number;
  /** The run's methods were trained in this many separate processes, joined by `--merge` (absent: 1): wallMs is their sum. */
  readonly methodGroups?: number;
}

export interface DatasetInfo {
  readonly id: DatasetId;
  readonly trainRows: number;
  readonly validationRows: number;
  readonly seqLen: number;
  readonly truncated: number;
  readonly stepsPerEpoch: number;
  readonly describe: string;
}

export interface LayerQuant {
  readonly layer: string;
  readonly role: string;
  /** Error after each iteration (index 0: iteration 0 where the method has one); nuclearMethod says exact or randomized. */
  readonly errors: readonly { iteration: number; frobenius: number; nuclear: number; nuclearMethod?: 'exact' | 'randomized'; nuclearError?: number }[];
}

export interface QuantMethod {
  readonly id: string;
  readonly iterations: number;
  readonly initMs: number;
  readonly layers: readonly LayerQuant[];
}

export interface QuantStudy {
  readonly settings: Readonly<Record<string, unknown>>;
  readonly methods: readonly QuantMethod[];
}

/** What the registry says of a method, copied into the results so that readers without the registry (the studio's UI) can label and pair them. */
export interface StudyMethodInfo {
  readonly label: string;
  readonly family: string;
  readonly claims: readonly { readonly against: string; readonly claim: string }[];
}

/** The learning-rate sweep run before the main study (one seed, one task), and the rates it chose. */
export interface LrSweep {
  readonly dataset: DatasetId;
  readonly seed: number;
  readonly steps: number;
  /** 'family': one rate per method family, chosen on the family's representative methods. */
  readonly scope: 'family' | 'method';
  readonly trials: readonly { readonly method: string; readonly learningRate: number; readonly finalValidationLoss: number; readonly stoppedAt?: number }[];
  /** The chosen rate per method family (scope 'family') or per method. */
  readonly chosen: Readonly<Record<string, number>>;
  readonly rule: string;
  readonly wallMs: number;
  /** Trials the sweep's grid plans (absent in sweeps written before it was recorded): fewer trials = a sweep not finished. */
  readonly planned?: number;
}

export interface StudyJson {
  readonly partial: boolean;
  readonly started: string;
  readonly updated: string;
  readonly config: {
    readonly model: string;
    readonly modelParams: number;
    readonly baseBytes: number;
    readonly gpu: string;
    readonly host: string;
    readonly methods: readonly string[];
    readonly methodInfo?: Readonly<Record<string, StudyMethodInfo>>;
    readonly targets: readonly string[];
    readonly steps: number;
    readonly batch: number;
    readonly schedule: string;
    readonly warmupSteps: number;
    readonly clip: number;
    readonly weightDecay: number;
    readonly learningRates: Readonly<Record<string, number>>;
    readonly lrFamilies: string;
    readonly rank: number;
    readonly alpha: number;
    readonly methodSettings: Readonly<Record<string, unknown>>;
    readonly evalEvery: number;
    readonly evalRows: number;
    readonly finalValRows: number;
    readonly accuracyItems: number;
    readonly calibrationBatches: number;
    readonly plannedRuns: readonly { dataset: DatasetId; seed: number }[];
    readonly command: string;
    /** Commands of other processes whose runs were merged in (`--merge`), with the runs they gave. */
    readonly merged?: readonly { readonly command: string; readonly runs: readonly string[] }[];
  };
  readonly datasets: readonly DatasetInfo[];
  readonly runs: readonly StudyRun[];
  readonly quant?: QuantStudy & { readonly seed: number };
  readonly lrSweep?: LrSweep;
}
