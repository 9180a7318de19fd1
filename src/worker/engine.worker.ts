// The engine's browser host: a module Web Worker that owns the GPU device and answers the
// requests of protocol.ts. Calls run one at a time, in arrival order, so a benchmark never
// shares the GPU with a self-test and their timings stay honest.
//
// Errors: a call that throws is answered with { kind: 'error', name, message } for its id.
// Device loss, GPU errors that no error scope caught, and exceptions that escape a handler are
// pushed to the page as events. A device refused at init is reported as WebGpuUnavailableError
// so the page shows its "no WebGPU" notice.
//
// Not here: the engine itself (gpu/, kernels/, bench/ do the work; the Node CLI calls the same
// functions).

import { GpuContext } from '../gpu/context';
import { acquireDevice, type AcquiredDevice } from '../gpu/device';
import { browserGpu, WEBGPU_FIX } from '../gpu/browser';
import { errorMessage, GpuError, InternalError, StudioError, WebGpuUnavailableError } from '../errors';
import { runSelfTest } from './selfTest';
import { profileTraining } from './profile';
import { currentModel, estimateMethods, loadBuiltinModel, loadPickedModel, requireTokenizer } from './studioModel';
import { loadBuiltinData, loadDataFile, previewData } from './studioData';
import { exportTrainedMethod, methodScript } from './studioExport';
import { allMethodInfos, definitionOf, loadAdapterFiles } from './studioAdapters';
import { addMethodToRun, generateText, pauseRun, resumeRun, runStudioComparison, stopRun } from './studioRun';
import { spectrumOf } from './runDiagnostics';
import {
  IMMEDIATE_CALLS,
  serializeError,
  type CallName,
  type CallParams,
  type CallProgress,
  type CallResult,
  type EngineEventName,
  type EngineRequest,
  type EngineResponse,
} from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;

let acquiring: Promise<GpuContext> | undefined;
let context: GpuContext | undefined;
let lostError: StudioError | undefined;

function post(message: EngineResponse): void {
  scope.postMessage(message);
}

function postEvent(event: EngineEventName, error: unknown): void {
  post({ kind: 'event', event, error: serializeError(error) });
}

async function acquire(): Promise<GpuContext> {
  let acquired: AcquiredDevice;
  try {
    acquired = await acquireDevice(browserGpu());
  } catch (error) {
    if (error instanceof StudioError) throw error;
    throw new WebGpuUnavailableError(`The browser found WebGPU but refused to create a GPU device (${errorMessage(error)}). ${WEBGPU_FIX}`);
  }
  const ctx = new GpuContext(acquired);
  acquired.device.addEventListener('uncapturederror', (event) => {
    postEvent('gpuError', new GpuError(`Uncaught GPU error: ${event.error.message}`));
  });
  void acquired.lost.then((error) => {
    lostError = error;
    context = undefined;
    postEvent('deviceLost', error);
  });
  context = ctx;
  return ctx;
}

async function gpu(): Promise<GpuContext> {
  if (lostError) throw lostError;
  if (context) return context;
  acquiring ??= acquire().finally(() => {
    acquiring = undefined;
  });
  return acquiring;
}

type Handler<K extends CallName> = (params: CallParams<K>, progress: (p: CallProgress<K>) => void) => Promise<CallResult<K>>;

const handlers: { [K in CallName]: Handler<K> } = {
  init: async () => (await gpu()).info,
  selfTest: async (params) => runSelfTest(await gpu(), params.seed),
  benchShapes: async () => (await import('../bench/matmulBench')).DEFAULT_BENCH_SHAPES,
  bench: async (params, progress) => {
    const ctx = await gpu();
    const { runMatmulBench } = await import('../bench/matmulBench');
    return runMatmulBench(ctx, { shapes: params.shapes, includePeer: params.includePeer, onRow: progress });
  },
  profileTraining: async (params, progress) => profileTraining(await gpu(), params, progress),
  methods: async () => {
    return allMethodInfos();
  },
  loadBuiltinModel: async (params, progress) => loadBuiltinModel(await gpu(), params.name, progress, params.frozenPrecision),
  loadModelFiles: async (params, progress) => loadPickedModel(await gpu(), params.files, progress, params.frozenPrecision),
  loadAdapterFiles: async (params) => loadAdapterFiles(params.files),
  modelCard: async () => currentModel()?.card ?? null,
  estimate: async (params) => estimateMethods(params, definitionOf),
  loadBuiltinDataset: async (params) => loadBuiltinData(params.name, () => previewData(requireTokenizer(), params)),
  loadDatasetFile: async (params) => loadDataFile(params.file, () => previewData(requireTokenizer(), params)),
  previewDataset: async (params) => previewData(requireTokenizer(), params),
  startComparison: async (params, progress) => runStudioComparison(await gpu(), params, progress),
  stopComparison: async () => stopRun(),
  pauseComparison: async () => pauseRun(),
  resumeComparison: async () => resumeRun(),
  generate: async (params, progress) => generateText(await gpu(), params, progress),
  spectrum: async (params) => spectrumOf(params.method, params.layer),
  addMethod: async (params) => addMethodToRun(params.id, params.settings),
  exportMethod: async (params) => exportTrainedMethod(await gpu(), params),
  pythonScript: async (params) => methodScript(params),
};

async function handle<K extends CallName>(id: number, call: K, params: CallParams<K>): Promise<void> {
  const handler = handlers[call] as Handler<K> | undefined;
  if (!handler) {
    post({ kind: 'error', id, error: serializeError(new InternalError(`The engine has no call named "${String(call)}".`)) });
    return;
  }
  try {
    const progress = (p: CallProgress<K>) => post({ kind: 'progress', id, call, progress: p } as EngineResponse);
    const result = await handler(params, progress);
    post({ kind: 'result', id, call, result } as EngineResponse);
  } catch (error) {
    post({ kind: 'error', id, error: serializeError(lostError ?? error) });
  }
}

let queue: Promise<void> = Promise.resolve();

scope.addEventListener('message', (event: MessageEvent<EngineRequest>) => {
  const { id, call, params } = event.data;
  // Control and pure-CPU calls must not wait behind a running comparison.
  if (IMMEDIATE_CALLS.includes(call)) void handle(id, call, params);
  else queue = queue.then(() => handle(id, call, params));
});

scope.addEventListener('unhandledrejection', (event) => {
  postEvent('crash', event.reason);
});
scope.addEventListener('error', (event) => {
  postEvent('crash', event.error ?? new InternalError(event.message));
});
