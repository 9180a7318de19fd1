// Adapters the user dropped onto the loaded model (PRODUCT.md: bring your own adapter): each a
// PEFT LoRA/DoRA folder read by io/peftAdapterReader.ts and turned into a method of its own
// (adapters/loadedAdapter.ts), listed beside the registry's methods, so it can be evaluated,
// generated with, compared, trained further and exported like them. They belong to the model
// they were checked against: the session clears them when it loads another model (a reload of
// the same model onto a new device keeps them: they are held on the CPU).
// `definitionOf` is the one lookup the worker uses for a method id: loaded adapters, then the
// registry.

import { adapterMismatch, loadedAdapterMethod } from '../adapters/loadedAdapter';
import { DEFAULT_SELECTED, METHODS, methodById } from '../adapters/registry';
import type { MethodDefinition } from '../adapters/types';
import { UnsupportedModelError } from '../errors';
import { blobSource } from '../io/byteSource';
import { openPeftAdapterFiles } from '../io/peftAdapterReader';
import type { CausalLM } from '../models/causalLM';
import type { MethodInfo, PickedFile } from './protocol';

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

export class LoadedAdapters {
  private readonly loaded = new Map<string, MethodDefinition>();

  definitionOf(id: string): MethodDefinition {
    return this.loaded.get(id) ?? methodById(id);
  }

  /** The registry's methods, then the adapters loaded onto the current model. */
  infos(): MethodInfo[] {
    return [...METHODS, ...this.loaded.values()].map(methodInfo);
  }

  clear(): void {
    this.loaded.clear();
  }

  /** Reads a dropped adapter folder, checks it against `model` and lists it as a method. */
  async load(files: readonly PickedFile[], model: CausalLM): Promise<MethodInfo> {
    const adapter = await openPeftAdapterFiles(files.map((f) => blobSource(f.file, f.path || f.file.name)));
    const problem = adapterMismatch(adapter, model);
    if (problem) throw new UnsupportedModelError(problem);
    const top = files[0]?.path.split('/') ?? [];
    const folder = top.length > 1 ? top[0]! : 'adapter';
    let name = folder;
    for (let n = 2; this.loaded.has(`adapter:${name}`); n++) name = `${folder}-${n}`;
    const method = loadedAdapterMethod(adapter, name);
    this.loaded.set(method.id, method);
    return methodInfo(method);
  }
}
