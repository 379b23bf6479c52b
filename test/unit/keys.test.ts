// crossTwins: the names macOS and Windows would take for one, that no single side's check sees.

import { describe, expect, it } from 'vitest';
import { crossTwins } from '../../src/core/keys.js';

const pairs = (local: string[], remote: string[]) =>
  crossTwins(local, remote).map(
    ([a, b]) => `${a.side}:${a.name}${a.file ? '' : '/'} ~ ${b.side}:${b.name}${b.file ? '' : '/'}`,
  );

describe('crossTwins', () => {
  it('finds a local file and a remote key, and a file and a folder on one side or across', () => {
    expect(pairs(['Readme.md'], ['README.md'])).toEqual(['local:Readme.md ~ remote:README.md']);
    expect(pairs(['caf\u00e9'], ['cafe\u0301'])).toEqual(['local:caf\u00e9 ~ remote:cafe\u0301']);
    expect(pairs(['x', 'X/y'], [])).toEqual(['local:x ~ local:X/']);
    expect(pairs(['a/x'], ['a/X/y', 'a/X/z'])).toEqual(['local:a/x ~ remote:a/X/']);
  });

  it('leaves out what is not a twin or is reported elsewhere', () => {
    // The same path on both sides; the same name as a file and a folder (a file/folder clash, planned).
    expect(pairs(['a', 'b/c'], ['a', 'b'])).toEqual([]);
    // Two folders: merged into one, nothing overwritten.
    expect(pairs(['Docs/a'], ['docs/b'])).toEqual([]);
    // Two files on one side: that side's own check reports them.
    expect(pairs(['README.md', 'Readme.md'], [])).toEqual([]);
    expect(pairs([], ['README.md', 'Readme.md'])).toEqual([]);
  });

  it('takes the sides as maps, as the engine passes them, and finds a twin among many shared paths', () => {
    const shared = Array.from({ length: 500 }, (_, i) => `site/p${i}/index.html`);
    const local = new Map([...shared, 'site/About.html', 'site/p7/index.html'].map((p) => [p, p]));
    const remote = new Map([...shared, 'site/about.html', 'SITE'].map((p) => [p, p]));
    const found = crossTwins(local, remote).map(
      ([a, b]) => `${a.side}:${a.name}${a.file ? '' : '/'} ~ ${b.side}:${b.name}${b.file ? '' : '/'}`,
    );
    expect(found).toEqual(['local:site/ ~ remote:SITE', 'local:site/About.html ~ remote:site/about.html']);
    // Each side iterated twice: the same answer again.
    expect(crossTwins(local, remote)).toHaveLength(2);
  });
});
