// Acquires a WebGPU adapter and device from any `GPU` object (navigator.gpu in a browser, the
// `webgpu` package's Dawn in Node), asks for the adapter's larger limits when it offers them
// (and works at WebGPU's defaults otherwise), and turns on the optional features we can use.

import { DeviceLostError, WebGpuUnavailableError } from '../errors';

export interface GpuFeatures {
  readonly shaderF16: boolean;
  readonly subgroups: boolean;
  readonly timestampQuery: boolean;
}

export interface GpuDescription {
  readonly vendor: string;
  readonly architecture: string;
  readonly device: string;
  readonly description: string;
  /** SwiftShader or another CPU implementation: kernels pick their barrier-free variants. */
  readonly isSoftware: boolean;
  readonly features: GpuFeatures;
  readonly limits: GpuLimitsSummary;
}

export interface GpuLimitsSummary {
  readonly maxBufferSize: number;
  readonly maxStorageBufferBindingSize: number;
  readonly maxComputeWorkgroupStorageSize: number;
  readonly maxComputeInvocationsPerWorkgroup: number;
  readonly maxComputeWorkgroupsPerDimension: number;
  readonly maxStorageBuffersPerShaderStage: number;
}

export interface AcquiredDevice {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly info: GpuDescription;
  /** Resolves when the device is lost, with an error that says why. Never rejects. */
  readonly lost: Promise<DeviceLostError>;
}

export interface AcquireOptions {
  /** Request only WebGPU's default limits even when the adapter offers more (tests use this). */
  readonly defaultLimitsOnly?: boolean;
  readonly powerPreference?: GPUPowerPreference;
}

const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxStorageBuffersPerShaderStage',
] as const;

export async function acquireDevice(gpu: GPU, options: AcquireOptions = {}): Promise<AcquiredDevice> {
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' });
  if (!adapter) {
    throw new WebGpuUnavailableError(
      'WebGPU is present but no GPU adapter is available. The GPU may be blocklisted or disabled: ' +
        'check chrome://gpu, update the graphics driver, or on Linux start Chrome with --enable-unsafe-webgpu.',
    );
  }
  const requiredLimits: Record<string, number> = {};
  if (!options.defaultLimitsOnly) {
    for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  }
  const wanted: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];
  const requiredFeatures = wanted.filter((f) => adapter.features.has(f));

  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const lost = device.lost.then(
    (info) =>
      new DeviceLostError(
        `The GPU device was lost (${info.reason}): ${info.message || 'no detail given'}. ` +
          'Training stopped; its history is kept. Reload the page to get a new device.',
      ),
  );
  const adapterInfo = adapter.info;
  const architecture = adapterInfo.architecture ?? '';
  const info: GpuDescription = {
    vendor: adapterInfo.vendor ?? '',
    architecture,
    device: adapterInfo.device ?? '',
    description: adapterInfo.description ?? '',
    isSoftware: isSoftwareAdapter(adapterInfo),
    features: {
      shaderF16: device.features.has('shader-f16'),
      subgroups: device.features.has('subgroups'),
      timestampQuery: device.features.has('timestamp-query'),
    },
    limits: {
      maxBufferSize: device.limits.maxBufferSize,
      maxStorageBufferBindingSize: device.limits.maxStorageBufferBindingSize,
      maxComputeWorkgroupStorageSize: device.limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: device.limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: device.limits.maxComputeWorkgroupsPerDimension,
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
    },
  };
  return { adapter, device, info, lost };
}

function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|software|warp|microsoft basic render/.test(text);
}
