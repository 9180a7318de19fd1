// .device/probe.mjs: prints the WebGPU adapter that Dawn gives Node here, as one JSON line, and
// exits 3 when it is a software one (SwiftShader) although the machine has an NVIDIA device node.
import { existsSync } from 'node:fs';

// As src/gpu/node.ts does: SwiftShader (Debian's chromium) only where no GPU device node exists.
const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const noGpu = !existsSync('/dev/dri') && !existsSync('/dev/nvidia0');
if (!process.env.VK_ICD_FILENAMES && !process.env.VK_DRIVER_FILES && noGpu && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
const { create, globals } = await import('webgpu');
Object.assign(globalThis, globals);
const adapter = await create([]).requestAdapter({ powerPreference: 'high-performance' });
const info = adapter ? adapter.info : null;
const software = !info || adapter.isFallbackAdapter || /swiftshader|llvmpipe|lavapipe/i.test(`${info.vendor} ${info.architecture} ${info.description}`);
console.log(
  JSON.stringify({
    adapter: info && { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
    software,
    features: adapter ? [...adapter.features].sort() : [],
    VK_DRIVER_FILES: process.env.VK_DRIVER_FILES ?? null,
    VK_ICD_FILENAMES: process.env.VK_ICD_FILENAMES ?? null,
  }),
);
process.exit(software && existsSync('/dev/nvidia0') ? 3 : 0);
