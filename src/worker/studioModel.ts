// The studio's model in the worker: the built-in model (StudioAssets) or a dropped Hugging Face
// folder, opened and checked by io/modelFiles.ts, uploaded tensor by tensor by models/load.ts,
// with its tokenizer. `loadModel` builds a LoadedModel and changes nothing else: the session
// swaps it in once every tensor is on the GPU, so a load that fails keeps the previous model.
// A LoadedModel remembers where it came from (ModelOrigin: the built-in name, or the picked File
// objects) so the session can reload it onto a new device after a device loss. Also the model
// card and the per-method planning estimates (trainable parameters, memory) the studio shows
// before a run. Frozen 16-bit matrices stay 16-bit on the GPU (models/load.ts); f32 ones too when
// the user asks for f16 (FrozenPrecision), and the card and the estimates count what is held.
// A run whose every method keeps a 4-bit base of its own (train/baseRelease.ts defersProjections)
// trains on the same model loaded again with deferred projections (models/load.ts): `reloadModel`
// reads it from the same source (the picked or cached files, or the built-in model), and the
// memory plan counts the inits as deferred.
//
// Not here: training (studioRun.ts), data (studioData.ts), which model is current (studioSession.ts).

import { blobSource, type ByteSource } from '../io/byteSource';
import { paramCount } from '../io/hfConfig';
import { weightsFingerprint } from '../io/runIdentity';
import { frozenWeightBytes, openModelFiles, type FrozenPrecision, type ModelSource } from '../io/modelFiles';
import { loadModelTokenizer, tokenizerVocabWarning, type TextTokenizer } from '../io/tokenizer';
import type { CausalLM } from '../models/causalLM';
import { hasDeferredProjections, heldBytesPerParam, loadCausalLM } from '../models/load';
import { resolveSettings, type MethodDefinition } from '../adapters/types';
import { defersProjections, keepsOwnFourBitBase } from '../train/baseRelease';
import { fitProblem, perBufferLimit, planMethod, type PlanSetup } from '../train/memoryPlan';
import type { BufferLimits } from '../tensor/ops/lmHeadLoss';
import { errorMessage, InputError, ModelFormatError, StudioError } from '../errors';
import type { GpuContext } from '../gpu/context';
import type { ComparisonParams, EstimateParams, MethodEstimate, ModelCard, ModelLoadProgress, PickedFile } from './protocol';
import type { StudioAssets } from './assets';

/** Where a model came from: enough to load it again (after a device loss, or a restarted engine). */
export type ModelOrigin =
  | { readonly kind: 'builtin'; readonly name: string; readonly precision: FrozenPrecision }
  | { readonly kind: 'files'; readonly files: readonly PickedFile[]; readonly precision: FrozenPrecision };

export interface LoadedModel {
  readonly name: string;
  readonly builtin: boolean;
  readonly origin: ModelOrigin;
  /** The device its tensors live on. */
  readonly rt: GpuContext;
  readonly source: ModelSource;
  readonly model: CausalLM;
  /** null when the folder has no tokenizer.json (the card says so; data cannot be tokenised). */
  readonly tokenizer: TextTokenizer | null;
  readonly tokenizerProblem: string | null;
  readonly card: ModelCard;
  /** The device's buffer limits, for the memory plan. */
  readonly limits: BufferLimits;
}

export function requireTokenizer(loaded: LoadedModel): TextTokenizer {
  if (!loaded.tokenizer) throw new ModelFormatError(loaded.tokenizerProblem ?? 'the model has no tokenizer', 'tokenizer.json');
  return loaded.tokenizer;
}

/** The name a model of this origin is shown under. */
export function originName(origin: ModelOrigin): string {
  if (origin.kind === 'builtin') return `${origin.name} (built-in)`;
  const top = origin.files[0]?.path.split('/') ?? [];
  return top.length > 1 ? top[0]! : 'dropped model';
}

/**
 * Loads a model onto `rt` from its origin; the caller makes it current (and releases the previous one). `deferProjections`: the
 * block projections' weights are read from the files when an init asks (a run of 4-bit methods only, models/load.ts).
 */
export async function loadModel(
  rt: GpuContext,
  origin: ModelOrigin,
  assets: StudioAssets,
  progress: (p: ModelLoadProgress) => void,
  deferProjections = false,
): Promise<LoadedModel> {
  let files: ByteSource[];
  if (origin.kind === 'builtin') files = await assets.modelFiles(origin.name);
  else {
    if (origin.files.length === 0) throw new InputError('no files were given; drop a model folder or pick its files');
    files = origin.files.map((f) => blobSource(f.file, f.path || f.file.name));
  }
  const name = originName(origin);
  const builtin = origin.kind === 'builtin';
  const source = await openModelFiles(files);
  let tokenizer: TextTokenizer | null = null;
  let tokenizerProblem: string | null = null;
  try {
    tokenizer = await loadModelTokenizer(source);
  } catch (error) {
    if (!(error instanceof StudioError)) throw error;
    // A tokenizer that does not match the vocabulary is an error for the whole model; a missing
    // one still lets the card show (training then says what is missing).
    if (source.tokenizer.tokenizerJson) throw error;
    tokenizerProblem = error.message;
  }
  const model = await loadCausalLM(rt, source, { onProgress: progress, frozenPrecision: origin.precision, deferProjections });
  await rt.sync();
  const card = {
    ...modelCard(name, builtin, source, model, tokenizer, tokenizerProblem, origin.precision),
    fingerprint: await weightsFingerprint(source.weightFiles),
  };
  const limits = { maxBufferSize: rt.device.limits.maxBufferSize, maxStorageBufferBindingSize: rt.device.limits.maxStorageBufferBindingSize };
  return { name, builtin, origin, rt, source, model, tokenizer, tokenizerProblem, card, limits };
}

/**
 * The same model loaded again onto `rt` from the source it was opened from (the files stay open: picked, cached or built-in),
 * whole or with deferred projections; its card and tokenizer are kept. The caller makes it current and releases the old one.
 */
export async function reloadModel(rt: GpuContext, loaded: LoadedModel, deferProjections: boolean): Promise<LoadedModel> {
  const model = await loadCausalLM(rt, loaded.source, { frozenPrecision: loaded.origin.precision, deferProjections });
  await rt.sync();
  return { ...loaded, rt, model };
}

/** Whether the model reads its block projections from the files on demand (loaded for a run of 4-bit methods only). */
export function isDeferred(loaded: LoadedModel): boolean {
  return hasDeferredProjections(loaded.model);
}

/** Whether a comparison of these methods loads the model with deferred projections: every one keeps a 4-bit base of its own. */
export function comparisonDefers(params: Pick<ComparisonParams, 'methods'>, definitionOf: (id: string) => MethodDefinition): boolean {
  return defersProjections(params.methods.map((m) => definitionOf(m.id)));
}

function modelCard(
  name: string,
  builtin: boolean,
  source: ModelSource,
  model: CausalLM,
  tokenizer: TextTokenizer | null,
  tokenizerProblem: string | null,
  precision: FrozenPrecision,
): ModelCard {
  const held = model.parameters().reduce((n, p) => n + p.tensor.data.byteLength, 0);
  const c = source.config;
  const vocabWarning = tokenizer ? tokenizerVocabWarning(tokenizer.vocabSize, c.vocabSize) : undefined;
  const projections = new Map<string, { role: string; out: number; in: number; count: number }>();
  for (const n of model.linearNames()) {
    const role = model.linearRole(n);
    const layer = model.linear(n);
    const entry = projections.get(role) ?? { role, out: layer.outFeatures, in: layer.inFeatures, count: 0 };
    entry.count++;
    projections.set(role, entry);
  }
  return {
    name,
    builtin,
    architecture: c.architectures[0] ?? c.modelType,
    modelType: c.modelType,
    family: c.family,
    layers: c.numLayers,
    hidden: c.hiddenSize,
    heads: c.numHeads,
    kvHeads: c.numKvHeads,
    headDim: c.headDim,
    intermediate: c.intermediateSize,
    vocab: c.vocabSize,
    maxPositions: c.maxPositions,
    tiedEmbeddings: c.tieWordEmbeddings,
    params: paramCount(c),
    dtypes: { ...source.dtypes },
    weightBytes: source.weightBytes,
    gpuWeights: { precision, bytes: held, asF16Bytes: frozenWeightBytes(source, 'f16'), asF32Bytes: frozenWeightBytes(source, 'f32') },
    tokenizer: tokenizer
      ? {
          kind: tokenizer.kind,
          vocabSize: tokenizer.vocabSize,
          bos: tokenizer.bosToken,
          eos: tokenizer.eosToken,
          chatTemplate: tokenizer.chatTemplate !== undefined,
        }
      : null,
    roles: [...projections.keys()],
    projections: [...projections.values()],
    warnings: [...source.warnings, ...(tokenizerProblem ? [tokenizerProblem] : []), ...(vocabWarning ? [vocabWarning] : [])],
  };
}

/** The memory plan's setup for the loaded model, the targeted roles and B × T. */
function planSetup(loaded: LoadedModel, targets: readonly string[], batch: number, seqLen: number): PlanSetup {
  const { model } = loaded;
  const all = targets.includes('all');
  const names = model.linearNames().filter((n) => all || targets.includes(model.linearRole(n)));
  return {
    config: loaded.source.config,
    layers: names.map((name) => ({ name, out: model.linear(name).outFeatures, in: model.linear(name).inFeatures })),
    batch: Math.max(1, batch),
    seqLen: Math.max(2, seqLen),
    limits: loaded.limits,
    weightBytesPerParam: heldBytesPerParam(model),
  };
}

/** Planning estimates: trainable parameters exactly from the shapes, memory from train/memoryPlan.ts (with and without checkpointing). */
export function estimateMethods(loaded: LoadedModel | undefined, params: EstimateParams, definitionOf: (id: string) => MethodDefinition): MethodEstimate[] {
  if (!loaded) return [];
  const setup = planSetup(loaded, params.targets, params.batch, params.seqLen);
  const shapes = setup.layers;
  return params.methods.map(({ id, settings: given }) => {
    const method = definitionOf(id);
    let problem: string | undefined;
    let settings = given;
    try {
      settings = resolveSettings(method, given);
    } catch (error) {
      problem = errorMessage(error);
    }
    const plan = planMethod(setup, method, problem ? resolveSettings(method) : settings);
    if (shapes.length === 0 && method.family !== 'dense') problem ??= 'no projection is targeted';
    if (!problem) problem = method.check?.(settings, shapes);
    const activationBytes = params.checkpointing ? plan.activationBytes.checkpointed : plan.activationBytes.plain;
    const weightBytes = plan.sharedBaseBytes + plan.ownBaseBytes;
    return {
      id,
      trainableParams: plan.trainableParams,
      weightBytes,
      sharedBaseBytes: plan.sharedBaseBytes,
      ownBaseBytes: plan.ownBaseBytes,
      releasableBaseBytes: plan.keepsSharedBase ? 0 : plan.releasableBaseBytes,
      initScratchBytes: plan.initScratchBytes,
      releasesDuringInit: plan.releasesDuringInit,
      defersProjections: keepsOwnFourBitBase(method),
      layerWeightBytes: plan.layerWeightBytes,
      gradientBytes: plan.gradientBytes,
      trainableBytes: plan.trainableBytes,
      activationBytes,
      activationBytesPlain: plan.activationBytes.plain,
      activationBytesCheckpointed: plan.activationBytes.checkpointed,
      totalBytes: weightBytes + plan.trainableBytes + activationBytes,
      largestBuffer: plan.largestBuffer,
      problem,
    };
  });
}

/**
 * Why the comparison would not fit (the device's per-buffer limit, or params.memoryBudgetBytes),
 * with the planned figure and the settings that would fit; undefined when it fits.
 */
export function comparisonMemoryProblem(loaded: LoadedModel, params: ComparisonParams, definitionOf: (id: string) => MethodDefinition): string | undefined {
  const setup = planSetup(loaded, params.targets, params.batch, params.seqLen);
  const choices = params.methods.map((m) => {
    const method = definitionOf(m.id);
    return { method, settings: resolveSettings(method, m.settings) };
  });
  const budget = { perBuffer: perBufferLimit(loaded.limits), ...(params.memoryBudgetBytes ? { totalBytes: params.memoryBudgetBytes } : {}) };
  // Every run of 4-bit methods only trains on the model loaded with deferred projections (studioSession.ts): planRun counts
  // those runs so and no other, the chosen one and the alternatives the refusal suggests (a 4-bit method instead of another) alike.
  return fitProblem(setup, choices, params.checkpointing ?? false, budget, { deferProjections: true });
}
