// The registry rule (ARCHITECTURE.md convention 5, issue 14): a method id is spelled only in its
// own file under adapters/methods/ and in registry.ts. Everything else asks the definition (its
// family, quantError, claims, peft, …) or imports the definition object and uses `.id`, so a new
// method is picked up by export, diagnostics, the worker, the CLI, the study and the UI without
// edits there, and renaming an id cannot leave a stale branch behind.
//
// The check parses every .ts/.tsx file under src/ (tests included) with the TypeScript compiler
// and looks at string literals only ('x', "x", `x` without substitutions, literal types, JSX
// attribute strings), so comments, identifiers and longer strings that merely contain an id
// (e.g. PEFT's quoted init strings) do not count. The ids come from METHODS, so a method added
// there is covered at once.

import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { METHODS, methodById } from './registry';

const SRC = fileURLToPath(new URL('../', import.meta.url));
const OWNERS = [join(SRC, 'adapters', 'methods') + sep, join(SRC, 'adapters', 'registry.ts')];

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(entry.name) && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** `file:line: 'id'` for every string literal in `text` whose value is one of `ids`. */
function idLiterals(file: string, text: string, ids: ReadonlySet<string>): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false, file.endsWith('.tsx') ? ts.ScriptKind.TSX : ts.ScriptKind.TS);
  const hits: string[] = [];
  const visit = (node: ts.Node): void => {
    if ((ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) && ids.has(node.text)) {
      const { line } = source.getLineAndCharacterOfPosition(node.getStart(source));
      hits.push(`${file}:${line + 1}: ${node.getText(source)}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return hits;
}

describe('method registry', () => {
  it('has unique ids, and every claim and default names a registered method', () => {
    const ids = METHODS.map((m) => m.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const m of METHODS) for (const c of m.claims ?? []) expect(() => methodById(c.against), `${m.id} claims against ${c.against}`).not.toThrow();
    expect(METHODS.filter((m) => m.quantError === 'baseline').length).toBeLessThanOrEqual(1);
  });

  it('finds an id as a literal and ignores comments, identifiers and longer strings', () => {
    const ids = new Set(['lora_x']);
    const text = [
      "// 'lora_x' in a comment",
      'const lora_x = "lora_x";',
      "type T = 'lora_x' | 'y';",
      'const s = `lora_x`, t = \'"lora_x"\', u = `${t}lora_x`;',
      'const el = <i data-m="lora_x" />;',
    ].join('\n');
    expect(idLiterals('x.tsx', text, ids)).toEqual(['x.tsx:2: "lora_x"', "x.tsx:3: 'lora_x'", 'x.tsx:4: `lora_x`', 'x.tsx:5: "lora_x"']);
  });

  it('no method id is spelled as a string outside adapters/methods/ and registry.ts', () => {
    const ids = new Set(METHODS.map((m) => m.id));
    const hits = sourceFiles(SRC)
      .filter((file) => !OWNERS.some((owner) => file === owner || file.startsWith(owner)))
      .flatMap((file) => idLiterals(relative(join(SRC, '..'), file), readFileSync(file, 'utf8'), ids));
    expect(hits, `method ids belong to their definitions; import the definition (or ask the registry) instead:\n${hits.join('\n')}`).toEqual([]);
  });
});
