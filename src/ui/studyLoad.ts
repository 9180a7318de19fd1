// The reference study's results (docs/results.json) for the Study view: fetched only when the view
// opens (the file is an asset of the build, not part of the main bundle), parsed, and checked for
// the fields the view reads, so a truncated or foreign file says what is wrong instead of drawing
// half a page. Older files lack the optional fields of src/study/results.ts; those stay optional.

import { InputError } from '../errors';
import type { StudyJson } from '../study/results';

type Fetch = (url: string) => Promise<{ ok: boolean; status: number; statusText: string; text: () => Promise<string> }>;

const REQUIRED_CONFIG = ['model', 'methods', 'steps', 'batch', 'learningRates'] as const;

/** Checks the parsed JSON has what the Study view reads; throws InputError naming the first gap. */
export function parseStudy(text: string, source: string): StudyJson {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new InputError(
      `${source} is not valid JSON (${(e as Error).message}). Regenerate it with \`npm run study\`, or reload if the download was cut short.`,
    );
  }
  const fix = 'Regenerate it with `npm run study`.';
  if (typeof data !== 'object' || data === null) throw new InputError(`${source} holds no study object. ${fix}`);
  const study = data as Partial<StudyJson>;
  if (typeof study.config !== 'object' || study.config === null) throw new InputError(`${source} has no "config" section. ${fix}`);
  const missing = REQUIRED_CONFIG.filter((k) => study.config![k] === undefined);
  if (missing.length > 0) throw new InputError(`${source} lacks config.${missing.join(', config.')}. ${fix}`);
  if (!Array.isArray(study.runs)) throw new InputError(`${source} has no "runs" list. ${fix}`);
  if (!Array.isArray(study.datasets)) throw new InputError(`${source} has no "datasets" list. ${fix}`);
  for (const [i, run] of study.runs.entries()) {
    if (typeof run?.dataset !== 'string' || !Array.isArray(run.methods)) throw new InputError(`${source}: run ${i + 1} has no dataset or no methods. ${fix}`);
  }
  return data as StudyJson;
}

/** Fetches and parses the study; network and HTTP failures become an InputError that says what to do. */
export async function loadStudy(url: string, fetcher: Fetch = (u) => fetch(u)): Promise<StudyJson> {
  let response: Awaited<ReturnType<Fetch>>;
  try {
    response = await fetcher(url);
  } catch (e) {
    throw new InputError(`Could not download the study results (${(e as Error).message}). Check that the studio's server is still running, then reload.`);
  }
  if (!response.ok) {
    throw new InputError(
      `The studio's server answered ${response.status} ${response.statusText} for the study results. Rebuild the studio (npm run build) so it carries docs/results.json.`,
    );
  }
  return parseStudy(await response.text(), 'docs/results.json');
}
