// The page's side of the worker protocol: turns postMessage into promise-returning calls.
// Each call gets an id; its 'progress' messages go to the caller's callback, its 'result'
// resolves and its 'error' rejects with an EngineError whose `name` is the engine's error class
// (e.g. "WebGpuUnavailableError", "GpuError") and whose `message` is meant for the user.
// Unsolicited events (device lost, uncaught GPU error, worker crash) go to onEvent listeners,
// notices (new device, model reload) to onNotice listeners.
// If the worker itself dies (an error that escapes it, a script that fails to load, terminate()),
// every pending call is rejected, the worker is terminated, and listeners get a 'crash' event
// whose error is named WORKER_FAILURE. The calls that set the engine's state (the model, dropped
// adapters, the data) are remembered, so a new client can bring a new engine back to that state
// (`restoreSteps`).
// A worker that hangs without dying is found by the page's heartbeat (watchdog.ts), which pings
// through `call('ping')`; `watchdogTiming` gives its bounds.

import { StudioError, type ErrorKind } from '../errors';
import { HANG_TIMEOUT_MS, PING_INTERVAL_MS } from './watchdog';
import { browserGpu } from '../gpu/browser';
import {
  WORKER_FAILURE,
  type CallName,
  type CallParams,
  type CallProgress,
  type CallResult,
  type EngineEventName,
  type EngineNotice,
  type EngineResponse,
  type GpuDescription,
  type MatmulBenchRow,
  type MatmulBenchShape,
  type ModelLoadProgress,
  type SelfTestResult,
  type SerializedError,
} from './protocol';

/** An error raised in the worker, carried across with its class name, kind and message. */
export class EngineError extends StudioError {
  override readonly kind: ErrorKind;
  constructor(error: SerializedError) {
    super(error.message);
    this.name = error.name;
    this.kind = error.kind;
  }
}

export interface EngineEvent {
  readonly event: EngineEventName;
  readonly error: EngineError;
}

/** A call that set the engine's state, replayed in order to restore it in a new engine. */
export type RestoreStep = {
  [K in CallName]: { readonly call: K; readonly params: CallParams<K> };
}[CallName];

interface Pending {
  readonly resolve: (value: never) => void;
  readonly reject: (error: EngineError) => void;
  readonly progress?: (value: never) => void;
}

const MODEL_CALLS: readonly CallName[] = ['loadBuiltinModel', 'loadModelFiles'];
const DATA_CALLS: readonly CallName[] = ['loadBuiltinDataset', 'loadDatasetFile'];

/**
 * Throws WebGpuUnavailableError (with the reason and the fix) when this page has no WebGPU.
 * Cheap and synchronous: lets the page show its notice without starting the worker.
 */
export function checkPageWebGpu(): void {
  browserGpu();
}

/** Test hooks are on in dev builds and for a page opened with ?testHooks=1. */
export function testHooksEnabled(): boolean {
  return import.meta.env.DEV || new URLSearchParams(globalThis.location?.search ?? '').get('testHooks') === '1';
}

/**
 * The heartbeat's bounds: HANG_TIMEOUT_MS, or with test hooks on a page opened with
 * ?hangTimeoutMs=N (a test hook, at least 1 000), N, pinged four times as often.
 */
export function watchdogTiming(): { readonly timeoutMs: number; readonly intervalMs: number } {
  const asked = testHooksEnabled() ? Number(new URLSearchParams(globalThis.location?.search ?? '').get('hangTimeoutMs') ?? Number.NaN) : Number.NaN;
  if (!Number.isFinite(asked) || asked < 1000) return { timeoutMs: HANG_TIMEOUT_MS, intervalMs: PING_INTERVAL_MS };
  return { timeoutMs: asked, intervalMs: Math.min(PING_INTERVAL_MS, Math.floor(asked / 4)) };
}

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private readonly noticeListeners = new Set<(notice: EngineNotice) => void>();
  private dead: EngineError | undefined;
  private model: RestoreStep | undefined;
  private adapters: RestoreStep[] = [];
  private data: RestoreStep | undefined;

  constructor(private readonly worker: Worker = spawnEngineWorker(testHooksEnabled())) {
    worker.addEventListener('message', (event: MessageEvent<EngineResponse>) => this.receive(event.data));
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.die(`The engine worker stopped (${event.message || 'its script could not be loaded'}).`);
    });
    worker.addEventListener('messageerror', () => {
      this.die('The engine worker sent a message that could not be read.');
    });
  }

  call<K extends CallName>(call: K, params: CallParams<K>, onProgress?: (progress: CallProgress<K>) => void): Promise<CallResult<K>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<CallResult<K>>((resolve, reject) => {
      const done = (result: CallResult<K>) => {
        this.remember({ call, params } as RestoreStep);
        resolve(result);
      };
      this.pending.set(id, { resolve: done, reject, progress: onProgress } as Pending);
      this.worker.postMessage({ id, call, params });
    });
  }

  init(): Promise<GpuDescription> {
    return this.call('init', {});
  }

  selfTest(seed?: number): Promise<SelfTestResult> {
    return this.call('selfTest', seed === undefined ? {} : { seed });
  }

  benchShapes(): Promise<readonly MatmulBenchShape[]> {
    return this.call('benchShapes', {});
  }

  bench(shapes: readonly MatmulBenchShape[], includePeer: boolean, onRow?: (row: MatmulBenchRow) => void): Promise<readonly MatmulBenchRow[]> {
    return this.call('bench', { shapes, includePeer }, onRow);
  }

  /** Subscribes to device-lost, GPU-error and crash events; returns the unsubscribe function. */
  onEvent(listener: (event: EngineEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Subscribes to the engine's notices (new device, model reload); returns the unsubscribe function. */
  onNotice(listener: (notice: EngineNotice) => void): () => void {
    this.noticeListeners.add(listener);
    return () => this.noticeListeners.delete(listener);
  }

  /** Whether the worker has died or was terminated; every call is refused from then on. */
  get exited(): boolean {
    return this.dead !== undefined;
  }

  /** The calls that brought the engine to its state: the model, the adapters dropped onto it, the data. */
  restoreSteps(): RestoreStep[] {
    return [...(this.model ? [this.model] : []), ...this.adapters, ...(this.data ? [this.data] : [])];
  }

  /** Replays a call another client recorded (restoreSteps) on this one. */
  replay(step: RestoreStep, onProgress?: (progress: ModelLoadProgress) => void): Promise<unknown> {
    return this.call(step.call, step.params as never, onProgress as never);
  }

  terminate(): void {
    this.die('The engine worker was stopped.', 'cancelled');
  }

  private remember(step: RestoreStep): void {
    if (MODEL_CALLS.includes(step.call)) {
      this.model = step;
      this.adapters = [];
    } else if (step.call === 'loadAdapterFiles') this.adapters.push(step);
    else if (DATA_CALLS.includes(step.call)) this.data = step;
  }

  private receive(message: EngineResponse): void {
    if (message.kind === 'event') {
      const error = new EngineError(message.error);
      for (const listener of this.listeners) listener({ event: message.event, error });
      return;
    }
    if (message.kind === 'notice') {
      for (const listener of this.noticeListeners) listener(message.notice);
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    switch (message.kind) {
      case 'progress':
        pending.progress?.(message.progress as never);
        break;
      case 'result':
        this.pending.delete(message.id);
        pending.resolve(message.result as never);
        break;
      case 'error':
        this.pending.delete(message.id);
        pending.reject(new EngineError(message.error));
        break;
    }
  }

  private die(message: string, kind: ErrorKind = 'internal'): void {
    if (this.dead) return;
    this.worker.terminate();
    this.dead = new EngineError({ name: WORKER_FAILURE, kind, message });
    for (const pending of this.pending.values()) pending.reject(this.dead);
    this.pending.clear();
    for (const listener of this.listeners) listener({ event: 'crash', error: this.dead });
  }
}

// Vite bundles a worker only from `new Worker(new URL(...), { static options })`, so the two names
// are two literal expressions. The second ends in protocol.ts's TEST_HOOKS_NAME.
function spawnEngineWorker(testHooks: boolean): Worker {
  return testHooks
    ? new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'adapter-studio-engine testHooks' })
    : new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'adapter-studio-engine' });
}
