// Bundles the Node entry points that a device machine runs (the study CLI, bench:gpu's Node part)
// into single ES modules, so that they run there without node_modules. Used by
// scripts/device-pack.sh; the check that the bundles need nothing the pack does not carry is in
// scripts/device/bundle.test.ts.
//
//   node scripts/device/bundle.mjs OUT_DIR      writes OUT_DIR/study.mjs and OUT_DIR/bench-gpu.mjs
//
// Two things differ from running the sources under tsx:
// - `import x from './f.wgsl?raw'` (Vite's raw imports, scripts/raw-import-hooks.mjs under tsx)
//   becomes the file's text, inlined;
// - `import.meta.url` in our sources means the source file's URL, not the bundle's, so paths like
//   `new URL('../../../public/datasets/', import.meta.url)` keep pointing into the working tree.
//   The bundle must sit one folder below the repository root (e.g. .device/study.mjs).
import { readFile } from 'node:fs/promises';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export const ENTRY_POINTS = {
  study: 'src/cli/study.ts',
  'bench-gpu': 'bench/gpu.ts',
};

/** Bare imports the bundles may leave to the run time: the pack carries `webgpu` (its index.js and dawn.node). */
export const CARRIED_PACKAGES = ['webgpu'];

/**
 * Imported only on paths a device run does not take, never by a static import: bench:gpu's browser
 * half (Playwright and a Chromium), and node-fetch's optional `encoding` (required inside a try).
 */
export const OPTIONAL_PACKAGES = ['@playwright/test', 'encoding'];

const SOURCE_URL = '__adapterStudioSourceUrl';

const rawImports = {
  name: 'raw-imports',
  setup(b) {
    b.onResolve({ filter: /\?raw$/ }, (args) => ({ path: resolve(args.resolveDir, args.path.slice(0, -'?raw'.length)), namespace: 'raw' }));
    b.onLoad({ filter: /.*/, namespace: 'raw' }, async (args) => ({ contents: await readFile(args.path, 'utf8'), loader: 'text' }));
  },
};

const sourceUrls = {
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.(ts|tsx|mts|js|mjs)$/ }, async (args) => {
      if (args.path.includes(`${'/'}node_modules${'/'}`)) return undefined;
      const text = await readFile(args.path, 'utf8');
      if (!text.includes('import.meta.url')) return undefined;
      const rel = relative(REPO_ROOT, args.path).split('\\').join('/');
      const loader = /\.tsx?$|\.mts$/.test(args.path) ? (args.path.endsWith('x') ? 'tsx' : 'ts') : 'js';
      return { contents: text.replaceAll('import.meta.url', `${SOURCE_URL}(${JSON.stringify(rel)})`), loader, resolveDir: dirname(args.path) };
    });
  },
};

// The bundle's own URL locates the repository root (its parent folder); createRequire lets bundled
// CommonJS dependencies call require() on Node's built-in modules.
const BANNER = [
  "import { createRequire as __createRequire } from 'node:module';",
  'const require = __createRequire(import.meta.url);',
  `const ${SOURCE_URL} = (rel) => new URL('../' + rel, import.meta.url).href;`,
].join('\n');

/** Bundles every entry point into outDir; returns esbuild's metafile (inputs and imports per output). */
export async function bundle(outDir, entries = ENTRY_POINTS) {
  const result = await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: Object.entries(entries).map(([out, src]) => ({ out, in: src })),
    outdir: outDir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: [...CARRIED_PACKAGES, ...OPTIONAL_PACKAGES],
    plugins: [rawImports, sourceUrls],
    banner: { js: BANNER },
    metafile: true,
    logLevel: 'warning',
    legalComments: 'none',
  });
  return result.metafile;
}

const isBuiltin = (path) => path.startsWith('node:') || builtinModules.includes(path.split('/')[0]);

/** The imports each bundle leaves to the run time that are not Node built-ins, by output file. */
export function externalImports(metafile) {
  const out = {};
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (!file.endsWith('.mjs')) continue;
    out[file] = [...new Set(output.imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => i.path))].sort();
  }
  return out;
}

/** What a bundle imports that the pack does not carry, or carries only for other paths (statically): empty when the pack is complete. */
export function missingImports(metafile) {
  const problems = [];
  for (const [file, output] of Object.entries(metafile.outputs)) {
    for (const i of output.imports) {
      if (!i.external || isBuiltin(i.path) || CARRIED_PACKAGES.includes(i.path)) continue;
      if (OPTIONAL_PACKAGES.includes(i.path) && i.kind !== 'import-statement') continue;
      problems.push(`${file}: ${i.kind} '${i.path}'`);
    }
  }
  return problems;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const outDir = resolve(process.argv[2] ?? join(REPO_ROOT, '.device'));
  const meta = await bundle(outDir);
  for (const [file, imports] of Object.entries(externalImports(meta))) {
    console.log(`device-pack: ${file}: ${(meta.outputs[file].bytes / 1e6).toFixed(2)} MB; imports at run time: ${imports.join(', ') || 'none'}`);
  }
  const problems = missingImports(meta);
  if (process.argv.includes('--check') && problems.length > 0) {
    console.error(`device-pack: the bundles import what the pack does not carry:\n  ${problems.join('\n  ')}`);
    process.exit(1);
  }
}
