import type { Metafile } from 'esbuild';

export const REPO_ROOT: string;
export const ENTRY_POINTS: Readonly<Record<string, string>>;
export const CARRIED_PACKAGES: readonly string[];
export const OPTIONAL_PACKAGES: readonly string[];
export function bundle(outDir: string, entries?: Readonly<Record<string, string>>): Promise<Metafile>;
export function externalImports(metafile: Metafile): Record<string, string[]>;
export function missingImports(metafile: Metafile): string[];
