// Exports of a method trained in the studio's last comparison (PRODUCT.md step 8), as files the
// page downloads (one by one or zipped):
//   peft    adapter_config.json + adapter_model.safetensors (adapters/export.ts peftAdapter, then
//           io/peft.ts peftAdapterFiles). SPP and full fine-tuning have no LoRA form: refused
//           with the reason, pointing at the merged export.
//   merged  model.safetensors (f32, Hugging Face names and layouts, adapted projections merged),
//           config.json (torch_dtype float32) and the model's tokenizer files as loaded.
// The CLI's `export` command writes the same files from the same functions.
//
// Not here: zipping and downloading (the page does that), training (studioRun.ts).

import { canExportPeft, mergedTensors, peftAdapter } from '../adapters/export';
import { readAllBytes, readJsonFile, type ByteSource } from '../io/byteSource';
import { mergedModelSafetensors, peftAdapterFiles } from '../io/peft';
import { StudioError } from '../errors';
import type { GpuContext } from '../gpu/context';
import { requireModel } from './studioModel';
import { trainedAdapter } from './studioRun';
import type { ExportParams, ExportResult } from './protocol';

const TOKENIZER_LIMIT = 256 * 1024 * 1024;

/** Why a method has no PEFT LoRA adapter form, or null when it has one. */
export function peftRefusal(methodId: string): string | null {
  if (canExportPeft(methodId)) return null;
  if (methodId === 'spp') return 'SPP has no PEFT LoRA form: its update is a sparse elementwise rescaling of the pruned weight. Export the merged model instead.';
  if (methodId === 'full') return 'Full fine-tuning changes every weight, so there is no adapter to export. Export the merged model instead.';
  return `${methodId} has no PEFT LoRA form. Export the merged model instead.`;
}

function baseModelName(name: string): string {
  return name.replace(/ \(built-in\)$/, '');
}

function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'model';
}

export async function exportTrainedMethod(rt: GpuContext, params: ExportParams): Promise<ExportResult> {
  const loaded = requireModel();
  const adapted = trainedAdapter(params.methodId);
  if (!adapted) throw new StudioError(`${params.methodId} has not been trained with the loaded model in this session; run a comparison first (saved runs keep curves, not weights)`);
  const base = baseModelName(loaded.name);
  const folder = `${safeName(base)}-${params.methodId}-${params.format === 'peft' ? 'adapter' : 'merged'}`;
  if (params.format === 'peft') {
    const refusal = peftRefusal(params.methodId);
    if (refusal) throw new StudioError(refusal);
    const adapter = await peftAdapter(rt, adapted, base);
    const converted = ['pissa', 'qpissa', 'sorsa'].includes(params.methodId);
    return {
      methodId: params.methodId,
      format: 'peft',
      folder,
      files: peftAdapterFiles(adapter).map((f) => ({ name: f.name, data: f.data })),
      note: `PEFT LoRA: r ${adapter.rank}, lora_alpha ${adapter.alpha}, ${adapter.layers.length} modules${converted ? ' (converted to a LoRA on the original weights: rank 2r)' : ''}${params.methodId === 'lorasb' ? ' (B R stored as lora_B)' : ''}.`,
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
