// Vitest setup for Node: nothing to install globally; GPU tests get their device from
// src/test/gpu.ts, which loads Dawn (the `webgpu` package) on first use.
export {};
