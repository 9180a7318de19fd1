// The benchmark's peer: @tensorflow/tfjs-backend-webgpu computing the same products on the same
// adapter. Browser-safe (the app's worker loads it on demand through src/bench/matmulBench.ts); in
// Node, call installNodeNavigator() first (bench/run.ts does), because tfjs looks for
// navigator.gpu when its backend module loads and again when the backend is constructed.
//
// The device is made the way tfjs's own 'webgpu' backend factory makes it (same adapter request,
// same required limits and features), on a fresh adapter from the same GPU object as ours, and
// the backend replaces tfjs's 'webgpu' registration for as long as the peer lives.
// Timing mirrors ours: one tf.matMul per run, then tfjs's command encoder is submitted and we
// wait for queue.onSubmittedWorkDone(); no readback inside the timed region.

import type { MatmulBenchShape, MatmulPeer, PreparedProduct } from '../src/bench/types';

// tfjs registers its kernels under the backend name 'webgpu', so the peer must use that name: the
// factory the backend module registered (which would make its own device) is replaced by ours.
const BACKEND_NAME = 'webgpu';

/** Node only: exposes a `GPU` object (the `webgpu` package's) as navigator.gpu for tfjs. */
export function installNodeNavigator(gpu: GPU): void {
  const g = globalThis as unknown as { navigator?: { gpu?: GPU } };
  if (!g.navigator) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
  } else if (!g.navigator.gpu) {
    Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  }
}

interface BackendLike {
  device: GPUDevice;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

type Tfjs = typeof import('@tensorflow/tfjs-core');

/** tfjs-backend-webgpu running as tfjs's 'webgpu' backend on its own device. */
export interface TfjsBackend {
  readonly tf: Tfjs;
  readonly device: GPUDevice;
  readonly info: GPUAdapterInfo;
  /** Submits tfjs's pending commands and waits until the GPU has run them. */
  submitAndWait(): Promise<void>;
  dispose(): void;
}

/** Starts tfjs-backend-webgpu on a new device from `gpu` (default navigator.gpu). */
export async function startTfjsBackend(gpu?: GPU): Promise<TfjsBackend> {
  const nav = (globalThis as unknown as { navigator?: { gpu?: GPU } }).navigator;
  const theGpu = gpu ?? nav?.gpu;
  if (!theGpu || !nav?.gpu) {
    throw new Error('tfjs-backend-webgpu needs navigator.gpu (in Node, call installNodeNavigator(gpu) first)');
  }
  const tf = await import('@tensorflow/tfjs-core');
  const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');

  // Same adapter request, limits and features as tfjs's registered 'webgpu' factory (base.ts).
  const adapter = await theGpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('no WebGPU adapter for tfjs');
  const requiredFeatures: GPUFeatureName[] = adapter.features.has('timestamp-query') ? ['timestamp-query'] : [];
  const l = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures,
    requiredLimits: {
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupSizeX: l.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
    },
  });
  const info = adapter.info;
  const backend = new WebGPUBackend(device, info);
  const bk = backend as unknown as BackendLike;

  removeBackendIfRegistered(tf, BACKEND_NAME);
  tf.registerBackend(BACKEND_NAME, () => backend, 0);
  // Small inputs would otherwise run on tfjs's CPU forwarding path, not on the GPU.
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  const ok = await tf.setBackend(BACKEND_NAME);
  if (!ok) throw new Error('tfjs could not initialise its WebGPU backend');

  return {
    tf,
    device,
    info,
    async submitAndWait() {
      bk.ensureCommandEncoderReady();
      bk.endComputePassEncoder();
      bk.submitQueue();
      await bk.device.queue.onSubmittedWorkDone();
    },
    dispose() {
      removeBackendIfRegistered(tf, BACKEND_NAME);
      device.destroy();
    },
  };
}

/** The matmul peer: tfjs's tf.matMul on its own device from `gpu` (default navigator.gpu). */
export async function createTfjsPeer(gpu?: GPU): Promise<MatmulPeer> {
  const backend = await startTfjsBackend(gpu);
  const { tf, info, submitAndWait } = backend;
  return {
    name: `tfjs-backend-webgpu ${tf.version_core}`,
    adapter: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' / '),
    async prepare(shape: MatmulBenchShape, a: Float32Array, b: Float32Array): Promise<PreparedProduct> {
      const ta = tf.tensor2d(a, shape.transA ? [shape.K, shape.M] : [shape.M, shape.K], 'float32');
      const tb = tf.tensor2d(b, shape.transB ? [shape.N, shape.K] : [shape.K, shape.N], 'float32');
      let out: ReturnType<typeof tf.matMul> | undefined;
      return {
        async run(times = 1) {
          for (let i = 0; i < times; i++) {
            out?.dispose();
            out = tf.matMul(ta, tb, shape.transA, shape.transB);
          }
          await submitAndWait();
        },
        async read() {
          if (!out) throw new Error('read before run');
          return (await out.data()) as Float32Array;
        },
        dispose() {
          out?.dispose();
          ta.dispose();
          tb.dispose();
        },
      };
    },
    dispose() {
      backend.dispose();
    },
  };
}

function removeBackendIfRegistered(tf: { removeBackend(name: string): void }, name: string): void {
  try {
    tf.removeBackend(name); // disposes the instance if one was made; the kernels stay registered
  } catch {
    // not registered: nothing to remove
  }
}
