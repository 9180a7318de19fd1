// One colour per method, fixed by its position in the registry, so a method keeps its colour in
// every chart and table.

const PALETTE = ['#5aa9ff', '#ff9f43', '#4cc38a', '#c77dff', '#ff6b9a', '#ffd166', '#3dd6d0', '#d4a373', '#e0e0e0'];

export function methodColor(id: string, order: readonly string[]): string {
  const i = order.indexOf(id);
  return PALETTE[(i < 0 ? order.length : i) % PALETTE.length]!;
}
