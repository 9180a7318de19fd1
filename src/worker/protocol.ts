// The typed channel between the page (ui/, state/) and the engine running in the Web Worker
// (engine.worker.ts). It is the only way the two talk (ARCHITECTURE.md, convention 10), so the
// types the page needs from the engine are re-exported from here: ui/ and state/ never import
// gpu/, kernels/ or bench/ directly, not even for a type.
//
// Shape of the conversation:
//   page → worker   EngineRequest   { id, call, params }
//   worker → page   EngineResponse  one 'result' or one 'error' per id, any number of 'progress'
//                                   for that id before it, and unsolicited 'event's (device
//                                   lost, uncaptured GPU error, worker crash) and 'notice's
//                                   (new device, model reload) with no id.
// Errors cross as { name, kind, message }: `name` is the error class name (e.g. GpuError,
// WebGpuUnavailableError), `kind` what sort of failure it is (errors.ts ErrorKind: input,
// unsupported, gpu, memory, cancelled, internal = a bug), `message` is what the user reads.
//
// This file holds types and two tiny pure helpers; nothing here touches the GPU.

import type { GpuDescription, GpuFeatures, GpuLimitsSummary } from '../gpu/device';
import type { MatmulBenchOptions, MatmulBenchRow, MatmulBenchShape } from '../bench/types';
import type { ProfileKernel, ProfileMethod, ProfileParams, ProfileProgress, ProfileReport, ProfileStep } from '../bench/profileTypes';
import type { InitProgress, MethodClaim, MethodFamily, SettingSpec, SettingValue, SparsityCheck } from '../adapters/types';
import type { DatasetStats, FileKind, RowFormat, SkippedRow } from '../io/datasets';
import type { ScheduleKind } from '../train/schedule';
import type { PackingSummary } from '../train/packing';
import type { RunPoint, RunSample, SamplePromptSource } from '../io/runRecord';
import type { ScriptConfig } from '../io/pythonScript';
import type { FrozenPrecision } from '../io/modelFiles';
import { errorKind, errorMessage, type ErrorKind } from '../errors';

export type { GpuDescription, GpuFeatures, GpuLimitsSummary, MatmulBenchRow, MatmulBenchShape };
export type { ProfileKernel, ProfileMethod, ProfileParams, ProfileProgress, ProfileReport, ProfileStep };
export type { InitProgress, SettingSpec, SettingValue, DatasetStats, FileKind, RowFormat, SkippedRow, ScheduleKind, FrozenPrecision, PackingSummary };

/** One product checked by the self-test: GPU result against a float64 CPU product. */
export interface SelfTestCase {
  /** e.g. "A·Bᵀ [100,257]·[33,257]ᵀ". */
  readonly label: string;
  /** Normwise relative error max|gpu − cpu| / max|cpu|. */
  readonly relError: number;
  readonly pass: boolean;
}

export interface SelfTestResult {
  readonly pass: boolean;
  /** The largest relative error over all cases. */
  readonly maxRelError: number;
  readonly tolerance: number;
  /** The matmul variants the adapter got for these shapes (see kernels/matmul.ts), comma-separated. */
  readonly variant: string;
  /** Wall time of the GPU side: upload, pipeline creation, dispatch and readback. */
  readonly gpuMs: number;
  /** Wall time of the float64 CPU reference products. */
  readonly cpuMs: number;
  readonly seed: number;
  readonly cases: readonly SelfTestCase[];
}

// ---- Studio: model, data, methods, comparison, generation ----

/** A method as the studio lists it: the registry's declaration without its code. */
export interface MethodInfo {
  readonly id: string;
  readonly label: string;
  readonly summary: string;
  readonly paper: string;
  readonly settings: readonly SettingSpec[];
  /** Why it has no PEFT adapter export, or absent when it has one. */
  readonly peftRefusal?: string;
  /** The learning-rate family (low-rank, sparse, dense). */
  readonly family: MethodFamily;
  /** Its init measures quantization errors; `baseline` is NF4(W) with no correction (the reference). */
  readonly quantError?: 'baseline' | 'reduced';
  /** Its paper's claims against other methods (ids). */
  readonly claims: readonly MethodClaim[];
  /** Ticked when the studio opens. */
  readonly defaultSelected: boolean;
}

export type MethodSettingValues = Readonly<Record<string, SettingValue>>;

/** A picked or dropped file with its path inside the picked folder ('' folder: just the name). */
export interface PickedFile {
  readonly path: string;
  readonly file: File;
}

export interface ModelLoadProgress {
  /** Tensors uploaded so far and in all. */
  readonly done: number;
  readonly total: number;
  readonly tensor: string;
}

/** What the model card shows; everything measured from the files or computed from config.json. */
export interface ModelCard {
  /** "kjv-llama-1m (built-in)" or the dropped folder's name. */
  readonly name: string;
  readonly builtin: boolean;
  /** config.json's architectures[0] or model_type. */
  readonly architecture: string;
  readonly modelType: string;
  readonly family: 'gpt2' | 'llama';
  readonly layers: number;
  readonly hidden: number;
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
  readonly intermediate: number;
  readonly vocab: number;
  readonly maxPositions: number;
  readonly tiedEmbeddings: boolean;
  readonly params: number;
  /** Needed tensors per stored dtype. */
  readonly dtypes: Readonly<Record<string, number>>;
  readonly weightBytes: number;
  /**
   * The frozen weights on the GPU: how they were loaded and the bytes they take (16-bit matrices
   * two bytes a weight, the rest f32), and what storing f32 matrices as f16 would take instead.
   */
  readonly gpuWeights: { readonly precision: FrozenPrecision; readonly bytes: number; readonly asF16Bytes: number; readonly asF32Bytes: number };
  readonly tokenizer: {
    readonly kind: string;
    readonly vocabSize: number;
    readonly bos?: string;
    readonly eos?: string;
    readonly chatTemplate: boolean;
  } | null;
  /** Projection roles methods can target (q, k, v, o, gate, up, down; GPT-2: c_attn, …). */
  readonly roles: readonly string[];
  /** Projections per role: [out, in] and how many layers have one. */
  readonly projections: readonly { readonly role: string; readonly out: number; readonly in: number; readonly count: number }[];
  readonly warnings: readonly string[];
  /** io/runIdentity.ts weightsFingerprint of the weight files: which checkpoint a run was trained on. */
  readonly fingerprint?: string;
}

/** A planning estimate per method for the current settings (not a measurement). */
export interface MethodEstimate {
  readonly id: string;
  readonly trainableParams: number;
  readonly weightBytes: number;
  readonly trainableBytes: number;
  /** One step's activations at their peak with the chosen checkpointing; the two choices below. */
  readonly activationBytes: number;
  readonly activationBytesPlain: number;
  readonly activationBytesCheckpointed: number;
  readonly totalBytes: number;
  /** Of weightBytes, the shared frozen base every method reads or copies from (held once per comparison; 16-bit matrices 2 bytes a weight). */
  readonly sharedBaseBytes: number;
  /** Bases the method makes for itself: residual, NF4 copy, pruned copy, full fine-tuning's weights. */
  readonly ownBaseBytes: number;
  /**
   * Of sharedBaseBytes, the targeted projections' weights, which a run frees during its inits when
   * every method in it keeps a base of its own (4-bit copies); 0 when this method reads them after its init.
   */
  readonly releasableBaseBytes: number;
  /** f32 working copies of one layer its init makes (counted at the init's peak). */
  readonly initScratchBytes: number;
  /** Whether its init frees each layer's W as it quantizes it (then, as a run's last init, none of its own tensors count at the init's peak). */
  readonly releasesDuringInit: boolean;
  /**
   * Whether it keeps a 4-bit base of its own and never reads the shared W after its init: a run of only such methods loads the
   * model with deferred projections (each init reads a layer's W from the model files), so no init holds the whole 16-bit base.
   */
  readonly defersProjections: boolean;
  /** The largest targeted projection's W as held: what a deferred init reads for one layer. */
  readonly layerWeightBytes: number;
  /** Of trainableBytes, the gradients: held only while the method steps. */
  readonly gradientBytes: number;
  /** The largest single buffer one step needs (bounded by the adapter's buffer limits). */
  readonly largestBuffer: { readonly bytes: number; readonly what: string };
  /** Why the method cannot run with these settings (e.g. SPP needs out % 16 == 0), if so. */
  readonly problem?: string;
}

export interface EstimateParams {
  readonly methods: readonly { readonly id: string; readonly settings: MethodSettingValues }[];
  readonly targets: readonly string[];
  readonly batch: number;
  readonly seqLen: number;
  /** Activation checkpointing (picks MethodEstimate.activationBytes). */
  readonly checkpointing?: boolean;
}

export interface DatasetParams {
  /** T for the preview's tokenisation and truncation counts. */
  readonly seqLen: number;
  /** Fraction held out when the data has no validation file. */
  readonly validationFraction: number;
  readonly seed: number;
}

export interface PreviewToken {
  readonly text: string;
  readonly counted: boolean;
}

export interface PreviewRow {
  readonly line: number;
  readonly format: RowFormat;
  readonly prompt: string;
  readonly completion: string;
  readonly tokens: readonly PreviewToken[];
  /** Tokens before truncation to T. */
  readonly fullLength: number;
}

export interface DatasetPreview {
  readonly name: string;
  readonly builtin: boolean;
  readonly kind: FileKind;
  readonly formats: Readonly<Partial<Record<RowFormat, number>>>;
  readonly rows: readonly PreviewRow[];
  readonly stats: DatasetStats;
  /** The first skipped rows (line and reason) and how many in all. */
  readonly skipped: readonly SkippedRow[];
  readonly skippedCount: number;
  readonly truncatedCount: number;
  readonly train: number;
  readonly validation: number;
  /** Where the split comes from: the data's own validation file or a seeded fraction. */
  readonly splitFrom: 'file' | 'fraction';
  readonly seqLen: number;
  /** Mapping applied to the rows, said to the user (e.g. question/answer → prompt/completion). */
  readonly note?: string;
  /** io/runIdentity.ts textHash of the training text and the data's own validation text. */
  readonly textHash?: string;
  /** Padding of the training rows with one example per row and packed (train/packing.ts). */
  readonly packing?: PackingSummary;
}

export interface ComparisonParams {
  readonly methods: readonly { readonly id: string; readonly settings: MethodSettingValues }[];
  /** Projection roles, or ['all']. */
  readonly targets: readonly string[];
  readonly lr: number;
  readonly schedule: ScheduleKind;
  readonly warmup: number;
  readonly steps: number;
  readonly batch: number;
  readonly seqLen: number;
  /** Pack whole training examples into rows of T (absent: false, one example per row; validation is never packed). */
  readonly packing?: boolean;
  readonly seed: number;
  /** Repeats of the whole comparison, with seeds seed, seed + 1, …, seed + seeds − 1 (absent: 1; at most MAX_SEEDS). */
  readonly seeds?: number;
  /** Validation every K steps and after the last. */
  readonly evalEvery: number;
  /** Global gradient-norm clip (0: none). */
  readonly clipNorm: number;
  /** Validation rows used per evaluation (the first N of the held-out set). */
  readonly validationRows: number;
  readonly validationFraction: number;
  /** Validation questions answered greedily per method after the last step, where the data has "####" answers (0: none; default 20). */
  readonly accuracyQuestions?: number;
  /** Recompute each block's activations in backward instead of keeping them. */
  readonly checkpointing?: boolean;
  /** Refuse a run planned over this many bytes of GPU memory (absent or 0: only the per-buffer limits are checked). */
  readonly memoryBudgetBytes?: number;
  /** Held-out text of the base model's own pretraining data: forgetting is measured on it (absent: not measured). */
  readonly forgetting?: { readonly name: string; readonly text: string };
  /** A checkpoint every N steps (absent or 0: only when paused or stopped). */
  readonly checkpointEvery?: number;
  /** Continue a run from its checkpoint instead of from step 0 (same settings, model and data). */
  readonly resumeFrom?: StudioCheckpoint;
  /** Samples at each validation step (worker/sampleSettings.ts): one continuation of one fixed prompt per method (absent: off). */
  readonly samplesOn?: boolean;
  /** The prompt ('' or absent: the first validation row's prompt, rendered as training renders it). */
  readonly samplePrompt?: string;
  readonly sampleMaxTokens?: number;
  /** Greedy decoding; otherwise sampling at sampleTemperature within top-k and top-p. */
  readonly sampleGreedy?: boolean;
  readonly sampleTemperature?: number;
  /** 0: every token. */
  readonly sampleTopK?: number;
  /** 1: every token. */
  readonly sampleTopP?: number;
  readonly sampleStopAtEos?: boolean;
  /** Generation stops at this text, which is cut off ('': none). */
  readonly sampleStop?: string;
}

/** A run's state after `step` (io/checkpointFile.ts): the manifest's JSON and the safetensors bytes. */
export interface StudioCheckpoint {
  readonly step: number;
  readonly manifest: string;
  readonly tensors: Uint8Array;
}

/** σ of one adapted projection's effective weight (base + s·B M A, SPP's merge, full's W), descending. */
export interface SpectrumResult {
  readonly method: string;
  readonly layer: string;
  /** [out, in] */
  readonly shape: readonly [number, number];
  /** Steps the method had trained when `after` was taken. */
  readonly step: number;
  /** At init (the factors as the method became ready). */
  readonly before: readonly number[];
  readonly after: readonly number[];
  readonly ms: number;
}

export type { SparsityCheck };

/** A method-specific measurement taken after a step (step 0: at init). */
export interface DiagnosticPoint {
  readonly step: number;
  /** SORSA: mean of ‖AAᵀ − I‖_F and ‖BᵀB − I‖_F over its layers. */
  readonly ortho?: number;
  readonly sparsity?: SparsityCheck;
  /** The buffer pool's live bytes on the GPU right after this method's step (all methods together). */
  readonly poolBytes?: number;
}

/** One training step of one method, as streamed to the page (and saved with a run). */
export type StepPoint = RunPoint;

/** Streamed while a comparison runs. */
export type ComparisonEvent =
  | { readonly type: 'init'; readonly progress: InitProgress }
  | { readonly type: 'ready'; readonly method: string; readonly trainableParams: number; readonly bytes: number; readonly initMs: number }
  | { readonly type: 'data'; readonly train: number; readonly validation: number; readonly stepsPerEpoch: number }
  | { readonly type: 'step'; readonly method: string; readonly point: StepPoint }
  | { readonly type: 'eval'; readonly method: string; readonly step: number; readonly loss: number }
  /** The frozen base model's validation loss, measured once before any method is initialised (the charts' "base" at step 0). */
  | { readonly type: 'base'; readonly loss: number }
  | {
      readonly type: 'halted';
      readonly method: string;
      readonly step: number;
      readonly reason: string;
      /** Where a non-finite value was found (train/health.ts), when that is why it stopped. */
      readonly nonFinite?: NonFiniteStop;
    }
  /** A method's loss was first flagged as diverging at `step` (train/health.ts); it trains on. */
  | { readonly type: 'diverging'; readonly method: string; readonly step: number }
  /** Saved every checkpointEvery steps, when paused and when stopped: the page stores the newest. */
  | { readonly type: 'checkpoint'; readonly checkpoint: StudioCheckpoint }
  | { readonly type: 'state'; readonly state: 'running' | 'paused' }
  /** The adapted projections, with their role and [out, in], once the targets are chosen. */
  | { readonly type: 'targets'; readonly layers: readonly { readonly name: string; readonly role: string; readonly out: number; readonly in: number }[] }
  | { readonly type: 'diag'; readonly method: string; readonly point: DiagnosticPoint }
  /** A method added mid-way: it trains from `step` + 1 on. */
  | { readonly type: 'added'; readonly method: string; readonly step: number }
  /** Accuracy so far: `correct` of `done` answered, `total` to answer. */
  | { readonly type: 'accuracy'; readonly method: string; readonly correct: number; readonly done: number; readonly total: number }
  /** A run with several seeds starts seed `index` (0-based) of `count`: the events that follow, to its 'seedDone', are that seed's. */
  | { readonly type: 'seed'; readonly index: number; readonly count: number; readonly seed: number }
  /** Seed `index` of a run with several seeds ended (all its steps, or stopped): its methods' records. */
  | ({ readonly type: 'seedDone' } & SeedResult)
  /** The prompt every sample of the run continues, as the model reads it, and where it came from; sent once before the first step. */
  | { readonly type: 'samplePrompt'; readonly prompt: string; readonly source: SamplePromptSource }
  /** A method's continuation of the sample prompt after `step` (sent after that step's validation). */
  | { readonly type: 'sample'; readonly method: string; readonly sample: RunSample };

export interface MethodSummary {
  readonly id: string;
  readonly trainableParams: number;
  /** Adapter tensors, owned bases and optimizer state (the shared base not counted). */
  readonly bytes: number;
  readonly initMs: number;
  readonly trainMs: number;
  readonly steps: number;
  readonly tokens: number;
  readonly finalLoss: number;
  readonly finalValLoss: number | null;
  readonly bestValLoss: number | null;
  readonly halted?: string;
  /** The step its loss was first flagged as diverging (train/health.ts); it trained on. */
  readonly diverging?: number;
  /** Exact-match accuracy on the validation questions (null: not measured). */
  readonly accuracy?: number | null;
  /** The step it joined at (added mid-way; 0 otherwise). */
  readonly startStep?: number;
}

/** Why a run ended before its last step without the user stopping it: the GPU failed under it. */
export interface RunInterruption {
  /** deviceLost: the GPU device went away; outOfMemory: an allocation failed; gpuError: another GPU error. */
  readonly cause: 'deviceLost' | 'outOfMemory' | 'gpuError';
  /** What happened and what to do, for the user. */
  readonly message: string;
  /** The last step any method completed (the curves end there; a method whose step failed ends one before). */
  readonly step: number;
  /** The step of the last saved checkpoint "Resume from the last checkpoint" would start from; null: none saved. */
  readonly checkpointStep: number | null;
}

export interface ComparisonResult {
  /** True when the user stopped it, or it was interrupted, before the last step. */
  readonly stopped: boolean;
  /** Set when the GPU ended it: the methods' records are what they were at that point. */
  readonly interrupted?: RunInterruption;
  readonly methods: readonly MethodSummary[];
  /** Loss on the held-out pretraining text: the base's, and each method's after its last step (absent: not measured). */
  readonly forgetting?: ForgettingReport;
  /** A run with several seeds: each seed this call trained, in order (the last is the one above; a resumed run starts at its checkpoint's seed). */
  readonly seeds?: readonly SeedResult[];
}

/** The most seeds one studio run repeats its comparison with. */
export const MAX_SEEDS = 5;

/** One seed's share of a run with several seeds. */
export interface SeedResult {
  /** 0-based: the seed is ComparisonParams.seed + index. */
  readonly index: number;
  readonly seed: number;
  /** Ended before its last step. */
  readonly stopped: boolean;
  readonly methods: readonly MethodSummary[];
  readonly forgetting?: ForgettingReport;
}

/** Forgetting of a method = its loss on the held-out text minus the base's (nats per token; higher = more forgotten). */
export interface ForgettingReport {
  /** The text it was measured on. */
  readonly name: string;
  /** Predicted tokens of it. */
  readonly tokens: number;
  readonly baseLoss: number;
  /** Per method id, after training. */
  readonly loss: Readonly<Record<string, number>>;
}

/** The engine's GPU memory and caches, read between steps during a run (a long run must hold them flat). */
export interface EnginePoolStats {
  /** Bytes and buffers the pool has handed out and not had back. */
  readonly liveBytes: number;
  readonly liveBuffers: number;
  /** Bytes of every buffer the pool owns (in use or free). */
  readonly ownedBytes: number;
  /** GPU buffers created since the device was acquired (pool and uniform buffers). */
  readonly buffersCreated: number;
  readonly pipelines: number;
  readonly shaderModules: number;
  /** Devices the engine has acquired so far (2 after one loss). */
  readonly device: number;
  /** Steps the running comparison had completed when this was read (null: no run). */
  readonly step: number | null;
}

export interface GenerateParams {
  /** A method of the last comparison, or none for the base model. */
  readonly methodId?: string;
  readonly prompt: string;
  readonly maxNewTokens: number;
  /** 0: greedy. */
  readonly temperature?: number;
  readonly seed?: number;
  /** 0 or absent: every token. */
  readonly topK?: number;
  /** 1 or absent: every token. */
  readonly topP?: number;
  /** Stop at the model's end-of-sequence token (default true). */
  readonly stopAtEos?: boolean;
  /** Stop at this text, which is cut off ('' or absent: none). */
  readonly stopString?: string;
}

export interface GenerateResult {
  readonly methodId: string | null;
  readonly text: string;
  readonly tokens: number;
  readonly ms: number;
}

export type ExportFormat = 'peft' | 'merged';

export interface ExportParams {
  /** A method trained in the last comparison. */
  readonly methodId: string;
  readonly format: ExportFormat;
}

export interface ExportResult {
  readonly methodId: string;
  readonly format: ExportFormat;
  /** Suggested folder (and zip) name, e.g. "kjv-llama-1m-lora-adapter". */
  readonly folder: string;
  readonly files: readonly { readonly name: string; readonly data: Uint8Array }[];
  /** What was written, in words (rank, conversions). */
  readonly note: string;
}

/** The first non-finite tensor of a method stopped by a NaN or Inf (train/health.ts NonFiniteReport, without the message). */
export interface NonFiniteStop {
  readonly step: number;
  readonly source: 'forward activation' | 'gradient' | 'optimizer state';
  /** Module path of the projection; '' for the loss. */
  readonly layer: string;
  readonly tensor: string;
}

/** Every call the engine answers: what it takes, what it returns, what it streams meanwhile. */
export interface EngineCalls {
  /** Acquires the adapter and device in the worker. Idempotent. */
  init: { params: Record<string, never>; result: GpuDescription; progress: never };
  /** Seeded matmuls on the GPU checked against float64 on the CPU. */
  selfTest: { params: { readonly seed?: number }; result: SelfTestResult; progress: never };
  /** The benchmark's default shape list (src/bench/matmulBench.ts), for the page to offer. */
  benchShapes: { params: Record<string, never>; result: readonly MatmulBenchShape[]; progress: never };
  /** The matmul benchmark; each row is streamed as it completes, then all rows are returned. */
  bench: {
    params: Pick<MatmulBenchOptions, 'shapes' | 'includePeer'>;
    result: readonly MatmulBenchRow[];
    progress: MatmulBenchRow;
  };
  /** Profile of training steps (src/bench/profile.ts) on the loaded model: counters, CPU vs GPU time, top kernels. */
  profileTraining: { params: ProfileParams; result: ProfileReport; progress: ProfileProgress };
  /** The registry's methods with their settings schemas. */
  methods: { params: Record<string, never>; result: readonly MethodInfo[]; progress: never };
  /** A PEFT adapter folder dropped after the model: checked against it and listed as a method. */
  loadAdapterFiles: { params: { readonly files: readonly PickedFile[] }; result: MethodInfo; progress: never };
  /** Loads the built-in model; a failure keeps the previous model. */
  loadBuiltinModel: { params: { readonly name: string; readonly frozenPrecision?: FrozenPrecision }; result: ModelCard; progress: ModelLoadProgress };
  /** Loads a dropped or picked Hugging Face folder; a failure keeps the previous model. */
  loadModelFiles: {
    params: { readonly files: readonly PickedFile[]; readonly frozenPrecision?: FrozenPrecision };
    result: ModelCard;
    progress: ModelLoadProgress;
  };
  modelCard: { params: Record<string, never>; result: ModelCard | null; progress: never };
  /** Trainable parameters and memory per method for the loaded model. Answered at once, even mid-run. */
  estimate: { params: EstimateParams; result: readonly MethodEstimate[]; progress: never };
  loadBuiltinDataset: { params: { readonly name: string } & DatasetParams; result: DatasetPreview; progress: never };
  loadDatasetFile: { params: { readonly file: File } & DatasetParams; result: DatasetPreview; progress: never };
  /** Re-tokenises the current data for new settings (sequence length, split). */
  previewDataset: { params: DatasetParams; result: DatasetPreview; progress: never };
  /** Initialises and trains the chosen methods interleaved; streams events; returns the summary. */
  startComparison: { params: ComparisonParams; result: ComparisonResult; progress: ComparisonEvent };
  /** Answered at once, even mid-run: the loop looks at these flags between steps. */
  stopComparison: { params: Record<string, never>; result: boolean; progress: never };
  pauseComparison: { params: Record<string, never>; result: boolean; progress: never };
  resumeComparison: { params: Record<string, never>; result: boolean; progress: never };
  /** σ before and now of one projection of a method in the running or last comparison (runs between steps). */
  spectrum: { params: { readonly method: string; readonly layer: string }; result: SpectrumResult; progress: never };
  /** Adds a method to the running or paused comparison; it initialises and trains from the next step on (events come on the run's stream). */
  addMethod: { params: { readonly id: string; readonly settings: MethodSettingValues }; result: boolean; progress: never };
  /** Continues a prompt with the base model or a method trained in the last comparison. */
  generate: { params: GenerateParams; result: GenerateResult; progress: { readonly text: string } };
  /** A trained method as a PEFT adapter folder or a merged model folder (files to download); during a run, a running method as trained so far (between two steps). */
  exportMethod: { params: ExportParams; result: ExportResult; progress: never };
  /** A PEFT/TRL training script for one method's settings (the method definition's recipe). */
  pythonScript: { params: ScriptConfig; result: string; progress: never };
  /** The pool's figures and cache sizes; during a run, read between two steps. null: no device yet. */
  poolStats: { params: Record<string, never>; result: EnginePoolStats | null; progress: never };
  /** Test hook (dev builds, or a page opened with ?testHooks=1): destroys the GPU device as a driver reset would. */
  debugLoseDevice: { params: Record<string, never>; result: boolean; progress: never };
  /** Test hook (as above): the worker throws an uncaught error right after answering, as a crash would. */
  debugCrashWorker: { params: Record<string, never>; result: boolean; progress: never };
  /**
   * Rebuilds the trained methods of a stored checkpoint of the run started with `params` (the same
   * model and data loaded) without training, so that generate and exportMethod use them, e.g. after a
   * reload. Answers the methods rebuilt.
   */
  restoreTrained: { params: { readonly params: ComparisonParams; readonly checkpoint: StudioCheckpoint }; result: readonly string[]; progress: never };
  /** The page's heartbeat (watchdog.ts): answered at once from the message handler, also mid-run. */
  ping: { params: Record<string, never>; result: true; progress: never };
  /** Test hook (as above): right after answering, the worker's thread spins for `ms` (at most 10 minutes, default 2), as a hang would; it then carries on. */
  debugHang: { params: { readonly ms?: number }; result: boolean; progress: never };
}

/** Calls that only exist for tests; the worker refuses them unless its test hooks are on. */
export const TEST_HOOK_CALLS: readonly CallName[] = ['debugLoseDevice', 'debugCrashWorker', 'debugHang'];

/** Worker name suffix that turns the test hooks on (the page adds it in dev builds or with ?testHooks=1). */
export const TEST_HOOKS_NAME = 'testHooks';

export type CallName = keyof EngineCalls;
export type CallParams<K extends CallName> = EngineCalls[K]['params'];
export type CallResult<K extends CallName> = EngineCalls[K]['result'];
export type CallProgress<K extends CallName> = EngineCalls[K]['progress'];

export type EngineRequest = {
  [K in CallName]: { readonly id: number; readonly call: K; readonly params: CallParams<K> };
}[CallName];

export interface SerializedError {
  /** The error's class name: a StudioError subclass, or a DOMException/Error name. */
  readonly name: string;
  /** What sort of failure (errors.ts): the page can tell a bug from bad input or a GPU problem. */
  readonly kind: ErrorKind;
  readonly message: string;
}

export type EngineEventName =
  /** The GPU device is gone; the next call that needs the GPU gets a new one. */
  | 'deviceLost'
  /** A GPU error that no error scope caught. */
  | 'gpuError'
  /** An exception escaped every handler in the worker. */
  | 'crash';

export type EngineResultMessage = {
  [K in CallName]: { readonly kind: 'result'; readonly id: number; readonly call: K; readonly result: CallResult<K> };
}[CallName];

export type EngineProgressMessage = {
  [K in CallName]: [CallProgress<K>] extends [never]
    ? never
    : { readonly kind: 'progress'; readonly id: number; readonly call: K; readonly progress: CallProgress<K> };
}[CallName];

export interface EngineErrorMessage {
  readonly kind: 'error';
  readonly id: number;
  readonly error: SerializedError;
}

export interface EngineEventMessage {
  readonly kind: 'event';
  readonly event: EngineEventName;
  readonly error: SerializedError;
}

/** What the engine says about itself unasked, besides failures: recovery after a device loss. */
export type EngineNotice =
  /** A new GPU device replaces a lost (or given-up) one. */
  | { readonly type: 'newDevice'; readonly gpu: GpuDescription }
  /** The model is being reloaded onto the new device (progress null: reading its files). */
  | { readonly type: 'modelReload'; readonly model: string; readonly progress: ModelLoadProgress | null }
  | { readonly type: 'modelReloaded'; readonly model: string }
  | { readonly type: 'modelReloadFailed'; readonly model: string; readonly message: string };

export interface EngineNoticeMessage {
  readonly kind: 'notice';
  readonly notice: EngineNotice;
}

export type EngineResponse = EngineResultMessage | EngineProgressMessage | EngineErrorMessage | EngineEventMessage | EngineNoticeMessage;

export function serializeError(error: unknown): SerializedError {
  return { name: (error instanceof Error && error.name) || 'Error', kind: errorKind(error), message: errorMessage(error) };
}

/** Name given to errors that stand for the worker itself failing (not an engine error). */
export const WORKER_FAILURE = 'EngineWorkerError';
