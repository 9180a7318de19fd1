// App state for the engine connection: whether this browser has WebGPU, the adapter the worker
// got, the self-test and the benchmark. Components read this store and call its actions; only
// the store talks to the worker client.

import { create } from 'zustand';
import { EngineClient, checkPageWebGpu, type EngineError } from '../worker/client';
import type { GpuDescription, MatmulBenchRow, MatmulBenchShape, SelfTestResult } from '../worker/protocol';
import { errorMessage, InternalError } from '../errors';

export type EngineStatus = 'starting' | 'ready' | 'unavailable' | 'failed';

type Job<T> = { state: 'idle' } | { state: 'running' } | { state: 'done'; result: T } | { state: 'failed'; message: string };

interface EngineState {
  status: EngineStatus;
  /** Why WebGPU is unavailable or the engine failed, for the user. */
  problem: string | null;
  gpu: GpuDescription | null;
  /** The last device-lost / GPU-error / crash event, shown as a banner. */
  incident: string | null;
  selfTest: Job<SelfTestResult>;
  benchShapes: readonly MatmulBenchShape[];
  benchRows: readonly MatmulBenchRow[];
  bench: Job<readonly MatmulBenchRow[]>;
  start: () => Promise<void>;
  runSelfTest: () => Promise<void>;
  runBench: (shapes: readonly MatmulBenchShape[], includePeer: boolean) => Promise<void>;
}

let client: EngineClient | undefined;

export function engineClient(): EngineClient {
  if (!client) throw new InternalError('the engine has not been started');
  return client;
}

export const useEngineStore = create<EngineState>()((set, get) => ({
  status: 'starting',
  problem: null,
  gpu: null,
  incident: null,
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
    client = new EngineClient();
    client.onEvent(({ event, error }) => {
      const prefix = event === 'deviceLost' ? 'The GPU device was lost' : event === 'gpuError' ? 'GPU error' : 'Engine failure';
      set({ incident: `${prefix}: ${error.message}` });
    });
    try {
      const gpu = await client.init();
      const benchShapes = await client.benchShapes();
      set({ status: 'ready', gpu, benchShapes });
    } catch (error) {
      const unavailable = (error as EngineError).name === 'WebGpuUnavailableError';
      set({ status: unavailable ? 'unavailable' : 'failed', problem: errorMessage(error) });
    }
  },

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
}));
