// The commands a running comparison takes from the page (pause, resume, stop, add a method, a
// spectrum, an export, the pool's figures...): queued as they arrive and applied by the training
// loop between two steps, one at a time, in arrival order, so none interleaves with a step's
// recording and a later command sees the effect of an earlier one. A command's caller gets its
// result (or error) once it has been applied.
// Not here: what the commands do (studioRun.ts) or the loop (studioRun.ts).

interface Command {
  readonly name: string;
  readonly apply: () => Promise<void>;
  readonly cancel: (error: unknown) => void;
}

export class CommandQueue {
  private readonly queue: Command[] = [];
  private wake: (() => void) | undefined;

  /** Queues `apply`; resolves or rejects with its outcome once the loop has applied it. */
  push<T>(name: string, apply: () => Promise<T> | T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        name,
        apply: async () => {
          try {
            resolve(await apply());
          } catch (error) {
            reject(error);
          }
        },
        cancel: reject,
      });
      const wake = this.wake;
      this.wake = undefined;
      wake?.();
    });
  }

  get size(): number {
    return this.queue.length;
  }

  /** Whether a command of this name is waiting (a long phase can end early for a queued stop). */
  has(name: string): boolean {
    return this.queue.some((c) => c.name === name);
  }

  /** Applies the oldest command; false when none is waiting. A command that throws rejects only its caller. */
  async applyNext(): Promise<boolean> {
    const command = this.queue.shift();
    if (!command) return false;
    await command.apply();
    return true;
  }

  /** Applies every waiting command in order, including those that arrive meanwhile. */
  async drain(): Promise<void> {
    while (await this.applyNext());
  }

  /** Resolves when a command is waiting (at once if one is). */
  arrival(): Promise<void> {
    if (this.queue.length > 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.wake = resolve;
    });
  }

  /** Rejects every waiting command with `error` (the loop ended without applying them). */
  cancelAll(error: unknown): void {
    for (const command of this.queue.splice(0)) command.cancel(error);
  }
}
