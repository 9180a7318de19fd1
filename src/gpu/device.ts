// Acquires a WebGPU adapter and device from any `GPU` object (navigator.gpu in a browser, the
// `webgpu` package's Dawn in Node), asks for the adapter's larger limits when it offers them
// (and works at WebGPU's defaults otherwise), and turns on the optional features we can use.
// `limitOverrides` lowers the buffer limits the engine sees below what the device grants (tests:
// a tiny model whose embedding must be split into row blocks); Dawn still enforces its own.

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
  /** The adapter's smallest subgroup size, where it says (subgroup kernels size a workgroup to one subgroup). */
  readonly subgroupMinSize?: number;
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
  /**
   * Lower limits the engine must keep to (every reader of device.limits sees them): a few KiB per
   * binding makes a tiny model behave like a real one at WebGPU's defaults. Only lowers; a value
   * above the device's own limit is ignored.
   */
  readonly limitOverrides?: Partial<Pick<GPUSupportedLimits, 'maxStorageBufferBindingSize' | 'maxBufferSize'>>;
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
  if (options.limitOverrides) lowerLimits(device, options.limitOverrides);
  const lost = device.lost.then(
    (info) =>
      new DeviceLostError(
        // Host-neutral: the studio (worker/deviceSlot.ts) and the CLI each say what to do next.
        `The GPU device was lost (${info.reason}): ${info.message || 'no detail given'}.`,
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
    ...subgroupSize(adapterInfo),
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

/** adapter.info.subgroupMinSize, where the browser or Dawn reports it (newer than @webgpu/types' GPUAdapterInfo). */
function subgroupSize(info: GPUAdapterInfo): { subgroupMinSize?: number } {
  const size = (info as GPUAdapterInfo & { subgroupMinSize?: unknown }).subgroupMinSize;
  return typeof size === 'number' && Number.isInteger(size) && size >= 1 ? { subgroupMinSize: size } : {};
}

/**
 * Shadows device.limits with a copy whose buffer limits are the lower of the device's and
 * `overrides` (an own property over the prototype's getter; GPUDevice objects are extensible).
 */
function lowerLimits(device: GPUDevice, overrides: NonNullable<AcquireOptions['limitOverrides']>): void {
  const granted = device.limits as unknown as Record<string, number>;
  const limits: Record<string, number> = {};
  for (const name in granted) limits[name] = granted[name]!;
  for (const [name, value] of Object.entries(overrides)) {
    if (value !== undefined && value < (limits[name] ?? Infinity)) limits[name] = value;
  }
  Object.defineProperty(device, 'limits', { value: Object.freeze(limits), configurable: true });
}

function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  const text = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`.toLowerCase();
  return /swiftshader|llvmpipe|lavapipe|software|warp|microsoft basic render/.test(text);
}
