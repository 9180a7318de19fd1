// Entry point of `npm run cli -- <command>`: runs one command (commands/index.ts) with the
// process's stdout/stderr and a Node GPU context made on first use, then exits with the
// command's code. The explicit exit is needed because Dawn keeps the event loop alive.

import { runCli } from './commands/index';
import { EXIT_UNEXPECTED, nodeGpuProvider, processIo } from './commands/common';

async function main(): Promise<number> {
  const io = processIo();
  const gpu = nodeGpuProvider(io);
  try {
    return await runCli(process.argv.slice(2), { io, gpu: () => gpu.gpu() });
  } finally {
    gpu.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`unexpected error: ${error instanceof Error && error.stack ? error.stack : String(error)}\n`);
    process.exit(EXIT_UNEXPECTED);
  },
);
