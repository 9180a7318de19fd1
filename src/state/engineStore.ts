// App state for the engine connection: whether this browser has WebGPU, the adapter the worker
// got, the self-test and the benchmark, and the engine's notice: a GPU device lost (the engine
// takes a new one and reloads the model on the next action) or the engine worker gone (the page
// keeps everything it shows and offers to restart the engine, which replays the model, adapter
// and data loads into a new worker), or the engine worker not answering the heartbeat (hung: the
// same offer, the stuck worker is terminated first; an answer that comes after all clears the
// notice). Components read this store and call its actions; only the store talks to the worker
// client.

import { create } from 'zustand';
import { EngineClient, checkPageWebGpu, testHooksEnabled, watchdogTiming, type EngineError, type RestoreStep } from '../worker/client';
import { Watchdog } from '../worker/watchdog';
import {
  WORKER_FAILURE,
  type EngineNotice,
  type EnginePoolStats,
  type GpuDescription,
  type MatmulBenchRow,
  type MatmulBenchShape,
  type ModelLoadProgress,
  type SelfTestResult,
} from '../worker/protocol';
import { errorMessage, InternalError } from '../errors';

export type EngineStatus = 'starting' | 'ready' | 'unavailable' | 'failed';

type Job<T> = { state: 'idle' } | { state: 'running' } | { state: 'done'; result: T } | { state: 'failed'; message: string };

/** What went wrong with the engine and how its recovery goes. */
export interface EngineNoticeState {
  /** device: the GPU device was lost or replaced; crashed: the engine worker died; hung: it stopped answering. */
  readonly kind: 'device' | 'crashed' | 'hung';
  readonly message: string;
  /** What the recovery is doing now, in words; null when idle. */
  readonly progress: string | null;
  /** How the recovery ended. */
  readonly outcome: { readonly ok: boolean; readonly text: string } | null;
}

interface EngineState {
  status: EngineStatus;
  /** Why WebGPU is unavailable or the engine failed, for the user. */
  problem: string | null;
  gpu: GpuDescription | null;
  /** The last uncaught GPU error or escaped exception in the engine, shown as a banner. */
  incident: string | null;
  notice: EngineNoticeState | null;
  selfTest: Job<SelfTestResult>;
  benchShapes: readonly MatmulBenchShape[];
  benchRows: readonly MatmulBenchRow[];
  bench: Job<readonly MatmulBenchRow[]>;
  start: () => Promise<void>;
  /** A new engine worker (a hung one is terminated first), brought back to the model, adapters and data the old one had; resolves true when it is. */
  restart: () => Promise<boolean>;
  dismissNotice: () => void;
  runSelfTest: () => Promise<void>;
  runBench: (shapes: readonly MatmulBenchShape[], includePeer: boolean) => Promise<void>;
}

let client: EngineClient | undefined;
let watchdog: Watchdog | undefined;

export function engineClient(): EngineClient {
  if (!client) throw new InternalError('the engine has not been started');
  return client;
}

/** What the page can ask of the engine in e2e tests (window.__adapterStudioTestHooks, only with test hooks on). */
export interface EngineTestHooks {
  loseDevice(): Promise<boolean>;
  crashWorker(): Promise<boolean>;
  hangWorker(ms?: number): Promise<boolean>;
  poolStats(): Promise<EnginePoolStats | null>;
}

function progressText(done: number, total: number): string {
  return `${done}/${total} tensors`;
}

function restoreLabel(step: RestoreStep): string {
  switch (step.call) {
    case 'loadBuiltinModel':
      return `Reloading ${step.params.name}`;
    case 'loadModelFiles':
      return `Reloading the model (${step.params.files.length} files)`;
    case 'loadAdapterFiles':
      return 'Reloading a dropped adapter';
    default:
      return 'Reloading the data';
  }
}

export const useEngineStore = create<EngineState>()((set, get) => {
  const patchNotice = (patch: Partial<EngineNoticeState>) => {
    const notice = get().notice;
    if (notice) set({ notice: { ...notice, ...patch } });
  };

  const onNotice = (n: EngineNotice): void => {
    const notice = get().notice ?? { kind: 'device', message: 'The engine replaced its GPU device after a GPU failure.', progress: null, outcome: null };
    switch (n.type) {
      case 'newDevice':
        set({ gpu: n.gpu, notice: { ...notice, progress: 'Got a new GPU device.' } });
        break;
      case 'modelReload':
        set({
          notice: {
            ...notice,
            progress: `Reloading ${n.model} onto the new GPU device${n.progress ? `: ${progressText(n.progress.done, n.progress.total)}` : '…'}`,
          },
        });
        break;
      case 'modelReloaded':
        set({ notice: { ...notice, progress: null, outcome: { ok: true, text: `${n.model} was reloaded onto the new GPU device.` } } });
        break;
      case 'modelReloadFailed':
        set({ notice: { ...notice, progress: null, outcome: { ok: false, text: n.message } } });
        break;
    }
  };

  const onHang = (c: EngineClient, silentMs: number): void => {
    if (c !== client || c.exited || get().notice?.progress) return;
    set({
      notice: {
        kind: 'hung',
        message: `The engine stopped responding: no answer for ${Math.round(silentMs / 1000)} s. Everything shown is kept. Wait (this notice goes away if it answers), or restart the engine (it reloads the model and data; weights not yet checkpointed are lost).`,
        progress: null,
        outcome: null,
      },
    });
  };

  const connect = (c: EngineClient): void => {
    client = c;
    watchdog?.stop();
    const dog = new Watchdog({
      ping: () => c.call('ping', {}),
      onHang: (ms) => onHang(c, ms),
      onAlive: () => {
        const notice = get().notice;
        if (c === client && notice?.kind === 'hung' && notice.progress === null) set({ notice: null });
      },
      ...watchdogTiming(),
    });
    watchdog = dog;
    dog.start();
    c.onNotice(onNotice);
    c.onEvent(({ event, error }) => {
      if (event === 'crash' && error.name === WORKER_FAILURE) dog.stop();
      // A dead worker's own last words can arrive after its death: the notice says it all.
      if (c !== client || (c.exited && error.name !== WORKER_FAILURE)) return;
      if (event === 'crash' && error.name === WORKER_FAILURE) {
        set({
          incident: null,
          notice: {
            kind: 'crashed',
            message: `${error.message} Everything shown is kept; restart the engine to go on (it reloads the model and data).`,
            progress: null,
            outcome: null,
          },
        });
      } else if (event === 'deviceLost') {
        set({ notice: { kind: 'device', message: error.message, progress: null, outcome: null } });
      } else {
        set({ incident: `${event === 'gpuError' ? 'GPU error' : 'Engine failure'}: ${error.message}` });
      }
    });
  };

  return {
    status: 'starting',
    problem: null,
    gpu: null,
    incident: null,
    notice: null,
    selfTest: { state: 'idle' },
    benchShapes: [],
    benchRows: [],
    bench: { state: 'idle' },

    start: async () => {
      if (client) return;
      try {
        checkPageWebGpu();
      } catch (error) {
        set({ status: 'unavailable', problem: errorMessage(error) });
        return;
      }
      connect(new EngineClient());
      if (testHooksEnabled()) {
        const hooks: EngineTestHooks = {
          loseDevice: () => engineClient().call('debugLoseDevice', {}),
          crashWorker: () => engineClient().call('debugCrashWorker', {}),
          hangWorker: (ms) => engineClient().call('debugHang', ms === undefined ? {} : { ms }),
          poolStats: () => engineClient().call('poolStats', {}),
        };
        Object.assign(globalThis, { __adapterStudioTestHooks: hooks });
      }
      try {
        const gpu = await engineClient().init();
        const benchShapes = await engineClient().benchShapes();
        set({ status: 'ready', gpu, benchShapes });
      } catch (error) {
        const unavailable = (error as EngineError).name === 'WebGpuUnavailableError';
        set({ status: unavailable ? 'unavailable' : 'failed', problem: errorMessage(error) });
      }
    },

    restart: async () => {
      const old = client;
      const notice = get().notice;
      if (!old || !notice || (!old.exited && notice.kind !== 'hung') || notice.progress) return false;
      // From here on the old worker's weights are gone, whether it was dead or stuck.
      set({ notice: { ...notice, kind: 'crashed', progress: 'Starting a new engine…', outcome: null } });
      const fresh = new EngineClient();
      connect(fresh);
      // Its calls in flight (a run) are rejected; connect() made `fresh` the client, so its crash event is not shown.
      if (!old.exited) old.terminate();
      try {
        set({ gpu: await fresh.init() });
        for (const step of old.restoreSteps()) {
          const label = restoreLabel(step);
          patchNotice({ progress: `${label}…` });
          const onProgress = (p: ModelLoadProgress) => patchNotice({ progress: `${label}: ${progressText(p.done, p.total)}` });
          await fresh.replay(step, onProgress);
        }
        patchNotice({
          progress: null,
          outcome: {
            ok: true,
            text: "The engine was restarted and its model and data reloaded. Curves and results shown are kept; the run's trained weights come back from its checkpoint when you generate or export (without one, train again).",
          },
        });
        return true;
      } catch (error) {
        patchNotice({ progress: null, outcome: { ok: false, text: `The engine could not be restarted: ${errorMessage(error)}. Reload the page.` } });
        return false;
      }
    },

    dismissNotice: () => set({ notice: null }),

    runSelfTest: async () => {
      if (get().selfTest.state === 'running') return;
      set({ selfTest: { state: 'running' } });
      try {
        const result = await engineClient().selfTest(Math.floor(Math.random() * 1e9));
        set({ selfTest: { state: 'done', result } });
      } catch (error) {
        set({ selfTest: { state: 'failed', message: errorMessage(error) } });
      }
    },

    runBench: async (shapes, includePeer) => {
      if (get().bench.state === 'running') return;
      set({ bench: { state: 'running' }, benchRows: [] });
      try {
        const result = await engineClient().bench(shapes, includePeer, (row) => set({ benchRows: [...get().benchRows, row] }));
        set({ bench: { state: 'done', result }, benchRows: result });
      } catch (error) {
        set({ bench: { state: 'failed', message: errorMessage(error) } });
      }
    },
  };
});
