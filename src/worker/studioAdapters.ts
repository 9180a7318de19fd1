// Adapters the user dropped onto the loaded model (PRODUCT.md: bring your own adapter): each a
// PEFT LoRA/DoRA folder read by io/peftAdapterReader.ts and turned into a method of its own
// (adapters/loadedAdapter.ts), listed beside the registry's methods, so it can be evaluated,
// generated with, compared, trained further and exported like them. They belong to the model
// they were checked against and are forgotten when it is released.
// `definitionOf` is the one lookup the worker uses for a method id: loaded adapters, then the
// registry.

import { adapterMismatch, loadedAdapterMethod } from '../adapters/loadedAdapter';
import { DEFAULT_SELECTED, METHODS, methodById } from '../adapters/registry';
import type { MethodDefinition } from '../adapters/types';
import { UnsupportedModelError } from '../errors';
import { blobSource } from '../io/byteSource';
import { openPeftAdapterFiles } from '../io/peftAdapterReader';
import { onModelRelease, requireModel } from './studioModel';
import type { MethodInfo, PickedFile } from './protocol';

const loaded = new Map<string, MethodDefinition>();

onModelRelease(() => loaded.clear());

export function definitionOf(id: string): MethodDefinition {
  return loaded.get(id) ?? methodById(id);
}

export function methodInfo(m: MethodDefinition): MethodInfo {
  return {
    id: m.id,
    label: m.label,
    summary: m.summary,
    paper: m.paper,
    settings: m.settings,
    peftRefusal: m.peft.kind === 'none' ? m.peft.reason : undefined,
    family: m.family,
    quantError: m.quantError,
    claims: m.claims ?? [],
    defaultSelected: DEFAULT_SELECTED.includes(m.id),
  };
}

/** The registry's methods, then the adapters loaded onto the current model. */
export function allMethodInfos(): MethodInfo[] {
  return [...METHODS, ...loaded.values()].map(methodInfo);
}

/** Reads a dropped adapter folder, checks it against the loaded model and lists it as a method. */
export async function loadAdapterFiles(files: readonly PickedFile[]): Promise<MethodInfo> {
  const model = requireModel().model;
  const adapter = await openPeftAdapterFiles(files.map((f) => blobSource(f.file, f.path || f.file.name)));
  const problem = adapterMismatch(adapter, model);
  if (problem) throw new UnsupportedModelError(problem);
  const top = files[0]?.path.split('/') ?? [];
  const folder = top.length > 1 ? top[0]! : 'adapter';
  let name = folder;
  for (let n = 2; loaded.has(`adapter:${name}`); n++) name = `${folder}-${n}`;
  const method = loadedAdapterMethod(adapter, name);
  loaded.set(method.id, method);
  return methodInfo(method);
}
