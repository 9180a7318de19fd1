// Which chart series are hidden: a legend click hides or shows one, a Shift- or Alt-click shows
// only that one among a chart's series (or, when it is already the only one shown, all of them
// again). Pure functions over the list of hidden ids; ids of other charts' series are kept.

export function toggleHidden(hidden: readonly string[], id: string): string[] {
  return hidden.includes(id) ? hidden.filter((h) => h !== id) : [...hidden, id];
}

export function isolateHidden(hidden: readonly string[], id: string, among: readonly string[]): string[] {
  const others = among.filter((m) => m !== id);
  const alone = !hidden.includes(id) && others.every((m) => hidden.includes(m));
  const outside = hidden.filter((h) => !among.includes(h));
  return alone ? outside : [...outside, ...others];
}

export function showAll(hidden: readonly string[], among: readonly string[]): string[] {
  return hidden.filter((h) => !among.includes(h));
}
