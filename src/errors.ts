// Typed errors that speak to the user. Every layer throws these; the UI shows `.message` as is,
// so each message says what went wrong, where (file, tensor, kernel, step) and what to do.
//
// Each error has a `kind`, which decides how a host shows it and the CLI's exit code:
//   usage        the command line itself is wrong (cli/args.ts UsageError)
//   input        a value, file or request the engine cannot use as given (InputError,
//                ModelFormatError, DatasetError, and a plain StudioError)
//   unsupported  valid input this studio does not handle: an architecture, a feature, a format
//   gpu          WebGPU missing, a GPU validation/internal error, the device lost
//   memory       out of GPU memory
//   cancelled    the user stopped the work
//   internal     a bug: a state the code should never reach (InternalError) or anything untyped
// InternalError is deliberately not a StudioError: code that relays a StudioError's message as
// the answer to the user (the CLI's "error:" line, the fuzzer's "refused") must not pass a bug
// off as a refusal. The hosts show it as a bug, with its message.
//
// Names are spelled out: a production build renames classes, and `name` crosses the worker
// boundary (the page tells a missing WebGPU from other failures by it).

export type ErrorKind = 'usage' | 'input' | 'unsupported' | 'gpu' | 'memory' | 'cancelled' | 'internal';

export const ERROR_KINDS: readonly ErrorKind[] = ['usage', 'input', 'unsupported', 'gpu', 'memory', 'cancelled', 'internal'];

/** An error meant for the user. A plain StudioError is about the input (kind 'input'). */
export class StudioError extends Error {
  override name = 'StudioError';
  readonly kind: ErrorKind = 'input';
}

/** A value, file or request the engine cannot use as given: the message says which and what to give instead. */
export class InputError extends StudioError {
  override name = 'InputError';
  override readonly kind: ErrorKind = 'input';
}

/** Valid input that the studio does not handle (an architecture, a feature, an export format). */
export class UnsupportedError extends StudioError {
  override name = 'UnsupportedError';
  override readonly kind: ErrorKind = 'unsupported';
}

/** The user stopped the work; nothing is wrong. */
export class CancelledError extends StudioError {
  override name = 'CancelledError';
  override readonly kind: ErrorKind = 'cancelled';
  constructor(message = 'cancelled') {
    super(message);
  }
}

/**
 * A bug: a state the code should never reach, or a caller breaking a function's contract. The
 * message says which invariant broke, for the bug report; not a StudioError (see above).
 */
export class InternalError extends Error {
  override name = 'InternalError';
  readonly kind: ErrorKind = 'internal';
}

/** WebGPU is missing or refused an adapter/device. `reason` is shown on the full-page notice. */
export class WebGpuUnavailableError extends StudioError {
  override name = 'WebGpuUnavailableError';
  override readonly kind: ErrorKind = 'gpu';
}

/** A GPU validation or internal error, tagged with the kernel and the shapes it ran on. */
export class GpuError extends StudioError {
  override name = 'GpuError';
  override readonly kind: ErrorKind = 'gpu';
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
  override readonly kind: ErrorKind = 'memory';
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
  override readonly kind: ErrorKind = 'gpu';
}

export class ModelFormatError extends InputError {
  override name = 'ModelFormatError';
  constructor(
    message: string,
    readonly file?: string,
  ) {
    super(file ? `${file}: ${message}` : message);
  }
}

export class UnsupportedModelError extends UnsupportedError {
  override name = 'UnsupportedModelError';
}

export class DatasetError extends InputError {
  override name = 'DatasetError';
}

function isKind(value: unknown): value is ErrorKind {
  return typeof value === 'string' && (ERROR_KINDS as readonly string[]).includes(value);
}

/**
 * The kind of anything thrown: a typed error's own; an AbortError (DOM or Node) is 'cancelled';
 * anything else (a TypeError, a library's Error, a string) is 'internal'.
 */
export function errorKind(error: unknown): ErrorKind {
  if (error instanceof StudioError || error instanceof InternalError) return error.kind;
  if (error instanceof Error && error.name === 'AbortError') return 'cancelled';
  if (typeof error === 'object' && error !== null && 'kind' in error && 'message' in error && isKind(error.kind)) return error.kind;
  return 'internal';
}

/**
 * The one formatter: the text a user reads for anything thrown. An Error's message (its name
 * when the message is empty), a `{ message }` object's (WebGPU's GPUError is not an Error), or
 * the value as a string.
 */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string') return error.message;
  return String(error);
}

/**
 * `error` with `context` before its message ("context: message"), keeping its kind: a typed error
 * gets the prefix in place (same object, same class); an AbortError becomes a CancelledError and
 * anything else an InternalError, with the original as `cause`.
 */
export function withContext(context: string, error: unknown): Error {
  if (error instanceof StudioError || error instanceof InternalError) {
    error.message = `${context}: ${error.message}`;
    return error;
  }
  const message = `${context}: ${errorMessage(error)}`;
  return errorKind(error) === 'cancelled' ? new CancelledError(message) : new InternalError(message, { cause: error });
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
