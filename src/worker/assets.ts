// Where the studio's built-in model and data sets come from. In the browser they are files of the
// built site (public/models/<name>/, public/datasets/<name>/), fetched by same-origin URL; Node
// tests hand the session a reader of the same folders on disk. Kept behind one interface so the
// session never names `fetch` or a URL.
// Not here: parsing (io/modelFiles.ts, io/datasets.ts).

import { blobSource, type ByteSource } from '../io/byteSource';
import { errorMessage, DatasetError, ModelFormatError } from '../errors';

export interface StudioAssets {
  /** The built-in model's files (config.json and model.safetensors at least), named `<name>/<file>`. */
  modelFiles(name: string): Promise<ByteSource[]>;
  /** The text of one file of a built-in data set (e.g. "math", "train.jsonl"). */
  datasetText(name: string, file: string): Promise<string>;
}

/** Files the built-in model folder may hold; config.json and model.safetensors are required. */
export const BUILTIN_MODEL_FILES = ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json'];
export const REQUIRED_MODEL_FILES: ReadonlySet<string> = new Set(['config.json', 'model.safetensors']);

/** The built site's assets under `baseUrl` (Vite's BASE_URL). */
export function fetchedAssets(baseUrl: string): StudioAssets {
  return {
    async modelFiles(name) {
      const base = `${baseUrl}models/${name}/`;
      const sources: ByteSource[] = [];
      for (const file of BUILTIN_MODEL_FILES) {
        let response: Response;
        try {
          response = await fetch(base + file);
        } catch (error) {
          throw new ModelFormatError(`could not be fetched (${errorMessage(error)})`, `${name}/${file}`);
        }
        // Vite's preview answers unknown paths with index.html (200, text/html): treat that as missing.
        const html = (response.headers.get('content-type') ?? '').includes('text/html');
        if (!response.ok || html) {
          if (REQUIRED_MODEL_FILES.has(file))
            throw new ModelFormatError(`the built-in model is missing this file (HTTP ${response.status})`, `${name}/${file}`);
          continue;
        }
        sources.push(blobSource(await response.blob(), `${name}/${file}`));
      }
      return sources;
    },
    async datasetText(name, file) {
      const label = `${name}/${file}`;
      let response: Response;
      try {
        response = await fetch(`${baseUrl}datasets/${name}/${file}`);
      } catch (error) {
        throw new DatasetError(`${label} could not be fetched (${errorMessage(error)})`);
      }
      const html = (response.headers.get('content-type') ?? '').includes('text/html');
      if (!response.ok || html) throw new DatasetError(`${label} is missing from the built-in data (HTTP ${response.status})`);
      return response.text();
    },
  };
}
