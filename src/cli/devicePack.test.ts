// The device pack (scripts/device-pack.sh): its bundles must run without node_modules, so each may
// import only Node's built-ins and what the pack carries, and the sources' import.meta.url paths
// must still point into the working tree. Checked by bundling, not by reading the pack script.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { bundle, externalImports, missingImports, ENTRY_POINTS, REPO_ROOT } from '../../scripts/device/bundle.mjs';
import { DEFAULT_SWEEP_GRID, gridFlag } from './study/sweep';

const dir = mkdtempSync(join(tmpdir(), 'device-pack-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('device pack', () => {
  it('bundles the study and bench:gpu with no import the pack does not carry', async () => {
    const pack = join(dir, 'pack');
    const meta = await bundle(pack);
    expect(missingImports(meta)).toEqual([]);
    const outputs = Object.keys(externalImports(meta)).sort();
    expect(outputs.map((f) => f.split('/').pop())).toEqual(
      Object.keys(ENTRY_POINTS)
        .map((k) => `${k}.mjs`)
        .sort(),
    );
    for (const [file, imports] of Object.entries(externalImports(meta))) {
      if (file.endsWith('study.mjs')) expect(imports).toEqual(['webgpu']);
    }
    // No node_modules beside the bundle: --help loads every module of the study but not Dawn.
    const help = execFileSync(process.execPath, [join(pack, 'study.mjs'), '--help'], { cwd: dir, encoding: 'utf8' });
    expect(help).toContain('--only');
    expect(help).toContain('--render-only');
    // --only (one process per task × seed) names the planned runs when given another; a usage error, before any GPU work.
    const refused = spawnSync(
      process.execPath,
      [
        join(pack, 'study.mjs'),
        '--datasets',
        'arithmetic',
        '--seeds',
        '1,2',
        '--only',
        'arithmetic:1,verses:7',
        ...['--lr', '1e-3', '--full-lr', '1e-3', '--spp-lr', '1e-3'],
        '--json',
        join(dir, 'none.json'),
      ],
      { cwd: REPO_ROOT, encoding: 'utf8' },
    );
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain("--only: 'verses:7' is not a planned run; planned: arithmetic:1, arithmetic:2");
  });

  it("keeps the sources' import.meta.url paths relative to the repository (the bundle's parent folder)", async () => {
    const root = join(dir, 'tree');
    await bundle(join(root, '.device'), { data: 'src/cli/study/data.ts' });
    const bundled = (await import(pathToFileURL(join(root, '.device', 'data.mjs')).href)) as { DATASETS_DIR: string };
    expect(bundled.DATASETS_DIR).toBe(join(root, 'public', 'datasets') + '/');
    expect(existsSync(join(REPO_ROOT, 'public', 'datasets'))).toBe(true);
  });

  it("study-all.sh's default sweep grid is the study's", () => {
    const script = readFileSync(join(REPO_ROOT, 'scripts/device/study-all.sh'), 'utf8');
    expect(/^SWEEP_GRID=\$\{SWEEP_GRID:-([^}]*)\}$/m.exec(script)?.[1]).toBe(gridFlag(DEFAULT_SWEEP_GRID));
  });

  it('copies only files that exist into the pack', () => {
    const script = readFileSync(join(REPO_ROOT, 'scripts/device-pack.sh'), 'utf8');
    const list = /scripts\/device\/\{([^}]*)\}/.exec(script)?.[1]?.split(',') ?? [];
    expect(list).toContain('study-all.sh');
    for (const name of list) expect(existsSync(join(REPO_ROOT, 'scripts/device', name))).toBe(true);
  });
});
