// Node host of the GPU runtime: Dawn through the `webgpu` package. On machines without a GPU
// (no /dev/dri, no /dev/nvidia0) it points the Vulkan loader at the SwiftShader driver that
// Debian's chromium ships: Mesa's lavapipe, which Debian also installs, is rejected by Dawn.
// Browser code must not import this file.

import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireDevice, type AcquireOptions, type AcquiredDevice } from './device';
import { WebGpuUnavailableError } from '../errors';

const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

let gpuSingleton: GPU | undefined;

export async function nodeGpu(): Promise<GPU> {
  if (gpuSingleton) return gpuSingleton;
  if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && !hasGpuDeviceNode()) {
    if (existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  }
  // Without it the Vulkan loader prints "XDG_RUNTIME_DIR is invalid" on every device; a private
  // temporary folder (mode 0700, as the spec asks) silences that harmlessly.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = mkdtempSync(join(tmpdir(), 'adapter-studio-xdg-'));
  const { create, globals } = await import('webgpu');
  Object.assign(globalThis, globals);
  gpuSingleton = create([]);
  return gpuSingleton;
}

export async function acquireNodeDevice(options?: AcquireOptions): Promise<AcquiredDevice> {
  try {
    return await acquireDevice(await nodeGpu(), options);
  } catch (error) {
    if (error instanceof WebGpuUnavailableError) {
      throw new WebGpuUnavailableError(
        `${error.message} In Node, install a Vulkan driver or Debian's chromium (for SwiftShader) ` + 'and libvulkan1, or set VK_ICD_FILENAMES.',
      );
    }
    throw error;
  }
}

function hasGpuDeviceNode(): boolean {
  return existsSync('/dev/dri') || existsSync('/dev/nvidia0');
}
