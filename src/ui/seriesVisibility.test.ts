import { describe, expect, it } from 'vitest';
import { isolateHidden, showAll, toggleHidden } from './seriesVisibility';

describe('series visibility', () => {
  it('hides a shown series and shows a hidden one', () => {
    expect(toggleHidden([], 'a')).toEqual(['a']);
    expect(toggleHidden(['a', 'b'], 'a')).toEqual(['b']);
  });

  it("isolates one series among a chart's, keeping other charts' hidden ids, and a second isolate shows them all again", () => {
    const once = isolateHidden(['elsewhere'], 'b', ['a', 'b', 'c']);
    expect(once.sort()).toEqual(['a', 'c', 'elsewhere']);
    expect(isolateHidden(once, 'b', ['a', 'b', 'c'])).toEqual(['elsewhere']);
  });

  it('isolating a hidden series shows it and hides the rest', () => {
    expect(isolateHidden(['b'], 'b', ['a', 'b']).sort()).toEqual(['a']);
  });

  it("shows all of a chart's series", () => {
    expect(showAll(['a', 'x'], ['a', 'b'])).toEqual(['x']);
  });
});
