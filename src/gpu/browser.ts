// Browser host of the GPU runtime: returns `navigator.gpu` or explains, in words a user can act
// on, why there is none. Works in a page (Navigator) and in a worker (WorkerNavigator): both
// expose `gpu` only in a secure context and only where the browser has WebGPU turned on.
// Does not request an adapter: acquireDevice() (device.ts) does that and reports a refusal.

import { WebGpuUnavailableError } from '../errors';

/** What to do, shared by every "no WebGPU" message so the advice is the same everywhere. */
export const WEBGPU_FIX =
  'Use Chrome or Edge 113 or newer on a machine with a GPU (on Linux, start the browser with ' +
  '--enable-unsafe-webgpu), and check chrome://gpu: "WebGPU" should read "Hardware accelerated".';

export function browserGpu(): GPU {
  const scope = globalThis as typeof globalThis & { navigator?: Navigator | WorkerNavigator };
  const gpu = scope.navigator?.gpu;
  if (gpu) return gpu;

  if (scope.isSecureContext === false) {
    const where = typeof location === 'undefined' ? 'this page' : location.origin;
    throw new WebGpuUnavailableError(
      `WebGPU needs a secure context and ${where} is not one: browsers expose navigator.gpu only on ` +
        'https:// pages and on http://localhost or http://127.0.0.1. Open the studio over https or on ' +
        `localhost. ${WEBGPU_FIX}`,
    );
  }
  throw new WebGpuUnavailableError(
    'This browser does not offer WebGPU (navigator.gpu is missing): it is too old, it is not ' +
      'Chromium-based, or WebGPU is switched off by a flag or policy. ' +
      WEBGPU_FIX,
  );
}
