// One studio session in the engine worker: it owns the GPU device (deviceSlot.ts), the loaded
// model, the data, the adapters dropped onto the model, the running comparison with its command
// queue (studioRun.ts) and the adapters the last comparison trained. engine.worker.ts makes one
// and hands it every call; the session decides how each call is ordered:
//   at once        no GPU work: the method list, the model card, estimates, the Python recipe;
//   between steps  while a comparison runs: pause, resume, stop, add a method, a spectrum, an
//                  export of a method as trained so far, the pool's figures, applied by the
//                  training loop in arrival order;
//   exclusive      every other GPU job (loads, training, generation, benchmarks, profiles), one
//                  at a time in arrival order, so a benchmark never shares the GPU with a run.
//
// Device loss: the run stops at once and answers with its records marked interrupted; the page
// gets a 'deviceLost' event; the next GPU job acquires a new device and first reloads the model
// from where it came from (the built-in name or the picked File objects), with 'modelReload'
// notices. The last run's trained adapters were on the lost device and are gone. After an
// out-of-memory interruption the pool's free buffers are returned; after another GPU error the
// device is replaced as if lost.
// 4-bit runs: a comparison whose every method keeps a 4-bit base of its own (QLoRA, QPiSSA, LoftQ)
// trains on the model loaded again with deferred projections (models/load.ts; studioModel.ts
// reloadModel), from the same files: each init reads a layer's 16-bit W and lets it go, so the
// whole base is never held beside the NF4 copies. The model stays so after the run: a job that
// needs every W (the base model's generation, a run with another method, a profile) reads the
// projections back from the files, and the last run's trained adapters stay usable.
// Checkpoints: a run emits 'checkpoint' events (every checkpointEvery steps, on pause and on stop;
// studioCheckpoint.ts) that the page stores; "Resume from the last checkpoint" is a new
// startComparison with `resumeFrom` set to the stored one. `lastInterruption` keeps the settings of
// the last run the GPU interrupted and the step of its newest checkpoint (checkpointStep).
//
// Not here: the worker's message plumbing (engine.worker.ts), what a run does (studioRun.ts).

import type { ContextOptions, GpuContext } from '../gpu/context';
import type { AcquiredDevice } from '../gpu/device';
import { releaseModel } from '../models/load';
import { errorMessage, InputError, type StudioError } from '../errors';
import type { StudioAssets } from './assets';
import { DeviceSlot, LOSS_REPORT_WAIT_MS } from './deviceSlot';
import { profileTraining } from './profile';
import { runSelfTest } from './selfTest';
import { LoadedAdapters } from './studioAdapters';
import { StudioData } from './studioData';
import { exportTrainedMethod, methodScript } from './studioExport';
import { restoreParams } from './studioCheckpoint';
import { comparisonDefers, estimateMethods, isDeferred, loadModel, reloadModel, requireTokenizer, type LoadedModel, type ModelOrigin } from './studioModel';
import { generateText, isGpuFailure, releaseTrained, StudioRun, type TrainedMethods } from './studioRun';
import {
  serializeError,
  type ComparisonEvent,
  type ComparisonParams,
  type ComparisonResult,
  type DatasetParams,
  type DatasetPreview,
  type EngineEventMessage,
  type EngineNotice,
  type EngineNoticeMessage,
  type EnginePoolStats,
  type EstimateParams,
  type ExportParams,
  type ExportResult,
  type FrozenPrecision,
  type GenerateParams,
  type GenerateResult,
  type GpuDescription,
  type MatmulBenchRow,
  type MethodEstimate,
  type MethodInfo,
  type MethodSettingValues,
  type ModelCard,
  type ModelLoadProgress,
  type PickedFile,
  type ProfileParams,
  type ProfileProgress,
  type ProfileReport,
  type RunInterruption,
  type SelfTestResult,
  type SpectrumResult,
  type StudioCheckpoint,
} from './protocol';
import type { MatmulBenchOptions } from '../bench/types';
import type { ScriptConfig } from '../io/pythonScript';

/**
 * What a job needs of the current model: 'any' (as it is), 'held' (every projection's W held: the base model's forward),
 * 'whole' (held, and loaded again if a run released weights it cannot read back: a run's inits that copy or keep W),
 * 'deferred' (loaded with deferred projections: a run of 4-bit methods only).
 */
type ModelNeed = 'any' | 'held' | 'whole' | 'deferred';

export interface StudioSessionOptions {
  readonly acquire: () => Promise<AcquiredDevice>;
  readonly assets: StudioAssets;
  /** Events (device lost, uncaptured GPU error) and notices (new device, model reload) for the page. */
  readonly post: (message: EngineEventMessage | EngineNoticeMessage) => void;
  readonly contextOptions?: ContextOptions;
}

export class StudioSession {
  private readonly device: DeviceSlot;
  private readonly data = new StudioData();
  private readonly adapters = new LoadedAdapters();
  private loaded: LoadedModel | undefined;
  private active: StudioRun | undefined;
  private trained: TrainedMethods | undefined;
  private jobs: Promise<unknown> = Promise.resolve();
  /** The last run the GPU interrupted and its settings: what "Resume from the last checkpoint" restarts. */
  lastInterruption: { readonly params: ComparisonParams; readonly interruption: RunInterruption } | undefined;

  constructor(private readonly options: StudioSessionOptions) {
    this.device = new DeviceSlot({
      acquire: options.acquire,
      contextOptions: options.contextOptions,
      onLost: (error, ctx) => {
        this.active?.interrupt(error);
        if (this.trained?.rt === ctx) this.trained = undefined;
        options.post({ kind: 'event', event: 'deviceLost', error: serializeError(error) });
      },
      onUncapturedError: (error) => options.post({ kind: 'event', event: 'gpuError', error: serializeError(error) }),
      onNewDevice: (ctx) => this.notify({ type: 'newDevice', gpu: ctx.info }),
    });
  }

  /** Devices acquired so far (tests: a loss makes the next GPU job acquire another). */
  get devicesAcquired(): number {
    return this.device.count;
  }

  // ---- at once ----

  methods(): MethodInfo[] {
    return this.adapters.infos();
  }

  modelCard(): ModelCard | null {
    return this.loaded?.card ?? null;
  }

  estimate(params: EstimateParams): MethodEstimate[] {
    return estimateMethods(this.loaded, params, (id) => this.adapters.definitionOf(id));
  }

  pythonScript(config: ScriptConfig): string {
    return methodScript(config, (id) => this.adapters.definitionOf(id));
  }

  // ---- exclusive GPU jobs ----

  init(): Promise<GpuDescription> {
    return this.gpuJob(async (rt) => rt.info);
  }

  selfTest(seed: number | undefined): Promise<SelfTestResult> {
    return this.gpuJob((rt) => runSelfTest(rt, seed));
  }

  bench(params: Pick<MatmulBenchOptions, 'shapes' | 'includePeer'>, onRow: (row: MatmulBenchRow) => void): Promise<readonly MatmulBenchRow[]> {
    return this.gpuJob(async (rt) => {
      const { runMatmulBench } = await import('../bench/matmulBench');
      return runMatmulBench(rt, { shapes: params.shapes, includePeer: params.includePeer, onRow });
    });
  }

  profileTraining(params: ProfileParams, progress: (p: ProfileProgress) => void): Promise<ProfileReport> {
    return this.gpuJob(async (rt) => profileTraining(rt, await this.modelOn(rt, 'whole'), params, progress));
  }

  /** Loads a model; a failure keeps the previous one. */
  loadModel(origin: ModelOrigin, progress: (p: ModelLoadProgress) => void): Promise<ModelCard> {
    return this.gpuJob(async (rt) => {
      const next = await loadModel(rt, origin, this.options.assets, progress);
      const previous = this.loaded;
      this.loaded = next;
      // Trained adapters and dropped adapters belong to the previous model.
      this.dropTrained();
      this.adapters.clear();
      if (previous && previous.rt === rt) releaseModel(rt, previous.model);
      return next.card;
    });
  }

  loadBuiltinModel(name: string, precision: FrozenPrecision | undefined, progress: (p: ModelLoadProgress) => void): Promise<ModelCard> {
    return this.loadModel({ kind: 'builtin', name, precision: precision ?? 'checkpoint' }, progress);
  }

  loadModelFiles(files: readonly PickedFile[], precision: FrozenPrecision | undefined, progress: (p: ModelLoadProgress) => void): Promise<ModelCard> {
    return this.loadModel({ kind: 'files', files, precision: precision ?? 'checkpoint' }, progress);
  }

  loadAdapterFiles(files: readonly PickedFile[]): Promise<MethodInfo> {
    return this.exclusive(() => this.adapters.load(files, this.requireModel().model));
  }

  loadBuiltinDataset(name: string, params: DatasetParams): Promise<DatasetPreview> {
    return this.exclusive(() =>
      this.data.loadBuiltin(
        name,
        (file) => this.options.assets.datasetText(name, file),
        () => this.previewNow(params),
      ),
    );
  }

  loadDatasetFile(file: File, params: DatasetParams): Promise<DatasetPreview> {
    return this.exclusive(() => this.data.loadFile(file, () => this.previewNow(params)));
  }

  previewDataset(params: DatasetParams): Promise<DatasetPreview> {
    return this.exclusive(async () => this.previewNow(params));
  }

  /** Initialises and trains the chosen methods; answers with the summary, or what it had when the GPU failed. */
  startComparison(params: ComparisonParams, emit: (e: ComparisonEvent) => void): Promise<ComparisonResult> {
    return this.gpuJob(async (rt) => {
      this.dropTrained();
      const loaded = await this.modelOn(rt, this.runBase(params));
      this.lastInterruption = undefined;
      const lossOf = (waitMs: number) => this.device.lossOf(rt, waitMs);
      const run = new StudioRun({ rt, loaded, data: this.data, definitionOf: (id) => this.adapters.definitionOf(id), lossOf }, params, emit);
      this.active = run;
      try {
        const { result, trained } = await run.execute();
        // A device lost after the last step (in the final commands) took the trained adapters with it.
        this.trained = (await this.device.lossOf(rt)) ? undefined : trained;
        if (result.interrupted) this.recover(rt, params, result.interrupted);
        return result;
      } finally {
        this.active = undefined;
      }
    });
  }

  /** Rebuilds the trained methods of a run's stored checkpoint (training nothing) as the last run's, for generate and exportMethod. */
  restoreTrained(params: ComparisonParams, checkpoint: StudioCheckpoint): Promise<readonly string[]> {
    return this.gpuJob(async (rt) => {
      const settings = await restoreParams(params, checkpoint);
      this.dropTrained();
      const loaded = await this.modelOn(rt, this.runBase(settings));
      const lossOf = (waitMs: number) => this.device.lossOf(rt, waitMs);
      const inputs = { rt, loaded, data: this.data, definitionOf: (id: string) => this.adapters.definitionOf(id), lossOf, restoreOnly: true };
      const { result, trained } = await new StudioRun(inputs, settings, () => undefined).execute();
      if (result.interrupted || !trained)
        throw new InputError(`the trained weights could not be rebuilt: ${result.interrupted?.message ?? 'the run ended early'}`);
      this.trained = trained;
      return trained.methods.map((m) => m.id);
    });
  }

  generate(params: GenerateParams, progress: (p: { text: string }) => void): Promise<GenerateResult> {
    return this.gpuJob(async (rt) => {
      const adapted = params.methodId === undefined ? undefined : this.trainedAdapter(params.methodId, rt);
      if (params.methodId !== undefined && !adapted) {
        throw new InputError(`${params.methodId} has not been trained with this model on this GPU device yet; run a comparison first`);
      }
      // The base model runs every projection; a trained method runs its own layers and the untargeted ones (held).
      return generateText(rt, await this.modelOn(rt, adapted ? 'any' : 'held'), adapted, params, progress);
    });
  }

  // ---- between steps while a comparison runs, else exclusive ----

  stopComparison(): Promise<boolean> {
    return this.active?.stop() ?? Promise.resolve(false);
  }

  pauseComparison(): Promise<boolean> {
    return this.active?.pause() ?? Promise.resolve(false);
  }

  resumeComparison(): Promise<boolean> {
    return this.active?.resume() ?? Promise.resolve(false);
  }

  async addMethod(id: string, settings: MethodSettingValues): Promise<boolean> {
    if (!this.active) throw new InputError('no comparison is running; start one, then add methods to it');
    return this.active.addMethod(id, settings);
  }

  spectrum(method: string, layer: string): Promise<SpectrumResult> {
    if (this.active) return this.active.spectrum(method, layer);
    return this.gpuJob(async (rt) => {
      if (this.trained?.rt !== rt) throw new InputError(`${method} is not in the running or last comparison; start one first`);
      return this.trained.diagnostics.spectrum(method, layer);
    });
  }

  async exportMethod(params: ExportParams): Promise<ExportResult> {
    const method = this.adapters.definitionOf(params.methodId);
    const run = this.active;
    if (run) {
      const { rt, loaded } = run.inputs;
      return run.betweenSteps('export', () => exportTrainedMethod(rt, loaded, method, run.adapterOf(params.methodId), params));
    }
    return this.gpuJob(async (rt) => {
      const adapted = this.trainedAdapter(params.methodId, rt);
      return exportTrainedMethod(rt, adapted ? await this.modelOn(rt) : this.requireModel(), method, adapted, params);
    });
  }

  /** The pool's figures; during a run, taken between two steps. null before any device. */
  poolStats(): Promise<EnginePoolStats | null> {
    const run = this.active;
    if (run) return run.betweenSteps('poolStats', () => this.poolFigures(run.inputs.rt, run.stepsDone));
    const rt = this.device.current;
    return Promise.resolve(rt ? this.poolFigures(rt, null) : null);
  }

  // ---- test hooks ----

  /** Destroys the device as a driver reset would (not as `replace` does: the loss is reported). */
  debugLoseDevice(): boolean {
    const rt = this.device.current;
    if (!rt) return false;
    rt.device.destroy();
    return true;
  }

  /** The current model and its device (tests: whether its projections are deferred, the pool's peak). */
  debugLoaded(): LoadedModel | undefined {
    return this.loaded;
  }

  // ---- internals ----

  private exclusive<T>(job: () => Promise<T>): Promise<T> {
    const result = this.jobs.then(job);
    this.jobs = result.catch(() => undefined);
    return result;
  }

  /** An exclusive job on the device; a failure because the device went away says so (and that the next call gets a new one). */
  private gpuJob<T>(job: (rt: GpuContext) => Promise<T>): Promise<T> {
    return this.exclusive(async () => {
      const rt = await this.device.get();
      try {
        return await job(rt);
      } catch (error) {
        const lost: StudioError | undefined = isGpuFailure(error) ? await this.device.lossOf(rt, LOSS_REPORT_WAIT_MS) : undefined;
        throw lost ?? error;
      }
    });
  }

  private requireModel(): LoadedModel {
    if (!this.loaded) throw new InputError('No model is loaded yet: wait for the built-in model, or drop a model folder.');
    return this.loaded;
  }

  private previewNow(params: DatasetParams): DatasetPreview {
    return this.data.preview(requireTokenizer(this.requireModel()), params);
  }

  /** What a run of these methods needs of the model: deferred projections for 4-bit methods only, else every W. */
  private runBase(params: Pick<ComparisonParams, 'methods'>): ModelNeed {
    return comparisonDefers(params, (id) => this.adapters.definitionOf(id)) ? 'deferred' : 'whole';
  }

  /**
   * The current model on `rt`, as `need` says (ModelNeed). A model left on a lost device is first reloaded from where it came
   * from (with notices). 'whole': a model whose projection weights the last run released (train/baseRelease.ts) is reloaded
   * (that run's trained adapters go with it); a model with deferred projections reads them back from its files instead (they
   * stay). 'deferred': a model loaded whole is loaded again with deferred projections from the same files.
   */
  private async modelOn(rt: GpuContext, need: ModelNeed = 'any'): Promise<LoadedModel> {
    const loaded = this.requireModel();
    if (loaded.rt !== rt) return this.reloadOnto(rt, loaded, need === 'deferred');
    const deferred = isDeferred(loaded);
    if (need === 'deferred' && !deferred) {
      return this.swap(rt, loaded, await this.reloaded(loaded, () => reloadModel(rt, loaded, true), 'for a run of 4-bit methods'));
    }
    if (need === 'held' || need === 'whole') {
      if (deferred) {
        await loaded.model.holdProjections(rt, loaded.model.linearNames());
        return loaded;
      }
      if (need === 'whole' && loaded.model.releasedProjections().length > 0) {
        const again = await this.reloaded(loaded, () => reloadModel(rt, loaded, false), 'to get back the weights the last run released');
        this.dropTrained();
        return this.swap(rt, loaded, again);
      }
    }
    return loaded;
  }

  /** The model loaded again onto a new device, from where it came from, with 'modelReload' notices. */
  private async reloadOnto(rt: GpuContext, loaded: LoadedModel, deferProjections: boolean): Promise<LoadedModel> {
    const model = loaded.name;
    this.notify({ type: 'modelReload', model, progress: null });
    const again = await this.reloaded(
      loaded,
      () => loadModel(rt, loaded.origin, this.options.assets, (progress) => this.notify({ type: 'modelReload', model, progress }), deferProjections),
      'onto the new GPU device',
      true,
    );
    // Dropped adapters are CPU-side definitions of this same model: they stay.
    this.loaded = again;
    this.notify({ type: 'modelReloaded', model });
    return again;
  }

  /** Runs a reload; a failure says what could not be reloaded and why (a GPU failure stays one). */
  private async reloaded(loaded: LoadedModel, load: () => Promise<LoadedModel>, where: string, notify = false): Promise<LoadedModel> {
    try {
      return await load();
    } catch (error) {
      const message = `${loaded.name} could not be reloaded ${where} (${errorMessage(error)}); load the model again.`;
      if (notify) this.notify({ type: 'modelReloadFailed', model: loaded.name, message });
      if (isGpuFailure(error)) throw error;
      throw new InputError(message);
    }
  }

  /** Makes `next` current in place of `previous` on the same device; the freed buffers go back to the system (pool trim). */
  private async swap(rt: GpuContext, previous: LoadedModel, next: LoadedModel): Promise<LoadedModel> {
    releaseModel(rt, previous.model);
    this.loaded = next;
    await rt.sync();
    rt.pool.trim();
    return next;
  }

  /** After an interrupted run: memory back to the system, or a fresh device after a GPU error. */
  private recover(rt: GpuContext, params: ComparisonParams, interruption: RunInterruption): void {
    this.lastInterruption = { params, interruption };
    // Recorded work is submitted first: trim() destroys free buffers, and one still named by an unsubmitted command would fail that submit.
    if (interruption.cause === 'outOfMemory') {
      rt.flush();
      rt.pool.trim();
    }
    if (interruption.cause === 'gpuError') this.device.replace('a GPU error during training');
  }

  private trainedAdapter(id: string, rt: GpuContext) {
    return this.trained?.rt === rt ? this.trained.methods.find((m) => m.id === id)?.adapted : undefined;
  }

  private dropTrained(): void {
    if (this.trained) releaseTrained(this.trained);
    this.trained = undefined;
  }

  private poolFigures(rt: GpuContext, step: number | null): EnginePoolStats {
    const pool = rt.stats();
    const counters = rt.counters();
    return {
      liveBytes: pool.liveBytes,
      liveBuffers: pool.liveBuffers,
      ownedBytes: pool.ownedBytes,
      buffersCreated: counters.buffersCreated,
      pipelines: counters.pipelinesCompiled,
      shaderModules: counters.shaderModules,
      device: this.device.count,
      step,
    };
  }

  private notify(notice: EngineNotice): void {
    this.options.post({ kind: 'notice', notice });
  }
}
