// Node module hook for the tfjs step peer only (bench/tfjsStep.ts): tfjs-core's ESM build imports
// folders (`./gradients`), which Node's ESM resolver refuses; resolve them to their index.js the
// way bundlers do. tfjs-core's CommonJS build registers no gradients, so the peer needs the ESM
// register_all_gradients module.
import { existsSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL ?? '';
  if (parent.includes('/@tensorflow/') && (specifier.startsWith('./') || specifier.startsWith('../'))) {
    const url = new URL(specifier, parent);
    const path = fileURLToPath(url);
    // As bundlers do: the file with .js first (`./gradients` is both gradients.js and a folder), then the folder's index.js.
    if (!path.endsWith('.js') && existsSync(`${path}.js`)) return nextResolve(`${url.href}.js`, context);
    if (existsSync(path) && statSync(path).isDirectory()) return nextResolve(`${url.href}/index.js`, context);
  }
  return nextResolve(specifier, context);
}
