// `npm run bench -- --profile`: the training-step profile (src/bench/profile.ts) on the built-in
// model (public/models/kjv-llama-1m), printed as tables and optionally written as JSON. The
// machine's load average is printed before and after and kept in the JSON: figures taken on a
// shared machine must say so.

import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import type { GpuContext } from '../src/gpu/context';
import { openModelFiles } from '../src/io/modelFiles';
import { nodeDirectorySources } from '../src/io/nodeSource';
import { loadCausalLM, releaseModel } from '../src/models/load';
import { formatProfileReport, runTrainingProfile } from '../src/bench/profile';
import type { ProfileParams } from '../src/bench/profileTypes';

const MODEL_DIR = 'public/models/kjv-llama-1m';

function load(): string {
  return loadavg()
    .map((x) => x.toFixed(2))
    .join(', ');
}

export async function runProfileBench(ctx: GpuContext, params: ProfileParams, json?: string): Promise<void> {
  const loadBefore = load();
  console.log(`load average (1, 5, 15 min) before: ${loadBefore}`);
  const model = await loadCausalLM(ctx, await openModelFiles(await nodeDirectorySources(MODEL_DIR)));
  try {
    const tty = process.stderr.isTTY;
    const report = await runTrainingProfile(ctx, model, MODEL_DIR, params, (p) => {
      if (tty) process.stderr.write(`\r\x1b[K… ${p.text}`);
    });
    if (tty) process.stderr.write('\r\x1b[K');
    const loadAfter = load();
    console.log(`\n${formatProfileReport(report)}\n`);
    console.log(`load average (1, 5, 15 min) after: ${loadAfter}`);
    if (json) {
      writeFileSync(
        json,
        `${JSON.stringify({ ...report, host: { node: process.version, platform: process.platform, arch: process.arch, loadBefore, loadAfter } }, null, 2)}\n`,
      );
      console.log(`wrote ${json}`);
    }
  } finally {
    releaseModel(ctx, model);
  }
}
