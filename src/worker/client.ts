// The page's side of the worker protocol: turns postMessage into promise-returning calls.
// Each call gets an id; its 'progress' messages go to the caller's callback, its 'result'
// resolves and its 'error' rejects with an EngineError whose `name` is the engine's error class
// (e.g. "WebGpuUnavailableError", "GpuError") and whose `message` is meant for the user.
// Unsolicited events (device lost, uncaught GPU error, worker crash) go to onEvent listeners.
// If the worker itself dies (script failed to load), every pending call is rejected.

import { StudioError, type ErrorKind } from '../errors';
import { browserGpu } from '../gpu/browser';
import {
  WORKER_FAILURE,
  type CallName,
  type CallParams,
  type CallProgress,
  type CallResult,
  type EngineEventName,
  type EngineResponse,
  type GpuDescription,
  type MatmulBenchRow,
  type MatmulBenchShape,
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

interface Pending {
  readonly resolve: (value: never) => void;
  readonly reject: (error: EngineError) => void;
  readonly progress?: (value: never) => void;
}

/**
 * Throws WebGpuUnavailableError (with the reason and the fix) when this page has no WebGPU.
 * Cheap and synchronous: lets the page show its notice without starting the worker.
 */
export function checkPageWebGpu(): void {
  browserGpu();
}

export class EngineClient {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(event: EngineEvent) => void>();
  private dead: EngineError | undefined;

  constructor(private readonly worker: Worker = spawnEngineWorker()) {
    worker.addEventListener('message', (event: MessageEvent<EngineResponse>) => this.receive(event.data));
    worker.addEventListener('error', (event) => {
      event.preventDefault();
      this.die(`The engine worker failed: ${event.message || 'its script could not be loaded'}. Reload the page.`);
    });
    worker.addEventListener('messageerror', () => {
      this.die('The engine worker sent a message that could not be read. Reload the page.');
    });
  }

  call<K extends CallName>(call: K, params: CallParams<K>, onProgress?: (progress: CallProgress<K>) => void): Promise<CallResult<K>> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<CallResult<K>>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, progress: onProgress } as Pending);
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

  terminate(): void {
    this.worker.terminate();
    this.die('The engine worker was stopped.', 'cancelled');
  }

  private receive(message: EngineResponse): void {
    if (message.kind === 'event') {
      const error = new EngineError(message.error);
      for (const listener of this.listeners) listener({ event: message.event, error });
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
    this.dead = new EngineError({ name: WORKER_FAILURE, kind, message });
    for (const pending of this.pending.values()) pending.reject(this.dead);
    this.pending.clear();
    for (const listener of this.listeners) listener({ event: 'crash', error: this.dead });
  }
}

function spawnEngineWorker(): Worker {
  return new Worker(new URL('./engine.worker.ts', import.meta.url), { type: 'module', name: 'adapter-studio-engine' });
}
