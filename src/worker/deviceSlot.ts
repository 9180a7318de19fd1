// The session's GPU device: acquired on first use, watched for loss, and acquired anew by the
// next call after a loss, so a lost device never makes every later call fail. It can also be
// given up on purpose (`replace`) after a GPU error that may have left it unusable; that is not
// reported as a loss. Whoever held tensors on the old device (the model, a run's adapters) must
// drop them: the session checks `LoadedModel.rt` against `get()`.
// Not here: what to reload (studioSession.ts) or how to acquire (the host passes `acquire`).

import { GpuContext, type ContextOptions } from '../gpu/context';
import type { AcquiredDevice } from '../gpu/device';
import { DeviceLostError, GpuError } from '../errors';

/** How long a failed GPU call waits for the device's loss to be reported before calling it an error. */
export const LOSS_REPORT_WAIT_MS = 250;

/** A lost (or given-up) device, with what the browser said about it. */
export class DeviceLoss extends DeviceLostError {
  constructor(
    /** "destroyed: Device was destroyed." or why it was given up. */
    readonly detail: string,
    message: string,
  ) {
    super(message);
  }
}

export interface DeviceSlotOptions {
  readonly acquire: () => Promise<AcquiredDevice>;
  readonly contextOptions?: ContextOptions;
  /** The device went away without being given up on purpose: tell the page. */
  readonly onLost: (error: DeviceLoss, ctx: GpuContext) => void;
  /** A GPU error that no error scope caught. */
  readonly onUncapturedError: (error: GpuError) => void;
  /** A device was acquired to replace a lost or given-up one. */
  readonly onNewDevice: (ctx: GpuContext) => void;
}

interface Held {
  readonly ctx: GpuContext;
  readonly lostSignal: Promise<DeviceLoss>;
  lost: DeviceLoss | undefined;
  givenUp: boolean;
}

export class DeviceSlot {
  private held: Held | undefined;
  private readonly all = new WeakMap<GpuContext, Held>();
  private acquiring: Promise<GpuContext> | undefined;
  private acquired = 0;

  constructor(private readonly options: DeviceSlotOptions) {}

  /** The device: the one held, or a new one when none is held yet or it was lost. */
  get(): Promise<GpuContext> {
    if (this.held && !this.held.lost) return Promise.resolve(this.held.ctx);
    this.acquiring ??= this.acquireNew().finally(() => {
      this.acquiring = undefined;
    });
    return this.acquiring;
  }

  /** The device held now, if any and not lost; acquires nothing. */
  get current(): GpuContext | undefined {
    return this.held && !this.held.lost ? this.held.ctx : undefined;
  }

  /** Devices acquired so far. */
  get count(): number {
    return this.acquired;
  }

  /**
   * Why `ctx` is gone (lost or given up), or undefined while it works. Waits up to `waitMs` for a
   * loss to be reported: a failed readback can arrive before `device.lost` resolves.
   */
  async lossOf(ctx: GpuContext, waitMs = 0): Promise<DeviceLoss | undefined> {
    const held = this.all.get(ctx);
    if (!held || held.lost || waitMs <= 0) return held?.lost;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), waitMs);
    });
    const lost = await Promise.race([held.lostSignal, timeout]);
    clearTimeout(timer);
    return lost;
  }

  /** Gives the device up on purpose; the next get() acquires a new one. */
  replace(reason: string): void {
    const held = this.held;
    if (!held || held.lost) return;
    held.givenUp = true;
    held.lost = new DeviceLoss(`replaced after ${reason}`, `The GPU device was replaced after ${reason}.`);
    try {
      held.ctx.destroy();
    } catch {
      // The device is being dropped because it may be broken; a failing final flush changes nothing.
    }
  }

  private async acquireNew(): Promise<GpuContext> {
    const replacing = this.held !== undefined;
    const acquired = await this.options.acquire();
    const ctx = new GpuContext(acquired, this.options.contextOptions);
    acquired.device.addEventListener('uncapturederror', (event) => {
      this.options.onUncapturedError(new GpuError(`Uncaught GPU error: ${event.error.message}`));
    });
    const lostSignal = acquired.device.lost.then((info) => {
      const detail = `${info.reason}${info.message ? `: ${info.message}` : ''}`;
      const error =
        held.lost ??
        new DeviceLoss(
          detail,
          `The GPU device was lost (${detail}). What was running stopped; a run's curves and results so far are kept. ` +
            'The next action that needs the GPU gets a new device and reloads the model.',
        );
      held.lost = error;
      if (!held.givenUp) this.options.onLost(error, ctx);
      return error;
    });
    const held: Held = { ctx, lostSignal, lost: undefined, givenUp: false };
    this.all.set(ctx, held);
    this.held = held;
    this.acquired++;
    if (replacing) this.options.onNewDevice(ctx);
    return ctx;
  }
}
