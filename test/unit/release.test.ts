// The release workflow's decisions (scripts/release.mjs): which tags release, when the major tag
// moves, and which CHANGELOG.md section becomes the release notes.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  changelogForRelease,
  compareVersions,
  githubRepository,
  parseTag,
  releaseNotes,
  shouldMoveMajor,
} from '../../scripts/release.mjs';

const CHANGELOG = `# Changelog

Intro.

## [Unreleased]

### Fixed
- A fix.

## [1.1.0] - 2027-01-10

### Added
- A feature.

## [1.0.0] - 2026-12-01

### Added
- Everything.

[Unreleased]: https://github.com/o/r/compare/v1.1.0...HEAD
[1.1.0]: https://github.com/o/r/compare/v1.0.0...v1.1.0
[1.0.0]: https://github.com/o/r/releases/tag/v1.0.0
`;

describe('parseTag', () => {
  it('takes vX.Y.Z and pre-releases, and refuses anything else with the expected form', () => {
    expect(parseTag('v1.2.3')).toEqual({
      tag: 'v1.2.3',
      version: '1.2.3',
      major: 1,
      minor: 2,
      patch: 3,
      prerelease: null,
    });
    expect(parseTag('v1.3.0-rc.1').prerelease).toBe('rc.1');
    for (const bad of [
      '1.2.3',
      'v1',
      'v1.2',
      'v01.2.3',
      'v1.2.3.4',
      'v1.2.3-',
      'v1.2.3 ',
      'v1.2.3;rm -rf /',
      'release-1.2.3',
    ]) {
      expect(() => parseTag(bad), bad).toThrow(/is not a release tag: expected vMAJOR\.MINOR\.PATCH/);
    }
  });
});

describe('compareVersions', () => {
  it('orders by semver precedence, pre-releases before their release', () => {
    const ordered = [
      'v1.0.0-alpha',
      'v1.0.0-alpha.1',
      'v1.0.0-alpha.beta',
      'v1.0.0-beta.2',
      'v1.0.0-beta.11',
      'v1.0.0-rc.1',
      'v1.0.0',
      'v1.0.1',
      'v1.2.0',
      'v1.10.0',
      'v2.0.0',
    ];
    const shuffled = [...ordered].reverse();
    expect(
      shuffled
        .map(parseTag)
        .sort(compareVersions)
        .map((t) => t.tag),
    ).toEqual(ordered);
  });
});

describe('shouldMoveMajor', () => {
  const tags = ['v1', 'v1.0.0', 'v1.1.0', 'v1.2.0-rc.1', 'v2.0.0', 'latest'];
  it('moves v1 to the newest stable v1 release only', () => {
    expect(shouldMoveMajor(parseTag('v1.1.1'), tags)).toBe(true);
    expect(shouldMoveMajor(parseTag('v1.2.0'), tags)).toBe(true);
    expect(shouldMoveMajor(parseTag('v1.0.1'), tags), 'a fix of an older minor').toBe(false);
    expect(shouldMoveMajor(parseTag('v1.3.0-rc.1'), tags), 'a pre-release').toBe(false);
    expect(shouldMoveMajor(parseTag('v3.0.0'), tags), 'the first of a new major').toBe(true);
  });
});

describe('releaseNotes', () => {
  it("is the version's section without its heading, up to the next one or the links", () => {
    expect(releaseNotes(CHANGELOG, '1.1.0')).toBe('### Added\n- A feature.\n');
    expect(releaseNotes(CHANGELOG, '1.0.0')).toBe('### Added\n- Everything.\n');
  });

  it('refuses a version without a section, without a date, or without entries, saying what to do', () => {
    expect(() => releaseNotes(CHANGELOG, '1.2.0')).toThrow(
      `CHANGELOG.md has no "## [1.2.0] - YYYY-MM-DD" section: run 'node scripts/release.mjs prepare 1.2.0'`,
    );
    expect(() => releaseNotes('## [1.2.0]\n\n- x\n', '1.2.0')).toThrow('needs its release date');
    expect(() => releaseNotes('## [1.2.0] - 2027-13-45\n\n- x\n', '1.2.0')).toThrow('needs its release date');
    expect(() => releaseNotes('## [1.2.0] - 2027-02-01\n\n## [1.1.0] - 2027-01-01\n- x\n', '1.2.0')).toThrow(
      'lists no change',
    );
  });
});

describe('changelogForRelease (prepare)', () => {
  it('moves the Unreleased entries under a dated heading and updates the compare links', () => {
    const next = changelogForRelease(CHANGELOG, '1.1.1', '2027-02-03', 'https://github.com/o/r');
    expect(next).toContain(
      '## [Unreleased]\n\n## [1.1.1] - 2027-02-03\n\n### Fixed\n- A fix.\n\n## [1.1.0] - 2027-01-10',
    );
    expect(releaseNotes(next, '1.1.1')).toBe('### Fixed\n- A fix.\n');
    expect(next).toContain(
      '[Unreleased]: https://github.com/o/r/compare/v1.1.1...HEAD\n[1.1.1]: ' +
        'https://github.com/o/r/compare/v1.1.0...v1.1.1\n[1.1.0]:',
    );
    expect(next.split('- A fix.').length - 1, 'the entry is moved, not copied').toBe(1);
  });

  it('refuses a version already released or an empty Unreleased section', () => {
    expect(() => changelogForRelease(CHANGELOG, '1.1.0', '2027-02-03', 'https://github.com/o/r')).toThrow(
      'already has a section for 1.1.0',
    );
    const empty = CHANGELOG.replace('### Fixed\n- A fix.\n', '');
    expect(() => changelogForRelease(empty, '1.1.1', '2027-02-03', 'https://github.com/o/r')).toThrow(
      'nothing to release',
    );
  });

  it(
    "keeps this project's own CHANGELOG.md releasable: every dated section gives notes, " +
      'Unreleased can be prepared',
    () => {
      const own = readFileSync(new URL('../../CHANGELOG.md', import.meta.url), 'utf8');
      expect(own).toMatch(/^## \[Unreleased\]$/m);
      for (const [, version] of own.matchAll(/^## \[(\d[^\]]*)\]/gm))
        expect(releaseNotes(own, version!), version).toMatch(/^- /m);
      // Right after a release "Unreleased" is empty, and prepare rightly refuses it.
      const unreleased = /^## \[Unreleased\]\n([^]*?)(?=^## \[|^\[[^\]]+\]: )/m.exec(own)![1]!;
      if (/^- /m.test(unreleased)) {
        const next = changelogForRelease(own, '9.9.9', '2027-02-03', 'https://github.com/fastblocks/sync-action');
        expect(releaseNotes(next, '9.9.9').trim()).toBe(unreleased.trim());
      }
    },
  );
});

describe('githubRepository', () => {
  it('reads owner/name from the forms package.json uses', () => {
    expect(githubRepository({ repository: { url: 'git+https://github.com/fastblocks/sync-action.git' } })).toBe(
      'fastblocks/sync-action',
    );
    expect(githubRepository({ repository: 'https://github.com/o/r' })).toBe('o/r');
    expect(githubRepository({ repository: 'git@github.com:o/r.git' })).toBe('o/r');
    expect(githubRepository({})).toBeNull();
  });
});
