// The soak's heap and process readings in Node (train/soak.ts takes them as functions so that the
// soak itself stays host-agnostic). A forced GC before each heap reading makes the figure the
// bytes still reachable, not garbage awaiting collection: `gc` comes from --expose-gc when the
// process has it, else V8's flag is set at run time and the function taken from a new context.
// The figure is meant to show objects kept per step, so V8's own code bookkeeping is kept out of
// it: tiering hot functions up, the maps' dependent-code lists of optimized code, and discarding
// and recompiling bytecode moved the heap by up to 3 % over hundreds of steps while heap
// snapshots showed no more application objects (only Code, BytecodeArray and the WeakArrayLists
// of Map dependent_code). So from the first reading on the optimizing tiers and bytecode
// flushing are switched off, and compiled code (the code spaces) is not counted.

import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let collect: (() => void) | undefined;

function forcedGc(): () => void {
  if (!collect) {
    for (const flag of ['--no-flush-bytecode', '--no-opt', '--no-maglev']) setFlagsFromString(flag);
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) collect = exposed;
    else {
      setFlagsFromString('--expose-gc');
      collect = runInNewContext('gc') as () => void;
    }
  }
  return collect;
}

/** JS heap bytes in use after a full collection, compiled code left out. */
export function heapAfterGc(): number {
  const gc = forcedGc();
  gc();
  gc();
  const code = getHeapSpaceStatistics()
    .filter((space) => space.space_name.startsWith('code_'))
    .reduce((bytes, space) => bytes + space.space_used_size, 0);
  return process.memoryUsage().heapUsed - code;
}

/** The process's resident set size in bytes. */
export function residentBytes(): number {
  return process.memoryUsage.rss();
}
