// JSON from user files, parsed with limits: V8's JSON.parse itself is iterative and takes any
// depth, but everything after it that walks the value recursively (JSON.stringify in a message,
// structuredClone across the worker boundary, the tokenizer library building its pipeline)
// overflows the stack on a file nested 100 000 levels deep and throws a raw RangeError. So a file
// nested deeper than MAX_JSON_DEPTH is refused here, by name, before it is even parsed.
// Also a bounded, never-throwing JSON.stringify for quoting values in messages.
// Not here: what the JSON means (each reader checks its own fields).

import { errorMessage } from '../errors';

/** Deepest nesting accepted. Real Hugging Face files nest under 10 levels; Python's json stops near 1000. */
export const MAX_JSON_DEPTH = 512;

/** How deep `value` nests (a scalar is 0, `[]` is 1), counting only as far as `limit + 1`. Iterative. */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    const d = depth + 1;
    if (d > deepest) deepest = d;
    if (deepest > limit) return deepest;
    const children = Array.isArray(v) ? (v as unknown[]) : Object.values(v as Record<string, unknown>);
    for (const child of children) if (typeof child === 'object' && child !== null) stack.push([child, d]);
  }
  return deepest;
}

/**
 * JSON.parse with the depth limit. `refuse` turns a reason ("is not valid JSON (…)", "nests … deep")
 * into the caller's typed error naming the file; it must throw or return the error to throw.
 */
export function parseJsonText(text: string, refuse: (reason: string) => Error): unknown {
  // Checked on the text, before parsing: JSON.parse of megabytes of brackets allocates millions of
  // arrays (seconds) only to be refused afterwards.
  if (textNestsDeeperThan(text, MAX_JSON_DEPTH)) {
    throw refuse(
      `nests more than ${MAX_JSON_DEPTH} levels deep (arrays or objects inside each other); no valid file of ` +
        `this kind does, so it is corrupt or was not written by a JSON library`,
    );
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw refuse(`is not valid JSON (${errorMessage(error)})`);
  }
}

/**
 * Whether brackets outside strings nest deeper than `limit` anywhere in `text`. One pass; stops at
 * the first level past the limit. Malformed text is left for JSON.parse to describe.
 */
export function textNestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return true;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return false;
}

/** A string for a message: at most `max` characters (file contents can hold megabyte-long names). */
export function clipText(text: string, max = 60): string {
  return text.length > max ? `${text.slice(0, Math.max(0, max - 3))}...` : text;
}

/** `value` as JSON for a message: at most `max` characters, never throws (cycles, depth, BigInt). */
export function showJson(value: unknown, max = 60): string {
  let text: string;
  try {
    text = jsonDepth(value, 16) > 16 ? `(${Array.isArray(value) ? 'a list' : 'an object'} nested too deep to show)` : (JSON.stringify(value) ?? String(value));
  } catch {
    text = `(a ${typeof value})`;
  }
  return text.length > max ? `${text.slice(0, Math.max(0, max - 3))}...` : text;
}
