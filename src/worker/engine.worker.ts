// The engine's browser host: a module Web Worker holding one StudioSession (studioSession.ts),
// which owns the GPU device, the model, the data and the runs, and orders the calls (at once,
// between training steps, or one exclusive GPU job at a time). This file only turns messages of
// protocol.ts into session calls and their outcomes back into messages.
//
// Errors: a call that throws is answered with { kind: 'error', name, kind, message } for its id.
// Device loss and GPU errors that no error scope caught come from the session as events;
// exceptions that escape a handler are pushed as 'crash' events. A device refused at init is
// reported as WebGpuUnavailableError so the page shows its "no WebGPU" notice.
// `ping` is the page's heartbeat (watchdog.ts), answered here without touching the session.
// Test hooks (debugLoseDevice, debugCrashWorker, debugHang) answer only in dev builds or when the page named
// the worker with TEST_HOOKS_NAME (it does so for ?testHooks=1).
//
// Not here: the engine itself (gpu/, kernels/, train/, bench/ do the work; the Node CLI calls the
// same functions).

import { acquireDevice } from '../gpu/device';
import { browserGpu, WEBGPU_FIX } from '../gpu/browser';
import { errorMessage, InputError, InternalError, StudioError, WebGpuUnavailableError } from '../errors';
import { fetchedAssets } from './assets';
import { StudioSession } from './studioSession';
import {
  serializeError,
  TEST_HOOK_CALLS,
  TEST_HOOKS_NAME,
  type CallName,
  type CallParams,
  type CallProgress,
  type CallResult,
  type EngineRequest,
  type EngineResponse,
} from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const testHooks = import.meta.env.DEV || scope.name.split(' ').includes(TEST_HOOKS_NAME);

function post(message: EngineResponse): void {
  scope.postMessage(message);
}

const session = new StudioSession({
  acquire: async () => {
    try {
      return await acquireDevice(browserGpu());
    } catch (error) {
      if (error instanceof StudioError) throw error;
      throw new WebGpuUnavailableError(`The browser found WebGPU but refused to create a GPU device (${errorMessage(error)}). ${WEBGPU_FIX}`);
    }
  },
  assets: fetchedAssets(import.meta.env.BASE_URL),
  post,
});

type Handler<K extends CallName> = (params: CallParams<K>, progress: (p: CallProgress<K>) => void) => Promise<CallResult<K>> | CallResult<K>;

const handlers: { [K in CallName]: Handler<K> } = {
  init: () => session.init(),
  selfTest: (params) => session.selfTest(params.seed),
  benchShapes: async () => (await import('../bench/matmulBench')).DEFAULT_BENCH_SHAPES,
  bench: (params, progress) => session.bench(params, progress),
  profileTraining: (params, progress) => session.profileTraining(params, progress),
  methods: () => session.methods(),
  loadBuiltinModel: (params, progress) => session.loadBuiltinModel(params.name, params.frozenPrecision, progress),
  loadModelFiles: (params, progress) => session.loadModelFiles(params.files, params.frozenPrecision, progress),
  loadAdapterFiles: (params) => session.loadAdapterFiles(params.files),
  modelCard: () => session.modelCard(),
  estimate: (params) => session.estimate(params),
  loadBuiltinDataset: (params) => session.loadBuiltinDataset(params.name, params),
  loadDatasetFile: (params) => session.loadDatasetFile(params.file, params),
  previewDataset: (params) => session.previewDataset(params),
  startComparison: (params, progress) => session.startComparison(params, progress),
  stopComparison: () => session.stopComparison(),
  pauseComparison: () => session.pauseComparison(),
  resumeComparison: () => session.resumeComparison(),
  generate: (params, progress) => session.generate(params, progress),
  restoreTrained: (params) => session.restoreTrained(params.params, params.checkpoint),
  spectrum: (params) => session.spectrum(params.method, params.layer),
  addMethod: (params) => session.addMethod(params.id, params.settings),
  exportMethod: (params) => session.exportMethod(params),
  pythonScript: (params) => session.pythonScript(params),
  poolStats: () => session.poolStats(),
  debugLoseDevice: () => session.debugLoseDevice(),
  debugCrashWorker: () => {
    setTimeout(() => {
      throw new InternalError('debugCrashWorker: the engine worker was crashed on purpose by a test hook');
    });
    return true;
  },
  ping: () => true,
  debugHang: (params) => {
    const ms = Math.min(Math.max(params.ms ?? 120_000, 0), 600_000);
    setTimeout(() => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        /* the hang itself: the thread answers nothing until it ends */
      }
    });
    return true;
  },
};

async function handle<K extends CallName>(id: number, call: K, params: CallParams<K>): Promise<void> {
  const handler = handlers[call] as Handler<K> | undefined;
  try {
    if (!handler) throw new InternalError(`The engine has no call named "${String(call)}".`);
    if (TEST_HOOK_CALLS.includes(call) && !testHooks) throw new InputError(`${call} is a test hook; open the studio with ?testHooks=1 to use it.`);
    const progress = (p: CallProgress<K>) => post({ kind: 'progress', id, call, progress: p } as EngineResponse);
    const result = await handler(params, progress);
    post({ kind: 'result', id, call, result } as EngineResponse);
  } catch (error) {
    post({ kind: 'error', id, error: serializeError(error) });
  }
}

scope.addEventListener('message', (event: MessageEvent<EngineRequest>) => {
  const { id, call, params } = event.data;
  void handle(id, call, params);
});

scope.addEventListener('unhandledrejection', (event) => {
  post({ kind: 'event', event: 'crash', error: serializeError(event.reason) });
});
scope.addEventListener('error', (event) => {
  post({ kind: 'event', event: 'crash', error: serializeError(event.error ?? new InternalError(event.message)) });
});
