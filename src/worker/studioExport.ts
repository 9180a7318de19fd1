// Exports of a method trained in the studio's last comparison (PRODUCT.md step 8), as files the
// page downloads (one by one or zipped):
//   peft    adapter_config.json + adapter_model.safetensors (the method definition's PEFT export,
//           then io/peft.ts peftAdapterFiles). A method without one is refused with its reason.
//   merged  model.safetensors (f32, Hugging Face names and layouts, adapted projections merged),
//           config.json (torch_dtype float32) and the model's tokenizer files as loaded.
// The CLI's `export` command writes the same files from the same functions.
//
// Mid-run, the session runs an export between two steps on the adapter as trained so far.
//
// Not here: zipping and downloading (the page does that), training (studioRun.ts).

import { mergedTensors, peftAdapter } from '../adapters/export';
import { resolveSettings, type AdaptedModel, type MethodDefinition } from '../adapters/types';
import { trainingScript, type ScriptConfig } from '../io/pythonScript';
import { readAllBytes, readJsonFile, type ByteSource } from '../io/byteSource';
import { mergedModelSafetensors, peftAdapterFiles, peftSummary } from '../io/peft';
import { InputError } from '../errors';
import type { GpuContext } from '../gpu/context';
import type { LoadedModel } from './studioModel';
import type { ExportParams, ExportResult } from './protocol';

const TOKENIZER_LIMIT = 256 * 1024 * 1024;

function baseModelName(name: string): string {
  return name.replace(/ \(built-in\)$/, '');
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'model';
}

/** The PEFT/TRL script for one method's configuration, its own lines from the definition. */
export function methodScript(config: ScriptConfig, definitionOf: (id: string) => MethodDefinition): string {
  const method = definitionOf(config.methodId);
  const settings = resolveSettings(method, config.settings);
  return trainingScript(config, (helpers) => method.python(settings, helpers));
}

/** `adapted`: the method as trained in the running or last comparison, if it was. */
export async function exportTrainedMethod(
  rt: GpuContext,
  loaded: LoadedModel,
  method: MethodDefinition,
  adapted: AdaptedModel | undefined,
  params: ExportParams,
): Promise<ExportResult> {
  if (!adapted)
    throw new InputError(
      `${params.methodId} has not been trained with the loaded model in this session; run a comparison first (saved runs keep curves, not weights)`,
    );
  const base = baseModelName(loaded.name);
  const folder = `${safeName(base)}-${params.methodId}-${params.format === 'peft' ? 'adapter' : 'merged'}`;
  if (params.format === 'peft') {
    if (method.peft.kind === 'none') throw new InputError(method.peft.reason);
    const adapter = await peftAdapter(rt, method, adapted, base);
    return {
      methodId: params.methodId,
      format: 'peft',
      folder,
      files: peftAdapterFiles(adapter).map((f) => ({ name: f.name, data: f.data })),
      note: `${peftSummary(adapter)} (${method.peft.kind === 'adapter' ? method.peft.note : ''}).`,
    };
  }
  const tensors = await mergedTensors(rt, adapted);
  const config = (await readJsonFile(loaded.source.configFile)) as Record<string, unknown>;
  const files = [
    { name: 'model.safetensors', data: mergedModelSafetensors(loaded.source.config.family, tensors) },
    { name: 'config.json', data: new TextEncoder().encode(`${JSON.stringify({ ...config, torch_dtype: 'float32' }, null, 2)}\n`) },
  ];
  const t = loaded.source.tokenizer;
  const extra: (ByteSource | null)[] = [t.tokenizerJson, t.tokenizerConfig, t.specialTokensMap, t.vocabJson, t.mergesTxt, t.generationConfig];
  for (const source of extra) {
    if (!source) continue;
    const name = source.name.slice(source.name.lastIndexOf('/') + 1);
    if (files.some((f) => f.name === name)) continue;
    files.push({ name, data: await readAllBytes(source, TOKENIZER_LIMIT) });
  }
  return {
    methodId: params.methodId,
    format: 'merged',
    folder,
    files,
    note: `Merged model: ${tensors.length} tensors in f32 with Hugging Face names, loadable by transformers' from_pretrained.`,
  };
}
