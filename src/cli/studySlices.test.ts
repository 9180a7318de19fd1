// scripts/study-slices.sh: the study in slices. Its method groups are the registry's methods, each
// once; it says what comes next; and it refuses a main slice until the sweep has run every trial.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { METHODS } from '../adapters/registry';

const SCRIPT = 'scripts/study-slices.sh';
const dir = mkdtempSync(join(tmpdir(), 'study-slices-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function slices(...args: string[]) {
  const r = spawnSync('bash', [SCRIPT, ...args], { encoding: 'utf8', env: { ...process.env, STUDY_PARTS: dir } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('study-slices.sh', () => {
  it('splits every method of the registry into its groups, each once', () => {
    const text = readFileSync(SCRIPT, 'utf8');
    const groups = [...text.matchAll(/^GROUP_([a-z])=(.+)$/gm)].map((m) => m[2]!.split(','));
    expect(groups).toHaveLength(3);
    const all = groups.flat();
    expect(new Set(all).size).toBe(all.length);
    expect([...all].sort()).toEqual(METHODS.map((m) => m.id).sort());
  });

  it('starts at the sweep, then the first slice; refuses slices until the sweep is finished', () => {
    const fresh = slices('status');
    expect(fresh.code, fresh.err).toBe(0);
    expect(fresh.out).toContain('sweep: none');
    expect(fresh.out).toContain('next: arithmetic seed 1 group a (lora,');
    expect(fresh.out).toContain('main slices done: 0 of 27');

    const refused = slices('run', 'arithmetic', '1', 'a');
    expect(refused.code).toBe(2);
    expect(refused.err).toContain("run 'bash scripts/study-slices.sh sweep' first");

    writeFileSync(join(dir, 'sweep.json'), JSON.stringify({ lrSweep: { trials: [{}, {}], planned: 5, wallMs: 3.6e6 } }));
    expect(slices('status').out).toContain('sweep: partial 2 5 1.00');
    expect(slices('next').err).toContain('the sweep is not finished');

    // A finished sweep: slices run in order, seed by seed; a part on disk counts as done.
    writeFileSync(join(dir, 'sweep.json'), JSON.stringify({ lrSweep: { trials: [{}, {}], planned: 2, wallMs: 0 } }));
    for (const g of ['a', 'b', 'c']) writeFileSync(join(dir, `arithmetic-seed1-${g}.json`), '{}');
    const later = slices('status');
    expect(later.out).toContain('sweep: done 2 2');
    expect(later.out).toContain('next: verses seed 1 group a');
    expect(later.out).toContain('main slices done: 3 of 27');

    expect(slices('run', 'arithmetic', '1', 'd').err).toContain("unknown method group 'd'");
    expect(slices('run', 'poems', '1', 'a').err).toContain("unknown task 'poems'");
    expect(slices('frobnicate').code).toBe(2);
  });
});
