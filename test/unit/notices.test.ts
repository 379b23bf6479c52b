// The notices generator on a made-up node_modules tree and module list: every kind of package the
// real bundle has (nested versions, concatenated modules, lazily loaded chunks, NOTICE files, no
// license file, a compound license) and the two kinds of build it must refuse.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { containsLicense, copyrightLines, noticesFromStats, type WebpackStats } from '../../scripts/notices.mjs';
import { compareNotices, noticeSections } from '../helpers/notices.js';

const spdx = createRequire(import.meta.url)('spdx-license-list/full') as Record<string, { licenseText: string }>;
const MIT = spdx.MIT!.licenseText.replace('<year> <copyright holders>', '2020 Alpha Author');
const ISC = spdx.ISC!.licenseText.replace('<year> <copyright holders>', '2022 Alpha Author');
const APACHE = spdx['Apache-2.0']!.licenseText;

let root: string;
const nm = (...parts: string[]) => join(root, 'node_modules', ...parts);

async function files(tree: Record<string, string>): Promise<void> {
  for (const [path, body] of Object.entries(tree)) {
    await mkdir(dirname(join(root, path)), { recursive: true });
    await writeFile(join(root, path), body);
  }
}

const pkg = (name: string, version: string, license?: string) =>
  JSON.stringify({ name, version, ...(license ? { license } : {}) });

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'fbs-notices-'));
  await files({
    'lib/index.js': '// our own code\n',
    'node_modules/alpha/package.json': pkg('alpha', '1.0.0', 'MIT'),
    'node_modules/alpha/LICENSE': MIT,
    'node_modules/alpha/index.js':
      '// Copyright 2021 Someone Else\nconst copyright = "Copyright in a string is code, not a notice";\n',
    'node_modules/beta/node_modules/alpha/package.json': pkg('alpha', '2.0.0', 'ISC'),
    'node_modules/beta/node_modules/alpha/LICENSE.md': ISC,
    'node_modules/beta/node_modules/alpha/index.js': '',
    'node_modules/@scope/gamma/package.json': pkg('@scope/gamma', '3.0.0', 'Apache-2.0'),
    'node_modules/@scope/gamma/LICENSE': APACHE,
    'node_modules/@scope/gamma/NOTICE': 'Gamma\nCopyright 2019 Gamma Corp.\n',
    'node_modules/@scope/gamma/lib/x.js': '',
    'node_modules/delta/package.json': pkg('delta', '4.0.0', 'MIT'),
    'node_modules/delta/d.js': '/*\n * Copyright (c) 2018 Delta Dev\n */\n',
    'node_modules/eps/package.json': pkg('eps', '5.0.0', '(Apache-2.0 AND BSD-3-Clause)'),
    'node_modules/eps/LICENSE': APACHE,
    'node_modules/eps/e.js': '',
    'node_modules/zeta/package.json': pkg('zeta', '6.0.0'),
    'node_modules/zeta/z.js': '',
    'node_modules/eta/package.json': pkg('eta', '7.0.0', 'SEE LICENSE IN terms.txt'),
    'node_modules/eta/h.js': '',
  });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A module list shaped like webpack's: the main chunk's modules concatenated into our own entry. */
function stats(extra: unknown[] = []): WebpackStats {
  return {
    chunks: [
      { id: 792, files: ['index.js'] },
      { id: 672, files: ['672.index.js'] },
    ],
    modules: [
      { identifier: 'webpack/runtime/ensure chunk' },
      { identifier: 'external node-commonjs "node:fs"', nameForCondition: null },
      {
        nameForCondition: join(root, 'lib/index.js'),
        chunks: [792],
        modules: [
          { nameForCondition: nm('alpha/index.js') },
          { nameForCondition: nm('beta/node_modules/alpha/index.js') },
          { nameForCondition: nm('delta/d.js') },
        ],
      },
      { nameForCondition: nm('@scope/gamma/lib/x.js'), chunks: [672] },
      { nameForCondition: nm('eps/e.js'), chunks: [672, 792] },
      ...extra,
    ],
  };
}

describe('noticesFromStats', () => {
  let notices: string;
  let sections: Map<string, string>;
  beforeAll(() => {
    notices = noticesFromStats(stats(), root);
    sections = noticeSections(notices);
  });

  it('has one section per name@version, concatenated and nested ones included, and lists them first', () => {
    expect([...sections.keys()]).toEqual([
      '@scope/gamma@3.0.0',
      'alpha@1.0.0',
      'alpha@2.0.0',
      'delta@4.0.0',
      'eps@5.0.0',
    ]);
    expect(notices).toMatch(
      /^5 packages:\n {2}@scope\/gamma 3\.0\.0 +Apache-2\.0\n {2}alpha 1\.0\.0 +MIT\n {2}alpha 2\.0\.0 +ISC\n/m,
    );
  });

  it('says which bundle files hold each package, lazily loaded chunks included', () => {
    expect(sections.get('alpha@1.0.0')).toContain('Bundled in: index.js\n');
    expect(sections.get('@scope/gamma@3.0.0')).toContain('Bundled in: 672.index.js\n');
    expect(sections.get('eps@5.0.0')).toContain('Bundled in: 672.index.js, index.js\n');
  });

  it('repeats the license file in full, with copyright lines from it and from bundled source comments', () => {
    const alpha = sections.get('alpha@1.0.0')!;
    expect(alpha).toContain(`----- LICENSE -----\n${MIT.trimEnd()}`);
    expect(alpha).toContain('Copyright:\n  Copyright (c) 2020 Alpha Author\n  Copyright 2021 Someone Else\n');
    expect(alpha).not.toContain('Copyright in a string');
    expect(alpha).not.toContain('standard text');
    expect(sections.get('alpha@2.0.0')).toContain(`----- LICENSE.md -----\n${ISC.trimEnd()}`);
  });

  it('appends NOTICE files (Apache-2.0 section 4d)', () => {
    const gamma = sections.get('@scope/gamma@3.0.0')!;
    expect(gamma).toContain('----- NOTICE (NOTICE) -----\nGamma\nCopyright 2019 Gamma Corp.');
    expect(gamma).toContain('  Copyright 2019 Gamma Corp.\n');
    expect(gamma.indexOf('----- NOTICE')).toBeGreaterThan(gamma.indexOf('----- LICENSE'));
  });

  it('lists a package without a license file with its declared license and says so, with the standard text', () => {
    const delta = sections.get('delta@4.0.0')!;
    expect(delta).toContain('License: MIT\n');
    expect(delta).toContain('The package ships no license file; its package.json declares the license MIT.');
    expect(delta).toContain(
      '----- MIT (MIT License): standard text from the SPDX License List, as the package ' +
        `ships none -----\n${spdx.MIT!.licenseText.trimEnd()}`,
    );
    expect(delta).toContain('  Copyright (c) 2018 Delta Dev\n');
  });

  it('adds the standard text of each declared license the package ships no text of', () => {
    const eps = sections.get('eps@5.0.0')!;
    expect(eps).toContain('License: (Apache-2.0 AND BSD-3-Clause)');
    expect(eps).toContain('----- BSD-3-Clause (');
    expect(eps).not.toContain('----- Apache-2.0 (');
  });

  it('is the same for any module order, and names no path of the build machine', () => {
    const reversed = stats();
    reversed.modules = [...reversed.modules!].reverse();
    expect(noticesFromStats(reversed, root)).toBe(notices);
    expect(notices).not.toContain(root);
  });

  it('refuses a bundled package with no license at all, or only a license that names no known text', () => {
    expect(() => noticesFromStats(stats([{ nameForCondition: nm('zeta/z.js'), chunks: [792] }]), root)).toThrow(
      /zeta@6\.0\.0 is bundled but declares no license and ships no license file/,
    );
    expect(() => noticesFromStats(stats([{ nameForCondition: nm('eta/h.js'), chunks: [792] }]), root)).toThrow(
      /eta@7\.0\.0 ships no license file and declares 'SEE LICENSE IN terms\.txt'/,
    );
  });

  it('refuses a bundled file from outside the project and node_modules', () => {
    expect(() =>
      noticesFromStats(stats([{ nameForCondition: join(dirname(root), 'elsewhere.js'), chunks: [792] }]), root),
    ).toThrow(/bundled file outside the project/);
  });
});

describe('the completeness check of the notices test', () => {
  it('reports a bundled package whose section is missing, and a section nothing bundles', () => {
    const notices = noticesFromStats(stats(), root);
    const bundled = new Map([...noticeSections(notices).keys()].map((id) => [id, '']));
    expect(compareNotices(bundled, notices)).toEqual({ missing: [], extra: [] });
    const withoutDelta = notices.replace(noticeSections(notices).get('delta@4.0.0')!, '');
    expect(compareNotices(bundled, withoutDelta)).toEqual({ missing: ['delta@4.0.0'], extra: [] });
    bundled.delete('alpha@2.0.0');
    expect(compareNotices(bundled, notices)).toEqual({ missing: [], extra: ['alpha@2.0.0'] });
  });
});

describe('copyrightLines and containsLicense', () => {
  it('keeps notices and drops license terms and templates that mention copyright', () => {
    const text =
      'Copyright (c) 2019 GitHub\ncopyright notice and this permission notice ' +
      'appear\nCopyright [yyyy] [name of copyright owner]\n(c) 2020 Someone\ncopyright in ' +
      'it.';
    expect(copyrightLines(text)).toEqual(['Copyright (c) 2019 GitHub', '(c) 2020 Someone']);
  });

  it('recognises a license text with its own copyright line, and not another license', () => {
    expect(containsLicense([{ name: 'LICENSE', text: MIT }], spdx.MIT!.licenseText)).toBe(true);
    expect(containsLicense([{ name: 'LICENSE', text: APACHE }], spdx['BSD-3-Clause']!.licenseText)).toBe(false);
    expect(containsLicense([], spdx.MIT!.licenseText)).toBe(false);
  });
});
