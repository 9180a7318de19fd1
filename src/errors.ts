// Typed errors that speak to the user. Every layer throws these; the UI shows `.message` as is,
// so each message says what went wrong, where (file, tensor, kernel, step) and what to do.

// Names are spelled out: a production build renames classes, and `name` crosses the worker
// boundary (the page tells a missing WebGPU from other failures by it).
export class StudioError extends Error {
  override name = 'StudioError';
}

/** WebGPU is missing or refused an adapter/device. `reason` is shown on the full-page notice. */
export class WebGpuUnavailableError extends StudioError {
  override name = 'WebGpuUnavailableError';
}

/** A GPU validation or internal error, tagged with the kernel and the shapes it ran on. */
export class GpuError extends StudioError {
  override name = 'GpuError';
  constructor(
    message: string,
    readonly kernel?: string,
    readonly shapes?: string,
  ) {
    super(kernel ? `${message} (kernel ${kernel}${shapes ? `, ${shapes}` : ''})` : message);
  }
}

export class OutOfMemoryError extends StudioError {
  override name = 'OutOfMemoryError';
  constructor(
    readonly requestedBytes: number,
    readonly liveBytes: number,
    what: string,
  ) {
    super(
      `Out of GPU memory allocating ${formatBytes(requestedBytes)} for ${what} ` +
        `(${formatBytes(liveBytes)} already in use). Try a smaller model, batch or sequence length.`,
    );
  }
}

export class DeviceLostError extends StudioError {
  override name = 'DeviceLostError';
}

export class ModelFormatError extends StudioError {
  override name = 'ModelFormatError';
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
  }
}

export class UnsupportedModelError extends StudioError {
  override name = 'UnsupportedModelError';
}

export class DatasetError extends StudioError {
  override name = 'DatasetError';
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}
