// Entry point of `npm run cli -- <command>`: runs one command (commands/index.ts) with the
// process's stdout/stderr and a Node GPU context made on first use, then exits with the
// command's code. The explicit exit is needed because Dawn keeps the event loop alive, but it
// comes only after stdout and stderr have drained: writes to a pipe are asynchronous in Node, and
// process.exit() right after a large answer (a 1.3 MB `logits --json`) would cut it short for the
// program reading it. A reader that goes away early (`| head`) ends our output quietly (EPIPE)
// instead of with a stack trace. Ctrl-C asks the command to stop between steps (interruptSignal).

import { runCli } from './commands/index';
import { EXIT_CANCELLED, EXIT_UNEXPECTED, nodeGpuProvider, processIo, type CliIo } from './commands/common';

/** Commands that stop between steps on Ctrl-C; the others keep Node's default (exit at once). */
const STOPPABLE = new Set(['train', 'compare']);

/**
 * Ctrl-C: the first asks the running command to stop between steps (train and compare save a
 * checkpoint when given --checkpoint-dir, and exit 130); a second one exits at once.
 */
function interruptSignal(io: CliIo): AbortSignal {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    controller.abort();
    io.err('\nstopping after the current step (Ctrl-C again to quit at once)\n');
    process.once('SIGINT', () => process.exit(EXIT_CANCELLED));
  });
  return controller.signal;
}

async function main(): Promise<number> {
  const io = processIo();
  const gpu = nodeGpuProvider(io);
  try {
    const argv = process.argv.slice(2);
    return await runCli(argv, { io, gpu: () => gpu.gpu(), signal: STOPPABLE.has(argv[0] ?? '') ? interruptSignal(io) : undefined });
  } finally {
    gpu.destroy();
  }
}

/** Resolves once everything written to `stream` so far has been handed to the OS (or failed). */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => {
    if (stream.destroyed || !stream.writable) {
      resolve();
      return;
    }
    // Writes complete in order, so the callback of an empty write runs after every earlier one.
    stream.write('', () => resolve());
  });
}

/** Sets the exit code, waits for the output to drain, then exits (Dawn would keep the process alive). */
async function finish(code: number): Promise<never> {
  process.exitCode = code;
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    // The reader closed the pipe: nothing more can be delivered, and that is not our failure.
    if (error.code === 'EPIPE') return;
    process.exitCode = EXIT_UNEXPECTED;
  });
}

main().then(
  (code) => finish(code),
  (error: unknown) => {
    process.stderr.write(`unexpected error: ${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
    return finish(EXIT_UNEXPECTED);
  },
);
